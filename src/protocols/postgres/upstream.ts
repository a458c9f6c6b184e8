// The connection to the real PostgreSQL server: TCP, TLS by mode, startup with the
// connection's own user and database, login with the vaulted credential, then one query for
// the search_path the analyser resolves unqualified names with. The result is a socket ready
// for relaying, plus what the client must be told (ParameterStatus frames).
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { FunctionCatalogRow } from '../../sql/postgres/function-catalog.ts';
import { FUNCTION_CATALOG_SQL } from './catalog-cache.ts';
import { GatewayError } from '../../core/errors.ts';
import type { DialTarget, Dialer } from '../../pipeline/dialer.ts';
import { Backend, DEFAULT_MAX_MESSAGE_SIZE } from './codec/constants.ts';
import { readAuthentication, readBackendKeyData, readErrorFields, readTextRow } from './codec/backend-read.ts';
import { RELATION_CATALOG_SQL, relationSnapshot, type RelationSnapshot } from './masking/relations.ts';
import { query, sslRequest, startupMessage } from './codec/frontend-encode.ts';
import type { FrameReader } from './codec/framing.ts';
import { FrameSource } from './frame-source.ts';
import { MissingCredential, UpstreamAuthenticator, UpstreamAuthError } from './upstream-auth.ts';

export type UpstreamTlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';

export interface UpstreamTarget {
  /** The connection's name: the only thing error messages name. */
  readonly connection: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string | undefined;
  readonly tls: UpstreamTlsMode;
  /** CA file for verify-full (system CAs when absent). */
  readonly ca?: string;
  /** The relay the connection goes through (docs/relay.md); absent: direct. */
  readonly relay?: string;
}

export interface UpstreamKey {
  readonly pid: number;
  readonly secret: Buffer;
}

export interface Upstream {
  readonly socket: Duplex;
  /** Bytes the server sent after the login exchange and not yet consumed. */
  readonly reader: FrameReader;
  /** ParameterStatus frames to relay to the client, as received. */
  readonly parameterStatus: readonly Buffer[];
  readonly key: UpstreamKey | null;
  readonly searchPath: readonly string[];
  /** User-defined functions and their volatility, when the login was asked to read them. */
  readonly functions: readonly FunctionCatalogRow[] | undefined;
  /** The relation catalog (masking/relations.ts), when asked for; undefined also when it could not be read. */
  readonly relations: RelationSnapshot | undefined;
  /** Whether the upstream role is a superuser, when the login was asked (undefined also when it could not be read). */
  readonly superuser: boolean | undefined;
  readonly tls: boolean;
  /** Where it was dialled (a cancel request goes the same way). */
  readonly dialled: DialTarget;
}

export interface LoginOptions {
  /** Also read the function catalog (see catalog-cache.ts) before handing over. */
  readonly readCatalog: boolean;
  /** Also read the relation catalog masking needs. */
  readonly readRelations?: boolean;
  /** Also ask whether the role logged in as is a superuser (see role-check.ts). */
  readonly readRole?: boolean;
}

/** A superuser reads pg_authid and everything else whatever the grants: worth a warning. */
export const ROLE_SQL = 'SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The server refused a run-time parameter of the client's startup packet (a bad value, an
 * unknown name, one that cannot be set now): `frame` is its ErrorResponse, for the client.
 */
export class ParameterRejected extends Error {
  readonly frame: Buffer;
  readonly sqlstate: string;

  constructor(frame: Buffer, sqlstate: string) {
    super(`the server refused a startup parameter (${sqlstate})`);
    this.name = 'ParameterRejected';
    this.frame = frame;
    this.sqlstate = sqlstate;
  }
}

/**
 * SQLSTATEs the server gives a startup parameter it does not take: invalid_parameter_value
 * and the data exceptions of class 22, undefined_object (no such parameter), cant_change_runtime_param,
 * syntax_error; and insufficient_privilege only for "permission denied to set parameter"
 * (the same code also refuses CONNECT on a database, whose message names it).
 */
