// The tamper-evident audit log: an append-only hash chain in the store with Ed25519-signed
// checkpoints, every N records or every so many milliseconds (whichever comes first), each
// handed to the configured witnesses outside the store. See docs/audit.md for the format and
// what verification does and does not prove.
//
// Where the writes run is the store's business (AuditRepository.openChain): the SQLite store
// with a file runs them in its writer thread, so that appending costs the caller's event loop a
// check of the event and one postMessage per window; canonical JSON, hashing and signing run
// there too, by the rules of chain-rules.ts.
import type { AuditEvent, AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { AuditChainWriter, AuditCheckpointRow, AuditRepository, ChainHead, CheckedEvent } from '../store/repositories/audit.ts';
import type { Store } from '../store/store.ts';
import { CHAIN_RULES_URL } from './chain-rules.ts';
import { checkEvent } from './event-guard.ts';
import { GENESIS_HASH } from './record-hash.ts';
import { toAuditRecord, type AuditRecord } from './record.ts';
import { loadOrCreateSigningKey, publicKeyFile } from './signing-key.ts';
import { checkWitnesses } from './witness/start-check.ts';
import type { Witness, WitnessStats } from './witness/witness.ts';

export type { AuditRecord } from './record.ts';

export interface AuditLogOptions {
  /** Only its audit repository is used. */
  readonly store: Pick<Store, 'audit'>;
  /** Ed25519 private key PEM; generated (with `<file>.pub`) if missing. */
  readonly signingKeyFile: string;
  /** Sign a checkpoint at every record whose seq is a multiple of this. */
  readonly checkpointEvery: number;
  /**
   * Also sign the latest record this often (milliseconds) when it has no checkpoint yet, so that
   * what a witness holds is never far behind the store. Default 1000; 0 turns the timer off.
   */
  readonly checkpointEveryMs?: number;
  /** Where every signed checkpoint is handed (docs/audit.md, "Witnesses and truncation"); closed with the log. */
  readonly witnesses?: readonly Witness[];
  readonly logger: Logger;
  /** Group-commit window in milliseconds (default 5; 0 writes at the next turn of the event loop). */
  readonly flushDelayMs?: number;
}

export interface ListOptions {
  /** Only records with seq greater than this (keyset paging). */
  readonly after?: number;
  /** 1..1000, default 100. */
  readonly limit?: number;
  readonly type?: string;
}

/** Group commit: at most this many records per transaction. */
const MAX_BATCH = 500;
/**
 * How long an append waits for others to share its transaction (and its message to the writer
 * thread): one transaction per decision would cost a commit per proxied statement; one every
 * few milliseconds costs almost nothing. The price is that a crash can lose the appends of the
 * last window.
 */
const DEFAULT_FLUSH_DELAY_MS = 5;
const DEFAULT_CHECKPOINT_EVERY_MS = 1000;
/** How long close() lets witnesses deliver the final head. */
const WITNESS_CLOSE_MS = 5000;
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

const noop = (): void => {};

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An append waiting for its window's write. */
interface Pending {
  readonly event: CheckedEvent;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** The head as the chain sees it: seq 0 and the genesis hash when empty. */
async function readHead(repo: AuditRepository): Promise<ChainHead> {
  return (await repo.head()) ?? { seq: 0, hash: GENESIS_HASH };
}

export class AuditLog implements AuditSink {
  readonly keyId: string;
  readonly #repo: AuditRepository;
  readonly #writer: AuditChainWriter;
  readonly #logger: Logger;
  /**
   * In-thread writes run after the previous one settles: one writer per process, in call order.
   * The writer thread runs requests in the order they were posted, so its writes are posted at
   * once (a window's batch does not wait for the previous batch's commit).
   */
  #tail: Promise<void> = Promise.resolve();
  /** Appends waiting for the next write; they are committed together, in call order. */
  #pending: Pending[] = [];
  readonly #flushDelayMs: number;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Batches posted and not yet settled, and the last one (batches settle in order). */
  #unsettled = 0;
  #lastWrite: Promise<void> | undefined;
  /** A barrier's batch waiting for the write in flight (shared by the barriers asked for meanwhile). */
  #afterWrite: Promise<void> | undefined;
  readonly #witnesses: readonly Witness[];
  /** The newest record committed and the newest one signed, as this process has seen them. */
  #headSeq: number;
  #signedSeq: number;
  #checkpointTimer: NodeJS.Timeout | undefined;
  /** A timed checkpoint is on its way: the timer does not queue another. */
  #timedCheckpoint = false;

  private constructor(repo: AuditRepository, writer: AuditChainWriter, keyId: string, logger: Logger, flushDelayMs: number, witnesses: readonly Witness[], headSeq: number, signedSeq: number) {
    this.keyId = keyId;
    this.#flushDelayMs = flushDelayMs;
    this.#repo = repo;
    this.#writer = writer;
    this.#logger = logger;
    this.#witnesses = witnesses;
    this.#headSeq = headSeq;
    this.#signedSeq = signedSeq;
  }

  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    if (!Number.isSafeInteger(opts.checkpointEvery) || opts.checkpointEvery < 1) {
      throw new GatewayError('PCS_CONFIG_INVALID', { problems: `  audit.checkpoint.every_records: must be a positive integer, got ${String(opts.checkpointEvery)}` });
    }
    const everyMs = opts.checkpointEveryMs ?? DEFAULT_CHECKPOINT_EVERY_MS;
    if (!Number.isSafeInteger(everyMs) || everyMs < 0) {
      throw new GatewayError('PCS_CONFIG_INVALID', { problems: `  audit.checkpoint.every_ms: must be a non-negative integer, got ${String(everyMs)}` });
    }
    const logger = opts.logger.child({ component: 'audit' });
    const key = loadOrCreateSigningKey(opts.signingKeyFile);
    if (key.created) {
      logger.warn({ file: opts.signingKeyFile, publicKey: publicKeyFile(opts.signingKeyFile), keyId: key.keyId }, 'generated a new audit signing key; copy the .pub file off this host to verify the audit log independently');
    }
    const repo = opts.store.audit;
    const head = await readHead(repo);
    const checkpoint = await repo.lastCheckpoint();
    if (checkpoint && checkpoint.keyId !== key.keyId) {
      logger.warn({ previousKeyId: checkpoint.keyId, keyId: key.keyId }, 'the audit signing key changed; keep the previous public key to verify older checkpoints');
    }
    const witnesses = opts.witnesses ?? [];
    const mismatches = await checkWitnesses(repo, witnesses, key.publicKey, key.keyId, logger);
    logger.info({ keyId: key.keyId, lastSeq: head.seq, witnesses: witnesses.map((w) => w.name) }, 'audit log open');
    const writer = await repo.openChain({ signer: { privateKey: key.privateKey, keyId: key.keyId }, checkpointEvery: opts.checkpointEvery, rules: CHAIN_RULES_URL, logger });
    const log = new AuditLog(repo, writer, key.keyId, logger, opts.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS, witnesses, head.seq, checkpoint?.seq ?? 0);
    // In the log itself, for whoever reads it next; the error is logged already.
    for (const m of mismatches) log.record({ type: 'audit.witness_mismatch', actor: 'system', data: { ...m } });
    if (everyMs > 0) log.#startCheckpointTimer(everyMs);
    return log;
  }

  /** Counts per witness (for the metrics). */
  witnessStats(): { readonly witness: string; readonly stats: Readonly<WitnessStats> }[] {
    return this.#witnesses.map((w) => ({ witness: w.name, stats: w.stats }));
  }

  /**
   * Every `everyMs`, sign the latest record if it has no checkpoint yet: the tail a truncation
   * could remove unseen is then at most that old. The signing runs where the writes run (the
   * writer thread), as one more request ordered after the appends before it.
   */
  #startCheckpointTimer(everyMs: number): void {
    this.#checkpointTimer = setInterval(() => {
      if (this.#closed || this.#timedCheckpoint) return;
      if (this.#pending.length === 0 && this.#headSeq <= this.#signedSeq) return;
      this.#timedCheckpoint = true;
      this.checkpoint()
        .catch((err: unknown) => this.#logger.error({ code: err instanceof GatewayError ? err.code : undefined, reason: describe(err) }, 'audit: timed checkpoint failed'))
        .finally(() => (this.#timedCheckpoint = false));
    }, everyMs);
    // The audit log alone does not keep a process alive.
    this.#checkpointTimer.unref();
  }

  /** A checkpoint was signed and committed: hand it to every witness (they never block). */
  #signed(cp: AuditCheckpointRow): void {
    if (cp.seq > this.#signedSeq) this.#signedSeq = cp.seq;
    if (cp.seq > this.#headSeq) this.#headSeq = cp.seq;
    for (const w of this.#witnesses) w.publish(cp);
  }

  /**
   * Append one event. Rejects (and logs) on an invalid event or a failed write; the returned
   * promise is marked handled so a caller that forgets to await it cannot crash the process.
   */
  append(event: AuditEvent): Promise<void> {
    // Not an async function: one promise per append.
    let checked: CheckedEvent;
    try {
      checked = this.#check(event);
    } catch (err) {
      const failed = Promise.reject(err);
      failed.catch(noop);
      return failed;
    }
    const result = new Promise<void>((resolve, reject) => this.#queue({ event: checked, resolve, reject }));
    result.catch(noop);
    return result;
  }

  /**
   * Append one event with no promise (the data path: a decision per statement, which nobody
   * waits for): `onCommitted` runs once it is committed; a refusal or a failed write is logged.
   */
  record(event: AuditEvent, onCommitted: () => void = noop): void {
    let checked: CheckedEvent;
    try {
      checked = this.#check(event);
    } catch {
      return; // logged by #check
    }
    this.#queue({ event: checked, resolve: onCommitted, reject: noop });
  }

  /** Validated before queueing, so the caller's mistake surfaces at once and in call order; logged when refused. */
  #check(event: AuditEvent): CheckedEvent {
    try {
      const checked = checkEvent(event);
      if (this.#closed) throw new GatewayError('PCS_AUDIT_WRITE_FAILED', { cause: 'the audit log is closed' });
      return checked;
    } catch (err) {
      this.#notRecorded(event.type, err);
      throw err;
    }
  }

  #queue(p: Pending): void {
    // The first append of a window schedules the write; later ones ride along with it.
    const n = this.#pending.push(p);
    if (n === 1) this.#flushTimer = setTimeout(this.#onFlushTimer, this.#flushDelayMs);
    else if (n === MAX_BATCH) this.#flushNow();
  }

  /**
   * Settles once every append made so far is committed (or its write failed), written now
   * rather than at the end of the window; undefined when nothing is waiting or being written.
   * What the data path's durability rule waits for (docs/audit.md).
   */
  barrier(): Promise<void> | undefined {
    if (this.#pending.length > 0) {
      // Group commit: while a write is in flight, what is appended meanwhile waits for it and
      // goes as one batch, instead of one transaction per waiting statement.
      if (this.#unsettled === 0 || this.#lastWrite === undefined) this.#flushNow();
      else {
        this.#afterWrite ??= this.#lastWrite.then(() => {
          this.#afterWrite = undefined;
          if (this.#pending.length > 0) this.#flushNow();
          return this.#lastWrite;
        });
        return this.#afterWrite;
      }
    }
    return this.#unsettled > 0 ? this.#lastWrite : undefined;
  }

  /** Sign the latest record now, unless it already has a checkpoint. */
  checkpoint(): Promise<void> {
    // Appends waiting for their window belong before the checkpoint.
    if (this.#pending.length > 0) this.#flushNow();
    return this.#enqueue(async () => {
      const cp = await this.#writer.checkpoint();
      if (cp) this.#signed(cp);
    });
  }

  /** The last record's seq and hash (seq 0 and the genesis hash when empty), to keep outside the store. */
  head(): Promise<ChainHead> {
    return readHead(this.#repo);
  }

  async list(opts: ListOptions = {}): Promise<AuditRecord[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? LIST_DEFAULT), 1), LIST_MAX);
    const rows = await this.#repo.records({ after: opts.after ?? 0, limit, ...(opts.type !== undefined ? { type: opts.type } : {}) });
    return rows.map(toAuditRecord);
  }

  /**
   * Refuse new appends, wait for pending ones, then write a final checkpoint and let the writer
   * thread go (it ends when the recorder is done with it too). The store stays open.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#checkpointTimer);
    try {
      await this.checkpoint();
    } finally {
      await this.#writer.close();
      const deadline = Date.now() + WITNESS_CLOSE_MS;
      await Promise.all(this.#witnesses.map((w) => w.close(deadline)));
    }
    const head = await readHead(this.#repo);
    this.#logger.info({ lastSeq: head.seq, lastHash: head.hash }, 'audit log closed');
  }

  readonly #onFlushTimer = (): void => this.#flushNow();

  #notRecorded(type: unknown, err: unknown): void {
    this.#logger.error({ type, code: err instanceof GatewayError ? err.code : undefined, reason: describe(err) }, 'audit event not recorded');
  }

  /** An append that will never be committed: logged, then its caller told. */
  #refuse(p: Pending, err: unknown): void {
    this.#notRecorded(p.event.type, err);
    p.reject(err);
  }

  #flushNow(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      this.#unsettled++;
      this.#lastWrite = this.#enqueue(() => this.#writeBatch(batch)).finally(() => this.#unsettled--);
    }
  }

  /** Never rejects: each append's own promise is settled instead. */
  async #writeBatch(batch: readonly Pending[]): Promise<void> {
    try {
      const { refusals, checkpoints, head } = await this.#writer.append(batch.map((p) => p.event));
      if (head && head.seq > this.#headSeq) this.#headSeq = head.seq;
      for (const cp of checkpoints) this.#signed(cp);
      batch.forEach((p, i) => {
        const refusal = refusals[i];
        if (refusal) this.#refuse(p, new GatewayError(refusal.code, refusal.params));
        else p.resolve();
      });
    } catch (err) {
      for (const p of batch) this.#refuse(p, err);
    }
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.#writer.ordered) return task();
    const run = this.#tail.then(task);
    // A failed write must not stop the ones queued after it.
    this.#tail = run.then(noop, noop);
    return run;
  }
}
