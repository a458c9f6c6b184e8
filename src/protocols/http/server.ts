// The HTTP listener: each request is routed to a connection, authenticated by its bearer
// token, turned into an Action, decided by the gate, and then refused (a problem document),
// held or deferred for review, or forwarded with the connection's own credential and its
// response masked. One recorded session per agent TCP connection (and identity).
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { HttpAction } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { AdapterContext } from '../../pipeline/adapter.ts';
import { bindListener, type Endpoint } from '../../pipeline/listen.ts';
import type { SessionRef } from '../../pipeline/gate.ts';
import { ruleLabel, runReview, type ReviewRequest } from '../../pipeline/review-runner.ts';
import type { Gated, Permit } from '../../pipeline/permit.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import { reasonFromText } from '../../reviews/review.ts';
import { inlineSecret } from '../../connections/public-view.ts';
import { BadRequest, httpAction } from './request.ts';
import { checkRequest } from './request-integrity.ts';
import { decodedPath, policyPath, readTarget } from '../../policy/http-target.ts';
import { CredentialUnavailable } from './credentials.ts';
import { Upstream, type ProxyResult } from './proxy.ts';
import { Router, type HttpConnection } from './router.ts';

export interface HttpListenerSettings {
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly maxRequestBody: number;
  readonly recordBody: number;
}

/** What a socket keeps between the requests of a keep-alive connection. */
interface SocketState {
  token: string | undefined;
  identity: Identity | undefined;
  recording: SessionRecording | undefined;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  /** An in-process client (an executor's): told of every answer that is the gateway's own, not the upstream's. */
  observer?: GatewayAnswerObserver;
}

/** The gateway answered instead of the upstream: a refusal (4xx), a deferral (with its review), or a failure (5xx). */
export type GatewayAnswerObserver = (err: GatewayError, reviewId?: string) => void;

