// Session recordings: one row per session, a stream of events per session. Writes come in
// batches (one transaction each) that are idempotent, so a failed batch can be written again.
import type { Logger } from '../../telemetry/logger.ts';

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

/** One event, its data as stored (JSON text). */
export interface SerialisedEventOp {
  readonly op: 'event';
  readonly sessionId: string;
  readonly seq: number;
  readonly at: number;
  readonly kind: string;
  readonly data: string;
}

/** A session's end, its summary as stored (JSON text or null). */
export interface SerialisedEndOp {
  readonly op: 'end';
  readonly sessionId: string;
  readonly at: number;
  readonly status: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly statements: number;
  readonly dropped: number;
  readonly summary: string | null;
}

/** The rows of one batch: plain objects that cross a thread boundary cheaply. */
export type SerialisedOp = StartOp | SerialisedEventOp | SerialisedEndOp;

export interface RecordingWriter {
  /**
   * Write `ops` in one transaction. Session rows go first and end updates last, which respects
   * queue order: a session's end is always queued after its start.
   */
  write(ops: readonly SerialisedOp[]): Promise<void>;
  close(): Promise<void>;
}

export interface StoredSession {
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
  /** The adapter's end summary as JSON text (or the reason the recorder ended the session). */
  readonly summary: string | null;
}

export interface StoredEvent {
  readonly seq: number;
  readonly at: number;
  readonly kind: string;
  /** JSON text. */
  readonly data: string;
}

export interface SessionFilter {
  readonly limit: number;
  /** Id of the last session of the previous page; an unknown id yields no rows. */
  readonly before?: string;
  readonly connection?: string;
  readonly subject?: string;
  /** true: only sessions still open; false: only ended ones. */
  readonly active?: boolean;
}

export interface RecordingRepository {
  /** Where a recorder's batches go; `logger` reports a background writer's failures. */
  openWriter(logger: Logger): RecordingWriter;
  /**
   * Mark every session that has no end `terminated`, ended at its last event (a process that
   * died left them); returns how many. On a store shared by replicas this must become per replica.
   */
  terminateOrphans(summary: string): Promise<number>;
  /** Newest first (started_at, then id). */
  listSessions(filter: SessionFilter): Promise<StoredSession[]>;
  getSession(id: string): Promise<StoredSession | undefined>;
  /** Events with seq above `afterSeq`, in seq order. */
  events(sessionId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /** Per session, how many of its events have one of `kinds` (sessions with none are left out). */
  countEvents(sessionIds: readonly string[], kinds: readonly string[]): Promise<Map<string, number>>;
}
