// The database side of recording: one transaction per batch, and the crash recovery run when a
// recorder opens. Inserts are idempotent (a retried batch whose first attempt did commit after
// all writes nothing twice), so a failed batch can simply be written again.
//
// A batch is written in two steps: serialiseOps() turns the queued ops into rows whose JSON is
// text (on the recorder's thread: event data is kept by reference until then, and only that
// thread may read it), and writeSerialised() runs the transaction, in the store's writer thread
// (src/store/writer-worker.ts) for a store with a file, or in place (writeBatch) otherwise.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { eventDataJson } from './sanitize.ts';

/** A session row to insert. */
export interface StartOp {
  readonly op: 'start';
  readonly sessionId: string;
  readonly connection: string;
  readonly protocol: string;
  readonly subject: string;
  readonly clientAddr: string | null;
  readonly at: number;
}

/** One event; `data` is serialised only when the batch is written. */
export interface EventOp {
  readonly op: 'event';
  readonly sessionId: string;
  readonly seq: number;
  readonly at: number;
  readonly kind: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** start/end bookkeeping (`dropped` markers) is never dropped, even after failed retries. */
  readonly essential: boolean;
}

export interface EndOp {
  readonly op: 'end';
  readonly sessionId: string;
  readonly at: number;
  readonly status: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly statements: number;
  readonly dropped: number;
  readonly summary: Readonly<Record<string, unknown>> | undefined;
}

export type QueuedOp = StartOp | EventOp | EndOp;

/** An event with its data as stored (JSON text): a plain object that crosses threads cheaply. */
export interface SerialisedEventOp {
  readonly op: 'event';
  readonly sessionId: string;
  readonly seq: number;
  readonly at: number;
  readonly kind: string;
  readonly data: string;
}

/** An end with its summary as stored (JSON text or null). */
export interface SerialisedEndOp extends Omit<EndOp, 'summary'> {
  readonly summary: string | null;
}

export type SerialisedOp = StartOp | SerialisedEventOp | SerialisedEndOp;

/** Rows per INSERT: 6 bound values each stays far below SQLite's variable limit. */
const ROWS_PER_INSERT = 500;

/**
 * Write `ops` in one transaction. Within a batch, session rows go first and end updates last,
 * which respects their queue order: a session's end is always queued after its start.
 */
export async function writeBatch(db: Kysely<Database>, ops: readonly QueuedOp[]): Promise<void> {
  await writeSerialised(db, serialiseOps(ops));
}

/** The rows of `ops`, JSON as text (bounded and redacted by sanitize.ts); never throws. */
export function serialiseOps(ops: readonly QueuedOp[]): SerialisedOp[] {
  return ops.map((op) => {
    if (op.op === 'event') return { op: 'event', sessionId: op.sessionId, seq: op.seq, at: op.at, kind: op.kind, data: eventDataJson(op.data) };
    if (op.op === 'end') return { ...op, summary: op.summary === undefined ? null : eventDataJson(op.summary) };
    return op;
  });
}

/** Write serialised `ops` in one transaction (see writeBatch). */
export async function writeSerialised(db: Kysely<Database>, ops: readonly SerialisedOp[]): Promise<void> {
  const starts: StartOp[] = [];
  const events: SerialisedEventOp[] = [];
  const ends: SerialisedEndOp[] = [];
  for (const op of ops) {
    if (op.op === 'start') starts.push(op);
    else if (op.op === 'event') events.push(op);
    else ends.push(op);
  }
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < starts.length; i += ROWS_PER_INSERT) await insertSessions(trx, starts.slice(i, i + ROWS_PER_INSERT));
    for (let i = 0; i < events.length; i += ROWS_PER_INSERT) await insertEvents(trx, events.slice(i, i + ROWS_PER_INSERT));
    for (const end of ends) await updateEnd(trx, end);
  });
}

async function insertSessions(trx: Transaction<Database>, ops: readonly StartOp[]): Promise<void> {
  await trx
    .insertInto('sessions')
    .values(ops.map((s) => ({ id: s.sessionId, connection: s.connection, protocol: s.protocol, subject: s.subject, client_addr: s.clientAddr, started_at: s.at, ended_at: null, status: 'active' })))
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

async function insertEvents(trx: Transaction<Database>, ops: readonly SerialisedEventOp[]): Promise<void> {
  await trx
    .insertInto('session_events')
    .values(ops.map((e) => ({ session_id: e.sessionId, seq: e.seq, at: e.at, kind: e.kind, data: e.data })))
    .onConflict((oc) => oc.columns(['session_id', 'seq']).doNothing())
    .execute();
}

async function updateEnd(trx: Transaction<Database>, end: SerialisedEndOp): Promise<void> {
  await trx
    .updateTable('sessions')
    .set({
      ended_at: end.at,
      status: end.status,
      bytes_in: end.bytesIn,
      bytes_out: end.bytesOut,
      statements: end.statements,
      dropped: end.dropped,
      summary: end.summary,
    })
    .where('id', '=', end.sessionId)
    .execute();
}

/**
 * Sessions with no end cannot still be running when a recorder opens in a fresh process: the
 * process that recorded them died. Mark them `terminated`, ended at their last recorded event.
 *
 * Multi-replica caveat: on a store shared by several gateway replicas (PostgreSQL), this would
 * also close sessions that another, live replica is serving. Before that backend ships, rows
 * need an owner (a replica id) and this must only touch the rows of this replica, or of
 * replicas whose heartbeat has expired.
 */
export async function terminateOrphans(db: Kysely<Database>): Promise<number> {
  const result = await db
    .updateTable('sessions')
    .set((eb) => ({
      status: 'terminated',
      ended_at: eb.fn.coalesce(eb.selectFrom('session_events').select((s) => s.fn.max('session_events.at').as('last')).whereRef('session_events.session_id', '=', 'sessions.id'), eb.ref('sessions.started_at')),
      summary: JSON.stringify({ reason: 'the gateway stopped without ending this session (crash or kill)' }),
    }))
    .where('ended_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
