// The gateway's own connection to the connection's MySQL/MariaDB server: TCP, TLS by the
// connection's mode, and login with the vaulted credential. What the agent negotiated with
// the gateway (capabilities that shape the server's answers, the character set) is asked of
// the server the same way, so that its answers can be relayed as bytes.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { GatewayError } from '../../core/errors.ts';
import { Auth, Cap, Header } from './codec/constants.ts';
import { framePacket } from './codec/framing.ts';
import { decodeAuthSwitch, decodeGreeting, encodeHandshakeResponse, encodeSslRequest, type Greeting } from './codec/handshake.ts';
import { readErr } from './codec/responses.ts';
import { encodeQuery } from './codec/commands.ts';
import { ResponseTracker } from './codec/response-tracker.ts';
import { PacketSource } from './packet-source.ts';
import { StreamClosed } from '../../pipeline/socket-source.ts';
import { cachingSha2Password, clearPassword, nativePassword, rsaPassword } from './upstream-auth.ts';

const CONNECT_TIMEOUT_MS = 10_000;
/** Largest packet the upstream's login may send (greeting, auth data, an RSA key). */
const LOGIN_MAX_PACKET = 64 * 1024;

/**
 * Capabilities that change the form of the server's answers: what the agent has of them, the
 * upstream leg must have too. The others are per leg (SSL, attributes, auth) or the gateway's.
 */
export const RELAYED_CAPABILITIES =
  Cap.LONG_FLAG | Cap.FOUND_ROWS | Cap.LOCAL_FILES | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS | Cap.SESSION_TRACK | Cap.DEPRECATE_EOF | Cap.INTERACTIVE;

export interface UpstreamOptions {
  readonly connection: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string | undefined;
  readonly tls: 'disable' | 'prefer' | 'require' | 'verify-full';
  readonly ca?: string;
  /** The agent's capabilities (already limited to what the gateway offered). */
  readonly capabilities: number;
  readonly charset: number;
  readonly maxPacketSize: number;
  /** Queries of the gateway's own to run after login (the relation catalog): their text rows come back in `answers`. */
  readonly queries?: readonly string[];
}

export interface Upstream {
  readonly socket: Socket;
  /** What arrived behind the login's OK (nothing, normally), to push into the session's reader. */
  readonly pending: Buffer;
  readonly greeting: Greeting;
  /** The capabilities of the upstream leg. */
  readonly capabilities: number;
  /** The server's thread id of this session (what KILL takes upstream). */
  readonly threadId: number;
  readonly tls: boolean;
  /** Per query of `queries`: its rows' payloads, or undefined when the server refused it. */
  readonly answers: readonly (readonly Buffer[] | undefined)[];
}

function dial(host: string, port: number, connection: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new GatewayError('PCS_MYSQL_UPSTREAM_UNREACHABLE', { connection, cause: 'timed out' }));
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      resolve(socket);
    });
    const failed = (err: Error): void => {
      clearTimeout(timer);
      reject(new GatewayError('PCS_MYSQL_UPSTREAM_UNREACHABLE', { connection, cause: (err as NodeJS.ErrnoException).code ?? err.message }));
    };
    socket.once('error', failed);
  });
}

/** Connects and logs in; GatewayErrors for everything the agent may be told. */
export async function connectUpstream(o: UpstreamOptions): Promise<Upstream> {
  let socket = await dial(o.host, o.port, o.connection);
  try {
    return await login(socket, o, (s) => {
      socket = s;
    });
  } catch (err) {
    socket.destroy();
    if (err instanceof StreamClosed) throw new GatewayError('PCS_MYSQL_UPSTREAM_UNREACHABLE', { connection: o.connection, cause: 'the server closed the connection during login' });
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('PCS_MYSQL_UPSTREAM_UNREACHABLE', { connection: o.connection, cause: err instanceof Error ? err.message : String(err) });
  }
}