const NO_BODY = Buffer.alloc(0);
/** Methods that change nothing (RFC 9110 9.2.1): their answers do not wait for their records. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token)$/i;

export class HttpListener {
  readonly #ctx: AdapterContext;
  readonly #settings: HttpListenerSettings;
  readonly #server: Server;
  readonly #router: Router;
  readonly #upstreams = new Map<string, Upstream>();
  readonly #sockets = new Map<Socket, SocketState>();
  #inFlight = 0;
  #closing = false;

  constructor(ctx: AdapterContext, settings: HttpListenerSettings) {
    this.#ctx = ctx;
    this.#settings = settings;
    this.#router = new Router(ctx.config.connections);
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.#handle(req, res).catch((err: unknown) => this.#fail(res, err));
    };
    this.#server = settings.tls === undefined ? createHttpServer(handler) : createHttpsServer({ cert: settings.tls.cert, key: settings.tls.key }, handler);
    // Slow clients must not hold sockets forever (slowloris): headers within 30 s.
    this.#server.headersTimeout = 30_000;
    this.#server.requestTimeout = 0;
    this.#server.on('connection', (socket: Socket) => {
      // An attached (in-process) connection comes with its state.
      if (!this.#sockets.has(socket)) this.#sockets.set(socket, { token: undefined, identity: undefined, recording: undefined, requests: 0, bytesIn: 0, bytesOut: 0 });
      socket.once('close', () => this.#socketClosed(socket));
    });
  }

  /**
   * An in-process client (an executor): `socket` is one end of an in-memory pair over which
   * the caller speaks HTTP/1.1. Its identity was authenticated by the caller (no bearer token
   * is asked for) and its requests are recorded into the caller's recording; from there on,
   * routing, integrity checks, decisions, reviews, credentials and masking are a wire client's.
   */
  attach(socket: Duplex, identity: Identity, recording: SessionRecording, observer: GatewayAnswerObserver): void {
    this.#sockets.set(socket as Socket, { token: undefined, identity, recording, requests: 0, bytesIn: 0, bytesOut: 0, observer });
    this.#server.emit('connection', socket);
  }

  /** Binds to a `listen.*` address; resolves with the bound one. */
  listen(address: string): Promise<Endpoint> {
    return bindListener(this.#server, address);
  }


  get activeSessions(): number {
    let n = 0;
    for (const s of this.#sockets.values()) if (s.recording !== undefined) n++;
    return n;
  }

  async close(deadline: number): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.#server.closeAllConnections();
    await closed;
    for (const socket of [...this.#sockets.keys()]) this.#socketClosed(socket);
    await Promise.all([...this.#upstreams.values()].map((u) => u.close()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    if (this.#closing) res.setHeader('connection', 'close');
    const socket = req.socket;
    const state = this.#sockets.get(socket);
    // One reading of the target (target.ts); a path that cannot be read still routes, so that its refusal is audited.
    const target = readTarget(req.url ?? '/');
    const route = this.#router.route(req.headers.host, target.path);
    if (route === undefined && target.unreadable !== undefined) throw new GatewayError('PCS_HTTP_AMBIGUOUS_PATH', { path: target.path.slice(0, 200), reason: target.unreadable });
    if (route === undefined) throw new GatewayError('PCS_HTTP_NO_ROUTE', { path: decodedPath(target.path).slice(0, 200), example: this.#exampleName() });
    const connection = route.connection;
    const clientAddr = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
    const baseRef = { connection: { name: connection.name, type: 'http' }, protocol: 'http', ...(clientAddr !== undefined ? { clientAddr } : {}) };

    const identity = await this.#identity(req, state, baseRef);
    const recording = this.#recording(state, identity, connection.name, clientAddr);
    const ref: SessionRef = { ...baseRef, id: recording.id };

    const body = await readBody(req, this.#settings.maxRequestBody);
    if (state) state.bytesIn += body.length;
    // What policy decides on is what is forwarded: overrides refused, stripped or decided (request-integrity.ts).
    const sni = this.#settings.tls === undefined ? undefined : (socket as TLSSocket).servername;
    const sniConnection = typeof sni === 'string' ? this.#router.byHost(sni)?.name : undefined;
    const checked = checkRequest(connection.name, connection.integrity, target, { method: req.method ?? 'GET', headers: req.headers, rawHeaders: req.rawHeaders, body, sniConnection });
    const refusal = checked.refusal;
    let action: HttpAction;
    try {
      // A refused request is decided (and audited) without its body: the body may be what cannot be read.
      action = httpAction(checked.method, policyPath(connection.integrity, route.path), checked.search, checked.headers, refusal === undefined ? checked.body : NO_BODY, checked.headers['content-type']);
    } catch (err) {
      throw err instanceof BadRequest ? new GatewayError('PCS_HTTP_BAD_REQUEST', { reason: err.message }) : err;
    }
    const decision = this.#ctx.gate.decide(identity, ref, action, refusal === undefined ? undefined : () => refusal);
    const withheld = withheldNames(connection);
    const base = { method: action.method, path: action.path, query: recordedQuery(checked.search, withheld.params), verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason, request_headers: recordedHeaders(req.headers, withheld.headers), request_body: this.#recordedBody(body) };

    let review: string | null = null;
    let permit: Permit;
    if (decision.verdict === 'deny') {
      this.#problem(res, refusal !== undefined && decision.code === refusal.code ? refusal : denial(decision, identity.subject, connection.name), requestId);
      recording.event('denied', { ...base, status: res.statusCode, duration_ms: since(started) });
      return;
    }
    if (decision.verdict === 'review') {
      const outcome = await this.#review(identity, connection, action, checked.body, decision, recording.id, res, requestId);
      if (outcome.permit === undefined) {
        recording.event('denied', { ...base, status: res.statusCode, review: outcome.review, review_outcome: outcome.code, duration_ms: since(started) });
        return;
      }
      review = outcome.review;
      permit = outcome.permit;
    } else permit = decision;

    const upstream = this.#upstream(connection);
    if (upstream.inFlight >= connection.max_concurrency) throw new GatewayError('PCS_HTTP_OVERLOADED', { connection: connection.name, max: connection.max_concurrency });
    upstream.inFlight++;
    this.#inFlight++;
    let result: ProxyResult;
    try {
      const plan = decision.masks.length > 0 ? this.#ctx.masks.plan(decision.masks) : undefined;
      // A request that may change something: its decision's commit starts now, while the upstream works.
      const committed = SAFE_METHODS.has(checked.method) ? undefined : this.#ctx.durable(false);
      result = await upstream.forward(permit, checked.method, route.path, checked.search, checked.headers, checked.body, res, plan, this.#settings.recordBody, committed);
    } finally {
      upstream.inFlight--;
      this.#inFlight--;
    }
    if (state) state.bytesOut += result.responseBytes;
    recording.event('request', {
      ...base,
      status: result.status,
      duration_ms: since(started),
      request_bytes: body.length,
      response_bytes: result.responseBytes,
      response_headers: recordedHeaders(res.getHeaders() as Record<string, string | string[] | number | undefined>, withheld.headers),
      response_body: result.recordedBody === null ? null : bodyText(result.recordedBody),
      ...(result.masking !== null ? { masking: result.masking } : {}),
      ...(review !== null ? { review } : {}),
    });
  }

  /** The agent's bearer token, verified once per socket for as long as it stays the same. */
  async #identity(req: IncomingMessage, state: SocketState | undefined, ref: Omit<SessionRef, 'id'>): Promise<Identity> {
    if (state?.observer !== undefined && state.identity !== undefined) return state.identity;
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (header === undefined) throw new GatewayError('PCS_AUTH_TOKEN_MISSING');
    if (m?.[1] === undefined) throw new GatewayError('PCS_AUTH_TOKEN_MALFORMED');
    const token = m[1];
    const now = Date.now() / 1000;
    if (state?.identity !== undefined && state.token === token && (state.identity.expiresAt === undefined || state.identity.expiresAt > now)) return state.identity;
    const identity = await this.#ctx.gate.login(token, ref);
    if (state !== undefined) {
      if (state.identity !== undefined && state.identity.subject !== identity.subject) this.#endRecording(state);
      state.token = token;
      state.identity = identity;
    }
    return identity;
  }

  #recording(state: SocketState | undefined, identity: Identity, connection: string, clientAddr: string | undefined): SessionRecording {
    if (state?.recording !== undefined) return state.recording;
    const recording = this.#ctx.recorder.start({ connection, protocol: 'http', subject: identity.subject, clientAddr: clientAddr ?? null });
    if (state !== undefined) state.recording = recording;
    return recording;
  }

  #endRecording(state: SocketState): void {
    state.recording?.end('closed', { requests: state.requests, bytes_in: state.bytesIn, bytes_out: state.bytesOut });
    state.recording = undefined;
  }

  #socketClosed(socket: Socket): void {
    const state = this.#sockets.get(socket);
    this.#sockets.delete(socket);
    if (state !== undefined) this.#endRecording(state);
  }

  /**
   * A request a rule sends for review: run now under an approval of exactly this request;
   * else create a review and hold the request until it is decided, or answer 202 (defer).
   */
  async #review(identity: Identity, connection: HttpConnection, action: HttpAction, body: Buffer, decision: Gated, session: string, res: ServerResponse, requestId: string): Promise<{ permit?: Permit; review: string | null; code: string }> {
    const reviews = this.#ctx.reviews;
    const req: ReviewRequest = {
      subject: identity.subject,
      connection: connection.name,
      action: { kind: 'http', text: `${action.method} ${action.path}${queryText(action.query)}`, params: body.length > 0 ? [body.toString('utf8')] : null },
      decision,
      session,
      reason: reasonHeader(action) ?? reasonFromText(body.toString('utf8', 0, 2000)),
    };
    // The wait ends when the agent hangs up: nothing is left waiting on the review.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    res.once('close', onClose);
    try {
      const outcome = await runReview(reviews, req, { signal: gone.signal });
      switch (outcome.kind) {
        case 'run':
          return { permit: outcome.permit, review: outcome.review, code: 'approved' };
        case 'deferred': {
          const url = reviews.urlOf(outcome.review.id);
          this.#sockets.get(res.req.socket)?.observer?.(outcome.error, outcome.review.id);
          res.writeHead(202, { 'content-type': 'application/json', location: url, 'retry-after': '30' });
          res.end(JSON.stringify({ status: 'pending', review: outcome.review.id, url, code: outcome.error.code, detail: outcome.error.message, request_id: requestId }));
          return { review: outcome.review.id, code: outcome.error.code };
        }
        case 'gone':
          return { review: outcome.review, code: 'client-gone' };
        case 'refused':
          this.#problem(res, outcome.error, requestId);
          return { review: outcome.review, code: outcome.error.code };
      }
    } finally {
      res.off('close', onClose);
    }
  }

  #upstream(connection: HttpConnection): Upstream {
    let u = this.#upstreams.get(connection.name);
    if (u === undefined) {
      try {
        u = new Upstream(connection, this.#secrets.get(connection.name) ?? inlineSecret(connection));
      } catch (err) {
        if (err instanceof CredentialUnavailable) throw new GatewayError('PCS_HTTP_CREDENTIAL_UNAVAILABLE', { connection: connection.name, reason: err.message }, { cause: err });
        throw err;
      }
      this.#upstreams.set(connection.name, u);
    }
    return u;
  }

  /** Builds every connection's upstream now, so that a credential misconfiguration shows in the log at start. */
  prepare(): void {
    for (const c of this.#ctx.config.connections) {
      if (c.type !== 'http') continue;
      try {
        this.#upstream(c);
      } catch (err) {
        this.#ctx.logger.error({ err, connection: c.name }, 'HTTP connection cannot be used: its requests will fail with PCS_HTTP_CREDENTIAL_UNAVAILABLE');
      }
    }
  }

  /** Vaulted secrets, read once at start (see adapter.ts). */
  readonly #secrets = new Map<string, string>();

  setSecret(connection: string, secret: string): void {
    this.#secrets.set(connection, secret);
  }

  #recordedBody(body: Buffer): string | { base64: string } | null {
    if (this.#settings.recordBody === 0 || body.length === 0) return null;
    return bodyText(body.subarray(0, this.#settings.recordBody));
  }

  #exampleName(): string {
    return this.#ctx.config.connections.find((c) => c.type === 'http')?.name ?? 'connection';
  }

  #problem(res: ServerResponse, err: GatewayError, requestId: string): void {
    this.#sockets.get(res.req.socket)?.observer?.(err, typeof err.params.id === 'string' ? err.params.id : undefined);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
    if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="portcullis"';
    res.writeHead(err.status, headers);
    res.end(JSON.stringify({ type: `urn:portcullis:error:${err.code}`, title: err.code, status: err.status, detail: err.message, code: err.code, request_id: requestId, ...(err.params.policy !== undefined ? { policy: err.params.policy, rule: err.params.rule } : {}) }));
  }

  #fail(res: ServerResponse, err: unknown): void {
    const requestId = String(res.getHeader('x-request-id') ?? randomUUID());
    if (!isGatewayError(err)) this.#ctx.logger.error({ err, requestId }, 'http request failed');
    this.#problem(res, isGatewayError(err) ? err : new GatewayError('PCS_INTERNAL', { requestId }), requestId);
  }
}

function denial(decision: Decision, subject: string, connection: string): GatewayError {
  if (decision.code !== undefined) return new GatewayError('PCS_POLICY_DENIED', { policy: decision.rule?.policy ?? '-', rule: ruleLabel(decision) ?? '-', reason: decision.reason });
  if (decision.rule === undefined) return new GatewayError('PCS_POLICY_NO_MATCH', { subject, connection });
  return new GatewayError('PCS_POLICY_DENIED', { policy: decision.rule.policy, rule: decision.rule.name ?? String(decision.rule.index), reason: decision.reason });
}


function reasonHeader(action: HttpAction): string | null {
  const r = action.headers['x-portcullis-reason'];
  return r === undefined ? null : r.slice(0, 500);
}

function queryText(query: HttpAction['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) params.append(k, x as string);
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new GatewayError('PCS_HTTP_BODY_TOO_LARGE', { max: limit }));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new GatewayError('PCS_HTTP_BODY_TOO_LARGE', { max: limit }));
        return;
      }
      parts.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', reject);
  });
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** Headers as recorded: credentials and cookies replaced, never stored. */
const WITHHELD = '[REDACTED]';

