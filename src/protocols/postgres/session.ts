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
import type { Logger } from '../../telemetry/logger.ts';
import { errorResponse, type ErrorFields } from './codec/backend-encode.ts';
import { readCommandComplete, readErrorFields, readRowDescription, readTextRow, rowsFromTag, type FieldDescription } from './codec/backend-read.ts';
import { MessageWriter } from './codec/writer.ts';
import { copyData } from './codec/backend-encode.ts';
import type { MaskPlanner } from '../../masking/plan.ts';
import { copyOutputFormat } from '../../sql/postgres/copy-format.ts';
import { createCopyMasker } from './masking/copy-masker.ts';
import { maskMessage } from './masking/messages.ts';
import { isOld, RELATION_CATALOG_SQL, relationSnapshot, type RelationCache, type RelationSnapshot } from './masking/relations.ts';
import { columnMasks, resolveFormats, ResultMasker } from './masking/result.ts';
import { ResultSlot, type DescribeTarget, type MaskContext, type StatementShape } from './masking/slot.ts';
import { statementMasking, type StatementMasking } from '../../masking/statement.ts';
import { postgresDialect } from '../../sql/postgres/dialect.ts';
import { valueMasker, type ValueMasker } from './masking/values.ts';
import { Backend, Frontend } from './codec/constants.ts';
import { FramingError, type FrameReader } from './codec/framing.ts';
import { bind, describe, parse, query, TERMINATE } from './codec/frontend-encode.ts';
import { decodeFrontend, MalformedMessage, type FrontendMessage } from './codec/frontend.ts';
import { gatewayErrorFields, refusalFields, SqlState } from './errors.ts';
import { Forwarder } from './forwarder.ts';
import { PendingQueue, type Pending } from './pending.ts';
import { formatParams, recorded, StatementRecord } from './record.ts';
import type { ReviewService } from '../../reviews/service.ts';
import { reasonFromText, type Review } from '../../reviews/review.ts';
import { afterDecision, approvalFor, type ReviewRequest } from '../../pipeline/review-flow.ts';
import { mayChangeSearchPath, sqlAction, startsCopy } from './to-action.ts';
import type { CatalogCache } from './catalog-cache.ts';
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import { parseTextArray, type Upstream } from './upstream.ts';

/** Fails to parse for sure, so the server itself reports an error at exactly this point. */
const DENIED_SQL = '/* portcullis: denied by policy */ DENIED';
/** A statement name nobody prepares: a Bind to it fails with 26000. */
const DENIED_STATEMENT = 'portcullis: denied statement';
const SEARCH_PATH_SQL = 'SELECT pg_catalog.current_schemas(false)::text';
/** `COPY ... TO STDOUT`: the rows come to the client, so a mask must be able to read them. */
const COPY_TO_CLIENT = /\bstdout\b/i;
/** Before a catalog was read (or when none could be): every relation unknown, so every column opaque. */
const EMPTY_SNAPSHOT: RelationSnapshot = relationSnapshot(undefined, ['public'], 0);

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
  readonly decision: Decision;
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
}

/** A statement waiting for its review: the client is held until it is decided. */
interface HeldStatement {
  readonly kind: 'query' | 'bind';
  /** A copy: the reader's buffer is not ours to keep. */
  readonly frame: Buffer;
  readonly text: string;
  readonly params: (string | null)[] | null;
  readonly action: SqlAction;
  readonly decision: Decision;
  readonly mask: MaskContext | undefined;
  readonly bind?: { readonly portal: string; readonly prepared: PreparedInfo | undefined; readonly resultFormats: readonly number[]; readonly statement: string };
  reviewId?: string;
  waiter?: (review: Review) => void;
}

/** Masking of a statement prepared with SQL PREPARE: its rows are traced to nothing, so fail closed. */
interface SqlPreparedMask {
  readonly mask: MaskContext;
}

