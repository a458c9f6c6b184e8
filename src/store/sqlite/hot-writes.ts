// The write transactions of the hot path (audit appends, recording batches) as prepared
// better-sqlite3 statements, run on whichever connection owns them: the writer thread's
// (writer-worker.ts) for a store with a file, the main one otherwise. Kysely would compile a
// new multi-row INSERT for every batch (its size varies) and SQLite would prepare it again; a
// prepared single-row statement run in a loop inside one transaction costs a fraction of that.
import { setTimeout as delay } from 'node:timers/promises';
import type SQLite from 'better-sqlite3';
import { GatewayError } from '../../core/errors.ts';
import type { AuditChainRules, AuditCheckpointRow, ChainAppendResult, ChainHead, CheckedEvent, EventRefusal, PreparedEvent, Signer } from '../repositories/audit.ts';
import type { SerialisedOp } from '../repositories/recordings.ts';

/** A lost race with another writer (SQLite busy/snapshot, a duplicate seq). */
export function isWriteConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('SQLITE_BUSY') || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Races with another writer are rare and short; a few tries with jitter resolve them. */
const MAX_ATTEMPTS = 8;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Run `write`, retrying lost races with another writer (another process on the same file); any
 * other failure, or a race lost MAX_ATTEMPTS times, throws PCS_AUDIT_WRITE_FAILED (a
 * GatewayError thrown by `write` as is).
 */
export async function writeRetrying<T>(write: () => T, onRetry?: (attempt: number, reason: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return write();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (!isWriteConflict(err) || attempt >= MAX_ATTEMPTS) {
        throw new GatewayError('PCS_AUDIT_WRITE_FAILED', { cause: attempt > 1 ? `${describe(err)} (after ${attempt} attempts)` : describe(err) }, { cause: err });
      }
      onRetry?.(attempt, describe(err));
      await delay(attempt * 5 + Math.random() * 10);
    }
  }
}

/** One audit chain's writes on one connection. */
export class SqliteChain {
  readonly #rules: AuditChainRules;
  readonly #signer: Signer;
  readonly #checkpointEvery: number;
  readonly #onRetry: ((attempt: number, reason: string) => void) | undefined;
  readonly #head: SQLite.Statement<[], { seq: number | bigint; hash: string }>;
  readonly #lastCheckpoint: SQLite.Statement<[], { seq: number | bigint }>;
  readonly #insert: SQLite.Statement<[number, number, string, string, string, string, string]>;
  readonly #checkpoint: SQLite.Statement<[number, number, string, string, string]>;
  readonly #appendTx: (events: readonly PreparedEvent[]) => { head: ChainHead; signed: AuditCheckpointRow[] };
  readonly #checkpointTx: () => AuditCheckpointRow | undefined;

