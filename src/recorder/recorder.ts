// The session recorder. Adapters call start()/event()/end() on the hot path; those only append
// to an in-memory queue. A background flush (every flushIntervalMs, or as soon as maxBatch ops
// are waiting) writes the queue in batches, one store transaction each. What a crash can lose
// is what was queued and not yet written: at most about flushIntervalMs of events.
//
// Guarantees: a session's start and end are never dropped; seq is contiguous per session; when
// the queue is full (store too slow or down) new events are dropped and counted, and the count
// is recorded as a `dropped` event once there is room, so a recording says what it lost. A
// failed write is logged and retried with backoff; no call ever throws or rejects.
//
// Where the writes run: a batch's data is serialised here (at flush time, not in event()), and
// its transaction runs where the store's RecordingWriter runs it (the SQLite store with a file:
// in its writer thread, so the event loop never waits for SQLite).
import { randomBytes } from 'node:crypto';
import type { Logger } from '../telemetry/logger.ts';
import type { RecordingRepository, RecordingWriter } from '../store/repositories/recordings.ts';
import type { Store } from '../store/store.ts';
import { Recording, type RecordingHost, type SessionRecording } from './recording.ts';
import { ORPHAN_SUMMARY, serialiseOps, type QueuedOp } from './writer.ts';

export type { SessionRecording, EndStatus } from './recording.ts';

export interface SessionInfo {
  connection: string;
  protocol: string;
  subject: string;
  clientAddr: string | null;
}

export interface RecorderStats {
  /** Ops (session starts, events, ends) waiting to be written. */
  readonly queued: number;
  /** Events written to the store. */
  readonly written: number;
  /** Events dropped: queue overflow, or batches given up on after repeated write failures. */
  readonly dropped: number;
  /** Transactions committed. */
  readonly batches: number;
  /** Failed batch writes (each retried). */
  readonly writeErrors: number;
  /** Recordings started and not yet ended. */
  readonly active: number;
}

export interface RecorderOptions {
  /** Only its recordings repository is used. */
  store: Pick<Store, 'recordings'>;
  logger: Logger;
  flushIntervalMs?: number;
  maxBatch?: number;
  maxQueued?: number;
}

/** A batch that failed this many times in a row loses its droppable events (see #failed). */
const MAX_ATTEMPTS = 5;
/** Backoff ceiling between retries while the store keeps failing. */
const MAX_BACKOFF_MS = 30_000;

export class Recorder {
  readonly #repo: RecordingRepository;
  readonly #writer: RecordingWriter;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxQueued: number;
  readonly #host: RecordingHost;
  readonly #timer: NodeJS.Timeout;

  /** The queue is `#queue[#head..]`; taking a batch moves #head instead of shifting the array. */
  #queue: QueuedOp[] = [];
  #head = 0;
  /** Flushes run one after another on this chain; it never rejects. */
  #tail: Promise<void>;
  #kickPending = false;
  /** A barrier's drain that has not begun yet (shared by the barriers asked for meanwhile). */
  #barrier: Promise<void> | undefined;
  /** Batches being written now. */
  #writing = 0;
  #immediate: NodeJS.Immediate | undefined;
  /** Set as soon as close() is called: recordings ignore further calls from then on. */
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #open = new Map<string, Recording>();
  readonly #owing = new Set<Recording>();

  #written = 0;
  #dropped = 0;
  #batches = 0;
  #writeErrors = 0;
  /** Failures of the batch at the head of the queue, since it was last given up on. */
  #attempts = 0;
  /** Consecutive failed writes, for the backoff. */
  #failures = 0;
  #retryAt = 0;

  private constructor(opts: RecorderOptions) {
    this.#repo = opts.store.recordings;
    this.#logger = opts.logger;
    this.#flushIntervalMs = opts.flushIntervalMs ?? 50;
    this.#maxBatch = opts.maxBatch ?? 200;
    this.#maxQueued = opts.maxQueued ?? 100_000;
    this.#host = this.#makeHost();
    this.#writer = this.#repo.openWriter(opts.logger);
    // Unref'd: a pending flush never keeps the process alive; shutdown calls close().
    this.#timer = setInterval(() => this.#kick(), this.#flushIntervalMs).unref();
    // Recovery runs first on the chain, so it can never touch a session this process starts.
    this.#tail = this.#recover();
  }

  static open(opts: RecorderOptions): Recorder {
    return new Recorder(opts);
  }

  start(info: SessionInfo): SessionRecording {
    const recording = new Recording(`s_${randomBytes(12).toString('base64url')}`, this.#host);
    if (this.#closed) {
      this.#logger.warn({ session: recording.id, connection: info.connection }, 'recorder is closed; this session is not recorded');
      return recording;
    }
    this.#open.set(recording.id, recording);
    this.#push({ op: 'start', sessionId: recording.id, connection: info.connection, protocol: info.protocol, subject: info.subject, clientAddr: info.clientAddr, at: Date.now() });
    return recording;
  }

  /**
   * Settles once everything recorded so far is written (or its write failed), without waiting
   * for the flush interval; undefined when nothing is queued or being written. Callers that
   * come while the write has not begun share it.
   */
  barrier(): Promise<void> | undefined {
    if (this.#length() === 0 && this.#writing === 0) return undefined;
    if (this.#barrier === undefined) {
      const drained = this.#tail.then(() => {
        this.#barrier = undefined;
        return this.#drain(true);
      });
      this.#tail = drained;
      this.#barrier = drained;
    }
    return this.#barrier;
  }

  /** Write everything queued now (ignoring retry backoff). Resolves even if the store fails. */
  flush(): Promise<void> {
    this.#tail = this.#tail.then(() => this.#drain(true));
    return this.#tail;
  }

