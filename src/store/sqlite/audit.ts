// The audit log in the SQLite store. Reads go through Kysely on the main connection; appends
// run in the writer thread when the store has a file (the caller's event loop only posts a
// message per batch), or on the main connection otherwise, with the same code (hot-writes.ts).
import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { GatewayError } from '../../core/errors.ts';
import type { AuditChainOptions, AuditChainRules, AuditChainWriter, AuditCheckpointRow, AuditRepository, AuditRow, ChainAppendResult, ChainHead, CheckedEvent } from '../repositories/audit.ts';
import type { Database } from '../schema.ts';
import { SqliteChain } from './hot-writes.ts';
import type { WriterMessage } from './writer-worker.ts';
import type { WriterRequest, WriterThread } from './writer-thread.ts';

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Writes on the main connection (stores without a file, or without a writer thread). */
class InThreadChain implements AuditChainWriter {
  readonly ordered = false;
  readonly #chain: SqliteChain;

  constructor(chain: SqliteChain) {
    this.#chain = chain;
  }

  append(events: readonly CheckedEvent[]): Promise<ChainAppendResult> {
    return this.#chain.append(events);
  }

  checkpoint(): Promise<AuditCheckpointRow | undefined> {
    return this.#chain.checkpoint();
  }

  async close(): Promise<void> {}
}

let nextChainId = 1;

/** Writes in the store's writer thread; failures of the thread become PCS_AUDIT_WRITE_FAILED. */
class WorkerChain implements AuditChainWriter {
  readonly ordered = true;
  readonly #thread: WriterThread;
  readonly #chain = nextChainId++;

  constructor(thread: WriterThread, opts: AuditChainOptions) {
    this.#thread = thread;
    thread.acquire(opts.logger);
    // Replayed to a new worker after a crash, so a restarted thread can sign checkpoints too.
    const open: WriterMessage = { id: 0, op: 'audit.open', chain: this.#chain, keyId: opts.signer.keyId, privateKey: opts.signer.privateKey, checkpointEvery: opts.checkpointEvery, rules: opts.rules };
    thread.setup(`audit:${this.#chain}`, open);
  }

  append(events: readonly CheckedEvent[]): Promise<ChainAppendResult> {
    return this.#request({ op: 'audit.append', chain: this.#chain, events }) as Promise<ChainAppendResult>;
  }

  checkpoint(): Promise<AuditCheckpointRow | undefined> {
    return this.#request({ op: 'audit.checkpoint', chain: this.#chain }) as Promise<AuditCheckpointRow | undefined>;
  }

  async close(): Promise<void> {
    this.#thread.forget(`audit:${this.#chain}`);
    await this.#thread.release();
  }

  async #request(message: WriterRequest): Promise<unknown> {
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

export class SqliteAudit implements AuditRepository {
  readonly #db: Kysely<Database>;
  readonly #sqlite: SQLite.Database;
  readonly #writer: WriterThread | undefined;

  constructor(db: Kysely<Database>, sqlite: SQLite.Database, writer: WriterThread | undefined) {
    this.#db = db;
    this.#sqlite = sqlite;
    this.#writer = writer;
  }

  async head(): Promise<ChainHead | undefined> {
    const last = await this.#db.selectFrom('audit').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return last === undefined ? undefined : { seq: Number(last.seq), hash: last.hash };
  }

  async lastCheckpoint(): Promise<{ seq: number; keyId: string } | undefined> {
    const row = await this.#db.selectFrom('audit_checkpoints').select(['seq', 'key_id']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row ? { seq: Number(row.seq), keyId: row.key_id } : undefined;
  }

  async records(filter: { readonly after: number | undefined; readonly limit: number; readonly type?: string }): Promise<AuditRow[]> {
    let q = this.#db.selectFrom('audit').selectAll();
    if (filter.after !== undefined) q = q.where('seq', '>', filter.after);
    if (filter.type !== undefined) q = q.where('type', '=', filter.type);
    const rows = await q.orderBy('seq', 'asc').limit(filter.limit).execute();
    // As stored: verification must see a tampered value as it is.
    return rows.map((r) => ({ seq: r.seq, at: r.at, type: r.type, actor: r.actor, data: r.data, prevHash: r.prev_hash, hash: r.hash }));
  }

  async checkpoints(): Promise<AuditCheckpointRow[]> {
    const rows = await this.#db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'asc').execute();
    return rows.map((r) => ({ seq: r.seq, at: r.at, hash: r.hash, keyId: r.key_id, signature: r.signature }));
  }

  async openChain(opts: AuditChainOptions): Promise<AuditChainWriter> {
    if (this.#writer) return new WorkerChain(this.#writer, opts);
    const { auditChainRules } = (await import(opts.rules)) as { auditChainRules: AuditChainRules };
    const onRetry = (attempt: number, reason: string): void => opts.logger.debug({ attempt, reason }, 'audit write raced another writer; retrying');
    return new InThreadChain(new SqliteChain(this.#sqlite, auditChainRules, opts.signer, opts.checkpointEvery, onRetry));
  }
}
