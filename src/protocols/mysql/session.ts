// One MySQL session after login: client commands -> Action -> gate -> wire, and the server's
// answers relayed back as the bytes they came in, except where an answer of the gateway's own
// (a denial) stands in for one. Dispatch and I/O only: the decision is StatementGate's, the
// shape of each answer ResponseTracker's, the order of answers PendingQueue's, reviews the
// pipeline's runReview.
//
// Nothing awaits on the relay path: decisions are synchronous, packets are handled inside the
// sockets' 'data' callbacks, and writes are batched per received chunk.
import type { Socket } from 'node:net';
import type { SqlAction } from '../../core/action.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import { runReview, type ReviewOutcome } from '../../pipeline/review-runner.ts';
import type { GateDecision, Permit } from '../../pipeline/permit.ts';
import type { SessionRef } from '../../pipeline/gate.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import { reasonFromText } from '../../reviews/review.ts';
import type { ReviewService } from '../../reviews/service.ts';
import { mysqlDialectFor, mysqlServerFromVersion } from '../../sql/mysql/dialect.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { decodeColumnDefinition } from './codec/columns.ts';
import { readExecuteParams } from './codec/execute-params.ts';
import { readTextRow } from './codec/rows.ts';
import { commandName, decodeCommand, encodeKill, encodeQuery } from './codec/commands.ts';
import { Cap, Com, ErrNo, Header } from './codec/constants.ts';
import { RecordsOwed, type DurableCommit } from '../../pipeline/durability.ts';
import { framePacket, FramingError, PacketReader, packetCount, type Packet } from './codec/framing.ts';
import { encodeErr, encodeOk, readErr, type ErrPacket } from './codec/responses.ts';
import { MalformedPacket } from './codec/wire.ts';
import { gatewayErr, refusalErr } from './errors.ts';
import { Forwarder } from '../../pipeline/forwarder.ts';
import { columnMasks, RowMasker, type MaskContext } from './masking/result.ts';
import { expect, localAnswer, PendingQueue, type Pending } from './pending.ts';
import { StatementRecord } from './record.ts';
import { StatementGate, type StatementGateOptions } from './statement-gate.ts';
import type { ThreadRegistry } from './threads.ts';
import { fieldListText, initDbText, loadsLocalFile } from './to-action.ts';
import { UpstreamWriter } from './upstream-writer.ts';
import { COLUMNS_QUERY, relationSnapshot, VIEWS_QUERY } from './masking/relations.ts';
import type { Upstream } from './upstream.ts';

/** The server's packets may be as large as its max_allowed_packet (1 GiB at most). */
const UPSTREAM_MAX_PACKET = 1024 * 1024 * 1024;
/** What the session reads back after a statement that may change how the next ones read. */
const STATE_QUERY = 'SELECT @@SESSION.sql_mode, DATABASE()';
/** `KILL [QUERY|CONNECTION] <id>` alone in a COM_QUERY: the CLI's Ctrl-C, rewritten to the upstream thread. */
const KILL_TEXT = /^\s*kill\s+(query\s+|connection\s+)?(\d{1,10})\s*;?\s*$/i;
/** COM_STMT_EXECUTE flag: open a read-only cursor (rows come with COM_STMT_FETCH). */
const CURSOR_TYPE_READ_ONLY = 0x01;

interface PreparedInfo {
  readonly action: SqlAction;
  /** Allowed: what its executes run under; review: each execute is reviewed with its parameters. */
  readonly decision: GateDecision;
  readonly mask: MaskContext | undefined;
  readonly params: number;
  /** Parameter types of the last execute (an execute may leave them out). */
  types: readonly number[];
  /** Parameters sent with COM_STMT_SEND_LONG_DATA since the last execute. */
  readonly longData: Set<number>;
  /** The masker of its last execute's result: what COM_STMT_FETCH rows of its cursor get. */
  masker?: RowMasker | undefined;
}

/** A statement waiting for its review: the client is held until it is decided. */
interface Held {
  /** A copy: the reader's buffer is not ours to keep. */
  readonly raw: Buffer;
  readonly seq: number;
  /** `execute`: of a statement prepared under review, with its parameters. */
  readonly shape: 'result' | 'prepare' | 'execute';
  readonly statement?: PreparedInfo;
  readonly params: (string | null)[] | null;
  readonly cursor: boolean;
  readonly action: SqlAction;
  readonly decision: GateDecision;
  readonly mask: MaskContext | undefined;
  reviewId?: string;
  readonly gone: AbortController;
}

