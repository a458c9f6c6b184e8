// One client session after login: client messages -> Action -> gate -> wire, and the
// server's answers relayed back untouched except where a denial stands in for them.
//
// How a denial keeps the server's own semantics: the denied message is replaced upstream by
// a stand-in that fails for sure (a Parse/Query of a syntax error, or a Bind of a statement
// name that never exists). The server then does what it always does on an error: skips to
// Sync, aborts the transaction, reports the right ReadyForQuery status, and keeps pipelined
// answers in order. The gateway swaps the stand-in's ErrorResponse for the 42501 denial; it
// knows which error that is because it tracks every pending request in order (pending.ts).
//
// Nothing here awaits: decisions are synchronous, so frames are handled inside the socket's
// 'data' callback, batched with cork/uncork, with backpressure in both directions.
import type { Socket } from 'node:net';
import type { Decision } from '../../core/decision.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { Gate, SessionRef } from '../../pipeline/gate.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import type { Logger } from '../../runtime/logger.ts';
import { errorResponse } from './codec/backend-encode.ts';
import { readCommandComplete, readErrorFields, rowsFromTag } from './codec/backend-read.ts';
import { Backend, Frontend } from './codec/constants.ts';
import { FramingError, type FrameReader } from './codec/framing.ts';
import { bind, parse, query, TERMINATE } from './codec/frontend-encode.ts';
import { decodeFrontend, MalformedMessage, type FrontendMessage } from './codec/frontend.ts';
import { gatewayErrorFields, refusalFields } from './errors.ts';
import { Forwarder } from './forwarder.ts';
import { PendingQueue, type Pending } from './pending.ts';
import { formatParams, StatementRecord } from './record.ts';
import { mayChangeSearchPath, sqlAction, startsCopy } from './to-action.ts';
import type { CatalogCache } from './catalog-cache.ts';
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import { parseTextArray, type Upstream } from './upstream.ts';

/** Fails to parse for sure, so the server itself reports an error at exactly this point. */
const DENIED_SQL = '/* portcullis: denied by policy */ DENIED';
/** A statement name nobody prepares: a Bind to it fails with 26000. */
const DENIED_STATEMENT = 'portcullis: denied statement';
const SEARCH_PATH_SQL = 'SELECT pg_catalog.current_schemas(false)::text';

interface PreparedInfo {
  readonly text: string;
  readonly decision: Decision;
}

interface PortalInfo {
  readonly text: string;
  readonly decision: Decision | null;
  readonly params: (string | null)[];
}

export interface SessionOptions {
  readonly client: Socket;
  readonly clientReader: FrameReader;
  readonly upstream: Upstream;
  readonly identity: Identity;
  readonly ref: SessionRef;
  readonly gate: Gate;
  /** User-function volatility of this session's connection. */
  readonly catalogs: CatalogCache;
  readonly recording: SessionRecording;
  readonly logger: Logger;
  /** Called once, when the session has ended and its recording is closed. */
  readonly onEnd: (session: PgSession) => void;
}

export type EndReason = 'closed' | 'error' | 'terminated';

export class PgSession {
  readonly #client: Socket;
  readonly #up: Socket;
  readonly #clientReader: FrameReader;
  readonly #upReader: FrameReader;
  readonly #toUp: Forwarder;
  readonly #toClient: Forwarder;
  readonly #pending = new PendingQueue();
  readonly #statements = new Map<string, PreparedInfo>();
  readonly #portals = new Map<string, PortalInfo>();
  readonly #identity: Identity;
  readonly #ref: SessionRef;
  readonly #gate: Gate;
  readonly #catalogs: CatalogCache;
  /** SQL-level prepared statements (`PREPARE name AS ...`) that policy allowed, by name. */
  readonly #sqlPrepared = new Map<string, SqlStatement>();
  readonly #recording: SessionRecording;
  readonly #logger: Logger;
  readonly #onEnd: (session: PgSession) => void;
  #searchPath: readonly string[];
  #refreshPath = false;
  #internalValue: string | undefined = undefined;
  /** The client is paused while the search_path is re-read, or while the upstream drains. */
  #holding = false;
  #waitingUpDrain = false;
  #copyIn = false;
  #terminated = false;
  #ended = false;
  #bytesIn = 0;
  #bytesOut = 0;
  #statementsRecorded = 0;

