// The MySQL/MariaDB listener: greets the client (handshake v10), upgrades to TLS on its
// SSLRequest, routes the database name to a connection, takes the identity token as a clear
// password (agent-auth.ts), logs in upstream with the vaulted credential, then hands over to
// a MysqlSession.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { ConnectionConfig } from '../../config/schema.ts';
import { inlineSecret } from '../../connections/public-view.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { AdapterContext } from '../../pipeline/adapter.ts';
import { bindListener, clientAddress, isLoopback, type Endpoint } from '../../pipeline/listen.ts';
import { ListenerLifecycle } from '../../pipeline/listener-lifecycle.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import { Cap, Status, UTF8MB4_GENERAL_CI } from './codec/constants.ts';
import { framePacket, FramingError } from './codec/framing.ts';
import { decodeHandshakeResponse, encodeGreeting, isSslRequest } from './codec/handshake.ts';
import { encodeErr, encodeOk } from './codec/responses.ts';
import { MalformedPacket } from './codec/wire.ts';
import { receiveToken } from './agent-auth.ts';
import { errFor, gatewayErr } from './errors.ts';
import { PacketSource } from './packet-source.ts';
import { StreamClosed } from '../../pipeline/socket-source.ts';
import { MysqlSession } from './session.ts';
import { ThreadRegistry } from './threads.ts';
import { connectUpstream, RELAYED_CAPABILITIES, type Upstream } from './upstream.ts';
import { prefixedStream } from './prefixed-stream.ts';
import { COLUMNS_QUERY, RelationCache, relationSnapshot, VIEWS_QUERY } from './masking/relations.ts';
import { CREDENTIAL_COLUMNS } from '../../core/credential-columns.ts';

/** A client that has not logged in within this time is dropped (MySQL: connect_timeout, 10 s; a token takes longer to paste). */
const LOGIN_TIMEOUT_MS = 30_000;
/** Before login a client sends only small packets (a token of at most 16 KiB, an RSA block). */
const PRE_AUTH_MAX_PACKET = 32 * 1024;
const PRE_AUTH_MAX_BUFFERED = 64 * 1024;
/** What the greeting says when no upstream has been seen yet. */
const DEFAULT_VERSION = '8.0.0-portcullis';

/**
 * What the gateway offers the agent. Not offered: COMPRESS (the relay reads every packet),
 * QUERY_ATTRIBUTES (attributes would reach the server undecided), IGNORE_SPACE (changes how
 * function names read), OPTIONAL_RESULTSET_METADATA (masking needs the column definitions),
 * MariaDB's extended capabilities (LONG_PASSWORD set: no extended flags follow).
 */
const OFFERED =
  Cap.LONG_PASSWORD | Cap.FOUND_ROWS | Cap.LONG_FLAG | Cap.CONNECT_WITH_DB | Cap.LOCAL_FILES | Cap.PROTOCOL_41 | Cap.INTERACTIVE | Cap.TRANSACTIONS |
  Cap.SECURE_CONNECTION | Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.CONNECT_ATTRS |
  Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.SESSION_TRACK | Cap.DEPRECATE_EOF | Cap.IGNORE_SIGPIPE | Cap.RESERVED;

/**
 * Character sets whose multi-byte characters can end in a quote or backslash byte (big5, sjis,
 * gbk, cp932, gb18030 and their collations): the analyser would read another statement than
 * the server.
 */
const UNSAFE_COLLATIONS = new Set([1, 13, 28, 84, 87, 88, 95, 96, 248, 249, 250]);

type MysqlConnection = Extract<ConnectionConfig, { type: 'mysql' }>;

export interface ListenerSettings {
  readonly tls: SecureContext | null;
  readonly requireTls: boolean;
  readonly cleartext: 'never' | 'loopback' | 'always';
  readonly maxPacketSize: number;
}

