// The embedded demo database: PGlite (PostgreSQL compiled to WASM) persisted under
// `embedded_postgres.data_dir`, seeded on first start with demo customers and orders, and
// served over TCP so the gateway (or psql) reaches it like any PostgreSQL server.
//
// How it behaves (found by testing @electric-sql/pglite-socket 0.2.17):
// - Authentication is trust: any user name, any password (or none), any database name is
//   accepted; the session always runs as the superuser `postgres` in database `postgres`.
//   Hence the listener must stay on loopback (the schema refuses other hosts). No TLS
//   (SSLRequest is answered 'N'): connect with sslmode=disable (or prefer).
// - PGlite is a single backend. PGLiteSocketServer by default drops a second concurrent
//   client at the TCP level (the client only sees "server closed the connection
//   unexpectedly"), and with maxConnections > 1 it interleaves the clients' messages on the
//   one backend, sharing SET, temp tables, prepared statements and even half-done extended
//   query exchanges between them. Neither is what a newcomer should meet, so this module
//   puts an admission front on the configured address: one session at a time; a second
//   client waits up to `queue_timeout` for the first to leave, then gets a FATAL
//   ErrorResponse with SQLSTATE 53300 (too_many_connections) that says why. Between two
//   sessions the backend is reset (ROLLBACK if needed, DISCARD ALL), so a session never sees
//   the previous one's settings or temp tables. CancelRequest cannot cancel anything in
//   PGlite: it is accepted and ignored, as PostgreSQL does for an unknown key.
// - The PGLiteSocketServer itself listens on a Unix socket (a named pipe on Windows) in a
//   private temporary folder, reachable only by this user through the front.
// - Cold start: creating the database the first time takes ~6 s (initdb in WASM); opening
//   an existing one ~1-2 s. The front listens first, so clients that arrive meanwhile wait.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Config } from '../config/schema.ts';
import { GatewayError, isGatewayError } from '../core/errors.ts';
import { listenFailed } from '../pipeline/listen.ts';
import { DEMO_CUSTOMERS, demoOrders, demoSeedSql } from './embedded-postgres-seed.ts';
import type { Logger } from '../telemetry/logger.ts';

export type EmbeddedPostgresConfig = NonNullable<Config['embedded_postgres']>;

