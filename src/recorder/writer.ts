// What the recorder queues, and how a batch becomes the rows the store writes: serialiseOps()
// turns the queued ops into rows whose JSON is text, on the recorder's thread (event data is
// kept by reference until then, and only that thread may read it); the store's RecordingWriter
// then runs the transaction, wherever its implementation runs it. Its inserts are idempotent
// (a retried batch whose first attempt did commit after all writes nothing twice).
import type { SerialisedOp, StartOp } from '../store/repositories/recordings.ts';
import { eventDataJson } from './sanitize.ts';

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

/** The rows of `ops`, JSON as text (bounded and redacted by sanitize.ts); never throws. */
export function serialiseOps(ops: readonly QueuedOp[]): SerialisedOp[] {
  return ops.map((op) => {
    if (op.op === 'event') return { op: 'event', sessionId: op.sessionId, seq: op.seq, at: op.at, kind: op.kind, data: eventDataJson(op.data) };
    if (op.op === 'end') return { ...op, summary: op.summary === undefined ? null : eventDataJson(op.summary) };
    return op;
  });
}

/** What a session left open by a process that died says when recovery ends it (RecordingRepository.terminateOrphans). */
export const ORPHAN_SUMMARY = JSON.stringify({ reason: 'the gateway stopped without ending this session (crash or kill)' });