/** Per connection: the header names (lower case) and query parameters whose values are never recorded. */
const WITHHELD_NAMES = new WeakMap<HttpConnection, { readonly headers: ReadonlySet<string>; readonly params: ReadonlySet<string> }>();

function withheldNames(connection: HttpConnection): { readonly headers: ReadonlySet<string>; readonly params: ReadonlySet<string> } {
  let names = WITHHELD_NAMES.get(connection);
  if (names === undefined) {
    const auth = connection.upstream.auth;
    const headers = new Set(connection.redact_headers.map((h) => h.toLowerCase()));
    if (auth?.type === 'header') headers.add(auth.header.toLowerCase());
    names = { headers, params: new Set(auth?.type === 'query' ? [auth.param] : []) };
    WITHHELD_NAMES.set(connection, names);
  }
  return names;
}

function recordedHeaders(headers: Record<string, string | string[] | number | undefined>, withheld: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = SECRET_HEADERS.test(k) || withheld.has(k.toLowerCase()) ? WITHHELD : Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** The query as recorded: the connection's credential parameter withheld, the rest as sent. */
function recordedQuery(search: string, withheld: ReadonlySet<string>): string {
  if (withheld.size === 0 || search === '') return search;
  const params = new URLSearchParams(search);
  let changed = false;
  for (const name of withheld) {
    if (!params.has(name)) continue;
    params.set(name, WITHHELD);
    changed = true;
  }
  return changed ? `?${params.toString()}` : search;
}

function bodyText(body: Buffer): string | { base64: string } {
  return isUtf8(body) ? body.toString('utf8') : { base64: body.toString('base64') };
}