/** What the greeting shows of the upstream servers, learned from their own greetings. */
interface ServerFace {
  version: string;
  capabilities: number;
}

export class MysqlListener {
  readonly #ctx: AdapterContext;
  readonly #settings: ListenerSettings;
  readonly #server: Server;
  readonly #threads = new ThreadRegistry();
  /** Logins in progress, start-up probes, sessions, and the drain at shutdown. */
  readonly #life: ListenerLifecycle<MysqlSession>;
  /** By connection name; the greeting shows the first one learned (clients name the connection after it). */
  readonly #faces = new Map<string, ServerFace>();
  readonly #relations = new RelationCache();
  /** Whether any policy masks columns (its own or built-in credential masks): only then is the relation catalog read. */
  readonly #columnMasks: boolean;

  constructor(ctx: AdapterContext, settings: ListenerSettings) {
    this.#ctx = ctx;
    this.#settings = settings;
    this.#columnMasks = ctx.config.policies.some((p) => p.masks.some((m) => m.column !== undefined) || CREDENTIAL_COLUMNS.mysql.columns.some((c) => !p.reveal_credentials.includes(c.column)));
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#life = new ListenerLifecycle(this.#server, ctx.logger);
  }

  listen(address: string): Promise<Endpoint> {
    return bindListener(this.#server, address);
  }

  get activeSessions(): number {
    return this.#life.activeSessions;
  }

  /** One login per MySQL connection in the background: learns the server version the greeting shows. */
  probeUpstreams(): void {
    for (const c of this.#ctx.config.connections) {
      if (c.type !== 'mysql') continue;
      const probe = this.#dial(c, Cap.PROTOCOL_41, UTF8MB4_GENERAL_CI, 16 * 1024 * 1024).then(
        (u) => {
          u.socket.destroy();
        },
        (err: unknown) => this.#ctx.logger.info(isGatewayError(err) ? { connection: c.name, reason: err.message } : { connection: c.name, err }, 'could not log in upstream at start; the server version is learned at the first session'),
      );
      this.#life.probe(probe);
    }
  }

  close(deadline: number): Promise<void> {
    return this.#life.close(deadline);
  }

