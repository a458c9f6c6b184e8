// The PostgreSQL listener: accepts connections, negotiates TLS, reads the startup packet,
// routes the database name to a connection, takes the identity token as a cleartext
// password, logs in upstream with the vaulted credential, then hands over to a PgSession.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { ConnectionConfig } from '../../config/schema.ts';
import { inlineSecret } from '../../connections/public-view.ts';
import { CREDENTIAL_COLUMNS } from '../../core/credential-columns.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { AdapterContext } from '../../pipeline/adapter.ts';
import { bindListener, clientAddress, isLoopback, type Endpoint } from '../../pipeline/listen.ts';
import { ListenerLifecycle } from '../../pipeline/listener-lifecycle.ts';
import type { SessionRef } from '../../pipeline/gate.ts';
import { authenticationCleartextPassword, authenticationOk, backendKeyData, errorResponse, negotiateProtocolVersion, readyForQuery } from './codec/backend-encode.ts';
import { Frontend, TxStatus } from './codec/constants.ts';
import { TERMINATE } from './codec/frontend-encode.ts';
import { FrameReader, FramingError } from './codec/framing.ts';
import { decodeStartup, MalformedMessage, type StartupPacket } from './codec/frontend.ts';
import { CancelRegistry, sendCancel } from './cancel.ts';
import { errorFrame, gatewayErrorFields } from './errors.ts';
import { FrameSource } from './frame-source.ts';
import { StreamClosed } from '../../pipeline/socket-source.ts';
import { PgSession, type SessionObserver } from './session.ts';
import { protocolOptions, startupSettings, unsafeEncoding } from './startup.ts';
import { decideStartup } from './startup-decide.ts';
import { connectUpstream, ParameterRejected, type Upstream } from './upstream.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import { CatalogCache } from './catalog-cache.ts';
import { RelationCache } from './masking/relations.ts';
import { UpstreamRoleCheck } from './role-check.ts';

/** A client that has not logged in within this time is dropped (PostgreSQL: authentication_timeout, 1 min). */
const STARTUP_TIMEOUT_MS = 30_000;
/**
 * Before a client has authenticated it may send only small messages (a startup packet, a
 * password carrying a token of at most 16 KiB), and what it pipelines behind them is not read
 * into memory: an unauthenticated peer must not be able to make the gateway buffer megabytes.
 */
const PRE_AUTH_MAX_MESSAGE = 32 * 1024;
const PRE_AUTH_MAX_BUFFERED = 64 * 1024;

type PostgresConnection = Extract<ConnectionConfig, { type: 'postgres' }>;
type StartupMessage = Extract<StartupPacket, { type: 'StartupMessage' }>;

export interface ListenerSettings {
  readonly tls: SecureContext | null;
  readonly requireTls: boolean;
  readonly cleartext: 'never' | 'loopback' | 'always';
  readonly maxMessageSize: number;
}

export class PgListener {
  readonly #ctx: AdapterContext;
  readonly #settings: ListenerSettings;
  readonly #server: Server;
  readonly #cancel = new CancelRegistry();
  readonly #catalogs = new CatalogCache();
  readonly #relations = new RelationCache();
  /** Logins in progress, start-up probes, sessions, and the drain at shutdown. */
  readonly #life: ListenerLifecycle<PgSession>;
  readonly #roles: UpstreamRoleCheck;
  /** Whether any policy masks columns (its own or built-in credential masks): only then is the relation catalog read. */
  readonly #columnMasks: boolean;

  constructor(ctx: AdapterContext, settings: ListenerSettings) {
    this.#ctx = ctx;
    this.#columnMasks = ctx.config.policies.some((p) => p.masks.some((m) => m.column !== undefined) || CREDENTIAL_COLUMNS.postgres.columns.some((c) => !p.reveal_credentials.includes(c.column)));
    this.#settings = settings;
    this.#roles = new UpstreamRoleCheck(ctx.logger);
    this.#server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
    this.#life = new ListenerLifecycle(this.#server, ctx.logger);
  }

