// The database side of appending: one transaction reads the chain head and inserts the next
// record (and, every N records, its signed checkpoint). The primary key on seq is what keeps two
// writers (two gateway processes on one store) from forking the chain: the loser of a race gets
// a conflict, and the caller re-reads the head and tries again.
//
// This module is the whole write side of the chain, and it runs wherever the writes run: in the
// store's writer thread (src/store/writer-worker.ts) for a store with a file, on the caller's
// thread for an in-memory store (AuditLog's in-thread path). Both use the functions below.
import type { KeyObject } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { GatewayError, type ErrorCode, type ErrorParams } from '../core/errors.ts';
import type { Database } from '../store/schema.ts';
import { signCheckpoint } from './checkpoint.ts';
import { canonicalEvent, type CheckedEvent, type PreparedEvent } from './event-guard.ts';
import { GENESIS_HASH, recordHashOfText } from './record-hash.ts';

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export interface Signer {
  readonly privateKey: KeyObject;
  readonly keyId: string;
}

export async function readHead(db: Kysely<Database>): Promise<ChainHead> {
  const last = await db.selectFrom('audit').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
}

export async function lastCheckpoint(db: Kysely<Database>): Promise<{ seq: number; keyId: string } | undefined> {
  const row = await db.selectFrom('audit_checkpoints').select(['seq', 'key_id']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return row ? { seq: Number(row.seq), keyId: row.key_id } : undefined;
}

/** Sign `head`; a checkpoint another writer already stored for that seq is left as it is. */
export async function insertCheckpoint(db: Kysely<Database>, head: ChainHead, signer: Signer): Promise<void> {
  await db
    .insertInto('audit_checkpoints')
    .values({ seq: head.seq, at: Date.now(), hash: head.hash, key_id: signer.keyId, signature: signCheckpoint(head.seq, head.hash, signer.privateKey) })
    .onConflict((oc) => oc.column('seq').doNothing())
    .execute();
}

/** The rows that append `events` after `head` (hash-chained), the checkpoints due, and the new head. */
export function chainRows(head: ChainHead, events: readonly PreparedEvent[], checkpointEvery: number): { rows: Database['audit'][]; checkpoints: ChainHead[]; head: ChainHead } {
  const rows: Database['audit'][] = [];
  const checkpoints: ChainHead[] = [];
  let last = head;
  for (const event of events) {
    const seq = last.seq + 1;
    const at = Date.now();
    const hash = recordHashOfText(seq, at, event.type, event.actor, event.dataText, last.hash);
    rows.push({ seq, at, type: event.type, actor: event.actor, data: event.dataText, prev_hash: last.hash, hash });
    if (seq % checkpointEvery === 0) checkpoints.push({ seq, hash });
    last = { seq, hash };
  }
  return { rows, checkpoints, head: last };
}

/**
 * Append `events` in order, in one transaction (group commit: appends that arrive while a write
 * is in flight share the next one). Returns the new head.
 */
export async function insertBatch(db: Kysely<Database>, events: readonly PreparedEvent[], signer: Signer, checkpointEvery: number): Promise<ChainHead> {
  return db.transaction().execute(async (trx) => {
    const { rows, checkpoints, head } = chainRows(await readHead(trx), events, checkpointEvery);
    // One multi-row statement per batch (the caller caps the batch far below SQLite's variable limit).
    if (rows.length > 0) await trx.insertInto('audit').values(rows).execute();
    // Same transaction: a checkpoint never names a record that was rolled back.
    for (const cp of checkpoints) await insertCheckpoint(trx, cp, signer);
    return head;
  });
}

/** A lost race with another writer (SQLite busy/snapshot, duplicate seq on either backend). */
export function isWriteConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('SQLITE_BUSY') || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505' || code === '40001';
}

/** Races with another writer are rare and short; a few tries with jitter resolve them. */
const MAX_ATTEMPTS = 8;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Run `write`, retrying lost races with another writer; any other failure, or a race lost
 * MAX_ATTEMPTS times, throws PCS_AUDIT_WRITE_FAILED (a GatewayError thrown by `write` as is).
 */
export async function writeRetrying<T>(write: () => Promise<T>, onRetry?: (attempt: number, reason: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
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

/** Why one event of a batch was refused, in a form that crosses a thread boundary. */
export interface EventRefusal {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
}

/**
 * Canonicalise `events` and append those that are valid, in order, in one transaction (with
 * retries). Returns, per event, undefined when it was committed or why it was refused; throws
 * PCS_AUDIT_WRITE_FAILED when the transaction failed (then nothing was committed).
 */
export async function appendChecked(
  db: Kysely<Database>,
  events: readonly CheckedEvent[],
  signer: Signer,
  checkpointEvery: number,
  onRetry?: (attempt: number, reason: string) => void,
  /** The transaction that appends (default: insertBatch through Kysely; the writer thread passes its prepared statements). */
  insert: (prepared: readonly PreparedEvent[]) => Promise<unknown> = (prepared) => insertBatch(db, prepared, signer, checkpointEvery),
): Promise<(EventRefusal | undefined)[]> {
  const outcome: (EventRefusal | undefined)[] = [];
  const prepared: PreparedEvent[] = [];
  for (const event of events) {
    try {
      prepared.push(canonicalEvent(event));
      outcome.push(undefined);
    } catch (err) {
      const refusal = err instanceof GatewayError ? err : new GatewayError('PCS_AUDIT_EVENT_INVALID', { type: event.type, reason: describe(err) });
      outcome.push({ code: refusal.code, params: refusal.params });
    }
  }
  if (prepared.length > 0) await writeRetrying(() => insert(prepared), onRetry);
  return outcome;
}

/** Sign the latest record, unless it already has a checkpoint (with retries). */
export async function checkpointHead(db: Kysely<Database>, signer: Signer, onRetry?: (attempt: number, reason: string) => void): Promise<void> {
  await writeRetrying(async () => {
    const head = await readHead(db);
    if (head.seq === 0) return;
    const last = await lastCheckpoint(db);
    if (last && last.seq >= head.seq) return;
    await insertCheckpoint(db, head, signer);
  }, onRetry);
}