export interface EmbeddedPostgres {
  readonly host: string;
  /** The port actually bound (differs from the configured one when that was 0). */
  readonly port: number;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_STARTUP_BYTES = 10_000;
/** A simple-query or Parse text that runs COPY ... FROM STDIN (false positives only close a demo session). */
const COPY_FROM_STDIN = /\bcopy\b[\s\S]*?\bfrom\s+stdin\b/i;
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

interface Waiter {
  readonly client: Socket;
  readonly startup: Buffer;
  readonly rest: Buffer;
  readonly minor: number;
  readonly timer: NodeJS.Timeout;
}

function parseListen(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

/** A FATAL ErrorResponse: what a PostgreSQL server sends before closing a connection it refuses. */
export function fatalError(sqlstate: string, message: string, hint?: string): Buffer {
  const fields = [`SFATAL`, `VFATAL`, `C${sqlstate}`, `M${message}`, ...(hint ? [`H${hint}`] : [])];
  const body = Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** NegotiateProtocolVersion: the server speaks 3.0 only (sent when a client asks for 3.2). */
function negotiateProtocolVersion(): Buffer {
  const out = Buffer.alloc(13);
  out.write('v', 0, 'latin1');
  out.writeInt32BE(12, 1);
  out.writeInt32BE(0x30000, 5);
  out.writeInt32BE(0, 9);
  return out;
}

function privateSocketPath(): { path: string; cleanup: () => void } {
  if (process.platform === 'win32') {
    return { path: `\\\\?\\pipe\\portcullis-demo-pg-${process.pid}-${Math.random().toString(36).slice(2)}`, cleanup: () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'pcs-pglite-'));
  return { path: join(dir, '.s.PGSQL.5432'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Open (creating and seeding on first start) the demo database and serve it on cfg.listen. */
export async function startEmbeddedPostgres(cfg: EmbeddedPostgresConfig, logger: Logger): Promise<EmbeddedPostgres> {
  const log = logger.child({ component: 'embedded-postgres' });
  const { host, port: wantedPort } = parseListen(cfg.listen);
  const queueTimeoutMs = cfg.queue_timeout * 1000;

  let db: PGlite | undefined;
  let backend: PGLiteSocketServer | undefined;
  let backendPath = '';
  let cleanupPath = (): void => {};
  let ready = false;
  let closing = false;
  let busy = false;
  /** PGlite stopped answering (a reset failed): refuse sessions rather than hang them. */
  let failed = false;
  let holder: { client: Socket; upstream: Socket; since: number } | undefined;
  const queue: Waiter[] = [];
  const sockets = new Set<Socket>();

  const refuse = (client: Socket, sqlstate: string, message: string, hint?: string): void => {
    if (!client.destroyed) client.end(fatalError(sqlstate, message, hint));
  };

  const pump = (): void => {
    if (busy || !ready || closing) return;
    const next = queue.shift();
    if (!next) return;
    clearTimeout(next.timer);
    if (next.client.destroyed) return pump();
    if (failed) {
      refuse(next.client, '57P03', 'the embedded demo database stopped working; restart the gateway (the gateway log has the cause)');
      return pump();
    }
    busy = true;
    const { client } = next;
    const upstream = createConnection(backendPath);
    sockets.add(upstream);
    holder = { client, upstream, since: Date.now() };
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (!client.writableEnded) client.destroy(); // else a refusal is on its way out; end() closes it
      upstream.destroy();
      holder = undefined;
      void resetBackend().finally(() => {
        busy = false;
        pump();
      });
    };
    // Client to backend: whole messages only, so that COPY FROM STDIN can be refused before
    // it reaches PGlite (it aborts the WASM instance, which then never answers again).
    let pending: Buffer = Buffer.alloc(0);
    const fromClient = (chunk: Buffer): void => {
      pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let i = 0;
      while (pending.length - i >= 5) {
        const len = pending.readInt32BE(i + 1);
        if (len < 4) {
          refuse(client, '08P01', 'invalid message length');
          return release();
        }
        if (pending.length - i < 1 + len) break;
        const type = pending[i];
        if ((type === 0x51 || type === 0x50) && COPY_FROM_STDIN.test(pending.subarray(i + 5, i + 1 + len).toString('utf8'))) {
          if (i > 0) upstream.write(pending.subarray(0, i));
          log.info('embedded demo database: refused COPY FROM STDIN, which PGlite cannot serve');
          refuse(client, '0A000', 'COPY ... FROM STDIN (and psql \\copy ... from) is not supported by the embedded demo database; the session is closed', 'load rows with INSERT statements, or use a real PostgreSQL server');
          return release();
        }
        i += 1 + len;
      }
      if (i > 0 && !upstream.write(pending.subarray(0, i))) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
      pending = pending.subarray(i);
    };
    upstream.once('connect', () => {
      upstream.setNoDelay(true);
      if (next.minor > 0) client.write(negotiateProtocolVersion());
      upstream.write(next.startup);
      upstream.pipe(client);
      client.on('data', fromClient);
      if (next.rest.length > 0) fromClient(next.rest);
      client.resume();
    });
    upstream.on('error', (err) => {
      log.warn({ err }, 'embedded demo database: backend connection failed');
      refuse(client, '08006', 'the embedded demo database failed; see the gateway log');
      release();
    });
    upstream.on('close', release);
    client.on('close', release);
    client.on('error', release);
  };

  /** Between two sessions: no open transaction, no leftover settings, temp tables or prepared statements. */
  const resetBackend = async (): Promise<void> => {
    if (!db || !backend) return;
    for (let i = 0; i < 200 && backend.getStats().activeConnections > 0; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
    const pglite = db;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          // A client that left in the middle of an extended-query exchange leaves the backend
          // skipping messages until Sync; a Sync at any other time only yields ReadyForQuery.
          await pglite.runExclusive(() => pglite.execProtocolRaw(SYNC));
          if (pglite.isInTransaction()) await pglite.exec('ROLLBACK');
          await pglite.exec('DISCARD ALL');
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
        }),
      ]);
    } catch (err) {
      failed = true;
      log.error({ err }, 'embedded demo database: could not reset the session state between two clients; refusing further sessions until the gateway restarts');
    } finally {
      clearTimeout(timer);
    }
  };

  const admit = (client: Socket, startup: Buffer, rest: Buffer, minor: number): void => {
    client.pause();
    const timer = setTimeout(() => {
      const i = queue.findIndex((w) => w.client === client);
      if (i >= 0) queue.splice(i, 1);
      const since = holder ? ` (the current one connected ${Math.round((Date.now() - holder.since) / 1000)} s ago)` : ready ? '' : ' (the database is still starting)';
      log.info({ client: `${client.remoteAddress}:${client.remotePort}` }, 'embedded demo database: refused a client that waited for the one session slot');
      refuse(
        client,
        '53300',
        `the embedded demo database serves one session at a time, and it stayed busy for ${cfg.queue_timeout} s${since}`,
        'close the other session (an open psql, a connection pool) and retry; for concurrent sessions point the connection at a real PostgreSQL server',
      );
    }, queueTimeoutMs);
    timer.unref();
    queue.push({ client, startup, rest, minor, timer });
    if (busy) log.debug({ waiting: queue.length }, 'embedded demo database: a client waits for the session slot');
    pump();
  };

  const onConnection = (client: Socket): void => {
    sockets.add(client);
    client.on('close', () => {
      sockets.delete(client);
      const i = queue.findIndex((w) => w.client === client);
      if (i >= 0) {
        clearTimeout(queue[i]?.timer);
        queue.splice(i, 1);
      }
    });
    client.on('error', () => client.destroy());
    client.setNoDelay(true);
    if (closing) return refuse(client, '57P01', 'the embedded demo database is shutting down');
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const len = buf.readInt32BE(0);
        const code = buf.readInt32BE(4);
        if (len < 8 || len > MAX_STARTUP_BYTES) {
          client.off('data', onData);
          return refuse(client, '08P01', 'invalid startup packet length');
        }
        if (buf.length < len) return;
        const packet = buf.subarray(0, len);
        buf = buf.subarray(len);
        if (len === 8 && (code === SSL_REQUEST || code === GSSENC_REQUEST)) {
          client.write('N');
          continue;
        }
        client.off('data', onData);
        if (len === 16 && code === CANCEL_REQUEST) {
          client.end(); // PGlite cannot cancel a running query; PostgreSQL also answers nothing.
          return;
        }
        if (code >>> 16 !== 3) return refuse(client, '08P01', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: the embedded demo database speaks 3.0`);
        const minor = code & 0xffff;
        const startup = Buffer.from(packet);
        if (minor > 0) startup.writeInt32BE(0x30000, 4); // PGlite's socket server only recognises 3.0
        return admit(client, startup, Buffer.from(buf), minor);
      }
    };
    client.on('data', onData);
  };

  // Listen first: a second gateway on the same config fails here, before touching data_dir.
  const front: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    front.once('error', (err: NodeJS.ErrnoException) => reject(listenFailed(err, cfg.listen)));
    front.listen(wantedPort, host, () => resolve());
  });
  const address = front.address();
  const port = typeof address === 'object' && address ? address.port : wantedPort;

  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    ready = false;
    for (const w of queue.splice(0)) {
      clearTimeout(w.timer);
      refuse(w.client, '57P01', 'the embedded demo database is shutting down');
    }
    const frontClosed = new Promise<void>((resolve) => front.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await frontClosed;
    try {
      await backend?.stop();
    } catch (err) {
      log.warn({ err }, 'embedded demo database: socket server did not stop cleanly');
    }
    try {
      if (db && !db.closed && !failed) await db.close();
    } catch (err) {
      log.warn({ err }, 'embedded demo database: PGlite did not close cleanly');
    }
    cleanupPath();
    log.info('embedded demo database stopped');
  };

  try {
    const started = Date.now();
    const dataDir = cfg.data_dir;
    const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
    mkdirSync(dirname(dataDir), { recursive: true });
    log.info({ data_dir: dataDir, listen: `${host}:${port}` }, fresh ? 'embedded demo database: creating it (first start, a few seconds)' : 'embedded demo database: opening it');
    db = await PGlite.create({ dataDir });
    log.info({ ms: Date.now() - started }, 'embedded demo database: PostgreSQL (PGlite) is up');
    const seeded = await seed(db);
    if (seeded) log.info({ customers: DEMO_CUSTOMERS.length, orders: demoOrders().length }, 'embedded demo database: seeded public.customers and public.orders');
    const socket = privateSocketPath();
    backendPath = socket.path;
    cleanupPath = socket.cleanup;
    backend = new PGLiteSocketServer({ db, path: backendPath, maxConnections: 1 });
    await backend.start();
    ready = true;
    log.info({ listen: `${host}:${port}`, ms: Date.now() - started }, 'embedded demo database: ready');
    pump();
  } catch (err) {
    await close();
    if (isGatewayError(err)) throw err;
    throw new GatewayError('PCS_DEMO_DB_FAILED', { data_dir: cfg.data_dir, cause: err instanceof Error ? err.message : String(err) }, { cause: err });
  }

  return { host, port, close };
}

/** Create and fill the demo tables unless they exist. Returns whether it seeded. */
async function seed(db: PGlite): Promise<boolean> {
  const found = await db.query<{ t: string | null }>(`SELECT to_regclass('public.customers')::text AS t`);
  if (found.rows[0]?.t) return false;
  await db.transaction(async (tx) => {
    await tx.exec(demoSeedSql());
  });
  return true;
}
