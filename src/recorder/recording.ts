// One session's recording, as handed to a protocol adapter. Everything here runs on the hot
// path, so it only counts and queues: no I/O, no promise, no serialisation (data is kept by
// reference and serialised when its batch is written).
import type { EndOp, EventOp, QueuedOp } from './writer.ts';

export type EndStatus = 'closed' | 'error' | 'terminated';

export interface SessionRecording {
  /** `s_` and 16 random base64url characters. */
  readonly id: string;
  /**
   * Record one event (`statement`, `notice`, ...). Synchronous and O(1): it never throws and
   * never waits. `data` is kept by reference until its batch is written, so do not mutate it
   * afterwards. When the recorder is overloaded the event is dropped and counted; the count
   * is recorded as a `dropped` event as soon as there is room.
   */
  event(kind: string, data: Readonly<Record<string, unknown>>): void;
  /**
   * End the recording. `summary` is stored with the session; its numeric `bytesIn`/`bytes_in`,
   * `bytesOut`/`bytes_out` and `statements` fill the session's columns (statements defaults
   * to the number of `statement` and `denied` events). Calls after the first are ignored with a warning.
   */
  end(status: EndStatus, summary?: Readonly<Record<string, unknown>>): void;
}

/** What a recording needs from its recorder. */
export interface RecordingHost {
  /** False when the recorder is closed: calls are then ignored with a warning. */
  isOpen(): boolean;
  /** Room for one more non-essential event. */
  hasRoom(): boolean;
  push(op: QueuedOp): void;
  /** This recording lost `n` events and owes a `dropped` marker. */
  owes(recording: Recording, n: number): void;
  ended(recording: Recording): void;
  warnIgnored(recording: Recording, call: string): void;
}

function count(summary: Readonly<Record<string, unknown>> | undefined, ...keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const v = summary?.[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
  }
  return undefined;
}

export class Recording implements SessionRecording {
  readonly id: string;
  readonly #host: RecordingHost;
  /** Last seq queued; seqs are assigned only to events that are queued, so they stay contiguous. */
  #seq = 0;
  #ended = false;
  #warned = false;
  #statements = 0;
  /** Events dropped over the session's life. */
  #dropped = 0;
  /** Dropped events not yet reported by a `dropped` marker. */
  #owed = 0;

  constructor(id: string, host: RecordingHost) {
    this.id = id;
    this.#host = host;
  }

  event(kind: string, data: Readonly<Record<string, unknown>>): void {
    if (this.#ended || !this.#host.isOpen()) return this.#ignored(`event(${kind})`);
    // Denied statements count too: the agent sent them, and the session's total should say so.
    if (kind === 'statement' || kind === 'denied') this.#statements++;
    if (!this.#host.hasRoom()) return this.lost(1);
    if (this.#owed > 0) this.settle();
    this.#host.push(this.#eventOp(kind, data, false));
  }

  end(status: EndStatus, summary?: Readonly<Record<string, unknown>>): void {
    if (this.#ended || !this.#host.isOpen()) return this.#ignored(`end(${status})`);
    this.finish(status, summary);
  }

  /** End, bypassing the closed check: the recorder uses it for sessions still open at close. */
  finish(status: EndStatus, summary: Readonly<Record<string, unknown>> | undefined): void {
    this.#ended = true;
    if (this.#owed > 0) this.settle();
    const op: EndOp = {
      op: 'end',
      sessionId: this.id,
      at: Date.now(),
      status,
      bytesIn: count(summary, 'bytesIn', 'bytes_in') ?? 0,
      bytesOut: count(summary, 'bytesOut', 'bytes_out') ?? 0,
      statements: count(summary, 'statements') ?? this.#statements,
      dropped: this.#dropped,
      summary,
    };
    this.#host.push(op);
    this.#host.ended(this);
  }

  /** `n` events of this session will never be stored (overflow, or a batch given up on). */
  lost(n: number): void {
    this.#dropped += n;
    this.#owed += n;
    this.#host.owes(this, n);
  }

  /** Queue the `dropped` marker for what was lost since the last one (always queued). */
  settle(): void {
    if (this.#owed === 0) return;
    const op = this.#eventOp('dropped', { count: this.#owed, total: this.#dropped }, true);
    this.#owed = 0;
    this.#host.push(op);
  }

  #eventOp(kind: string, data: Readonly<Record<string, unknown>>, essential: boolean): EventOp {
    return { op: 'event', sessionId: this.id, seq: ++this.#seq, at: Date.now(), kind, data, essential };
  }

  #ignored(call: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#host.warnIgnored(this, call);
  }
}
