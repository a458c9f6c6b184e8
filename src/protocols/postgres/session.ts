// One client session after login: client messages -> Action -> gate -> wire, and the
// server's answers relayed back untouched except where a denial stands in for them.
//
// The session is the dispatch and the only part that does I/O (through UpstreamWriter and
// Forwarder); the rest is in parts that touch no socket, which a MySQL session mirrors:
// StatementGate (analysis, decision, mask check, what allowed statements change),
// CatalogRefresher (search_path and relations, read by an internal query), ResultMasking
// (which masks apply to a result's rows), and the review runner of the pipeline.
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
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Decision } from '../../core/decision.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { SessionRef } from '../../pipeline/gate.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { errorResponse, type ErrorFields } from './codec/backend-encode.ts';
import { readCommandComplete, readErrorFields, rowsFromTag } from './codec/backend-read.ts';
import { MessageWriter } from './codec/writer.ts';
import { copyData } from './codec/backend-encode.ts';
import { maskMessage } from './masking/messages.ts';
import { ResultSlot, type DescribeTarget, type MaskContext, type StatementShape } from './masking/slot.ts';
import { Backend, Frontend, TxStatus } from './codec/constants.ts';
import { FramingError, type FrameReader } from './codec/framing.ts';
import { bind, describe, parse, query, TERMINATE } from './codec/frontend-encode.ts';
import { decodeFrontend, MalformedMessage, type FrontendMessage } from './codec/frontend.ts';
import { gatewayErrorFields, refusalFields, SqlState } from './errors.ts';
import { Forwarder } from '../../pipeline/forwarder.ts';
import { UpstreamWriter } from './upstream-writer.ts';
import { PendingQueue, type Pending } from './pending.ts';
import { formatParams, recorded, StatementRecord } from './record.ts';
import { durabilityOf, RecordsOwed, type DurableCommit, type Durability } from '../../pipeline/durability.ts';
import type { ReviewService } from '../../reviews/service.ts';
import { reasonFromText, type Review } from '../../reviews/review.ts';
import { runReview, type ReviewOutcome, type ReviewRequest } from '../../pipeline/review-runner.ts';
import type { GateDecision, Permit } from '../../pipeline/permit.ts';
import type { SqlAction } from '../../core/action.ts';
import type { Upstream } from './upstream.ts';
import { CatalogRefresher, InternalAnswer } from './catalog-refresher.ts';
import { ResultMasking, type ResultObserver } from './result-masking.ts';
import { StatementGate, type StatementGateOptions } from './statement-gate.ts';

/** Fails to parse for sure, so the server itself reports an error at exactly this point. */
const DENIED_SQL = '/* portcullis: denied by policy */ DENIED';
/** A statement name nobody prepares: a Bind to it fails with 26000. */
const DENIED_STATEMENT = 'portcullis: denied statement';

function withSlot(slot: ResultSlot | null | undefined): DescribeTarget | null {
  return slot ? { portal: slot, internal: false } : null;
}

function withShape(shape: StatementShape | undefined): DescribeTarget | null {
  return shape ? { statement: shape, internal: false } : null;
}

/** NotificationResponse with its payload withheld: process id and channel stay. */
function withheldNotification(frame: Buffer): Buffer {
  const channelEnd = frame.indexOf(0, 9);
  if (channelEnd < 0) return frame;
  const w = new MessageWriter(Backend.NotificationResponse, 64);
  w.int32(frame.readInt32BE(5));
  w.cstring(frame.toString('utf8', 9, channelEnd));
  w.cstring('[withheld by portcullis: notifications may carry masked data]');
  return w.finish();
}

interface PreparedInfo extends StatementShape {
  readonly text: string;
  /** Allowed: the permit its Binds run under. */
  readonly decision: GateDecision;
  /** Kept for a statement under review: what approval lets through. */
  readonly action: SqlAction;
}

interface PortalInfo {
  readonly text: string;
  readonly decision: Decision | null;
  readonly params: (string | null)[];
  /** Masking of the portal's rows; null when none applies. */
  readonly slot: ResultSlot | null;
  readonly statement: StatementShape | undefined;
  /** The approved review this portal runs under. */
  readonly review: string | null;
  /** When its answer waits for its records (pipeline/durability.ts, durabilityOf). */
  readonly persist: Durability;
}

