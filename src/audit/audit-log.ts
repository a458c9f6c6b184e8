// The tamper-evident audit log: an append-only hash chain in the store with Ed25519-signed
// checkpoints. See docs/audit.md for the format and what verification does and does not prove.
//
// Where the writes run: for a store with a file, in the store's writer thread (a worker with its
// own SQLite connection, src/store/writer-thread.ts), so that appending costs the caller's event
// loop a check of the event and one postMessage per window, never a synchronous SQLite
// transaction; canonical JSON, hashing, signing and query compilation all happen there too. For
// an in-memory store (which another thread cannot open) the same code runs in this thread.
import type { AuditEvent, AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Store } from '../store/store.ts';
import type { WriterThread } from '../store/writer-thread.ts';
import { appendChecked, checkpointHead, lastCheckpoint, readHead, type ChainHead, type EventRefusal, type Signer } from './chain-writer.ts';
import { checkEvent, type CheckedEvent } from './event-guard.ts';
import { toAuditRecord, type AuditRecord } from './record.ts';
import { loadOrCreateSigningKey, publicKeyFile } from './signing-key.ts';

export type { AuditRecord } from './record.ts';

export interface AuditLogOptions {
  readonly store: Store;
  /** Ed25519 private key PEM; generated (with `<file>.pub`) if missing. */
  readonly signingKeyFile: string;
  /** Sign a checkpoint at every record whose seq is a multiple of this. */
  readonly checkpointEvery: number;
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
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

const noop = (): void => {};

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Where the chain is written: the store's writer thread, or this thread. */
interface ChainWriter {
  /** Runs what it is handed in the order handed (the writer thread): no need to wait for one write before handing the next. */
  readonly ordered: boolean;
  /** Per event, undefined when committed or why it was refused; rejects when nothing was committed. */
  append(events: readonly CheckedEvent[]): Promise<(EventRefusal | undefined)[]>;
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

/** Writes in this thread, on the store's connection (stores without a file). */
class InThreadWriter implements ChainWriter {
  readonly ordered = false;
  readonly #store: Store;
  readonly #signer: Signer;
  readonly #checkpointEvery: number;
  readonly #onRetry: (attempt: number, reason: string) => void;

  constructor(store: Store, signer: Signer, checkpointEvery: number, logger: Logger) {
    this.#store = store;
    this.#signer = signer;
    this.#checkpointEvery = checkpointEvery;
    this.#onRetry = (attempt, reason) => logger.debug({ attempt, reason }, 'audit write raced another writer; retrying');
  }