export interface SessionOptions extends StatementGateOptions {
  readonly client: Socket;
  readonly clientReader: PacketReader;
  readonly upstream: Upstream;
  /** What the agent negotiated (the upstream leg has the same relayed ones). */
  readonly capabilities: number;
  /** The connection's upstream database (what the agent's connection name stands for). */
  readonly database: string | undefined;
  readonly reviews: ReviewService;
  readonly recording: SessionRecording;
  readonly threads: ThreadRegistry;
  readonly logger: Logger;
  readonly onEnd: (session: MysqlSession) => void;
  /** Commits what the audit log and the recorder hold; without it, answers are not held for their records. */
  readonly durable?: DurableCommit;
}

export class MysqlSession {
  readonly #client: Socket;
  readonly #up: Socket;
  readonly #clientReader: PacketReader;
  readonly #upReader = new PacketReader(UPSTREAM_MAX_PACKET);
  readonly #toUp: UpstreamWriter;
  readonly #toClient: Forwarder;
  readonly #pending = new PendingQueue();
  readonly #prepared = new Map<number, PreparedInfo>();
  readonly #identity: Identity;
  readonly #ref: SessionRef;
  readonly #sql: StatementGate;
  readonly #reviews: ReviewService;
  readonly #recording: SessionRecording;
  readonly #threads: ThreadRegistry;
  readonly #logger: Logger;
  readonly #onEnd: (session: MysqlSession) => void;
  readonly #caps: number;
  readonly #deprecateEof: boolean;
  readonly #database: string | undefined;
  readonly #initial: Buffer;
  #held: Held | undefined = undefined;
  /** The client waits while the gateway reads the session state back. */
  #holding = false;
  #internalInFlight = 0;
  /** The client is sending the file the server asked for. */
  #infile = false;
  #waitingUpDrain = false;
  #waitingClientDrain = false;
  #ended = false;
  /** What the next answer outside a transaction waits for (pipeline/durability.ts). */
  readonly #owed: RecordsOwed;
  /** The answer queued for the client waits for the store's commit; the server is not read meanwhile. */
  #awaitingRecords = false;
  /** A response of a statement was completed in this read: the point where answers are held. */
  #answered = false;
  #bytesIn = 0;
  #statementsRecorded = 0;

  constructor(opts: SessionOptions) {
    this.#client = opts.client;
    this.#up = opts.upstream.socket;
    this.#clientReader = opts.clientReader;
    this.#toUp = new UpstreamWriter(this.#up);
    this.#toClient = new Forwarder(this.#client);
    this.#identity = opts.identity;
    this.#ref = opts.ref;
    this.#caps = opts.capabilities;
    this.#deprecateEof = (opts.capabilities & Cap.DEPRECATE_EOF) !== 0;
    this.#database = opts.database;
    this.#initial = opts.upstream.pending;
    const dialect = mysqlDialectFor(mysqlServerFromVersion(opts.upstream.greeting.serverVersion));
    this.#sql = new StatementGate(opts, { dialect, sqlMode: undefined, database: opts.database });
    this.#reviews = opts.reviews;
    this.#recording = opts.recording;
    this.#threads = opts.threads;
    this.#logger = opts.logger;
    this.#onEnd = opts.onEnd;
    this.#owed = new RecordsOwed(opts.durable);
  }

  get id(): string {
    return this.#ref.id;
  }