/** A statement waiting for its review: the client is held until it is decided. */
interface HeldStatement {
  readonly kind: 'query' | 'bind';
  /** A copy: the reader's buffer is not ours to keep. */
  readonly frame: Buffer;
  readonly text: string;
  readonly params: (string | null)[] | null;
  readonly action: SqlAction;
  readonly decision: GateDecision;
  readonly mask: MaskContext | undefined;
  readonly bind?: { readonly portal: string; readonly prepared: PreparedInfo | undefined; readonly resultFormats: readonly number[]; readonly statement: string };
  reviewId?: string;
  /** Aborted when the session ends: the wait for the review stops. */
  readonly gone: AbortController;
}

/** What the statement gate needs (but the catalog refresher, which the session makes), and the session's own. */
export interface SessionOptions extends Omit<StatementGateOptions, 'catalog'> {
  /** The client's socket, or one end of an in-memory pair (an executor's session). */
  readonly client: Duplex;
  readonly clientReader: FrameReader;
  readonly upstream: Upstream;
  readonly reviews: ReviewService;
  readonly recording: SessionRecording;
  readonly logger: Logger;
  /** Called once, when the session has ended and its recording is closed. */
  readonly onEnd: (session: PgSession) => void;
  /** An in-process client's (an executor's) view of what the wire does not show. */
  readonly observer?: SessionObserver;
  /**
   * Commits what the audit log (and, with `recording`, the recorder) holds now; undefined when
   * nothing is waiting. Without it, answers are not held for their records.
   */
  readonly durable?: DurableCommit;
}

/** What an executor learns beside the wire: which result columns are masked, and that a statement is held. */
export interface SessionObserver {
  readonly resultMasks: ResultObserver;
  readonly held: (notice: string, reviewId: string) => void;
}

export type EndReason = 'closed' | 'error' | 'terminated';

export class PgSession {
  readonly #client: Duplex;
  readonly #up: Duplex;
  readonly #clientReader: FrameReader;
  readonly #upReader: FrameReader;
  readonly #toUp: UpstreamWriter;
  readonly #toClient: Forwarder;
  readonly #pending = new PendingQueue();
  readonly #statements = new Map<string, PreparedInfo>();
  readonly #portals = new Map<string, PortalInfo>();
  readonly #identity: Identity;
  readonly #ref: SessionRef;
  /** The search_path and relations decisions and masks read, and their refresh. */
  readonly #catalog: CatalogRefresher;
  /** Decide, mask check, and what allowed statements change for later decisions. */
  readonly #sql: StatementGate;
  /** Which masks apply to the rows of a result. */
  readonly #results: ResultMasking;
  readonly #reviews: ReviewService;
  readonly #observer: SessionObserver | undefined;
  /** The statement held for review, if any. */
  #held: HeldStatement | undefined = undefined;
  readonly #recording: SessionRecording;
  readonly #logger: Logger;
  readonly #onEnd: (session: PgSession) => void;
  /** The client is paused while the search_path is re-read, or while the upstream drains. */
  #holding = false;
  #waitingUpDrain = false;
  #copyIn = false;
  #terminated = false;
  #ended = false;
  #bytesIn = 0;
  #bytesOut = 0;
  #statementsRecorded = 0;
  /** What the next answer that leaves a transaction waits for (pipeline/durability.ts). */
  readonly #owed: RecordsOwed;
  #awaitingRecords = false;
  /**
   * The server's transaction status at its last ReadyForQuery. Inside a transaction block an
   * answer is not held: nothing is committed until the block ends, and the answer that ends it
   * waits for the records of every statement in it.
   */
  #txIdle = true;
  /** A ReadyForQuery was just queued for the client: the point where answers are held. */
  #atReady = false;