  append(events: readonly CheckedEvent[]): Promise<(EventRefusal | undefined)[]> {
    return appendChecked(this.#store.db, events, this.#signer, this.#checkpointEvery, this.#onRetry);
  }

  checkpoint(): Promise<void> {
    return checkpointHead(this.#store.db, this.#signer, this.#onRetry);
  }

  async close(): Promise<void> {}
}

/** An append waiting for its window's write. */
interface Pending {
  readonly event: CheckedEvent;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

let nextChainId = 1;

/** Writes in the store's writer thread; failures of the thread become PCS_AUDIT_WRITE_FAILED. */
class WorkerWriter implements ChainWriter {
  readonly ordered = true;
  readonly #thread: WriterThread;
  readonly #chain = nextChainId++;

  constructor(thread: WriterThread, signer: Signer, checkpointEvery: number, logger: Logger) {
    this.#thread = thread;
    thread.acquire(logger);
    // Replayed to a new worker after a crash, so a restarted thread can sign checkpoints too.
    thread.setup(`audit:${this.#chain}`, { op: 'audit.open', chain: this.#chain, keyId: signer.keyId, privateKey: signer.privateKey, checkpointEvery });
  }

  append(events: readonly CheckedEvent[]): Promise<(EventRefusal | undefined)[]> {
    return this.#request({ op: 'audit.append', chain: this.#chain, events }) as Promise<(EventRefusal | undefined)[]>;
  }

  async checkpoint(): Promise<void> {
    await this.#request({ op: 'audit.checkpoint', chain: this.#chain });
  }

  async close(): Promise<void> {
    this.#thread.forget(`audit:${this.#chain}`);
    await this.#thread.release();
  }

  async #request(message: { op: string; [field: string]: unknown }): Promise<unknown> {
    try {
      return await this.#thread.request(message);
    } catch (err) {
      // The worker reports a failed write as PCS_AUDIT_WRITE_FAILED already; a dead worker or a closed store is one too.
      const code = (err as { code?: unknown }).code;
      const params = (err as { params?: unknown }).params;
      if (code === 'PCS_AUDIT_WRITE_FAILED' && params && typeof params === 'object') throw new GatewayError('PCS_AUDIT_WRITE_FAILED', params as Record<string, string>, { cause: err });
      throw new GatewayError('PCS_AUDIT_WRITE_FAILED', { cause: describe(err) }, { cause: err });
    }
  }
}

export class AuditLog implements AuditSink {
  readonly keyId: string;
  readonly #store: Store;
  readonly #writer: ChainWriter;
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

  private constructor(store: Store, signer: Signer, checkpointEvery: number, logger: Logger, flushDelayMs: number) {
    this.keyId = signer.keyId;
    this.#flushDelayMs = flushDelayMs;
    this.#store = store;
    this.#logger = logger;
    this.#writer = store.writer ? new WorkerWriter(store.writer, signer, checkpointEvery, logger) : new InThreadWriter(store, signer, checkpointEvery, logger);
  }

  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    if (!Number.isSafeInteger(opts.checkpointEvery) || opts.checkpointEvery < 1) {
      throw new GatewayError('PCS_CONFIG_INVALID', { problems: `  audit.checkpoint_every: must be a positive integer, got ${String(opts.checkpointEvery)}` });
    }
    const logger = opts.logger.child({ component: 'audit' });
    const key = loadOrCreateSigningKey(opts.signingKeyFile);
    if (key.created) {
      logger.warn({ file: opts.signingKeyFile, publicKey: publicKeyFile(opts.signingKeyFile), keyId: key.keyId }, 'generated a new audit signing key; copy the .pub file off this host to verify the audit log independently');
    }
    const head = await readHead(opts.store.db);
    const checkpoint = await lastCheckpoint(opts.store.db);
    if (checkpoint && checkpoint.keyId !== key.keyId) {
      logger.warn({ previousKeyId: checkpoint.keyId, keyId: key.keyId }, 'the audit signing key changed; keep the previous public key to verify older checkpoints');
    }
    logger.info({ keyId: key.keyId, lastSeq: head.seq }, 'audit log open');
    return new AuditLog(opts.store, { privateKey: key.privateKey, keyId: key.keyId }, opts.checkpointEvery, logger, opts.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS);
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

  /** Sign the latest record now, unless it already has a checkpoint. */
  checkpoint(): Promise<void> {
    // Appends waiting for their window belong before the checkpoint.
    if (this.#pending.length > 0) this.#flushNow();
    return this.#enqueue(() => this.#writer.checkpoint());
  }

  /** The last record's seq and hash (seq 0 and the genesis hash when empty), to keep outside the store. */
  head(): Promise<ChainHead> {
    return readHead(this.#store.db);
  }

  async list(opts: ListOptions = {}): Promise<AuditRecord[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? LIST_DEFAULT), 1), LIST_MAX);
    let query = this.#store.db.selectFrom('audit').selectAll().where('seq', '>', opts.after ?? 0);
    if (opts.type !== undefined) query = query.where('type', '=', opts.type);
    const rows = await query.orderBy('seq', 'asc').limit(limit).execute();
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
    try {
      await this.checkpoint();
    } finally {
      await this.#writer.close();
    }
    const head = await readHead(this.#store.db);
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
      void this.#enqueue(() => this.#writeBatch(batch));
    }
  }

  /** Never rejects: each append's own promise is settled instead. */
  async #writeBatch(batch: readonly Pending[]): Promise<void> {
    try {
      const outcome = await this.#writer.append(batch.map((p) => p.event));
      batch.forEach((p, i) => {
        const refusal = outcome[i];
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