/**
 * Result descriptions that needed no masking, per statement masking (the lineage of one
 * statement template, under one relation snapshot) or, without one, per plan: the same
 * description of the same statement again needs none either. Bounded per statement.
 */
const IDLE_RESULTS = new WeakMap<object, Set<string>>();
const IDLE_RESULTS_PER_STATEMENT = 8;

export interface SessionOptions {
  readonly client: Socket;
  readonly clientReader: FrameReader;
  readonly upstream: Upstream;
  readonly identity: Identity;
  readonly ref: SessionRef;
  readonly gate: Gate;
  /** User-function volatility of this session's connection. */
  readonly catalogs: CatalogCache;
  /** Relations of the connection, for masking's lineage. */
  readonly relations: RelationCache;
  readonly masks: MaskPlanner;
  readonly unknownLineage: 'mask' | 'deny';
  readonly reviews: ReviewService;
  readonly recording: SessionRecording;
  /** `portcullis.reason` given as a startup parameter: the reason until a SET replaces it. */
  readonly reason?: string | null;
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
  readonly #sqlPreparedMasks = new Map<string, SqlPreparedMask>();
  readonly #relations: RelationCache;
  readonly #masks: MaskPlanner;
  readonly #unknownLineage: 'mask' | 'deny';
  /** This session's view of the relations: refreshed after its own DDL and when old. */
  #snapshot: RelationSnapshot;
  #refreshRelations = false;
  /** Column masks applied in this session: notification payloads are withheld from then on. */
  #columnMasking = false;
  /** The action being decided, for #maskCheck, and the masking it worked out. */
  #checking: SqlAction | undefined = undefined;
  #checked: MaskContext | undefined = undefined;
  readonly #reviews: ReviewService;
  /** The statement held for review, if any. */
  #held: HeldStatement | undefined = undefined;
  /** `SET portcullis.reason = '...'`: why the agent asks, shown to approvers. */
  #reason: string | null = null;
  readonly #recording: SessionRecording;
  readonly #logger: Logger;
  readonly #onEnd: (session: PgSession) => void;
  #searchPath: readonly string[];
  #refreshPath = false;
  /** Rows of the internal query's result sets (search_path, then the relation catalog). */
  #internalResults: (string | null)[][][] = [];
  #internalFailed = false;
  #internalReadsRelations = false;
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
    this.#relations = opts.relations;
    this.#masks = opts.masks;
    this.#unknownLineage = opts.unknownLineage;
    this.#reviews = opts.reviews;
    this.#snapshot = opts.relations.get(opts.ref.connection.name) ?? EMPTY_SNAPSHOT;
    this.#recording = opts.recording;
    this.#reason = opts.reason ?? null;
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
        if (record !== null) record.review = portal?.review ?? null;
        const slot = portal?.slot ?? null;
        if (slot !== null && slot.result === undefined && slot.fields === undefined) {
          const described = portal?.statement?.fields;
          if (described !== undefined) this.#portalResult(slot, described);
          else {
            // The client never described this portal: ask, so that rows are masked by their fields.
            this.#pending.push('describe', null, null, null, { portal: slot, internal: true });
            this.#toUp.write(describe('P', msg.portal));
          }
        }
        this.#pending.push('execute', null, record, slot);
        this.#toUp.add(frame);
        return;
      }
      case Frontend.Describe: {
        const msg = narrow(decodeFrontend(frame), 'Describe');
        const target: DescribeTarget | null = msg.target === 'portal' ? withSlot(this.#portals.get(msg.name)?.slot) : withShape(this.#statements.get(msg.name));
        this.#pending.push('describe', null, null, null, target);
        this.#toUp.add(frame);
        return;
      }
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

  /** Policy, then masking's own check (predicates, writes, COPY formats): one audited decision. */
  #decide(action: SqlAction): Decision {
    this.#checking = action;
    this.#checked = undefined;
    return this.#gate.decide(this.#identity, this.#ref, action, this.#maskCheck);
  }

  readonly #maskCheck = (decision: Decision): GatewayError | undefined => {
    if (decision.masks.length === 0) return undefined;
    const plan = this.#masks.plan(decision.masks);
    const action = this.#checking;
    if (plan.empty || action === undefined) return undefined;
    let stmt: StatementMasking | undefined;
    if (plan.hasColumnRules) {
      this.#columnMasking = true;
      const pathMayMove = this.#refreshPath || (action.statements.length > 1 && mayChangeSearchPath(action));
      stmt = statementMasking(postgresDialect, action, plan, this.#snapshot, this.#searchPath, { unknownLineage: this.#unknownLineage, pathMayMove, functionCannotWrite: this.#functionCannotWrite });
      if (stmt?.refusal !== undefined) return stmt.refusal;
    }
    if (startsCopy(action) && COPY_TO_CLIENT.test(action.text) && copyOutputFormat(action.text) === undefined) {
      return new GatewayError('PCS_MASK_COPY_UNSUPPORTED', { reason: 'one COPY ... TO STDOUT per statement text, with the options text, csv or binary allow' });
    }
    this.#checked = { plan, stmt, sql: action.text };
    return undefined;
  };

  readonly #functionCannotWrite = (name: string): boolean => {
    const catalog = this.#catalogs.get(this.#ref.connection.name);
    if (catalog === undefined) return false;
    const names = name.includes('.') ? [name] : this.#searchPath.map((schema) => `${schema}.${name}`);
    for (const n of names) {
      const v = catalog.volatility(n);
      if (v !== undefined) return v !== 'volatile';
    }
    return false;
  };

  /** What an allowed statement changes for later decisions: prepared names, the catalogs. */
  #allowed(action: SqlAction, mask: MaskContext | undefined): void {
    for (const s of action.statements) {
      if (s.setting?.name === 'portcullis.reason') this.#reason = s.setting.value;
      if (s.prepared) {
        this.#sqlPrepared.set(s.prepared.name, s);
        if (mask !== undefined) this.#sqlPreparedMasks.set(s.prepared.name, { mask: { ...mask, stmt: mask.stmt === undefined ? undefined : { ...mask.stmt, results: [] } } });
        else this.#sqlPreparedMasks.delete(s.prepared.name);
      }
      if (s.effect === 'ddl') {
        this.#catalogs.invalidate(this.#ref.connection.name);
        this.#relations.invalidate(this.#ref.connection.name);
        if (this.#columnMasking && !startsCopy(action)) this.#refreshRelations = true;
      }
    }
  }

  #onQuery(msg: Extract<FrontendMessage, { type: 'Query' }>, frame: Buffer): void {
    const action = this.#analyse(msg.sql);
    const decision = this.#decide(action);
    if (decision.verdict === 'allow') return this.#runQuery(msg.sql, frame, action, decision, this.#checked, null);
    if (decision.verdict === 'review') return this.#review({ kind: 'query', frame: Buffer.from(frame), text: msg.sql, params: null, action, decision, mask: this.#checked });
    this.#recordDenied(msg.sql, null, decision, false);
    this.#refuseQuery(refusalFields(decision));
  }

  #runQuery(sql: string, frame: Buffer, action: SqlAction, decision: Decision, mask: MaskContext | undefined, review: string | null): void {
    this.#allowed(action, mask);
    const record = new StatementRecord(sql, null, decision, false);
    record.review = review;
    this.#pending.push('query', null, record, mask === undefined ? null : new ResultSlot(mask));
    this.#toUp.add(frame);
    if (mayChangeSearchPath(action) && !startsCopy(action)) this.#refreshPath = true;
    this.#afterSegment();
  }

  #refuseQuery(fields: ErrorFields): void {
    this.#pending.push('query', fields);
    this.#toUp.write(query(DENIED_SQL));
  }

  #onParse(msg: Extract<FrontendMessage, { type: 'Parse' }>, frame: Buffer): void {
    const action = this.#analyse(msg.sql);
    const decision = this.#decide(action);
    const mask = decision.verdict !== 'deny' ? this.#checked : undefined;
    this.#statements.set(msg.name, { text: msg.sql, decision, mask, fields: undefined, action });
    if (decision.verdict === 'allow') {
      this.#allowed(action, mask);
      this.#pending.push('parse');
      this.#toUp.add(frame);
      if (mayChangeSearchPath(action) && !startsCopy(action)) this.#refreshPath = true;
      return;
    }
    if (decision.verdict === 'review') {
      // Preparing runs nothing: the review comes at Bind, when the parameters are known.
      this.#pending.push('parse');
      this.#toUp.add(frame);
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
      return this.#review({ kind: 'bind', frame: Buffer.from(frame), text: prepared.text, params, action: prepared.action, decision: prepared.decision, mask: prepared.mask, bind: bindInfo });
    }
    if (prepared !== undefined && prepared.decision.verdict !== 'allow') {
      // The statement was never prepared upstream; refuse its use with the same denial.
      this.#recordDenied(prepared.text, params, prepared.decision, true);
      this.#refuseBind(msg.portal, refusalFields(prepared.decision));
      return;
    }
    this.#runBind(msg.portal, msg.statement, msg.resultFormats, prepared, params, frame, null);
  }

  #runBind(portal: string, statement: string, resultFormats: readonly number[], prepared: PreparedInfo | undefined, params: (string | null)[], frame: Buffer, review: string | null): void {
    // A statement we did not see parsed was made with SQL PREPARE, decided when it ran.
    const mask = prepared === undefined ? this.#sqlPreparedMasks.get(statement)?.mask : prepared.mask;
    const slot = mask === undefined ? null : new ResultSlot(mask, resultFormats);
    this.#portals.set(portal, prepared === undefined ? { text: `(prepared statement "${statement}")`, decision: null, params, slot, statement: undefined, review } : { text: prepared.text, decision: prepared.decision, params, slot, statement: prepared, review });
    this.#pending.push('bind');
    this.#toUp.add(frame);
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
    const req: ReviewRequest = { subject: this.#identity.subject, connection: this.#ref.connection.name, action: { kind: 'sql', ...recorded(held.text, held.params) }, decision: held.decision, session: this.id, reason: reasonFromText(held.text) ?? this.#reason };
    const start = approvalFor(this.#reviews, req);
    if (!(start instanceof Promise)) {
      if (start.kind === 'approved') return this.#release(held, start.review);
      return;
    }
    this.#held = held;
    start
      .then((step) => {
        if (step.kind === 'approved') return this.#release(held, step.review);
        held.reviewId = step.review.id;
        if (this.#ended) return;
        if (step.kind === 'deferred') return this.#settle(held, step.error);
        this.#toClient.write(errorResponse({ severity: 'NOTICE', code: '00000', message: step.notice, hint: step.hint }, true));
        this.#toClient.flush();
        held.waiter = (decided: Review) => {
          if (this.#ended || this.#held !== held) return;
          // afterDecision takes the approval's use in the store; it never rejects.
          void afterDecision(this.#reviews, req, decided).then((outcome) => {
            if (this.#ended || this.#held !== held) return;
            if ('run' in outcome) this.#release(held, outcome.run);
            else this.#settle(held, outcome.error);
          });
        };
        void this.#reviews.wait(step.review.id).then(held.waiter);
      })
      .catch((err: unknown) => {
        this.#logger.error({ err, session: this.id }, 'could not create a review');
        this.#settle(held, new GatewayError('PCS_INTERNAL', { requestId: this.id }));
      });
  }

  /** Approved: the statement goes upstream as if it had been allowed, then the client is let go. */
  #release(held: HeldStatement, review: string): void {
    const wasHeld = this.#held === held;
    this.#held = undefined;
    if (held.kind === 'query') this.#runQuery(held.text, held.frame, held.action, held.decision, held.mask, review);
    else {
      const b = held.bind;
      if (b !== undefined) this.#runBind(b.portal, b.statement, b.resultFormats, b.prepared, held.params ?? [], held.frame, review);
    }
    if (wasHeld) this.#resume();
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
    if (this.#columnMasking && !this.#refreshRelations && this.#snapshot !== EMPTY_SNAPSHOT && isOld(this.#snapshot)) this.#refreshRelations = true;
    if (!this.#refreshPath && !this.#refreshRelations) return;
    const relations = this.#refreshRelations;
    this.#refreshPath = false;
    this.#refreshRelations = false;
    this.#pending.push('internal');
    this.#internalReadsRelations = relations;
    this.#internalResults = [];
    this.#internalFailed = false;
    this.#toUp.write(query(relations ? `${SEARCH_PATH_SQL}; ${RELATION_CATALOG_SQL}` : SEARCH_PATH_SQL));
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
      case Backend.DataRow: {
        const result = head?.slot?.result;
        if (result !== undefined) {
          const out = result.row(frame);
          if (out !== frame) return this.#toClient.write(out);
        }
        break;
      }
      case Backend.CopyOutResponse:
        if (head?.slot) this.#copyStarts(head.slot, head.record, frame);
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
        if (this.#columnMasking) return this.#toClient.write(withheldNotification(frame));
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
          if (head.describe !== null && this.#described(head.describe, frame)) return;
        } else if (head?.slot && head.kind === 'query') this.#queryResult(head.slot, head.record, frame);
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

  /** A simple Query's result set begins: work out its masking once, from the fields. */
  #queryResult(slot: ResultSlot, record: StatementRecord | null, frame: Buffer): void {
    // A statement seen before with the same description and nothing to mask: nothing to decode.
    const owner = slot.ctx.stmt ?? slot.ctx.plan;
    const key = `${slot.results}\0${frame.toString('latin1')}`;
    const idle = IDLE_RESULTS.get(owner);
    if (idle?.has(key) === true) {
      slot.results++;
      if (record !== null) this.#resultDone(slot, record);
      slot.result = undefined;
      record?.noteMasked([], slot.ctx.stmt?.notes);
      return;
    }
    const fields = readRowDescription(frame);
    this.#setResult(slot, fields, fields.map((f) => f.format), record, slot.results++);
    if (slot.result === undefined) {
      if (idle === undefined) IDLE_RESULTS.set(owner, new Set([key]));
      else if (idle.size < IDLE_RESULTS_PER_STATEMENT) idle.add(key);
    }
  }

  /** Fields of a described portal or statement; true when the answer is the gateway's own (swallowed). */
  #described(target: DescribeTarget, frame: Buffer): boolean {
    const fields = readRowDescription(frame);
    if (target.statement) target.statement.fields = fields;
    if (target.portal) this.#portalResult(target.portal, fields);
    return target.internal;
  }

  #portalResult(slot: ResultSlot, fields: readonly FieldDescription[]): void {
    slot.fields = fields;
    // A portal is one statement: its result is always the first (and only) one.
    this.#setResult(slot, fields, resolveFormats(slot.formats ?? [], fields.length), null, 0);
  }

  #setResult(slot: ResultSlot, fields: readonly FieldDescription[], formats: readonly number[], record: StatementRecord | null, index: number): void {
    const { plan, stmt } = slot.ctx;
    if (record !== null) this.#resultDone(slot, record);
    const result = new ResultMasker(plan, fields, columnMasks(stmt, plan, fields, this.#snapshot, index), formats);
    slot.result = result.idle ? undefined : result;
    record?.noteMasked(result.masked, stmt?.notes);
  }

  /** Counts of the slot's current result into the record (a Query may have several results). */
  #resultDone(slot: ResultSlot, record: StatementRecord): void {
    const result = slot.result;
    if (result === undefined) return;
    record.noteMaskedRows(result.rowsChanged);
    result.rowsChanged = 0;
  }

  /** COPY ... TO STDOUT: mask its data rows by the statement's lineage (no RowDescription comes). */
  #copyStarts(slot: ResultSlot, record: StatementRecord | null, frame: Buffer): void {
    const format = copyOutputFormat(slot.ctx.sql);
    if (format === undefined) return; // refused at decision time when it mattered
    const count = frame.length >= 8 ? frame.readUInt16BE(6) : 0;
    const { plan, stmt } = slot.ctx;
    const outputs = stmt?.results[slot.results++];
    const lined = outputs !== undefined && outputs.length === count;
    const binary = format.kind === 'binary';
    const scanner = plan.scanner;
    const maskers: (ValueMasker | undefined)[] = [];
    for (let i = 0; i < count; i++) {
      const mask = stmt === undefined ? undefined : lined ? outputs[i] : stmt.failClosed;
      // No types in a COPY: a binary value is masked to NULL, text takes the mask as text. Nor
      // origins: nothing shows a value is the protected column itself, so `partial` redacts.
      if (mask !== undefined) maskers.push(valueMasker(plan, { ...mask.rule, with: mask.rule.with === 'partial' ? 'redact' : mask.rule.with }, binary ? -1 : 25, binary ? 1 : 0));
      else maskers.push(scanner === undefined ? undefined : (v) => scanner.scanBytes(v));
    }
    if (maskers.some((m) => m !== undefined)) slot.copy = createCopyMasker(format, maskers);
    if (record !== null && stmt !== undefined) {
      const masked = maskers.flatMap((_, i) => {
        const mask = lined ? outputs[i] : stmt.failClosed;
        return mask === undefined ? [] : [{ index: i, name: `column ${i + 1}`, with: mask.rule.with === 'partial' ? ('redact' as const) : mask.rule.with, rule: mask.rule.source ?? 'mask', why: mask.why }];
      });
      record.noteMasked(masked, stmt.notes);
    }
  }

  /** The head request is answered: record it when it carries a statement. */
  #complete(): void {
    const done = this.#pending.shift();
    if (done?.slot && done.record) {
      if (done.kind === 'execute' && done.slot.result !== undefined) done.record.noteMasked(done.slot.result.masked, done.slot.ctx.stmt?.notes);
      this.#resultDone(done.slot, done.record);
    }
    if (done?.record) this.#emit(done.record);
  }

  /** Answers to the internal query (search_path, relations) are consumed here; true when swallowed. */
  #internalFrame(frame: Buffer, type: number | undefined): boolean {
    switch (type) {
      case Backend.RowDescription:
        this.#internalResults.push([]);
        return true;
      case Backend.DataRow:
        this.#internalResults[this.#internalResults.length - 1]?.push(readTextRow(frame));
        return true;
      case Backend.ErrorResponse:
        this.#internalFailed = true;
        return true;
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
        return true;
      case Backend.ReadyForQuery: {
        this.#pending.shift();
        // In a failed transaction the query errors: the previous path and relations stand until ROLLBACK.
        const path = this.#internalResults[0]?.[0]?.[0];
        if (typeof path === 'string') this.#searchPath = parseTextArray(path);
        const relations = this.#internalResults[1];
        if (this.#internalReadsRelations && !this.#internalFailed && relations !== undefined && relations.length > 0) this.#snapshot = relationSnapshot(relations, this.#searchPath);
        this.#holding = false;
        if (!this.#waitingUpDrain) this.#client.resume();
        setImmediate(() => this.#pumpClient());
        return true;
      }
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
    const held = this.#held;
    if (held?.reviewId !== undefined && held.waiter !== undefined) this.#reviews.forget(held.reviewId, held.waiter);
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