function isParameterError(code: string, message: string): boolean {
  if (code.startsWith('22') || code === '42704' || code === '55P02' || code === '42601') return true;
  return code === '42501' && /\bparameter\b/.test(message);
}

/** Opens and logs in; throws GatewayErrors that are safe for the agent (no server text). */
export async function connectUpstream(dialer: Dialer, target: UpstreamTarget, clientParams: ReadonlyMap<string, string>, opts: LoginOptions = { readCatalog: false }): Promise<Upstream> {
  let socket: Duplex | undefined;
  const timer = setTimeout(() => socket?.destroy(new Error('timed out')), CONNECT_TIMEOUT_MS);
  try {
    socket = await dialer.dial(dialledOf(target));
    const { socket: secured, source, tls } = await secure(socket, target);
    socket = secured;
    return await login(secured, source, target, clientParams, tls, opts);
  } catch (err) {
    socket?.destroy();
    if (err instanceof GatewayError || err instanceof ParameterRejected) throw err;
    if (err instanceof MissingCredential) throw new GatewayError('PCS_CONNECTION_NO_CREDENTIAL', { connection: target.connection }, { cause: err });
    if (err instanceof UpstreamAuthError) throw new GatewayError('PCS_PG_UPSTREAM_AUTH_FAILED', { connection: target.connection }, { cause: err });
    throw new GatewayError('PCS_PG_UPSTREAM_UNREACHABLE', { connection: target.connection, cause: causeOf(err) }, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

const dialledOf = (t: UpstreamTarget): DialTarget => ({ connection: t.connection, host: t.host, port: t.port, relay: t.relay });

/** A short cause from the socket layer (ECONNREFUSED...), never a server message. */
function causeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : code;
  return err instanceof Error && /timed out/.test(err.message) ? 'timed out' : 'connection lost';
}

async function secure(socket: Duplex, target: UpstreamTarget): Promise<{ socket: Duplex; source: FrameSource; tls: boolean }> {
  const source = new FrameSource(socket, DEFAULT_MAX_MESSAGE_SIZE);
  if (target.tls === 'disable') return { socket, source, tls: false };
  socket.write(sslRequest());
  const answer = await source.byte();
  // Bytes after 'S' before the handshake would be unauthenticated (CVE-2021-23222).
  if (answer.extra > 0) throw new GatewayError('PCS_PG_UPSTREAM_UNREACHABLE', { connection: target.connection, cause: 'unexpected data after the TLS answer' });
  if (answer.value !== 0x53 /* S */) {
    if (target.tls === 'prefer') return { socket, source, tls: false };
    throw new GatewayError('PCS_PG_UPSTREAM_UNREACHABLE', { connection: target.connection, cause: 'the server does not offer TLS' });
  }
  source.detach();
  const verify = target.tls === 'verify-full';
  const secured = tlsConnect({
    socket,
    rejectUnauthorized: verify,
    ...(verify && target.ca !== undefined ? { ca: readFileSync(target.ca) } : {}),
    // The name the certificate is checked against; SNI only for DNS names (never an IP).
    host: target.host,
    ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    secured.once('secureConnect', () => {
      secured.off('error', reject);
      resolve();
    });
    secured.once('error', (err) => reject(verify ? new GatewayError('PCS_PG_UPSTREAM_UNREACHABLE', { connection: target.connection, cause: `TLS verification failed: ${(err as NodeJS.ErrnoException).code ?? 'error'}` }) : err));
  });
  secured.setNoDelay(true);
  source.replaceSocket(secured);
  return { socket: secured, source, tls: true };
}

async function login(socket: Duplex, source: FrameSource, target: UpstreamTarget, clientParams: ReadonlyMap<string, string>, tls: boolean, opts: LoginOptions): Promise<Upstream> {
  const params = new Map<string, string>([['user', target.user], ['database', target.database]]);
  for (const [k, v] of clientParams) params.set(k, v);
  socket.write(startupMessage(params));
  const auth = new UpstreamAuthenticator(target.user, target.password);
  const parameterStatus: Buffer[] = [];
  let key: UpstreamKey | null = null;
  for (;;) {
    const frame = await source.next();
    switch (frame[0]) {
      case Backend.Authentication: {
        const { code, data } = readAuthentication(frame);
        const reply = await auth.answer(code, data);
        if (reply !== null) socket.write(reply);
        break;
      }
      case Backend.ParameterStatus:
        parameterStatus.push(Buffer.from(frame));
        break;
      case Backend.BackendKeyData:
        key = readBackendKeyData(frame);
        break;
      case Backend.ErrorResponse: {
        // The server's message is not relayed: it names roles and databases of the upstream
        // and, for some auth failures, could echo what the gateway sent. Except when it is
        // about a parameter the client asked for: then the client gets the server's own words.
        const { code, message } = readErrorFields(frame);
        if (clientParams.size > 0 && isParameterError(code, message)) throw new ParameterRejected(Buffer.from(frame), code);
        if (code.startsWith('28')) throw new UpstreamAuthError(`server refused login (${code})`);
        throw new GatewayError('PCS_PG_UPSTREAM_REFUSED', { connection: target.connection, sqlstate: code || 'unknown' });
      }
      case Backend.ReadyForQuery: {
        const searchPath = parseTextArray((await readRows(socket, source, 'SELECT pg_catalog.current_schemas(false)::text'))[0]?.[0] ?? '{}');
        const functions = opts.readCatalog ? (await readRows(socket, source, FUNCTION_CATALOG_SQL)).flatMap(toCatalogRow) : undefined;
        const relations = opts.readRelations === true ? await readRelations(socket, source, searchPath) : undefined;
        const role = opts.readRole === true ? (await readRows(socket, source, ROLE_SQL))[0]?.[0] : undefined;
        const superuser = role === 't' ? true : role === 'f' ? false : undefined;
        source.detach();
        return { socket, reader: source.reader, parameterStatus, key, searchPath, functions, relations, superuser, tls, dialled: dialledOf(target) };
      }
      default:
        // NoticeResponse, NegotiateProtocolVersion: nothing to act on before the session.
        break;
    }
  }
}

/**
 * Runs one internal query before the client is let in and returns its rows as text. Used for
 * the search_path (`current_schemas(false)`: `$user` expanded, missing schemas left out) and
 * the function catalog. An error yields no rows: the defaults then apply (fail closed).
 */
async function readRows(socket: Duplex, source: FrameSource, sql: string): Promise<(string | null)[][]> {
  socket.write(query(sql));
  const rows: (string | null)[][] = [];
  for (;;) {
    const frame = await source.next();
    if (frame[0] === Backend.DataRow) {
      rows.push(readTextRow(frame));
    } else if (frame[0] === Backend.ErrorResponse) {
      rows.length = 0;
    } else if (frame[0] === Backend.ReadyForQuery) {
      return rows;
    }
  }
}

async function readRelations(socket: Duplex, source: FrameSource, searchPath: readonly string[]): Promise<RelationSnapshot | undefined> {
  const rows = await readRows(socket, source, RELATION_CATALOG_SQL);
  // No rows at all means the query failed (every database has catalog tables): keep none.
  return rows.length === 0 ? undefined : relationSnapshot(rows, searchPath);
}

function toCatalogRow(row: (string | null)[]): FunctionCatalogRow[] {
  const [schema, name, v] = row;
  return schema && name && (v === 'i' || v === 's' || v === 'v') ? [{ schema, name, volatility: v }] : [];
}

/** `{public,"my schema"}` -> ['public', 'my schema']: the array literal of a name[]. */
export function parseTextArray(text: string): string[] {
  const inner = text.replace(/^\{|\}$/g, '');
  if (inner === '') return [];
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|([^,]+)/g;
  for (const m of inner.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}
