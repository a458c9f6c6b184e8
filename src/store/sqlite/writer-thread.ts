// The main thread's side of the store's background writer: one worker thread per store file,
// with its own better-sqlite3 connection, that runs the audit log's and the recorder's write
// transactions. better-sqlite3 is synchronous, so on the main thread every batch would stall
// the event loop that also relays client traffic; here the hot path only posts small plain
// objects, and the worker acknowledges each request once its transaction is committed.
//
// - Order: requests are posted in call order and the worker runs them one after another, so
//   a checkpoint, a flush or a close is ordered after everything handed over before it.
// - Failure: a request the worker could not carry out rejects with the worker's error; a worker
//   that dies rejects everything in flight (nothing is retried here: the audit log rejects its
//   appends, the recorder requeues its batch), and the next request starts a new worker, which
//   first receives the setup messages registered with setup() (e.g. the audit signing key).
// - Lifetime: the worker keeps the process alive only while a request is in flight (it is
//   unref'd when idle), so a process that forgets to close the store still exits. Users
//   acquire() it and release() it when they close; the last release, or close(), ends it.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../telemetry/logger.ts';

/** A request to the worker: `op` names the handler (see writer-worker.ts). */
export interface WriterRequest {
  readonly op: string;
  readonly [field: string]: unknown;
}

/** What the worker sends back for request `id`. */
export type WriterReply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: WireError };

/** An error as it crosses the thread boundary. */
export interface WireError {
  readonly message: string;
  /** SQLite's code (SQLITE_BUSY...) or a GatewayError code. */
  readonly code?: string;
  readonly params?: Readonly<Record<string, string | number>>;
}

/** The error a request rejects with when the worker failed it or died. */
export class WriterThreadError extends Error {
  readonly code: string | undefined;
  readonly params: Readonly<Record<string, string | number>> | undefined;

  constructor(error: WireError) {
    super(error.message);
    this.name = 'WriterThreadError';
    this.code = error.code;
    this.params = error.params;
  }
}

/**
 * The worker's entry is a small .mjs bootstrap that registers tsx (tsx/esm/api) inside the
 * worker and then imports writer-worker.ts. Measured on Node 20 with tsx 4:
 * - a `.ts` URL as the worker's entry fails ("Unknown file extension") in every set-up, even
 *   with `--import tsx` in the worker's execArgv: the entry is resolved before that hook is in;
 * - `execArgv: ['--import', 'tsx']` resolves `tsx` from the current directory, so it breaks
 *   `portcullis start` run from a directory without node_modules (the normal case);
 * - hooks registered with tsx's register() in the main thread (bin/portcullis.js) are not
 *   inherited by workers.
 * The bootstrap resolves tsx next to this file, so it works under `node --import tsx`, under
 * bin/portcullis.js, and from any directory. execArgv is emptied so that an inherited
 * `--import tsx` (the test runner's) does not register the hooks a second time.
 */
const WORKER_ENTRY = new URL('./writer-worker.mjs', import.meta.url);
/** After a crash, a new worker is started at most this often (a worker that cannot start must not be respawned per request). */
const RESTART_INTERVAL_MS = 1000;
/** How long close() waits for the worker to finish its queue before terminating it. */
const CLOSE_TIMEOUT_MS = 10_000;

interface Waiting {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

/** One worker and the requests it owes an answer to. */
interface Generation {
  readonly worker: Worker;
  readonly waiting: Map<number, Waiting>;
  readonly exited: Promise<void>;
  /** Why it is going away (an uncaught error, reported before 'exit'). */
  crash: Error | undefined;
  /** Asked to stop: its exit is not a crash. */
  stopping: boolean;
}

export class WriterThread {
  readonly file: string;
  #current: Generation | undefined;
  #nextId = 1;
  readonly #setup = new Map<string, WriterRequest>();
  #users = 0;
  #closed = false;
  #crashedAt = 0;
  #logger: Logger | undefined;
  /** The last stop in progress, which a second close() or release() waits for too. */
  #stopping: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  /** A user (the audit log, the recorder) starts using the writer; `logger` reports worker crashes. */
  acquire(logger: Logger): void {
    this.#users++;
    this.#logger ??= logger;
  }