  constructor(opts: SessionOptions) {
    this.#client = opts.client;
    this.#up = opts.upstream.socket;
    this.#clientReader = opts.clientReader;
    this.#upReader = opts.upstream.reader;
    this.#toUp = new UpstreamWriter(this.#up);
    this.#toClient = new Forwarder(this.#client);
    this.#identity = opts.identity;
    this.#ref = opts.ref;
    this.#catalog = new CatalogRefresher(opts.upstream.searchPath, opts.relations.get(opts.ref.connection.name));
    this.#sql = new StatementGate({ ...opts, catalog: this.#catalog });
    this.#results = new ResultMasking(this.#catalog, opts.observer?.resultMasks);
    this.#observer = opts.observer;
    this.#reviews = opts.reviews;
    this.#recording = opts.recording;
    this.#logger = opts.logger;
    this.#onEnd = opts.onEnd;
    this.#owed = new RecordsOwed(opts.durable);
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
    const held = this.#held;
    if (held !== undefined) {
      this.#client.write(errorResponse(gatewayErrorFields(new GatewayError('PCS_REVIEW_INTERRUPTED', { id: held.reviewId ?? '(not yet created)' }), 'ERROR')));
      this.#recordHeld(held, 'interrupted');
    }
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
      while (!this.#holding && this.#held === undefined && !this.#ended) {
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
    if (this.#holding || this.#held !== undefined) this.#client.pause();
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
        this.#toUp.relay(frame);
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
        if (record !== null) {
          record.review = portal?.review ?? null;
          record.persist = portal?.persist ?? 'now';
        }
        const slot = portal?.slot ?? null;
        if (slot !== null && slot.result === undefined && slot.fields === undefined) {
          const described = portal?.statement?.fields;
          if (described !== undefined) this.#results.portalResult(slot, described);
          else {
            // The client never described this portal: ask, so that rows are masked by their fields.
            this.#pending.push('describe', null, null, null, { portal: slot, internal: true });
            this.#toUp.write(describe('P', msg.portal));
          }
        }
        this.#pending.push('execute', null, record, slot);
        this.#toUp.relay(frame);
        return;
      }
      case Frontend.Describe: {
        const msg = narrow(decodeFrontend(frame), 'Describe');
        const target: DescribeTarget | null = msg.target === 'portal' ? withSlot(this.#portals.get(msg.name)?.slot) : withShape(this.#statements.get(msg.name));
        this.#pending.push('describe', null, null, null, target);
        this.#toUp.relay(frame);
        return;
      }
      case Frontend.Close: {
        const msg = narrow(decodeFrontend(frame), 'Close');
        if (msg.target === 'statement') this.#statements.delete(msg.name);
        else this.#portals.delete(msg.name);
        this.#pending.push('close');
        this.#toUp.relay(frame);
        return;
      }
      case Frontend.Sync:
        this.#pending.push('sync');
        this.#toUp.relay(frame);
        this.#afterSegment();
        return;
      case Frontend.Terminate:
        this.#terminated = true;
        this.#toUp.relay(frame);
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

  #onQuery(msg: Extract<FrontendMessage, { type: 'Query' }>, frame: Buffer): void {
    const action = this.#sql.analyse(msg.sql);
    const decision = this.#sql.decide(action);
    if (decision.verdict === 'allow') return this.#runQuery(msg.sql, frame, action, decision, this.#sql.checked, null);
    if (decision.verdict === 'review') return this.#review({ kind: 'query', frame: Buffer.from(frame), text: msg.sql, params: null, action, decision, mask: this.#sql.checked, gone: new AbortController() });
    this.#recordDenied(msg.sql, null, decision, false);
    this.#refuseQuery(refusalFields(decision));
  }

  #runQuery(sql: string, frame: Buffer, action: SqlAction, permit: Permit, mask: MaskContext | undefined, review: string | null): void {
    this.#sql.allowed(action, mask, permit);
    const record = new StatementRecord(sql, null, permit, false);
    record.review = review;
    record.persist = durabilityOf(action);
    // Its decision's commit starts now, while the server works: the answer waits less.
    if (record.persist === 'now' || (record.persist === 'at-commit' && this.#txIdle)) this.#owed.startEarly();
    this.#pending.push('query', null, record, mask === undefined ? null : new ResultSlot(mask));
    this.#toUp.forward(frame, permit);
    this.#afterSegment();
  }

  #refuseQuery(fields: ErrorFields): void {
    this.#pending.push('query', fields);
    this.#toUp.write(query(DENIED_SQL));
  }

  #onParse(msg: Extract<FrontendMessage, { type: 'Parse' }>, frame: Buffer): void {
    const action = this.#sql.analyse(msg.sql);
    const decision = this.#sql.decide(action);
    const mask = decision.verdict !== 'deny' ? this.#sql.checked : undefined;
    this.#statements.set(msg.name, { text: msg.sql, decision, mask, fields: undefined, action });
    if (decision.verdict === 'allow') {
      this.#sql.allowed(action, mask, decision);
      this.#pending.push('parse');
      this.#toUp.forward(frame, decision);
      return;
    }
    if (decision.verdict === 'review') {
      // Preparing runs nothing: the review comes at Bind, when the parameters are known. The
      // statement is prepared under the review verdict, and each Bind to it is reviewed.
      this.#pending.push('parse');
      this.#toUp.prepare(frame, decision);
      return;
    }
    this.#recordDenied(msg.sql, null, decision, true);
    this.#pending.push('parse', refusalFields(decision));
    this.#toUp.write(parse(msg.name, DENIED_SQL));
  }

  #onBind(msg: Extract<FrontendMessage, { type: 'Bind' }>, frame: Buffer): void {
    const prepared = this.#statements.get(msg.statement);
    const params = formatParams(msg.paramFormats, msg.params);
    if (prepared !== undefined && prepared.decision.verdict === 'review') {
      const bindInfo = { portal: msg.portal, prepared, resultFormats: msg.resultFormats, statement: msg.statement };
      return this.#review({ kind: 'bind', frame: Buffer.from(frame), text: prepared.text, params, action: prepared.action, decision: prepared.decision, mask: prepared.mask, bind: bindInfo, gone: new AbortController() });
    }
    if (prepared !== undefined) {
      const decision = prepared.decision;
      if (decision.verdict === 'allow') return this.#runBind(msg.portal, msg.statement, msg.resultFormats, prepared, params, frame, null, decision);
      // The statement was never prepared upstream; refuse its use with the same denial.
      this.#recordDenied(prepared.text, params, decision, true);
      this.#refuseBind(msg.portal, refusalFields(decision));
      return;
    }
    // Not parsed here: made with SQL PREPARE, and decided when that ran.
    const permit = this.#sql.sqlPreparedPermit(msg.statement);
    if (permit !== undefined) return this.#runBind(msg.portal, msg.statement, msg.resultFormats, undefined, params, frame, null, permit);
    // Prepared by nobody the gateway saw: the server's own answer, without asking it.
    this.#refuseBind(msg.portal, { severity: 'ERROR', code: SqlState.InvalidStatementName, message: `prepared statement "${msg.statement}" does not exist` });
  }