  #face(): ServerFace {
    for (const f of this.#faces.values()) return f;
    return { version: DEFAULT_VERSION, capabilities: OFFERED };
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('error', (err) => this.#ctx.logger.debug({ err }, 'client socket error during login'));
    if (this.#life.closing) {
      socket.end(framePacket(encodeErr(gatewayErr(new GatewayError('PCS_MYSQL_SHUTTING_DOWN'))), 0));
      return;
    }
    this.#life.handshake(socket, LOGIN_TIMEOUT_MS, 'mysql handshake', () => this.#handshake(socket));
  }

  async #handshake(raw: Socket): Promise<void> {
    const clientAddr = clientAddress(raw.remoteAddress);
    const source = new PacketSource(raw, PRE_AUTH_MAX_PACKET, PRE_AUTH_MAX_BUFFERED);
    let socket: Socket = raw;
    let tls = false;
    let seq = 0;
    let recording: SessionRecording | undefined;
    const id = this.#threads.allocate();
    const fail = (err: GatewayError): void => {
      source.detach();
      const closing = socket;
      closing.end(framePacket(encodeErr(gatewayErr(err)), seq), () => closing.destroy());
    };
    const send = (payload: Buffer): void => {
      socket.write(framePacket(payload, seq));
    };
    const next = async (): Promise<Buffer> => {
      const p = await source.next();
      seq = (p.seq + 1) & 0xff;
      return p.payload;
    };
    try {
      const face = this.#face();
      const offered = (OFFERED & (face.capabilities | ~RELAYED_CAPABILITIES)) | (this.#settings.tls !== null ? Cap.SSL : 0);
      const scramble = nonce();
      send(encodeGreeting({ serverVersion: face.version, connectionId: id, scramble, capabilities: offered, charset: UTF8MB4_GENERAL_CI, status: Status.AUTOCOMMIT, authPlugin: 'caching_sha2_password' }));
      let payload = await next();
      if (isSslRequest(payload)) {
        if (this.#settings.tls === null) return fail(new GatewayError('PCS_MYSQL_PROTOCOL_VIOLATION', { detail: 'SSLRequest, but the gateway did not offer TLS' }));
        socket = await this.#startTls(socket, source);
        tls = true;
        payload = await next();
      }
      const response = decodeHandshakeResponse(payload);
      if (this.#settings.requireTls && !tls) return fail(new GatewayError('PCS_MYSQL_TLS_REQUIRED'));
      if (response.capabilities & Cap.COMPRESS & ~offered) {
        // Compression was not offered; a client that uses it anyway would send unreadable packets.
        return fail(new GatewayError('PCS_MYSQL_PROTOCOL_VIOLATION', { detail: 'compression was not offered' }));
      }
      if (UNSAFE_COLLATIONS.has(response.charset)) return fail(new GatewayError('PCS_MYSQL_PROTOCOL_VIOLATION', { detail: `character set ${response.charset} is not supported through the gateway (its multi-byte characters can hide quotes from the analyser); use utf8mb4` }));
      // The database names the connection; without one, the user name does (as for PostgreSQL),
      // for tools that connect first and `USE` later (mysqlslap, some GUIs).
      const name = response.database !== undefined && response.database !== '' ? response.database : response.user;
      const connection = this.#ctx.config.connections.find((c): c is MysqlConnection => c.type === 'mysql' && c.name === name);
      if (connection === undefined) return fail(new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: name }));
      const cleartextOk = tls || this.#settings.cleartext === 'always' || (this.#settings.cleartext === 'loopback' && isLoopback(clientAddr));
      if (!cleartextOk) return fail(new GatewayError('PCS_MYSQL_CLEARTEXT_REFUSED', { client: clientAddr ?? 'this client' }));
      const token = await receiveToken({ send, next: async () => ({ seq, payload: await next(), raw: Buffer.alloc(0) }) }, response, scramble, tls);
      const ref = { connection: { name: connection.name, type: 'mysql' }, protocol: 'mysql', ...(clientAddr !== null ? { clientAddr } : {}) };
      let identity: Identity;
      try {
        identity = await this.#ctx.gate.login(token.trim(), ref);
      } catch (err) {
        if (isGatewayError(err)) return fail(err);
        throw err;
      }
      source.reader.setMaxLength(this.#settings.maxPacketSize);
      recording = this.#ctx.recorder.start({ connection: connection.name, protocol: 'mysql', subject: identity.subject, clientAddr });
      const caps = response.capabilities & offered;
      const upstream = await this.#dial(connection, caps, response.charset, response.maxPacketSize || 16 * 1024 * 1024);
      if (this.#life.closing) {
        upstream.socket.destroy();
        recording.end('terminated');
        return fail(new GatewayError('PCS_MYSQL_SHUTTING_DOWN'));
      }
      recording.event('startup', { user: response.user, client_program: response.attributes.get('program_name') ?? response.attributes.get('_client_name') ?? null, server_version: upstream.greeting.serverVersion, tls });
      send(encodeOk({ status: Status.AUTOCOMMIT }, caps));
      this.#open(socket, source, upstream, identity, { ...ref, id: recording.id }, clientAddr, recording, id, caps);
      recording = undefined;
    } catch (err) {
      recording?.end('error', { startup_failed: isGatewayError(err) ? err.code : 'internal' });
      if (isGatewayError(err)) return fail(err);
      if (err instanceof FramingError || err instanceof MalformedPacket) {
        this.#ctx.logger.info({ client: clientAddr, detail: err.message }, 'malformed MySQL login; connection closed');
        return fail(new GatewayError('PCS_MYSQL_PROTOCOL_VIOLATION', { detail: err.message }));
      }
      if (err instanceof StreamClosed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const requestId = randomUUID();
      this.#ctx.logger.error({ err, requestId, client: clientAddr }, 'mysql login failed');
      source.detach();
      socket.end(framePacket(encodeErr(errFor(err, requestId)), seq));
    }
  }

  async #startTls(socket: Socket, source: PacketSource): Promise<Socket> {
    source.detach();
    // Bytes read behind the SSLRequest (a ClientHello in the same chunk) go to TLS first, never to the packet reader.
    const early = source.reader.buffered > 0 ? source.reader.drain() : undefined;
    const secure = new TLSSocket(early === undefined ? socket : prefixedStream(socket, early), { isServer: true, secureContext: this.#settings.tls ?? undefined });
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => reject(new StreamClosed('closed during the TLS handshake')));
    });
    secure.on('error', (err) => this.#ctx.logger.debug({ err }, 'client TLS socket error'));
    source.replaceSocket(secure);
    // replaceSocket paused the socket it left, which the prefixed stream under TLS still reads.
    if (early !== undefined) socket.resume();
    return secure;
  }

  async #dial(connection: MysqlConnection, capabilities: number, charset: number, maxPacketSize: number): Promise<Upstream> {
    const vaulted = await this.#ctx.credentials.reveal(connection.name);
    const u = connection.upstream;
    const readRelations = this.#columnMasks && this.#relations.needsRefresh(connection.name);
    const upstream = await connectUpstream({ connection: connection.name, host: u.host, port: u.port, user: u.user, password: vaulted?.secret ?? inlineSecret(connection) ?? '', database: u.database, tls: u.tls, ...(u.ca !== undefined ? { ca: u.ca } : {}), capabilities, charset, maxPacketSize, queries: readRelations ? [COLUMNS_QUERY, VIEWS_QUERY] : [] });
    this.#faces.set(connection.name, { version: upstream.greeting.serverVersion, capabilities: upstream.greeting.capabilities });
    const [columns, views] = upstream.answers;
    if (readRelations && columns !== undefined) this.#relations.set(connection.name, relationSnapshot(columns, views ?? []));
    return upstream;
  }

  #open(socket: Socket, source: PacketSource, upstream: Upstream, identity: Identity, ref: { id: string; connection: { name: string; type: string }; protocol: string; clientAddr?: string }, clientAddr: string | null, recording: SessionRecording, id: number, capabilities: number): void {
    source.detach();
    this.#threads.bind(id, { subject: identity.subject, connection: ref.connection.name, thread: upstream.threadId });
    this.#ctx.metrics.sessions.inc({ protocol: 'mysql' });
    const connection = this.#ctx.config.connections.find((c) => c.name === ref.connection.name);
    const session = new MysqlSession({
      client: socket,
      clientReader: source.reader,
      upstream,
      capabilities,
      identity,
      ref,
      database: connection?.type === 'mysql' ? connection.upstream.database : undefined,
      relations: this.#relations,
      gate: this.#ctx.gate,
      masks: this.#ctx.masks,
      unknownLineage: this.#ctx.config.masking?.unknown_lineage ?? 'mask',
      reviews: this.#ctx.reviews,
      recording,
      threads: this.#threads,
      logger: this.#ctx.logger,
      durable: this.#ctx.durable,
      onEnd: (s) => {
        this.#threads.release(id);
        this.#ctx.metrics.sessions.dec({ protocol: 'mysql' });
        this.#life.ended(s);
      },
    });
    this.#life.opened(session);
    this.#ctx.logger.info({ session: ref.id, subject: identity.subject, connection: ref.connection.name, client: clientAddr }, 'mysql session opened');
    session.start();
  }
}

/** 20 bytes of nonce, none of them NUL (the greeting carries it NUL-terminated). */
function nonce(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) b[i] = (b[i]! % 127) + 1;
  return b;
}