  /** A user is done; the last one ends the worker (after everything handed over is written). */
  async release(): Promise<void> {
    this.#users = Math.max(0, this.#users - 1);
    if (this.#users === 0) await this.#stop();
  }

  /**
   * A message every worker must see before any request (now, and again after a restart):
   * e.g. the audit chain's signing key. Replaces an earlier setup of the same `key`.
   */
  setup(key: string, message: WriterRequest): void {
    this.#setup.set(key, message);
    this.#current?.worker.postMessage({ id: 0, ...message });
  }

  forget(key: string): void {
    this.#setup.delete(key);
  }

  /** Hand `message` to the worker; resolves with its result once the worker has carried it out. */
  request(message: WriterRequest): Promise<unknown> {
    if (this.#closed) return Promise.reject(new WriterThreadError({ message: 'the store is closed' }));
    let gen: Generation;
    try {
      gen = this.#running();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.#post(gen, message);
  }

  /** Write what was handed over, then end the worker; later requests reject. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop();
  }

  /**
   * End the worker at once, as a crash would: what it was handed and has not committed is
   * lost and its requests reject; a later request starts a new one. For tests.
   */
  async kill(): Promise<void> {
    const gen = this.#current;
    if (!gen) return;
    await gen.worker.terminate();
    await gen.exited;
  }

  #post(gen: Generation, message: WriterRequest): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      if (gen.waiting.size === 0) gen.worker.ref();
      gen.waiting.set(id, { resolve, reject });
      try {
        gen.worker.postMessage({ id, ...message });
      } catch (err) {
        // Not cloneable: a bug in the caller, reported on this request only.
        this.#settle(gen, id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  #running(): Generation {
    if (this.#current) return this.#current;
    const since = Date.now() - this.#crashedAt;
    if (since < RESTART_INTERVAL_MS) {
      throw new WriterThreadError({ message: `the store writer thread stopped; a new one starts in ${RESTART_INTERVAL_MS - since} ms` });
    }
    const worker = new Worker(WORKER_ENTRY, { workerData: { file: this.file }, execArgv: [] });
    worker.unref();
    let onExit!: (code: number) => void;
    const gen: Generation = { worker, waiting: new Map(), exited: new Promise((resolve) => (onExit = (code) => resolve(this.#exit(gen, code)))), crash: undefined, stopping: false };
    this.#current = gen;
    worker.on('message', (reply: WriterReply) => this.#reply(gen, reply));
    worker.on('error', (err) => {
      gen.crash = err;
      this.#logger?.error({ err, file: this.file }, 'the store writer thread failed');
    });
    worker.on('messageerror', (err) => this.#logger?.error({ err }, 'the store writer thread sent a message that could not be read'));
    worker.once('exit', onExit);
    for (const message of this.#setup.values()) worker.postMessage({ id: 0, ...message });
    return gen;
  }

  #exit(gen: Generation, code: number): void {
    if (this.#current === gen) this.#current = undefined;
    if (!gen.stopping) this.#crashedAt = Date.now();
    if (gen.waiting.size === 0) return;
    const reason = gen.crash ? `the store writer thread failed: ${gen.crash.message}` : `the store writer thread exited (code ${code})`;
    if (!gen.crash) this.#logger?.error({ code, pending: gen.waiting.size }, 'the store writer thread exited with requests in flight');
    const waiting = [...gen.waiting.values()];
    gen.waiting.clear();
    for (const w of waiting) w.reject(new WriterThreadError({ message: reason }));
  }

  #reply(gen: Generation, reply: WriterReply): void {
    const waiting = this.#settle(gen, reply.id);
    if (!waiting) return;
    if (reply.ok) waiting.resolve(reply.result);
    else waiting.reject(new WriterThreadError(reply.error));
  }

  #settle(gen: Generation, id: number): Waiting | undefined {
    const waiting = gen.waiting.get(id);
    gen.waiting.delete(id);
    if (gen.waiting.size === 0) gen.worker.unref();
    return waiting;
  }

  /** Ask the worker to finish its queue and exit; terminate it if it does not in time. */
  #stop(): Promise<void> {
    const gen = this.#current;
    if (gen) this.#stopping = this.#stopGeneration(gen);
    return this.#stopping;
  }

  async #stopGeneration(gen: Generation): Promise<void> {
    // Detached at once: a request made from now on starts a new worker.
    this.#current = undefined;
    gen.stopping = true;
    if (gen.waiting.size === 0) {
      // Nothing in flight, so nothing to lose (every transaction it was handed has committed):
      // no need to wait for a worker that may still be starting up to answer a close.
      await gen.worker.terminate();
      await gen.exited;
      return;
    }
    // The close request is ordered after every request posted before it; the worker exits after answering it.
    const closed = this.#post(gen, { op: 'close' }).then(
      () => gen.exited,
      () => gen.exited,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
    });
    const outcome = await Promise.race([closed, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#logger?.error({ file: this.file }, 'the store writer thread did not finish in time; terminating it');
      await gen.worker.terminate();
      await gen.exited;
    }
  }
}