  #runBind(portal: string, statement: string, resultFormats: readonly number[], prepared: PreparedInfo | undefined, params: (string | null)[], frame: Buffer, review: string | null, permit: Permit): void {
    // A statement we did not see parsed was made with SQL PREPARE, decided when it ran.
    const mask = prepared === undefined ? this.#sql.sqlPreparedMask(statement) : prepared.mask;
    const slot = mask === undefined ? null : new ResultSlot(mask, resultFormats);
    this.#portals.set(portal, prepared === undefined ? { text: `(prepared statement "${statement}")`, decision: null, params, slot, statement: undefined, review, persist: 'now' } : { text: prepared.text, decision: prepared.decision, params, slot, statement: prepared, review, persist: durabilityOf(prepared.action) });
    this.#pending.push('bind');
    this.#toUp.forward(frame, permit);
  }

  #refuseBind(portal: string, fields: ErrorFields): void {
    this.#portals.delete(portal);
    this.#pending.push('bind', fields);
    this.#toUp.write(bind(portal, DENIED_STATEMENT));
  }

  // ---- reviews ----

  /**
   * A statement a rule sends for review. An approval of exactly this statement (and its
   * parameters) by this identity lets it run now; otherwise a review is created and the client
   * is held: at once refused with the review's id (`defer`), or until it is decided (`hold`).
   */
  #review(held: HeldStatement): void {
    // Approvers see (and the fingerprint covers) a credential statement without its literals.
    const req: ReviewRequest = { subject: this.#identity.subject, connection: this.#ref.connection.name, action: { kind: 'sql', ...recorded(held.text, held.params) }, decision: held.decision, session: this.id, reason: reasonFromText(held.text) ?? this.#sql.reason };
    this.#held = held;
    const held_ = (notice: string, hint: string, review: Review): void => {
      held.reviewId = review.id;
      if (this.#ended || this.#held !== held) return;
      this.#observer?.held(notice, review.id);
      this.#toClient.write(errorResponse({ severity: 'NOTICE', code: '00000', message: notice, hint }, true));
      this.#toClient.flush();
    };
    runReview(this.#reviews, req, { held: held_, signal: held.gone.signal }).then(
      (outcome) => this.#reviewed(held, outcome),
      (err: unknown) => {
        this.#logger.error({ err, session: this.id }, 'could not create a review');
        this.#settle(held, new GatewayError('PCS_INTERNAL', { requestId: this.id }));
      },
    );
  }

  #reviewed(held: HeldStatement, outcome: ReviewOutcome): void {
    if (outcome.kind === 'gone') return;
    held.reviewId = outcome.kind === 'deferred' ? outcome.review.id : outcome.review;
    if (this.#ended || this.#held !== held) return;
    if (outcome.kind === 'run') return this.#release(held, outcome.review, outcome.permit);
    this.#settle(held, outcome.error);
  }

  /** Approved: the statement goes upstream as if it had been allowed, then the client is let go. */
  #release(held: HeldStatement, review: string, permit: Permit): void {
    this.#held = undefined;
    if (held.kind === 'query') this.#runQuery(held.text, held.frame, held.action, permit, held.mask, review);
    else {
      const b = held.bind;
      if (b !== undefined) this.#runBind(b.portal, b.statement, b.resultFormats, b.prepared, held.params ?? [], held.frame, review, permit);
    }
    this.#resume();
  }

  /** Not run: the client gets `err` where the statement's answer would have been. */
  #settle(held: HeldStatement, err: GatewayError): void {
    if (this.#ended || this.#held !== held) return;
    this.#held = undefined;
    this.#recordHeld(held, err.code);
    const fields: ErrorFields = { ...gatewayErrorFields(err, 'ERROR'), code: SqlState.InsufficientPrivilege, detail: err.code };
    if (held.kind === 'query') this.#refuseQuery(fields);
    else this.#refuseBind(held.bind?.portal ?? '', fields);
    this.#resume();
  }

  #recordHeld(held: HeldStatement, outcome: string): void {
    const record = new StatementRecord(held.text, held.params, held.decision, held.kind === 'bind');
    record.sqlstate = '42501';
    record.review = held.reviewId ?? null;
    record.reviewOutcome = outcome;
    this.#emit(record);
  }

  #resume(): void {
    this.#toUp.flush();
    if (!this.#holding && !this.#waitingUpDrain) this.#client.resume();
    setImmediate(() => this.#pumpClient());
  }

  /**
   * After a Sync or Query: re-read the search_path when what ran may have moved it, and the
   * relations after DDL (or when they are old) so that lineage sees what the server sees.
   */
  #afterSegment(): void {
    const sql = this.#catalog.due(this.#sql.columnMasking);
    if (sql === undefined) return;
    this.#pending.push('internal');
    this.#toUp.write(query(sql));
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
    // A statement's text is in its audited decision; bound parameters only in this event.
    if (record.persist !== 'none' && kind === 'statement') this.#owed.owe(record.params !== null, record.persist === 'now');
  }

  // ---- upstream -> client ----

  readonly #onUpData = (chunk: Buffer): void => {
    this.#upReader.push(chunk);
    this.#pumpUp();
  };

  #pumpUp(): void {
    if (this.#ended || this.#awaitingRecords) return;
    const client = this.#client;
    client.cork();
    try {
      for (;;) {
        const frame = this.#upReader.next();
        if (frame === null) break;
        this.#upFrame(frame);
        // A statement that may have changed something was answered and no transaction is open
        // (its effects are committed): the answer leaves once its records are committed too.
        if (this.#atReady) {
          this.#atReady = false;
          if (this.#owed.owing && (this.#txIdle || this.#owed.urgent) && this.#holdForRecords()) return;
        }
      }
    } catch (err) {
      this.#internalError(err);
    } finally {
      if (!this.#awaitingRecords) this.#toClient.flush();
      client.uncork();
    }
    if (client.writableNeedDrain && !this.#ended) {
      this.#up.pause();
      client.once('drain', () => this.#up.resume());
    }
  }

  /**
   * The durability rule: the answer queued so far (up to and with a write's CommandComplete)
   * stays in the forwarder, and the upstream is not read, until the audit log and the recorder
   * have committed what they hold. True when it has to wait.
   */
  #holdForRecords(): boolean {
    const committed = this.#owed.settle();
    if (committed === undefined) return false;
    this.#awaitingRecords = true;
    this.#up.pause();
    void committed.then(() => {
      this.#awaitingRecords = false;
      if (this.#ended) return;
      this.#client.cork();
      this.#toClient.flush();
      this.#client.uncork();
      if (!this.#waitingUpDrain && !this.#client.writableNeedDrain) this.#up.resume();
      this.#pumpUp();
    });
    return true;
  }

  #upFrame(frame: Buffer): void {
    const type = frame[0];
    const head = this.#pending.peek();
    if (head?.kind === 'internal' && this.#internalAnswer(frame, type)) return;
    switch (type) {
      case Backend.DataRow: {
        const result = head?.slot?.result;
        if (result !== undefined) {
          const out = result.row(frame);
          if (out !== frame) return this.#toClient.write(out);
        }
        break;
      }
      case Backend.CopyOutResponse:
        if (head?.slot) this.#results.copyStarts(head.slot, head.record, frame);
        break;
      case Backend.CopyData: {
        const copy = head?.slot?.copy;
        if (copy !== undefined) {
          for (const payload of copy.push(frame.subarray(5))) this.#toClient.write(copyData(payload));
          return;
        }
        break;
      }
      case Backend.CopyDone: {
        const copy = head?.slot?.copy;
        if (copy !== undefined) {
          for (const payload of copy.end()) this.#toClient.write(copyData(payload));
          head?.record?.noteMaskedRows(copy.maskedRows);
        }
        break;
      }
      case Backend.NoticeResponse:
        if (head?.slot) return this.#toClient.write(maskMessage(frame, head.slot.ctx.plan, head.slot.ctx.stmt?.sensitive ?? false));
        break;
      case Backend.NotificationResponse:
        // pg_notify can carry any value to a listener, past every result column.
        if (this.#sql.withholdNotifications) return this.#toClient.write(withheldNotification(frame));
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
        if (head?.kind === 'describe') {
          this.#pending.shift();
          if (head.describe !== null && this.#results.described(head.describe, frame)) return;
        } else if (head?.slot && head.kind === 'query') this.#results.queryResult(head.slot, head.record, frame);
        break;
      case Backend.NoData:
        if (head?.kind === 'describe') {
          this.#pending.shift();
          if (head.describe?.internal === true) {
            if (head.describe.portal) head.describe.portal.fields = [];
            return;
          }
        }
        break;
      case Backend.ErrorResponse:
        this.#copyIn = false;
        this.#onUpError(frame, head);
        return;
      case Backend.ReadyForQuery:
        if (head?.kind === 'query' || head?.kind === 'sync') this.#complete();
        this.#copyIn = false;
        this.#txIdle = frame[5] === TxStatus.Idle;
        this.#atReady = true;
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
      if (head.slot !== null) this.#toClient.write(maskMessage(frame, head.slot.ctx.plan, head.slot.ctx.stmt?.sensitive ?? false));
      else this.#toClient.add(frame);
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
    if (done?.slot && done.record) this.#results.complete(done.slot, done.record, done.kind === 'execute');
    if (done?.record) this.#emit(done.record);
  }

  /** Answers to the internal query (search_path, relations); true when swallowed. */
  #internalAnswer(frame: Buffer, type: number | undefined): boolean {
    const answer = this.#catalog.answer(frame, type);
    if (answer === InternalAnswer.NotMine) return false;
    if (answer === InternalAnswer.Done) {
      this.#pending.shift();
      this.#holding = false;
      if (!this.#waitingUpDrain) this.#client.resume();
      setImmediate(() => this.#pumpClient());
    }
    return true;
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
    // A tunnel that dropped (docs/relay.md) says so; a server that closed says nothing, as before.
    if (this.#upFailure !== undefined) this.#client.end(errorResponse(gatewayErrorFields(this.#upFailure, 'FATAL')));
    else this.#client.end();
    this.#end('error');
  };

  /** Why the upstream stream failed, when the dialer said (a relay tunnel that dropped). */
  #upFailure: GatewayError | undefined;

  readonly #onSocketError = (err: Error): void => {
    if (err instanceof GatewayError) this.#upFailure = err;
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
    this.#held?.gone.abort();
    this.#client.off('data', this.#onClientData);
    this.#up.off('data', this.#onUpData);
    // Bytes out: what the client was sent; counted once here from the socket's own tally.
    this.#bytesOut = this.#client instanceof Socket ? this.#client.bytesWritten : this.#bytesOut;
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
