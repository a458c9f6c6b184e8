// Reading recordings back, for `portcullis sessions` and the admin API. Sessions are listed
// newest first and paged with a cursor (`before`: the last id of the previous page), so pages
// stay stable while new sessions arrive; events are paged by seq.
import type { StoredSession } from '../store/repositories/recordings.ts';
import type { Store } from '../store/store.ts';

/** A stored session with its end summary parsed (the fields are documented on StoredSession). */
export type SessionSummary = Omit<StoredSession, 'summary'> & {
  /** The adapter's end summary (or the reason the recorder ended the session). */
  readonly summary: Record<string, unknown> | null;
};

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

function toSummary(row: StoredSession): SessionSummary {
  return { ...row, summary: parseObject(row.summary) };
}

/** Only the store's recordings repository is read. */
type Recordings = Pick<Store, 'recordings'>;

export async function listSessions(store: Recordings, opts: ListOptions = {}): Promise<SessionSummary[]> {
  const limit = clamp(opts.limit, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
  const rows = await store.recordings.listSessions({
    limit,
    ...(opts.before !== undefined ? { before: opts.before } : {}),
    ...(opts.connection !== undefined ? { connection: opts.connection } : {}),
    ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
    ...(opts.active !== undefined ? { active: opts.active } : {}),
  });
  const live = await liveStatementCounts(store, rows.filter((r) => r.endedAt === null).map((r) => r.id));
  return rows.map((r) => withLiveCount(toSummary(r), live));
}

/** Statement kinds, as counted for a session still running (the adapter reports its total at the end). */
const STATEMENT_KINDS = ['statement', 'denied'];

/** How many statements the sessions still open have recorded so far. */
function liveStatementCounts(store: Recordings, ids: readonly string[]): Promise<Map<string, number>> {
  return store.recordings.countEvents(ids, STATEMENT_KINDS);
}

function withLiveCount(s: SessionSummary, live: ReadonlyMap<string, number>): SessionSummary {
  const n = live.get(s.id);
  return n === undefined ? s : { ...s, statements: n };
}

export async function getSession(store: Recordings, id: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<{ session: SessionSummary; events: SessionEvent[] } | undefined> {
  const row = await store.recordings.getSession(id);
  if (!row) return undefined;
  const limit = clamp(opts.limit, DEFAULT_EVENT_LIMIT, MAX_EVENT_LIMIT);
  const rows = await store.recordings.events(id, opts.afterSeq ?? 0, limit);
  const events = rows.map((e) => ({ seq: e.seq, at: e.at, kind: e.kind, data: parseObject(e.data) ?? {} }));
  const session = toSummary(row);
  return { session: row.endedAt === null ? withLiveCount(session, await liveStatementCounts(store, [id])) : session, events };
}