  start(): void {
    this.#client.on('data', this.#onClientData);
    this.#client.on('close', this.#onClose);
    this.#client.on('error', this.#onSocketError);
    this.#up.on('data', this.#onUpData);
    this.#up.on('close', this.#onClose);
    this.#up.on('error', this.#onSocketError);
    // The session's sql_mode and database before the first statement is read.
    this.#readState();
    this.#toUp.flush();
    if (this.#initial.length > 0) this.#onUpData(this.#initial);
    this.#client.resume();
    this.#up.resume();
  }

  /** Gateway shutdown: tell an idle client why, close both sides. */
  terminate(): void {
    if (this.#ended) return;
    this.#toClient.flush();
    if (this.#pending.size === 0 || this.#held !== undefined) {
      const err = this.#held !== undefined ? new GatewayError('PCS_REVIEW_INTERRUPTED', { id: this.#held.reviewId ?? '(not yet created)' }) : new GatewayError('PCS_MYSQL_SHUTTING_DOWN');
      this.#client.write(framePacket(encodeErr(gatewayErr(err)), this.#held !== undefined ? this.#held.seq + 1 : 0));
    }
    this.#client.end();
    this.#up.end(framePacket(Buffer.from([Com.QUIT]), 0));
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
    this.#up.cork();
    try {
      while (!this.#holding && this.#held === undefined && !this.#awaitingRecords && !this.#ended) {
        const p = this.#clientReader.next();
        if (p === null) break;
        if (this.#infile) {
          this.#toUp.relayData(p.raw);
          if (p.payload.length === 0) this.#infile = false;
          continue;
        }
        this.#command(p);
      }
    } catch (err) {
      if (err instanceof FramingError || err instanceof MalformedPacket) this.#protocolError(err.message);
      else this.#internalError(err);
    } finally {
      this.#toUp.flush();
      this.#up.uncork();
      this.#toClient.flush();
    }
    if (this.#ended) return;
    if (this.#holding || this.#held !== undefined || this.#awaitingRecords) this.#client.pause();
    else if (this.#up.writableNeedDrain && !this.#waitingUpDrain) {
      this.#waitingUpDrain = true;
      this.#client.pause();
      this.#up.once('drain', () => {
        this.#waitingUpDrain = false;
        this.#resumeClient();
      });
    }
  }

  #resumeClient(): void {
    if (this.#ended || this.#holding || this.#held !== undefined || this.#waitingUpDrain || this.#awaitingRecords) return;
    this.#client.resume();
    // Commands that arrived while the client was held wait in the reader.
    if (this.#clientReader.buffered > 0) this.#pumpClient();
  }

  #command(p: Packet): void {
    const cmd = decodeCommand(p.payload);
    const seq = p.seq;
    switch (cmd.type) {
      case 'query': {
        const kill = KILL_TEXT.exec(cmd.sql);
        if (kill !== null) return this.#kill(Number(kill[2]), kill[1]?.trim().toLowerCase() === 'query', seq, cmd.sql);
        return this.#statement(cmd.sql, p, 'result');
      }
      case 'prepare':
        return this.#statement(cmd.sql, p, 'prepare');
      case 'init-db':
        return this.#initDb(cmd.schema, p);
      case 'field-list': {
        const action = this.#sql.analyse(fieldListText(cmd.table));
        const decision = this.#sql.decide(action);
        if (decision.verdict !== 'allow') return this.#refuse(seq, action, decision);
        this.#pending.push(expect('field-list', this.#deprecateEof, null));
        this.#toUp.forward(p.raw, decision);
        return;
      }
      case 'kill':
        return this.#kill(cmd.id, false, seq, `(COM_PROCESS_KILL ${cmd.id})`);
      case 'stmt':
        return this.#stmt(cmd.command, cmd.statement, cmd.flags, p);
      case 'simple':
        return this.#simple(cmd.command, p);
    }
  }

  #statement(sql: string, p: Packet, shape: 'result' | 'prepare'): void {
    const action = this.#sql.analyse(sql);
    const decision = this.#sql.decide(action);
    if (decision.verdict === 'allow') return this.#run(p.raw, shape, action, decision, null, this.#sql.checked);
    if (decision.verdict === 'review' && shape === 'prepare') {
      // Preparing runs nothing: the review comes at execute, when the parameters are known.
      this.#pending.push(expect('prepare', this.#deprecateEof, null, { prepared: { action, decision, mask: this.#sql.checked } }));
      this.#toUp.prepare(p.raw, decision);
      return;
    }
    if (decision.verdict === 'review') return this.#review({ raw: Buffer.from(p.raw), seq: p.seq, shape, params: null, cursor: false, action, decision, mask: this.#sql.checked, gone: new AbortController() });
    this.#refuse(p.seq, action, decision, shape === 'prepare' ? 'extended' : 'simple');
  }

  #run(raw: Buffer, shape: 'result' | 'prepare', action: SqlAction, permit: Permit, review: string | null, mask: MaskContext | undefined): void {
    this.#sql.allowed(action, mask);
    const record = new StatementRecord(action, permit, shape === 'prepare' ? 'extended' : 'simple');
    record.review = review;
    this.#pending.push(expect(shape, this.#deprecateEof, shape === 'prepare' ? null : record, { infileOk: shape === 'result' && loadsLocalFile(action), ...(shape === 'prepare' ? { prepared: { action, decision: permit, mask } } : mask !== undefined ? { mask } : {}) }));
    if (shape === 'prepare') this.#recordNow(record);
    // Its decision's commit starts now, while the server works: the answer waits less.
    else if (record.persist) this.#owed.startEarly();
    this.#toUp.forward(raw, permit);
    if (loadsLocalFile(action)) return;
    if (this.#sql.stale) this.#readState();
    if (this.#sql.takeRelationsChanged()) this.#readRelations();
  }

  #initDb(schema: string, p: Packet): void {
    // The agent's own connection name stands for the connection's database.
    if (schema === this.#ref.connection.name) {
      if (this.#database === undefined) return this.#answer(p.seq, encodeOk({ status: 0x0002 }, this.#caps));
      schema = this.#database;
    }
    const action = this.#sql.analyse(initDbText(schema));
    const decision = this.#sql.decide(action);
    if (decision.verdict !== 'allow') return this.#refuse(p.seq, action, decision);
    this.#sql.databaseMayHaveChanged();
    this.#recordNow(new StatementRecord(action, decision, 'simple'));
    this.#pending.push(expect('single', this.#deprecateEof, null));
    if (schema === this.#database && schema !== p.payload.toString('utf8', 1)) this.#toUp.write(framePacket(Buffer.concat([Buffer.from([Com.INIT_DB]), Buffer.from(schema, 'utf8')]), p.seq));
    else this.#toUp.forward(p.raw, decision);
    this.#readState();
  }

  /** KILL of a session's own query or connection: the gateway sends it, with the upstream thread id. */
  #kill(id: number, queryOnly: boolean, seq: number, text: string): void {
    const thread = this.#threads.resolve(id, this.#identity.subject, this.#ref.connection.name);
    if (thread === undefined) {
      const err = new GatewayError('PCS_MYSQL_KILL_REFUSED', { id: String(id) });
      this.#recording.event('denied', { text, params: null, verdict: 'deny', rule: null, reason: err.message, sqlstate: 'HY000' });
      return this.#answer(seq, encodeErr(gatewayErr(err)));
    }
    const record = new StatementRecord(text, null, 'simple');
    this.#pending.push(expect('result', this.#deprecateEof, record));
    this.#toUp.write(queryOnly ? framePacket(encodeQuery(`KILL QUERY ${thread}`), 0) : framePacket(encodeKill(thread), 0));
  }

  #stmt(command: number, statement: number, flags: number, p: Packet): void {
    const info = this.#prepared.get(statement);
    if (command === Com.STMT_CLOSE) {
      this.#prepared.delete(statement);
      if (info !== undefined) this.#toUp.relay(p.raw);
      return;
    }
    if (info === undefined) {
      // Prepared by nobody the gateway saw: the server's own answer, without asking it.
      if (command === Com.STMT_SEND_LONG_DATA) return; // no answer is ever sent to it
      return this.#answer(p.seq, encodeErr({ errno: ErrNo.UNKNOWN_STMT_HANDLER, sqlState: 'HY000', message: `Unknown prepared statement handler (${statement}) given to ${commandName(command)}` }));
    }
    switch (command) {
      case Com.STMT_EXECUTE: {
        const { values, types } = readExecuteParams(p.payload, info.params, info.types, info.longData);
        info.types = types;
        const cursor = (flags & CURSOR_TYPE_READ_ONLY) !== 0;
        const decision = info.decision;
        if (decision.verdict === 'allow') return this.#execute(info, p.raw, values, cursor, decision, null);
        return this.#review({ raw: Buffer.from(p.raw), seq: p.seq, shape: 'execute', statement: info, params: values, cursor, action: info.action, decision, mask: info.mask, gone: new AbortController() });
      }
      case Com.STMT_SEND_LONG_DATA: {
        // A parameter's value for the next execute: no answer, and it runs nothing.
        if (p.payload.length >= 7) info.longData.add(p.payload.readUInt16LE(5));
        if (info.decision.verdict === 'allow') this.#toUp.forward(p.raw, info.decision);
        else this.#toUp.prepare(p.raw, info.decision);
        return;
      }
      case Com.STMT_FETCH:
        if (info.mask !== undefined && info.masker === undefined) {
          // Masks apply and the cursor's columns were never seen: nothing to mask its rows by.
          return this.#answer(p.seq, encodeErr(gatewayErr(new GatewayError('PCS_MYSQL_MASK_UNSUPPORTED', { reason: 'a cursor opened without its column definitions' }))));
        }
        this.#pending.push(expect('fetch', this.#deprecateEof, null, { binary: true, ...(info.mask !== undefined ? { mask: info.mask } : {}), ...(info.masker !== undefined ? { masker: info.masker } : {}) }));
        this.#toUp.relay(p.raw);
        return;
      case Com.STMT_RESET:
        this.#pending.push(expect('single', this.#deprecateEof, null));
        this.#toUp.relay(p.raw);
        return;
    }
  }

  #execute(info: PreparedInfo, raw: Buffer, params: (string | null)[], cursor: boolean, permit: Permit, review: string | null): void {
    const record = new StatementRecord(info.action, permit, 'extended', params);
    record.review = review;
    info.longData.clear();
    // A cursor's rows come with COM_STMT_FETCH, masked as this execute's result is.
    info.masker = undefined;
    this.#pending.push(expect('result', this.#deprecateEof, record, { binary: true, ...(info.mask !== undefined ? { mask: info.mask } : {}), ...(cursor ? { cursorOf: info } : {}) }));
    this.#toUp.forward(raw, permit);
  }

