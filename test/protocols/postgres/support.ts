// Shared fixtures of the PostgreSQL adapter tests: a fresh database per test file on the
// local PostgreSQL 15 (trust auth on 127.0.0.1:5432), a gateway listening for PostgreSQL on
// a free port, and psql/pgbench runners that pass the token as the password.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { storeDb } from '../../support/store-db.ts';

const run = promisify(execFile);

export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;

/** Runs SQL on the real server as the superuser, bypassing the gateway. */
export async function adminSql(sql: string, database = 'postgres'): Promise<string> {
  const { stdout } = await run('psql', ['-h', PG_HOST, '-p', String(PG_PORT), '-U', 'postgres', '-d', database, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  return stdout.trim();
}

export async function createDatabase(): Promise<string> {
  const name = `pcs_${randomBytes(5).toString('hex')}`;
  await adminSql(`CREATE DATABASE ${name}`);
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await adminSql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** Connections and policies most tests use: `app-db` on `database`, agents read-only, dba anything. */
export function standardConfig(database: string, extra = ''): string {
  return `
connections:
  - { name: app-db, type: postgres, upstream: { host: ${PG_HOST}, port: ${PG_PORT}, database: ${database}, user: postgres, tls: disable } }
  - { name: down-db, type: postgres, upstream: { host: 127.0.0.1, port: 1, database: ${database}, user: postgres, tls: disable } }
policies:
  - name: dba-all
    subjects: { groups: [dba] }
    connections: ["*"]
    rules:
      - { then: allow }
  - name: agents-read-only
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { match: { sql: { effect: [read] } }, then: allow }
      - { match: { sql: { command: [truncate] } }, then: review, review: { mode: defer, approvers: { groups: [dbas] } } }
      - { then: deny, reason: agents may only read }
${extra}`;
}

export interface PgGateway {
  readonly t: TestGateway;
  readonly port: number;
  /** libpq connection string for connection `db` (default app-db). */
  conninfo(opts?: { db?: string; sslmode?: string }): string;
  stop(): Promise<void>;
}

export async function startPgGateway(yaml: string, env: NodeJS.ProcessEnv = process.env): Promise<PgGateway> {
  const t = await startTestGateway(yaml, env, '{ api: "127.0.0.1:0", postgres: "127.0.0.1:0" }');
  const listener = t.gw.listeners.get('postgres');
  if (listener === undefined) throw new Error('the postgres listener did not start');
  const port = listener.port;
  return {
    t,
    port,
    conninfo: (opts = {}) => `host=127.0.0.1 port=${port} dbname=${opts.db ?? 'app-db'} user=agent sslmode=${opts.sslmode ?? 'disable'} connect_timeout=10`,
    stop: () => t.stop(),
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with PGPASSWORD=token; never throws on a non-zero exit. */
export function runWithToken(program: string, args: readonly string[], token: string, input?: string, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: '10' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

export function psql(gw: PgGateway, token: string, args: readonly string[], opts: { db?: string; sslmode?: string; input?: string } = {}): Promise<RunResult> {
  return runWithToken('psql', [gw.conninfo(opts), '-X', '-v', 'ON_ERROR_STOP=1', ...args], token, opts.input);
}

export interface RecordedEvent {
  readonly session: string;
  readonly kind: string;
  readonly data: Record<string, unknown>;
}

/** Recorded events (after a flush), optionally of one kind. */
export async function recordedEvents(gw: PgGateway, kind?: string): Promise<RecordedEvent[]> {
  await gw.t.gw.recorder.flush();
  let q = storeDb(gw.t.gw.services.store).selectFrom('session_events').select(['session_id', 'kind', 'data']).orderBy('id');
  if (kind !== undefined) q = q.where('kind', '=', kind);
  const rows = await q.execute();
  return rows.map((r) => ({ session: r.session_id, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown> }));
}

/** Polls until `check` returns true (recordings are written in batches). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