  /** End recordings still open as `terminated`, flush, and stop. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      clearInterval(this.#timer);
      if (this.#immediate) clearImmediate(this.#immediate);
      for (const recording of [...this.#open.values()]) recording.finish('terminated', { reason: 'the gateway stopped while the session was open' });
      // Always once (it also waits for crash recovery, which may still be running), then a
      // failing store gets a couple more chances before what is left is given up.
      await this.flush();
      for (let i = 1; i < 3 && this.#length() > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, this.#flushIntervalMs));
        await this.flush();
      }
      if (this.#length() > 0) this.#logger.error({ lost: this.#length() }, 'recorder closed with unwritten session records');
      // Everything was answered: the store's writer may go.
      await this.#writer.close();
    })();
    return this.#closing;
  }

  stats(): RecorderStats {
    return { queued: this.#length(), written: this.#written, dropped: this.#dropped, batches: this.#batches, writeErrors: this.#writeErrors, active: this.#open.size };
  }

  #makeHost(): RecordingHost {
    return {
      isOpen: () => !this.#closed,
      hasRoom: () => this.#length() < this.#maxQueued,
      push: (op) => this.#push(op),
      owes: (recording, n) => {
        this.#dropped += n;
        this.#owing.add(recording);
      },
      ended: (recording) => {
        this.#open.delete(recording.id);
        this.#owing.delete(recording);
      },
      warnIgnored: (recording, call) => this.#logger.warn({ session: recording.id, call }, 'recording already ended (or recorder closed); call ignored'),
    };
  }

  #length(): number {
    return this.#queue.length - this.#head;
  }

  #push(op: QueuedOp): void {
    this.#queue.push(op);
    // A full batch is written soon, but never inside the caller's stack.
    if (this.#length() >= this.#maxBatch && !this.#immediate && !this.#closed) {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.#kick();
      });
      this.#immediate.unref();
    }
  }

  /** Timer and full-batch trigger: at most one such flush waits on the chain at a time. */
  #kick(): void {
    if (this.#kickPending || (this.#length() === 0 && this.#owing.size === 0)) return;
    this.#kickPending = true;
    this.#tail = this.#tail.then(() => {
      this.#kickPending = false;
      return this.#drain(false);
    });
  }

  #take(): QueuedOp[] {
    const end = Math.min(this.#head + this.#maxBatch, this.#queue.length);
    const batch = this.#queue.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 65_536) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  async #drain(ignoreBackoff: boolean): Promise<void> {
    if (!ignoreBackoff && Date.now() < this.#retryAt) return;
    try {
      for (;;) {
        this.#settleOwed();
        if (this.#length() === 0) return;
        const batch = this.#take();
        this.#writing++;
        try {
          await this.#writer.write(serialiseOps(batch));
        } catch (err) {
          this.#failed(batch, err);
          return;
        } finally {
          this.#writing--;
        }
        this.#attempts = 0;
        this.#failures = 0;
        this.#retryAt = 0;
        this.#batches++;
        for (const op of batch) if (op.op === 'event') this.#written++;
      }
    } catch (err) {
      // Nothing above is expected to throw; if it does, the chain must still never reject.
      this.#logger.error({ err }, 'session recorder flush failed unexpectedly');
    }
  }

  /** Requeue a failed batch at the front; after MAX_ATTEMPTS keep only what must never be lost. */
  #failed(batch: readonly QueuedOp[], err: unknown): void {
    this.#writeErrors++;
    this.#attempts++;
    this.#failures++;
    const backoff = Math.min(this.#flushIntervalMs * 2 ** Math.min(this.#failures, 20), MAX_BACKOFF_MS);
    this.#retryAt = Date.now() + backoff;
    let keep: readonly QueuedOp[] = batch;
    if (this.#attempts >= MAX_ATTEMPTS) {
      keep = batch.filter((op) => op.op !== 'event' || op.essential);
      this.#giveUp(batch);
      this.#attempts = 0;
    }
    this.#queue = [...keep, ...this.#queue.slice(this.#head)];
    this.#head = 0;
    this.#logger.error({ err, ops: batch.length, failures: this.#failures, retry_in_ms: backoff }, 'writing session recordings failed; will retry');
  }

  /** Events of a batch that failed MAX_ATTEMPTS times: counted, and reported by their sessions. */
  #giveUp(batch: readonly QueuedOp[]): void {
    const perSession = new Map<string, number>();
    for (const op of batch) if (op.op === 'event' && !op.essential) perSession.set(op.sessionId, (perSession.get(op.sessionId) ?? 0) + 1);
    let total = 0;
    for (const [id, n] of perSession) {
      total += n;
      const recording = this.#open.get(id);
      // A session that already ended cannot take a marker any more; the log line below is its trace.
      if (recording) recording.lost(n);
      else this.#dropped += n;
    }
    this.#logger.error({ events: total, sessions: perSession.size }, `gave up writing session events after ${MAX_ATTEMPTS} attempts; the sessions will record a dropped event`);
  }

  /** Queue the `dropped` markers owed, as far as there is room. */
  #settleOwed(): void {
    for (const recording of this.#owing) {
      if (this.#length() >= this.#maxQueued) return;
      recording.settle();
      this.#owing.delete(recording);
    }
  }

  async #recover(): Promise<void> {
    try {
      const n = await this.#repo.terminateOrphans(ORPHAN_SUMMARY);
      if (n > 0) this.#logger.warn({ sessions: n }, 'marked sessions left open by a previous run as terminated');
    } catch (err) {
      this.#logger.error({ err }, 'could not mark sessions left open by a previous run');
    }
  }
}
