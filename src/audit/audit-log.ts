// The tamper-evident audit log: an append-only hash chain in the store with Ed25519-signed
// checkpoints. See docs/audit.md for the format and what verification does and does not prove.
import { setTimeout as delay } from 'node:timers/promises';
import type { AuditEvent, AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Store } from '../store/store.ts';
import { insertBatch, insertCheckpoint, isWriteConflict, lastCheckpoint, readHead, type ChainHead, type Signer } from './chain-writer.ts';
import { prepareEvent, type PreparedEvent } from './event-guard.ts';
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

/** Races with another writer are rare and short; a few tries with jitter resolve them. */
const MAX_ATTEMPTS = 8;
/** Group commit: at most this many records per transaction. */
const MAX_BATCH = 500;
/**
 * How long an append waits for others to share its transaction. Writes are synchronous
 * (better-sqlite3) and block the event loop: one per decision would add a store round trip
 * to every proxied statement; one every few milliseconds costs almost nothing. The price is
 * that a crash can lose the appends of the last window.
 */
const DEFAULT_FLUSH_DELAY_MS = 5;
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

const noop = (): void => {};

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AuditLog implements AuditSink {
  readonly keyId: string;
  readonly #store: Store;
  readonly #signer: Signer;
  readonly #checkpointEvery: number;
  readonly #logger: Logger;
  /** Every write runs after the previous one settles: one writer per process, in call order. */
  #tail: Promise<void> = Promise.resolve();
  /** Appends waiting for the next write; they are committed together, in call order. */
  #pending: Array<{ event: PreparedEvent; resolve: () => void; reject: (err: unknown) => void }> = [];
  readonly #flushDelayMs: number;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(store: Store, signer: Signer, checkpointEvery: number, logger: Logger, flushDelayMs: number) {
    this.keyId = signer.keyId;
    this.#flushDelayMs = flushDelayMs;
    this.#store = store;
    this.#signer = signer;
    this.#checkpointEvery = checkpointEvery;
    this.#logger = logger;
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
    const result = this.#append(event);
    result.catch(noop);
    return result;
  }

  /** Sign the latest record now, unless it already has a checkpoint. */
  checkpoint(): Promise<void> {
    // Appends waiting for their window belong before the checkpoint.
    if (this.#pending.length > 0) this.#flushNow();
    return this.#enqueue(() => this.#retrying(() => this.#checkpointHead()));
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

  /** Refuse new appends, wait for pending ones, then write a final checkpoint. The store stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    this.#closed = true;
    await this.checkpoint();
    const head = await readHead(this.#store.db);
    this.#logger.info({ lastSeq: head.seq, lastHash: head.hash }, 'audit log closed');
  }

  async #append(event: AuditEvent): Promise<void> {
    try {
      // Validated before queueing, so the caller's mistake surfaces at once and in call order.
      const prepared = prepareEvent(event);
      if (this.#closed) throw new GatewayError('PCS_AUDIT_WRITE_FAILED', { cause: 'the audit log is closed' });
      await new Promise<void>((resolve, reject) => {
        // The first append of a window schedules the write; later ones ride along with it.
        const n = this.#pending.push({ event: prepared, resolve, reject });
        if (n === 1) this.#flushTimer = setTimeout(() => this.#flushNow(), this.#flushDelayMs);
        else if (n === MAX_BATCH) this.#flushNow();
      });
    } catch (err) {
      this.#logger.error({ type: event.type, code: err instanceof GatewayError ? err.code : undefined, reason: describe(err) }, 'audit event not recorded');
      throw err;
    }
  }

  #flushNow(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    void this.#enqueue(() => this.#writePending());
  }

  async #writePending(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        await this.#retrying(() => insertBatch(this.#store.db, batch.map((p) => p.event), this.#signer, this.#checkpointEvery));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  }

  async #checkpointHead(): Promise<void> {
    const head = await readHead(this.#store.db);
    if (head.seq === 0) return;
    const last = await lastCheckpoint(this.#store.db);
    if (last && last.seq >= head.seq) return;
    await insertCheckpoint(this.#store.db, head, this.#signer);
  }

  async #retrying<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (err instanceof GatewayError) throw err;
        if (!isWriteConflict(err) || attempt >= MAX_ATTEMPTS) {
          throw new GatewayError('PCS_AUDIT_WRITE_FAILED', { cause: attempt > 1 ? `${describe(err)} (after ${attempt} attempts)` : describe(err) }, { cause: err });
        }
        this.#logger.debug({ attempt, reason: describe(err) }, 'audit write raced another writer; retrying');
        await delay(attempt * 5 + Math.random() * 10);
      }
    }
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    // A failed write must not stop the ones queued after it.
    this.#tail = run.then(noop, noop);
    return run;
  }
}