  #simple(command: number, p: Packet): void {
    switch (command) {
      case Com.QUIT:
        this.#toUp.relay(p.raw);
        this.#toUp.flush();
        this.#up.end();
        this.#client.end();
        this.#end('closed');
        return;
      case Com.PING:
      case Com.SET_OPTION:
        this.#pending.push(expect('single', this.#deprecateEof, null));
        this.#toUp.relay(p.raw);
        return;
      case Com.STATISTICS:
        this.#pending.push(expect('string', this.#deprecateEof, null));
        this.#toUp.relay(p.raw);
        return;
      case Com.RESET_CONNECTION:
        // The server forgets prepared statements, variables and the database it was told.
        this.#prepared.clear();
        this.#sql.reset();
        this.#pending.push(expect('single', this.#deprecateEof, null));
        this.#toUp.relay(p.raw);
        this.#readState();
        return;
      case Com.CHANGE_USER:
        return this.#refuseCommand(p.seq, command, 'the identity of a session is its login token; open a new connection with another token');
      default:
        return this.#refuseCommand(p.seq, command, 'the gateway relays queries, prepared statements and session commands only (replication, shutdown, debug and process commands are refused)');
    }
  }

  #refuseCommand(seq: number, command: number, reason: string): void {
    const err = new GatewayError('PCS_MYSQL_COMMAND_REFUSED', { command: commandName(command), reason });
    this.#recording.event('denied', { text: `(${commandName(command)})`, params: null, verdict: 'deny', rule: null, reason: err.message, sqlstate: '42000' });
    this.#answer(seq, encodeErr(gatewayErr(err)));
  }

  #refuse(seq: number, action: SqlAction, decision: GateDecision, protocol: 'simple' | 'extended' = 'simple', err?: ErrPacket): void {
    const packet = err ?? refusalErr(decision);
    const record = new StatementRecord(action, decision, protocol);
    record.error = packet;
    this.#recordNow(record);
    this.#answer(seq, encodeErr(packet));
  }

  /** An answer of the gateway's own to the command of sequence id `seq`, in its turn. */
  #answer(seq: number, payload: Buffer): void {
    const packet = framePacket(payload, seq + 1);
    if (this.#pending.size === 0) this.#toClient.write(packet);
    else this.#pending.push(localAnswer(packet));
  }

  /** Reads sql_mode and the database back before the next statement is decided. */
  #readState(): void {
    this.#internal(STATE_QUERY, (rows) => {
      if (rows === undefined) {
        this.#logger.warn({ session: this.id }, 'could not read the session state back; statements are read without it');
        this.#sql.refreshed(undefined, this.#database);
        return;
      }
      const row = rows[0];
      const [mode, db] = row === undefined ? [undefined, undefined] : readTextRow(row, 2);
      this.#sql.refreshed(mode ?? undefined, db ?? undefined);
    });
  }

  /** DDL went through while masks trace lineage: the relations are read again before the next statement. */
  #readRelations(): void {
    let columns: readonly Buffer[] | undefined;
    this.#internal(COLUMNS_QUERY, (rows) => {
      columns = rows;
    });
    this.#internal(VIEWS_QUERY, (rows) => {
      if (columns !== undefined) this.#sql.relationsRead(relationSnapshot(columns, rows ?? []));
    });
  }

  /** A query of the gateway's own, pipelined behind what is queued; the client waits for its answer. */
  #internal(sql: string, done: (rows: readonly Buffer[] | undefined) => void): void {
    this.#pending.push(expect('result', this.#deprecateEof, null, { internal: done }));
    this.#toUp.write(framePacket(encodeQuery(sql), 0));
    this.#internalInFlight++;
    this.#holding = true;
  }

  // ---- reviews ----

  #review(held: Held): void {
    const text = held.action.redacted ?? held.action.text;
    this.#held = held;
    const params = held.params === null ? null : held.action.redacted !== undefined ? held.params.map((v) => (v === null ? null : '***')) : held.params;
    runReview(this.#reviews, { subject: this.#identity.subject, connection: this.#ref.connection.name, action: { kind: 'sql', text, params }, decision: held.decision, session: this.id, reason: reasonFromText(held.action.text) ?? null }, {
      // A MySQL client has no notice to show while it waits: it is told nothing it would misread.
      held: (_notice, _hint, review) => {
        held.reviewId = review.id;
      },
      signal: held.gone.signal,
    }).then(
      (outcome) => this.#reviewed(held, outcome),
      (err: unknown) => {
        this.#logger.error({ err, session: this.id }, 'could not create a review');
        this.#settle(held, new GatewayError('PCS_INTERNAL', { requestId: this.id }));
      },
    );
  }

  #reviewed(held: Held, outcome: ReviewOutcome): void {
    if (outcome.kind === 'gone') return;
    held.reviewId = outcome.kind === 'deferred' ? outcome.review.id : outcome.review;
    if (this.#ended || this.#held !== held) return;
    if (outcome.kind === 'run') {
      this.#held = undefined;
      this.#up.cork();
      if (held.shape === 'execute' && held.statement !== undefined) this.#execute(held.statement, held.raw, held.params ?? [], held.cursor, outcome.permit, outcome.review);
      else if (held.shape !== 'execute') this.#run(held.raw, held.shape, held.action, outcome.permit, outcome.review, held.mask);
      this.#toUp.flush();
      this.#up.uncork();
      this.#resumeClient();
      return;
    }
    this.#settle(held, outcome.error);
  }

  #settle(held: Held, err: GatewayError): void {
    if (this.#ended || this.#held !== held) return;
    this.#held = undefined;
    const record = new StatementRecord(held.action, held.decision, held.shape === 'result' ? 'simple' : 'extended', held.params);
    record.review = held.reviewId ?? null;
    record.reviewOutcome = err.code;
    const packet = { ...gatewayErr(err), errno: ErrNo.TABLEACCESS_DENIED, sqlState: '42000' };
    record.error = packet;
    this.#recordNow(record);
    this.#answer(held.seq, encodeErr(packet));
    this.#toClient.flush();
    this.#resumeClient();
  }

  // ---- upstream -> client ----

  readonly #onUpData = (chunk: Buffer): void => {
    if (this.#ended) return;
    this.#upReader.push(chunk);
    this.#readUp();
  };

  #readUp(): void {
    if (this.#ended || this.#awaitingRecords) return;
    let resume = false;
    try {
      for (;;) {
        const p = this.#upReader.next();
        if (p === null) break;
        if (this.#serverPacket(p)) resume = true;
        if (this.#answered) {
          this.#answered = false;
          // A statement that may have changed something was answered: the answer leaves once its
          // records are committed. Even inside a transaction: a write to a non-transactional
          // table (MyISAM, Aria, MEMORY) is done at once, and the session cannot tell which.
          if (this.#owed.owing && this.#holdForRecords()) return;
        }
      }
      this.#flushLocal();
    } catch (err) {
      if (err instanceof FramingError || err instanceof MalformedPacket) this.#upstreamError(err.message);
      else this.#internalError(err);
      return;
    } finally {
      this.#toUp.flush();
      if (!this.#awaitingRecords) this.#toClient.flush();
    }
    if (this.#client.writableNeedDrain && !this.#waitingClientDrain) {
      this.#waitingClientDrain = true;
      this.#up.pause();
      this.#client.once('drain', () => {
        this.#waitingClientDrain = false;
        if (!this.#ended) this.#up.resume();
      });
    }
    if (resume) this.#resumeClient();
  }

  /** The durability rule: what is queued for the client stays, and neither side is read, until the store has committed. True when it waits. */
  #holdForRecords(): boolean {
    const committed = this.#owed.settle();
    if (committed === undefined) return false;
    this.#awaitingRecords = true;
    this.#up.pause();
    this.#client.pause();
    void committed.then(() => {
      this.#awaitingRecords = false;
      if (this.#ended) return;
      this.#toClient.flush();
      if (!this.#waitingClientDrain) this.#up.resume();
      this.#readUp();
      this.#resumeClient();
    });
    return true;
  }

  /** One server packet; true when the client may be read again (the session state is known). */
  #serverPacket(p: Packet): boolean {
    this.#flushLocal();
    const e = this.#pending.peek();
    if (e === undefined || e.tracker === undefined) {
      // Unasked: the server's ERR before it closes the connection (killed, timed out).
      this.#toClient.add(p.raw);
      return false;
    }
    const t = e.tracker;
    const rowsBefore = t.rows;
    t.feed(p.payload);
    if (t.localInfile) {
      t.localInfile = false;
      if (e.infileOk) {
        this.#infile = true;
        this.#toClient.add(p.raw);
      } else {
        // Never a file of the gateway's host, and no client file either: an empty file.
        e.swallowSeq = p.seq;
        this.#toUp.write(framePacket(Buffer.alloc(0), p.seq + 1));
      }
      return false;
    }
    if (e.internal !== undefined) {
      if (t.rows > rowsBefore) e.rows?.push(Buffer.from(p.payload));
    } else if (e.swallowSeq !== undefined) {
      // Dropped: the client gets the refusal once the server is done.
    } else if (e.mask === undefined) this.#toClient.add(p.raw);
    else this.#maskedPacket(e, t, p, t.rows > rowsBefore);
    if (!t.done) return false;
    this.#pending.shift();
    return this.#completed(e);
  }

  /** A packet of a result that masks apply to: column definitions read, rows rewritten, error texts withheld. */
  #maskedPacket(e: Pending, t: NonNullable<Pending['tracker']>, p: Packet, isRow: boolean): void {
    const ctx = e.mask as MaskContext;
    if (t.columnIndex >= 0 && t.shape === 'result') {
      e.columns.push(decodeColumnDefinition(p.payload));
      if (e.columns.length === t.columnCount) {
        e.masker = new RowMasker(ctx, e.columns, columnMasks(ctx, e.columns, t.resultSets - 1, this.#sql.database), e.binary);
        if (e.masker.masked.length > 0) {
          this.#sql.maskedByOrigin(ctx);
          if (e.record !== null) (e.record.masking ??= { columns: [], rows_changed: 0 }).columns.push(...e.masker.masked);
        }
        e.cursorOf?.(e.masker);
        e.columns = [];
      }
      this.#toClient.add(p.raw);
      return;
    }
    if (isRow && e.masker !== undefined && !e.masker.idle) {
      const before = e.masker.rowsChanged;
      const payload = e.binary ? e.masker.binaryRow(p.payload) : e.masker.textRow(p.payload);
      if (payload === p.payload) return this.#toClient.add(p.raw);
      const first = (p.seq - packetCount(p.payload.length) + 1) & 0xff;
      // A row that changes its packet count would shift every later sequence id: refused.
      if (packetCount(payload.length) !== packetCount(p.payload.length)) throw new GatewayError('PCS_MYSQL_MASK_UNSUPPORTED', { reason: 'a masked row of 16 MiB or more' });
      if (e.record !== null && e.masker.rowsChanged > before) (e.record.masking ??= { columns: [], rows_changed: 0 }).rows_changed++;
      this.#toClient.write(framePacket(payload, first));
      return;
    }
    if (p.payload[0] === Header.ERR && ctx.stmt?.sensitive === true) {
      // The server's message may echo a masked value (a conversion error quoting it).
      const err = readErr(p.payload);
      this.#toClient.write(framePacket(encodeErr({ errno: err.errno, sqlState: err.sqlState, message: `the server's message is withheld by the gateway: the statement reads masked columns (error ${err.errno})` }), p.seq));
      return;
    }
    this.#toClient.add(p.raw);
  }

  #completed(e: Pending): boolean {
    const t = e.tracker;
    if (t === undefined) return false;
    if (e.swallowSeq !== undefined) {
      this.#toClient.write(framePacket(encodeErr(gatewayErr(new GatewayError('PCS_MYSQL_LOCAL_INFILE_REFUSED'))), e.swallowSeq));
      this.#recording.event('denied', { text: '(LOCAL INFILE request of the server)', params: null, verdict: 'deny', rule: null, reason: 'the statement was not decided as LOAD DATA LOCAL', sqlstate: '42000' });
    }
    if (e.prepared !== undefined && t.statement !== undefined && t.error === undefined) this.#prepared.set(t.statement, { ...e.prepared, params: t.params, types: [], longData: new Set() });
    if (e.record !== null) {
      e.record.rows = t.resultSets > 0 ? t.rows : null;
      e.record.affected = t.resultSets === 0 && t.error === undefined ? t.affected : null;
      e.record.error = t.error ?? null;
      this.#recordNow(e.record);
      if (e.record.persist) this.#owed.owe(e.record.params !== null);
    }
    if (e.internal === undefined) this.#answered = true;
    if (e.internal !== undefined) {
      e.internal(t.error === undefined ? (e.rows ?? []) : undefined);
      this.#internalInFlight--;
      this.#holding = this.#internalInFlight > 0;
      return !this.#holding;
    }
    return false;
  }

  /** Answers of the gateway's own whose turn has come. */
  #flushLocal(): void {
    for (let e = this.#pending.peek(); e !== undefined && e.local !== undefined; e = this.#pending.peek()) {
      this.#toClient.write(e.local);
      this.#pending.shift();
    }
  }

  #recordNow(record: StatementRecord): void {
    const { kind, data } = record.toEvent();
    this.#recording.event(kind, data);
    this.#statementsRecorded++;
  }

  // ---- ends ----

  #protocolError(detail: string): void {
    this.#logger.info({ session: this.id, detail }, 'malformed packet from the MySQL client; session closed');
    this.#recording.event('error', { kind: 'protocol', message: detail });
    this.#toClient.flush();
    this.#client.end(framePacket(encodeErr(gatewayErr(new GatewayError('PCS_MYSQL_PROTOCOL_VIOLATION', { detail }))), 1));
    this.#up.destroy();
    this.#end('error');
  }

  #upstreamError(detail: string): void {
    this.#logger.warn({ session: this.id, detail }, 'unreadable answer from the MySQL server; session closed');
    this.#recording.event('error', { kind: 'upstream', message: detail });
    this.#client.destroy();
    this.#up.destroy();
    this.#end('error');
  }

  #internalError(err: unknown): void {
    this.#logger.error({ err, session: this.id }, 'mysql session failed');
    this.#client.destroy();
    this.#up.destroy();
    this.#end('error');
  }

  readonly #onClose = (): void => {
    if (this.#ended) return;
    this.#toClient.flush();
    this.#client.end();
    this.#up.end();
    this.#end('closed');
  };

  readonly #onSocketError = (err: Error): void => {
    this.#logger.debug({ err, session: this.id }, 'mysql session socket error');
  };

  #end(reason: 'closed' | 'error' | 'terminated'): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held?.gone.abort();
    this.#client.off('data', this.#onClientData);
    this.#up.off('data', this.#onUpData);
    this.#recording.end(reason, { bytes_in: this.#bytesIn, bytes_out: this.#client.bytesWritten, statements: this.#statementsRecorded });
    setTimeout(() => {
      this.#client.destroy();
      this.#up.destroy();
    }, 5_000).unref();
    this.#onEnd(this);
  }
}