  constructor(opts: SessionOptions) {
    this.#client = opts.client;
    this.#up = opts.upstream.socket;
    this.#clientReader = opts.clientReader;
    this.#upReader = opts.upstream.reader;
    this.#toUp = new Forwarder(this.#up);
    this.#toClient = new Forwarder(this.#client);
    this.#identity = opts.identity;
    this.#ref = opts.ref;
    this.#gate = opts.gate;
    this.#catalogs = opts.catalogs;
    this.#recording = opts.recording;
    this.#logger = opts.logger;
    this.#onEnd = opts.onEnd;
    this.#searchPath = opts.upstream.searchPath;
  }

  get id(): string {
    return this.#ref.id;
  }

  start(): void {
    this.#client.on('data', this.#onClientData);
    this.#client.on('close', this.#onClientClose);
    this.#client.on('error', this.#onSocketError);
    this.#up.on('data', this.#onUpData);
    this.#up.on('close', this.#onUpClose);
    this.#up.on('error', this.#onSocketError);
    this.#pumpUp();
    this.#pumpClient();
    this.#client.resume();
    this.#up.resume();
  }

  /** Gateway shutdown: tell the client why, close both sides. */
  terminate(): void {
    if (this.#ended) return;
    this.#toClient.flush();
    this.#client.end(errorResponse(gatewayErrorFields(new GatewayError('PCS_PG_SHUTTING_DOWN'), 'FATAL')));
    this.#up.end(TERMINATE);
    this.#end('terminated');
  }

  // ---- client -> upstream ----

  readonly #onClientData = (chunk: Buffer): void => {
    this.#bytesIn += chunk.length;
    this.#clientReader.push(chunk);
    this.#pumpClient();
  };

  #pumpClient(): void {
    if (this.#ended) return;
    const up = this.#up;
    up.cork();
    try {
      while (!this.#holding && !this.#ended) {
        const frame = this.#clientReader.next();
        if (frame === null) break;
        this.#clientFrame(frame);
      }
    } catch (err) {
      if (err instanceof FramingError || err instanceof MalformedMessage) this.#protocolError(err.message);
      else this.#internalError(err);
    } finally {
      this.#toUp.flush();
      up.uncork();
    }
    if (this.#holding) this.#client.pause();
    else if (up.writableNeedDrain && !this.#waitingUpDrain && !this.#ended) {
      this.#waitingUpDrain = true;
      this.#client.pause();
      up.once('drain', () => {
        this.#waitingUpDrain = false;
        if (!this.#holding) this.#client.resume();
      });
    }
  }

  #clientFrame(frame: Buffer): void {
    switch (frame[0]) {
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail:
      case Frontend.Flush:
        this.#toUp.add(frame);
        return;
      case Frontend.Query:
        return this.#onQuery(narrow(decodeFrontend(frame), 'Query'), frame);
      case Frontend.Parse:
        return this.#onParse(narrow(decodeFrontend(frame), 'Parse'), frame);
      case Frontend.Bind:
        return this.#onBind(narrow(decodeFrontend(frame), 'Bind'), frame);
      case Frontend.Execute: {
        const msg = narrow(decodeFrontend(frame), 'Execute');
        const portal = this.#portals.get(msg.portal);
        const record = portal === undefined ? null : new StatementRecord(portal.text, portal.params, portal.decision, true);
        this.#pending.push('execute', null, record);
        this.#toUp.add(frame);
        return;
      }
      case Frontend.Describe:
        decodeFrontend(frame);
        this.#pending.push('describe');
        this.#toUp.add(frame);
        return;
      case Frontend.Close: {
        const msg = narrow(decodeFrontend(frame), 'Close');
        if (msg.target === 'statement') this.#statements.delete(msg.name);
        else this.#portals.delete(msg.name);
        this.#pending.push('close');
        this.#toUp.add(frame);
        return;
      }
      case Frontend.Sync:
        this.#pending.push('sync');
        this.#toUp.add(frame);
        this.#afterSegment();
        return;
      case Frontend.Terminate:
        this.#terminated = true;
        this.#toUp.add(frame);
        this.#toUp.flush();
        this.#up.end();
        this.#client.end();
        this.#end('closed');
        return;
      case Frontend.FunctionCall: {
        // Fast-path calls name a function by OID with binary arguments: nothing policy can read.
        const refusal = gatewayErrorFields(new GatewayError('PCS_PG_FUNCTION_CALL_REFUSED'), 'ERROR');
        this.#recording.event('denied', { text: `(fast-path function call, oid ${narrow(decodeFrontend(frame), 'FunctionCall').oid})`, params: null, verdict: 'deny', rule: null, reason: refusal.message, sqlstate: refusal.code });
        this.#pending.push('query', refusal);
        this.#toUp.write(query(DENIED_SQL));
        return;
      }
      default:
        this.#protocolError(`unexpected message type 0x${(frame[0] ?? 0).toString(16).padStart(2, '0')}`);
    }
  }

  #analyse(sql: string): SqlAction {
    return sqlAction(sql, this.#searchPath, this.#catalogs.get(this.#ref.connection.name), this.#sqlPrepared);
  }

  /** What an allowed statement changes for later decisions: prepared names, the catalog. */
  #allowed(action: SqlAction): void {
    for (const s of action.statements) {
      if (s.prepared) this.#sqlPrepared.set(s.prepared.name, s);
      if (s.effect === 'ddl') this.#catalogs.invalidate(this.#ref.connection.name);
    }
  }