  constructor(db: SQLite.Database, rules: AuditChainRules, signer: Signer, checkpointEvery: number, onRetry?: (attempt: number, reason: string) => void) {
    this.#rules = rules;
    this.#signer = signer;
    this.#checkpointEvery = checkpointEvery;
    this.#onRetry = onRetry;
    this.#head = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    this.#lastCheckpoint = db.prepare('SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1');
    this.#insert = db.prepare('INSERT INTO audit (seq, at, type, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#checkpoint = db.prepare('INSERT INTO audit_checkpoints (seq, at, hash, key_id, signature) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING');
    // IMMEDIATE: the chain head is read under the write lock, so another process cannot slip a
    // record in between; the primary key on seq stops a fork if one did.
    this.#appendTx = db.transaction((events: readonly PreparedEvent[]): { head: ChainHead; signed: AuditCheckpointRow[] } => {
      const { rows, checkpoints, head } = this.#rules.link(this.#readHead(), events, this.#checkpointEvery);
      for (const r of rows) this.#insert.run(r.seq, r.at, r.type, r.actor, r.data, r.prevHash, r.hash);
      // Same transaction: a checkpoint never names a record that was rolled back.
      const signed: AuditCheckpointRow[] = [];
      for (const cp of checkpoints) {
        const row = this.#sign(cp);
        if (row) signed.push(row);
      }
      return { head, signed };
    }).immediate as (events: readonly PreparedEvent[]) => { head: ChainHead; signed: AuditCheckpointRow[] };
    this.#checkpointTx = db.transaction((): AuditCheckpointRow | undefined => {
      const head = this.#readHead();
      if (head === undefined) return undefined;
      const last = this.#lastCheckpoint.get();
      if (last !== undefined && Number(last.seq) >= head.seq) return undefined;
      return this.#sign(head);
    }).immediate as () => AuditCheckpointRow | undefined;
  }

  /**
   * Canonicalise `events` and append the valid ones, in order, in one transaction (with
   * retries): per event, undefined when committed or why it was refused. Throws
   * PCS_AUDIT_WRITE_FAILED when the transaction failed (then nothing was committed).
   */
  async append(events: readonly CheckedEvent[]): Promise<ChainAppendResult> {
    const outcome: (EventRefusal | undefined)[] = [];
    const prepared: PreparedEvent[] = [];
    for (const event of events) {
      try {
        prepared.push(this.#rules.prepare(event));
        outcome.push(undefined);
      } catch (err) {
        const refusal = err instanceof GatewayError ? err : new GatewayError('PCS_AUDIT_EVENT_INVALID', { type: event.type, reason: describe(err) });
        outcome.push({ code: refusal.code, params: refusal.params });
      }
    }
    if (prepared.length === 0) return { refusals: outcome, checkpoints: [], head: undefined };
    const { head, signed } = await writeRetrying(() => this.#appendTx(prepared), this.#onRetry);
    return { refusals: outcome, checkpoints: signed, head };
  }

  /** Sign the latest record, unless it already has a checkpoint (with retries): the checkpoint signed, if any. */
  checkpoint(): Promise<AuditCheckpointRow | undefined> {
    return writeRetrying(() => this.#checkpointTx(), this.#onRetry);
  }

  #readHead(): ChainHead | undefined {
    const last = this.#head.get();
    return last === undefined ? undefined : { seq: Number(last.seq), hash: last.hash };
  }

  /** A checkpoint another writer already stored for that seq is left as it is (and is not ours to report). */
  #sign(head: ChainHead): AuditCheckpointRow | undefined {
    const row: AuditCheckpointRow = { seq: head.seq, at: Date.now(), hash: head.hash, keyId: this.#signer.keyId, signature: this.#rules.sign(head, this.#signer.privateKey) };
    const { changes } = this.#checkpoint.run(row.seq, row.at, row.hash, row.keyId, row.signature);
    return changes > 0 ? row : undefined;
  }
}

/** Recording batches on one connection. Inserts are idempotent, so a failed batch can be written again. */
export class SqliteRecordingWrites {
  readonly #recordTx: (ops: readonly SerialisedOp[]) => void;

  constructor(db: SQLite.Database) {
    const session = db.prepare<[string, string, string, string, string | null, number]>("INSERT INTO sessions (id, connection, protocol, subject, client_addr, started_at, ended_at, status) VALUES (?, ?, ?, ?, ?, ?, NULL, 'active') ON CONFLICT (id) DO NOTHING");
    const event = db.prepare<[string, number, number, string, string]>('INSERT INTO session_events (session_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, seq) DO NOTHING');
    const end = db.prepare<[number, string, number, number, number, number, string | null, string]>('UPDATE sessions SET ended_at = ?, status = ?, bytes_in = ?, bytes_out = ?, statements = ?, dropped = ?, summary = ? WHERE id = ?');
    this.#recordTx = db.transaction((ops: readonly SerialisedOp[]): void => {
      // Sessions first and ends last: a batch may hold a session's start, events and end.
      for (const op of ops) if (op.op === 'start') session.run(op.sessionId, op.connection, op.protocol, op.subject, op.clientAddr, op.at);
      for (const op of ops) if (op.op === 'event') event.run(op.sessionId, op.seq, op.at, op.kind, op.data);
      for (const op of ops) if (op.op === 'end') end.run(op.at, op.status, op.bytesIn, op.bytesOut, op.statements, op.dropped, op.summary, op.sessionId);
    }) as (ops: readonly SerialisedOp[]) => void;
  }

  /** Writes a recorder batch in one transaction. */
  write(ops: readonly SerialisedOp[]): void {
    this.#recordTx(ops);
  }
}