  /** Binds to a `listen.*` address; resolves with the bound one. */
  listen(address: string): Promise<Endpoint> {
    return bindListener(this.#server, address);
  }


  /**
   * One login per PostgreSQL connection, in the background: tells whether its role is a
   * superuser and warms the catalogs. An upstream that is down delays nothing (the first
   * session's login asks instead).
   */
  probeUpstreams(): void {
    for (const c of this.#ctx.config.connections) {
      if (c.type !== 'postgres') continue;
      const probe = this.#dial(c, new Map([['application_name', 'portcullis']])).then(
        (upstream) => {
          upstream.socket.end(TERMINATE);
        },
        (err: unknown) => this.#ctx.logger.info(isGatewayError(err) ? { connection: c.name, reason: err.message } : { connection: c.name, err }, 'could not log in upstream at start; the role is checked at the first session'),
      );
      this.#life.probe(probe);
    }
  }

  get activeSessions(): number {
    return this.#life.activeSessions;
  }

  close(deadline: number): Promise<void> {
    return this.#life.close(deadline);
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    if (this.#life.closing) {
      socket.end(errorResponse(gatewayErrorFields(new GatewayError('PCS_PG_SHUTTING_DOWN'), 'FATAL')));
      return;
    }
    socket.on('error', (err) => this.#ctx.logger.debug({ err }, 'client socket error during startup'));
    this.#life.handshake(socket, STARTUP_TIMEOUT_MS, 'postgres handshake', () => this.#handshake(socket));
  }

  async #handshake(raw: Socket): Promise<void> {
    const clientAddr = clientAddress(raw.remoteAddress);
    const source = new FrameSource(raw, PRE_AUTH_MAX_MESSAGE, PRE_AUTH_MAX_BUFFERED);
    let socket: Socket = raw;
    let tls = false;
    // Started once the client is authenticated; ended here unless the session takes it over.
    let recording: SessionRecording | undefined;
    // Anything that ends the startup early: a FATAL where the protocol allows one, then close.
    const fail = (err: GatewayError): void => {
      source.detach();
      // Destroy once the error is written: waiting for the peer's FIN behind unread input
      // would keep the socket (and the listener's close) hanging.
      const closing = socket;
      closing.end(errorResponse(gatewayErrorFields(err, 'FATAL')), () => closing.destroy());
    };
    try {
      let startup: StartupMessage | undefined;
      while (startup === undefined) {
        const packet = decodeStartup(await source.nextStartup());
        switch (packet.type) {
          case 'SSLRequest': {
            // A second SSLRequest, or bytes pipelined behind it, would be read outside TLS (CVE-2021-23214).
            if (tls || source.reader.buffered > 0) return fail(new GatewayError('PCS_PG_PROTOCOL_VIOLATION', { detail: 'unexpected data around SSLRequest' }));
            if (this.#settings.tls === null) {
              socket.write('N');
              break;
            }
            socket.write('S');
            socket = await this.#startTls(socket, source);
            tls = true;
            break;
          }
          case 'GSSENCRequest':
            socket.write('N'); // libpq 16+ then falls back to SSL or plain.
            break;
          case 'CancelRequest': {
            const target = this.#cancel.lookup(packet.pid, packet.secret);
            if (target !== undefined) await sendCancel(this.#ctx.dialer, target);
            socket.destroy();
            return;
          }
          case 'StartupMessage':
            startup = packet;
            break;
        }
      }
      if (startup.major !== 3) return fail(new GatewayError('PCS_PG_UNSUPPORTED_PROTOCOL', { version: `${startup.major}.${startup.minor}` }));
      const unrecognised = protocolOptions(startup.params);
      if (startup.minor > 0 || unrecognised.length > 0) socket.write(negotiateProtocolVersion(0, unrecognised));
      if (this.#settings.requireTls && !tls) return fail(new GatewayError('PCS_PG_TLS_REQUIRED'));
      const name = startup.params.get('database') ?? startup.params.get('user') ?? '';
      const connection = this.#ctx.config.connections.find((c): c is PostgresConnection => c.type === 'postgres' && c.name === name);
      if (connection === undefined) return fail(new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: name }));
      const cleartextOk = tls || this.#settings.cleartext === 'always' || (this.#settings.cleartext === 'loopback' && isLoopback(clientAddr));
      if (!cleartextOk) return fail(new GatewayError('PCS_PG_CLEARTEXT_REFUSED', { client: clientAddr ?? 'this client' }));
      // Run-time parameters (`options` included): their syntax is checked before the token is asked for.
      const settings = startupSettings(startup.params);
      const encoding = unsafeEncoding(settings);
      if (encoding !== undefined) return fail(new GatewayError('PCS_PG_UNSUPPORTED_ENCODING', { encoding }));

      socket.write(authenticationCleartextPassword());
      const reply = await source.next();
      if (reply[0] === Frontend.Terminate) {
        // The client gave up on the login (no password to give): it asked to close, so close.
        this.#ctx.logger.debug({ client: clientAddr }, 'client ended the login with Terminate');
        source.detach();
        socket.end(() => socket.destroy());
        return;
      }
      if (reply[0] !== Frontend.Password) return fail(new GatewayError('PCS_PG_PROTOCOL_VIOLATION', { detail: 'expected a password message' }));
      const nul = reply.indexOf(0, 5);
      const token = reply.toString('utf8', 5, nul < 0 ? reply.length : nul).trim();
      const ref = { connection: { name: connection.name, type: 'postgres' }, protocol: 'postgres', ...(clientAddr !== null ? { clientAddr } : {}) };
      let identity: Identity;
      try {
        identity = await this.#ctx.gate.login(token, ref);
      } catch (err) {
        if (isGatewayError(err)) return fail(err);
        throw err;
      }
      // Authenticated: the configured message limit applies from here on.
      source.reader.setMaxLength(this.#settings.maxMessageSize);
      // Recorded from here: the startup parameters are the session's first decisions.
      recording = this.#ctx.recorder.start({ connection: connection.name, protocol: 'postgres', subject: identity.subject, clientAddr });
      const refused = decideStartup({ gate: this.#ctx.gate, identity, ref: { ...ref, id: recording.id }, recording }, settings);
      if (refused !== undefined) {
        recording.end('error', { startup_refused: refused.code });
        return fail(refused);
      }
      let upstream: Upstream;
      try {
        upstream = await this.#dial(connection, settings);
      } catch (err) {
        if (!(err instanceof ParameterRejected)) throw err;
        // The server's own FATAL for a value it does not take (`-c statement_timeout=abc`).
        recording.event('error', { kind: 'startup-parameter', message: 'the database server refused a startup parameter', sqlstate: err.sqlstate });
        recording.end('error', { startup_refused: err.sqlstate });
        source.detach();
        socket.end(err.frame, () => socket.destroy());
        return;
      }
      if (this.#life.closing) {
        upstream.socket.destroy();
        recording.end('terminated');
        return fail(new GatewayError('PCS_PG_SHUTTING_DOWN'));
      }
      source.detach();
      this.#open(socket, source.reader, upstream, identity, { ...ref }, clientAddr, recording, settings.get('portcullis.reason') ?? null);
      recording = undefined;
    } catch (err) {
      recording?.end('error', { startup_failed: isGatewayError(err) ? err.code : 'internal' });
      if (isGatewayError(err)) return fail(err);
      if (err instanceof FramingError || err instanceof MalformedMessage) {
        // Before startup there is no session to record; the log keeps what happened.
        this.#ctx.logger.info({ client: clientAddr, detail: err.message }, 'malformed startup; connection closed');
        return fail(new GatewayError('PCS_PG_PROTOCOL_VIOLATION', { detail: err.message }));
      }
      if (err instanceof StreamClosed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const requestId = randomUUID();
      this.#ctx.logger.error({ err, requestId, client: clientAddr }, 'postgres startup failed');
      source.detach();
      socket.end(errorFrame(err, 'FATAL', requestId));
    }
  }

  async #startTls(socket: Socket, source: FrameSource): Promise<Socket> {
    source.detach();
    const secure = new TLSSocket(socket, { isServer: true, secureContext: this.#settings.tls ?? undefined });
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => reject(new StreamClosed('closed during the TLS handshake')));
    });
    secure.on('error', (err) => this.#ctx.logger.debug({ err }, 'client TLS socket error'));
    source.replaceSocket(secure);
    return secure;
  }

  /** `settings`: the client's run-time parameters, each already decided (startup-decide.ts). */
  async #dial(connection: PostgresConnection, settings: ReadonlyMap<string, string>): Promise<Upstream> {
    const vaulted = await this.#ctx.credentials.reveal(connection.name);
    const u = connection.upstream;
    const upstream = await connectUpstream(
      this.#ctx.dialer,
      { connection: connection.name, host: u.host, port: u.port, database: u.database, user: u.user, password: vaulted?.secret ?? inlineSecret(connection), tls: u.tls, ...(u.ca !== undefined ? { ca: u.ca } : {}), ...(connection.relay !== undefined ? { relay: connection.relay } : {}) },
      settings,
      { readCatalog: this.#catalogs.needsRefresh(connection.name), readRelations: this.#columnMasks && this.#relations.needsRefresh(connection.name), readRole: this.#roles.needed(connection.name) },
    );
    this.#roles.report(connection.name, u.user, upstream.superuser);
    if (upstream.functions) this.#catalogs.set(connection.name, upstream.functions, connection.read_functions);
    if (upstream.relations) this.#relations.set(connection.name, upstream.relations);
    return upstream;
  }

  /**
   * A session for an in-process client (an executor): `client` is one end of an in-memory
   * pair, the identity was authenticated by the caller, and the recording is the caller's. From
   * the upstream login on, it is the session a wire client gets: the client end reads
   * AuthenticationOk ... ReadyForQuery and then speaks the frontend protocol.
   */
  async attach(client: Duplex, identity: Identity, connectionName: string, via: { readonly protocol: string; readonly clientAddr?: string; readonly recording: SessionRecording; readonly observer: SessionObserver }): Promise<void> {
    const connection = this.#ctx.config.connections.find((c): c is PostgresConnection => c.type === 'postgres' && c.name === connectionName);
    if (connection === undefined) throw new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: connectionName });
    if (this.#life.closing) throw new GatewayError('PCS_PG_SHUTTING_DOWN');
    client.pause();
    const upstream = await this.#dial(connection, new Map());
    const ref = { connection: { name: connection.name, type: 'postgres' }, protocol: via.protocol, ...(via.clientAddr !== undefined ? { clientAddr: via.clientAddr } : {}) };
    this.#open(client, new FrameReader(this.#settings.maxMessageSize), upstream, identity, ref, via.clientAddr ?? null, via.recording, null, via.observer);
  }

  #open(socket: Duplex, reader: FrameReader, upstream: Upstream, identity: Identity, ref: Omit<SessionRef, 'id'>, clientAddr: string | null, recording: SessionRecording, reason: string | null, observer?: SessionObserver): void {
    const u = upstream;
    const key = this.#cancel.register({ connection: u.dialled.connection, host: u.dialled.host, port: u.dialled.port, relay: u.dialled.relay, tls: u.tls ? 'require' : 'disable', key: u.key ?? { pid: 0, secret: Buffer.alloc(4) } });
    socket.cork();
    socket.write(authenticationOk());
    for (const status of u.parameterStatus) socket.write(status);
    // Our own key: the upstream's never leaves the gateway.
    socket.write(backendKeyData(key.pid, key.secret));
    socket.write(readyForQuery(TxStatus.Idle));
    socket.uncork();
    this.#ctx.metrics.sessions.inc({ protocol: 'postgres' });
    const session = new PgSession({
      client: socket,
      clientReader: reader,
      upstream,
      identity,
      ref: { ...ref, id: recording.id },
      gate: this.#ctx.gate,
      catalogs: this.#catalogs,
      relations: this.#relations,
      masks: this.#ctx.masks,
      unknownLineage: this.#ctx.config.masking?.unknown_lineage ?? 'mask',
      reviews: this.#ctx.reviews,
      recording,
      reason,
      ...(observer !== undefined ? { observer } : {}),
      durable: this.#ctx.durable,
      logger: this.#ctx.logger,
      onEnd: (s) => {
        this.#cancel.release(key.pid);
        this.#ctx.metrics.sessions.dec({ protocol: 'postgres' });
        this.#life.ended(s);
      },
    });
    this.#life.opened(session);
    this.#ctx.logger.info({ session: recording.id, subject: identity.subject, connection: ref.connection.name, client: clientAddr }, 'postgres session opened');
    session.start();
  }
}