  #onQuery(msg: Extract<FrontendMessage, { type: 'Query' }>, frame: Buffer): void {
    const action = this.#analyse(msg.sql);
    const decision = this.#gate.decide(this.#identity, this.#ref, action);
    if (decision.verdict === 'allow') {
      this.#allowed(action);
      this.#pending.push('query', null, new StatementRecord(msg.sql, null, decision, false));
      this.#toUp.add(frame);
      if (mayChangeSearchPath(action) && !startsCopy(action)) this.#refreshPath = true;
      this.#afterSegment();
      return;
    }
    this.#recordDenied(msg.sql, null, decision, false);
    this.#pending.push('query', refusalFields(decision));
    this.#toUp.write(query(DENIED_SQL));
  }

  #onParse(msg: Extract<FrontendMessage, { type: 'Parse' }>, frame: Buffer): void {
    const action = this.#analyse(msg.sql);
    const decision = this.#gate.decide(this.#identity, this.#ref, action);
    this.#statements.set(msg.name, { text: msg.sql, decision });
    if (decision.verdict === 'allow') {
      this.#allowed(action);
      this.#pending.push('parse');
      this.#toUp.add(frame);
      if (mayChangeSearchPath(action) && !startsCopy(action)) this.#refreshPath = true;
      return;
    }
    this.#recordDenied(msg.sql, null, decision, true);
    this.#pending.push('parse', refusalFields(decision));
    this.#toUp.write(parse(msg.name, DENIED_SQL));
  }

  #onBind(msg: Extract<FrontendMessage, { type: 'Bind' }>, frame: Buffer): void {
    const prepared = this.#statements.get(msg.statement);
    const params = formatParams(msg.paramFormats, msg.params);
    if (prepared !== undefined && prepared.decision.verdict !== 'allow') {
      // The statement was never prepared upstream; refuse its use with the same denial.
      this.#recordDenied(prepared.text, params, prepared.decision, true);
      this.#portals.delete(msg.portal);
      this.#pending.push('bind', refusalFields(prepared.decision));
      this.#toUp.write(bind(msg.portal, DENIED_STATEMENT));
      return;
    }
    // A statement we did not see parsed was made with SQL PREPARE, decided when it ran.
    this.#portals.set(msg.portal, prepared === undefined ? { text: `(prepared statement "${msg.statement}")`, decision: null, params } : { text: prepared.text, decision: prepared.decision, params });
    this.#pending.push('bind');
    this.#toUp.add(frame);
  }

  /** After a Sync or Query: re-read search_path when what ran may have moved it. */
  #afterSegment(): void {
    if (!this.#refreshPath) return;
    this.#refreshPath = false;
    this.#pending.push('internal');
    this.#internalValue = undefined;
    this.#toUp.write(query(SEARCH_PATH_SQL));
    // Statements after this one are decided with the new path: hold the client until it is known.
    this.#holding = true;
  }

  #recordDenied(text: string, params: (string | null)[] | null, decision: Decision, extended: boolean): void {
    const record = new StatementRecord(text, params, decision, extended);
    record.sqlstate = '42501';
    this.#emit(record);
  }

  #emit(record: StatementRecord): void {
    const { kind, data } = record.toEvent();
    this.#recording.event(kind, data);
    this.#statementsRecorded++;
  }

  // ---- upstream -> client ----

  readonly #onUpData = (chunk: Buffer): void => {
    this.#upReader.push(chunk);
    this.#pumpUp();
  };

  #pumpUp(): void {
    if (this.#ended) return;
    const client = this.#client;
    client.cork();
    try {
      for (;;) {
        const frame = this.#upReader.next();
        if (frame === null) break;
        this.#upFrame(frame);
      }
    } catch (err) {
      this.#internalError(err);
    } finally {
      this.#toClient.flush();
      client.uncork();
    }
    if (client.writableNeedDrain && !this.#ended) {
      this.#up.pause();
      client.once('drain', () => this.#up.resume());
    }
  }

  #upFrame(frame: Buffer): void {
    const type = frame[0];
    const head = this.#pending.peek();
    if (head?.kind === 'internal' && this.#internalFrame(frame, type)) return;
    switch (type) {
      case Backend.DataRow:
        break;
      case Backend.CommandComplete: {
        if (head?.record) {
          const tag = readCommandComplete(frame);
          head.record.tag = tag;
          head.record.addRows(rowsFromTag(tag));
        }
        if (head?.kind === 'execute') this.#complete();
        this.#copyIn = false;
        break;
      }
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended:
        if (head?.kind === 'execute') this.#complete();
        break;
      case Backend.ParseComplete:
      case Backend.BindComplete:
      case Backend.CloseComplete:
        this.#pending.shift();
        break;
      case Backend.RowDescription:
      case Backend.NoData:
        if (head?.kind === 'describe') this.#pending.shift();
        break;
      case Backend.ErrorResponse:
        this.#copyIn = false;
        this.#onUpError(frame, head);
        return;
      case Backend.ReadyForQuery:
        if (head?.kind === 'query' || head?.kind === 'sync') this.#complete();
        this.#copyIn = false;
        break;
      case Backend.CopyInResponse:
        this.#copyIn = true;
        break;
      default:
        break;
    }
    this.#toClient.add(frame);
  }

  #onUpError(frame: Buffer, head: Pending | undefined): void {
    if (head === undefined) {
      // Not an answer to anything pending (FATAL on admin shutdown...): relay as is.
      this.#toClient.add(frame);
      return;
    }
    if (head.refusal !== null) this.#toClient.write(errorResponse(head.refusal));
    else {
      this.#toClient.add(frame);
      if (head.record !== null) head.record.sqlstate = readErrorFields(frame).code;
    }
    // A simple Query (or Sync) ends at ReadyForQuery; anything else fails and takes with it
    // what the server skips until Sync.
    if (head.kind === 'query' || head.kind === 'sync') return;
    this.#complete();
    this.#pending.skipToSync();
  }

  /** The head request is answered: record it when it carries a statement. */
  #complete(): void {
    const done = this.#pending.shift();
    if (done?.record) this.#emit(done.record);
  }

  /** Answers to the internal search_path query are consumed here; true when swallowed. */
  #internalFrame(frame: Buffer, type: number | undefined): boolean {
    switch (type) {
      case Backend.DataRow: {
        const len = frame.readInt32BE(7);
        if (frame.readInt16BE(5) === 1 && len >= 0) this.#internalValue = frame.toString('utf8', 11, 11 + len);
        return true;
      }
      case Backend.RowDescription:
      case Backend.CommandComplete:
      case Backend.ErrorResponse:
      case Backend.EmptyQueryResponse:
        return true;
      case Backend.ReadyForQuery:
        this.#pending.shift();
        // In a failed transaction the query errors: the previous path stands until ROLLBACK.
        if (this.#internalValue !== undefined) this.#searchPath = parseTextArray(this.#internalValue);
        this.#holding = false;
        if (!this.#waitingUpDrain) this.#client.resume();
        setImmediate(() => this.#pumpClient());
        return true;
      default:
        return false; // notices, notifications, parameter status: the client's
    }
  }

  // ---- ends ----

  readonly #onClientClose = (): void => {
    if (this.#ended) return;
    if (this.#copyIn) {
      // Closing the server connection makes the server abort the COPY: nothing half-copied commits.
      this.#recording.event('error', { kind: 'disconnect-during-copy', message: 'the client disconnected during COPY FROM STDIN; the upstream connection was closed and the server aborted the COPY' });
      this.#up.destroy();
      this.#end('error');
      return;
    }
    if (this.#clientReader.buffered > 0) {
      // EOF inside a message: what arrived of it is dropped, never forwarded.
      this.#recording.event('error', { kind: 'truncated', message: `the client disconnected in the middle of a message (${this.#clientReader.buffered} bytes of it received)` });
      this.#up.end(TERMINATE);
      this.#end('error');
      return;
    }
    this.#up.end(TERMINATE);
    this.#end('closed');
  };

  readonly #onUpClose = (): void => {
    if (this.#ended) return;
    this.#toClient.flush();
    this.#recording.event('error', { kind: 'upstream-closed', message: 'the database server closed the connection' });
    this.#client.end();
    this.#end('error');
  };

  readonly #onSocketError = (err: Error): void => {
    this.#logger.debug({ err, session: this.id }, 'socket error');
  };

  #protocolError(detail: string): void {
    this.#recording.event('error', { kind: 'protocol', message: detail });
    this.#logger.info({ session: this.id, detail }, 'client protocol violation; closing the session');
    this.#toClient.flush();
    this.#client.end(errorResponse(gatewayErrorFields(new GatewayError('PCS_PG_PROTOCOL_VIOLATION', { detail }), 'FATAL')));
    this.#up.end(TERMINATE);
    this.#end('error');
  }

  #internalError(err: unknown): void {
    this.#logger.error({ err, session: this.id }, 'session failed');
    this.#recording.event('error', { kind: 'internal', message: 'internal error' });
    this.#client.end(errorResponse(gatewayErrorFields(new GatewayError('PCS_INTERNAL', { requestId: this.id }), 'FATAL')));
    this.#up.destroy();
    this.#end('error');
  }

  #end(reason: EndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#client.off('data', this.#onClientData);
    this.#up.off('data', this.#onUpData);
    // Bytes out: what the client was sent; counted once here from the socket's own tally.
    this.#bytesOut = this.#client.bytesWritten;
    this.#recording.end(reason, { bytes_in: this.#bytesIn, bytes_out: this.#bytesOut, statements: this.#statementsRecorded, ...(this.#terminated ? { terminate: true } : {}) });
    // Sockets that do not close by themselves (a peer that never reads) are cut loose.
    setTimeout(() => {
      this.#client.destroy();
      this.#up.destroy();
    }, 5_000).unref();
    this.#onEnd(this);
  }
}

function narrow<T extends FrontendMessage['type']>(msg: FrontendMessage, type: T): Extract<FrontendMessage, { type: T }> {
  if (msg.type !== type) throw new MalformedMessage(type);
  return msg as Extract<FrontendMessage, { type: T }>;
}