async function login(raw: Socket, o: UpstreamOptions, swapped: (s: Socket) => void): Promise<Upstream> {
  const source = new PacketSource(raw, LOGIN_MAX_PACKET);
  const first = await source.next();
  if (first.payload[0] === Header.ERR) throw new GatewayError('PCS_MYSQL_UPSTREAM_UNREACHABLE', { connection: o.connection, cause: `the server refused: ${readErr(first.payload).message}` });
  const greeting = decodeGreeting(first.payload);
  const server = greeting.capabilities;
  if ((server & Cap.PROTOCOL_41) === 0 || (server & Cap.SECURE_CONNECTION) === 0) throw new GatewayError('PCS_MYSQL_UPSTREAM_UNSUPPORTED', { connection: o.connection, reason: 'the server does not speak protocol 4.1' });
  const missing = o.capabilities & RELAYED_CAPABILITIES & ~server & ~(Cap.INTERACTIVE | Cap.FOUND_ROWS);
  if (missing !== 0) throw new GatewayError('PCS_MYSQL_UPSTREAM_UNSUPPORTED', { connection: o.connection, reason: `the client negotiated capabilities the server lacks (0x${missing.toString(16)})` });
  let caps = (o.capabilities & RELAYED_CAPABILITIES) | Cap.LONG_PASSWORD | Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION;
  caps |= server & (Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.CONNECT_ATTRS);
  if (o.database !== undefined && o.database !== '') caps |= Cap.CONNECT_WITH_DB;
  caps &= server | Cap.CONNECT_WITH_DB;
  let seq = first.seq + 1;
  let socket = raw;
  let tls = false;
  const wantTls = o.tls !== 'disable' && (o.tls !== 'prefer' || (server & Cap.SSL) !== 0);
  if (wantTls) {
    if ((server & Cap.SSL) === 0) throw new GatewayError('PCS_MYSQL_UPSTREAM_UNSUPPORTED', { connection: o.connection, reason: `the connection asks for TLS (${o.tls}) and the server does not offer it` });
    caps |= Cap.SSL;
    socket.write(framePacket(encodeSslRequest(caps, o.charset, o.maxPacketSize), seq++));
    source.detach();
    const secure = tlsConnect({ socket, servername: o.host, rejectUnauthorized: o.tls === 'verify-full', ...(o.ca !== undefined ? { ca: readFileSync(o.ca) } : {}) });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    secure.setNoDelay(true);
    socket = secure;
    swapped(secure);
    source.replaceSocket(secure);
    tls = true;
  }
  let plugin = greeting.authPlugin;
  let scramble = greeting.scramble;
  const answer = (p: string, s: Buffer): Buffer | undefined => {
    if (p === 'mysql_native_password') return nativePassword(o.password, s);
    if (p === 'caching_sha2_password') return cachingSha2Password(o.password, s);
    if (p === 'mysql_clear_password' && tls) return clearPassword(o.password);
    return undefined;
  };
  const initial = answer(plugin, scramble) ?? nativePassword(o.password, scramble);
  if (answer(plugin, scramble) === undefined) plugin = 'mysql_native_password';
  const attributes = new Map([['_client_name', 'portcullis'], ['program_name', 'portcullis']]);
  socket.write(framePacket(encodeHandshakeResponse({ capabilities: caps, maxPacketSize: o.maxPacketSize, charset: o.charset, user: o.user, authResponse: initial, database: o.database, authPlugin: plugin, attributes }), seq++));
  const failed = (reason: string): GatewayError => new GatewayError('PCS_MYSQL_UPSTREAM_AUTH_FAILED', { connection: o.connection, reason });
  for (let round = 0; round < 8; round++) {
    const p = await source.next();
    seq = p.seq + 1;
    const kind = p.payload[0];
    if (kind === Header.OK) {
      const answers: (Buffer[] | undefined)[] = [];
      for (const q of o.queries ?? []) answers.push(await query(source, socket, q, (caps & Cap.DEPRECATE_EOF) !== 0));
      source.detach();
      return { socket, pending: Buffer.from(source.reader.drain()), greeting, capabilities: caps, threadId: greeting.connectionId, tls, answers };
    }
    if (kind === Header.ERR) throw failed(readErr(p.payload).message);
    if (kind === Auth.SWITCH) {
      const sw = decodeAuthSwitch(p.payload);
      plugin = sw.plugin;
      scramble = sw.data;
      const data = answer(plugin, scramble);
      if (data === undefined) throw failed(`the server asks for auth method ${plugin}, which the gateway does not do${plugin === 'mysql_clear_password' ? ' without TLS' : ''}`);
      socket.write(framePacket(data, seq));
      continue;
    }
    if (kind === Auth.MORE_DATA && plugin === 'caching_sha2_password') {
      const marker = p.payload[1];
      if (marker === Auth.FAST_AUTH_OK && p.payload.length === 2) continue;
      if (marker === Auth.PERFORM_FULL_AUTH && p.payload.length === 2) {
        socket.write(framePacket(tls ? clearPassword(o.password) : Buffer.from([Auth.REQUEST_PUBLIC_KEY]), seq));
        continue;
      }
      // The server's RSA public key (PEM), asked for above.
      const pem = p.payload.toString('latin1', 1);
      if (!pem.includes('PUBLIC KEY')) throw failed('unexpected caching_sha2_password data');
      socket.write(framePacket(rsaPassword(o.password, scramble, pem), seq));
      continue;
    }
    throw failed(`unexpected packet 0x${(kind ?? 0).toString(16)} during login`);
  }
  throw failed('the login did not finish');
}

/** One query of the gateway's own, during login: its rows (copied), or undefined on an error. */
async function query(source: PacketSource, socket: Socket, sql: string, deprecateEof: boolean): Promise<Buffer[] | undefined> {
  socket.write(framePacket(encodeQuery(sql), 0));
  const t = new ResponseTracker('result', deprecateEof);
  const rows: Buffer[] = [];
  while (!t.done) {
    const p = await source.next();
    const before = t.rows;
    t.feed(p.payload);
    if (t.rows > before) rows.push(p.payload);
  }
  return t.error === undefined ? rows : undefined;
}
