// Reading recordings back, for `portcullis sessions` and the admin API. Sessions are listed
// newest first and paged with a cursor (`before`: the last id of the previous page), so pages
// stay stable while new sessions arrive; events are paged by seq.
import type { Selectable } from 'kysely';
import type { SessionTable } from '../store/schema.ts';
import type { Store } from '../store/store.ts';

export interface SessionSummary {
  readonly id: string;
  readonly connection: string;
  readonly protocol: string;
  readonly subject: string;
  readonly clientAddr: string | null;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly endedAt: number | null;
  /** active | closed | error | terminated */
  readonly status: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The adapter's total once ended; while open, the statements recorded so far. */
  readonly statements: number;
  /** Events the recorder could not keep; each loss is also a `dropped` event in the stream. */
  readonly dropped: number;
  /** The adapter's end summary (or the reason the recorder ended the session). */
  readonly summary: Record<string, unknown> | null;
}

export interface SessionEvent {
  readonly seq: number;
  readonly at: number;
  readonly kind: string;
  readonly data: Record<string, unknown>;
}

export interface ListOptions {
  limit?: number;
  /** Id of the last session of the previous page. */
  before?: string;
  connection?: string;
  subject?: string;
  /** true: only sessions still open; false: only ended ones. */
  active?: boolean;
}

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_EVENT_LIMIT = 1000;
export const MAX_EVENT_LIMIT = 10_000;

function clamp(n: number | undefined, fallback: number, max: number): number {
  return n === undefined || !Number.isFinite(n) ? fallback : Math.max(1, Math.min(Math.floor(n), max));
}

function parseObject(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { unparseable: text.slice(0, 200) };
  }
}

function toSummary(row: Selectable<SessionTable>): SessionSummary {
  // bigint columns come back as numbers from SQLite and as strings from PostgreSQL.
  return {
    id: row.id,
    connection: row.connection,
    protocol: row.protocol,
    subject: row.subject,
    clientAddr: row.client_addr,
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    status: row.status,
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
    statements: Number(row.statements),
    dropped: Number(row.dropped),
    summary: parseObject(row.summary),
  };
}

export async function listSessions(store: Store, opts: ListOptions = {}): Promise<SessionSummary[]> {
  const limit = clamp(opts.limit, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
  let q = store.db.selectFrom('sessions').selectAll();
  if (opts.connection !== undefined) q = q.where('connection', '=', opts.connection);
  if (opts.subject !== undefined) q = q.where('subject', '=', opts.subject);
  if (opts.active === true) q = q.where('ended_at', 'is', null);
  if (opts.active === false) q = q.where('ended_at', 'is not', null);
  if (opts.before !== undefined) {
    const cursor = await store.db.selectFrom('sessions').select(['started_at', 'id']).where('id', '=', opts.before).executeTakeFirst();
    // An unknown cursor is a page past the end, not the first page again.
    if (!cursor) return [];
    const { started_at: at, id } = cursor;
    q = q.where((eb) => eb.or([eb('started_at', '<', at), eb.and([eb('started_at', '=', at), eb('id', '<', id)])]));
  }
  const rows = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  const live = await liveStatementCounts(store, rows.filter((r) => r.ended_at === null).map((r) => r.id));
  return rows.map((r) => withLiveCount(toSummary(r), live));
}

/** Statement kinds, as counted for a session still running (the adapter reports its total at the end). */
const STATEMENT_KINDS = ['statement', 'denied'];

/** How many statements the sessions still open have recorded so far. */
async function liveStatementCounts(store: Store, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await store.db
    .selectFrom('session_events')
    .select((eb) => ['session_id', eb.fn.countAll<number>().as('n')])
    .where('session_id', 'in', ids)
    .where('kind', 'in', STATEMENT_KINDS)
    .groupBy('session_id')
    .execute();
  return new Map(rows.map((r) => [r.session_id, Number(r.n)]));
}

function withLiveCount(s: SessionSummary, live: ReadonlyMap<string, number>): SessionSummary {
  const n = live.get(s.id);
  return n === undefined ? s : { ...s, statements: n };
}

export async function getSession(store: Store, id: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<{ session: SessionSummary; events: SessionEvent[] } | undefined> {
  const row = await store.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const limit = clamp(opts.limit, DEFAULT_EVENT_LIMIT, MAX_EVENT_LIMIT);
  const rows = await store.db
    .selectFrom('session_events')
    .select(['seq', 'at', 'kind', 'data'])
    .where('session_id', '=', id)
    .where('seq', '>', opts.afterSeq ?? 0)
    .orderBy('seq')
    .limit(limit)
    .execute();
  const events = rows.map((e) => ({ seq: Number(e.seq), at: Number(e.at), kind: e.kind, data: parseObject(e.data) ?? {} }));
  const session = toSummary(row);
  return { session: row.ended_at === null ? withLiveCount(session, await liveStatementCounts(store, [id])) : session, events };
}
