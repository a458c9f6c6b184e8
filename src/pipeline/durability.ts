// The durability rule (docs/audit.md, "Durability"), one step for every adapter: the answer to
// a request that may have changed something reaches the client only once the records of that
// request are committed to the store. A session marks what it owes as it records; at the point
// where its answer would leave (a database's end of transaction, an HTTP response, an exec's
// exit status), it asks for the commit and holds the answer until it settles.
import type { SqlAction } from '../core/action.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { Gate } from './gate.ts';

/**
 * Commits what the audit log (and, with `recording`, the recorder) holds now; undefined when
 * nothing is waiting. One per listener, shared by its sessions.
 */
export type DurableCommit = (recording: boolean) => Promise<void> | undefined;

export function durableCommit(gate: Gate, recorder: Recorder): DurableCommit {
  return (recording) => {
    const audit = gate.durable();
    const recorded = recording ? recorder.barrier() : undefined;
    if (audit === undefined) return recorded;
    return recorded === undefined ? audit : Promise.all([audit, recorded]).then(() => undefined);
  };
}

/**
 * When a statement's answer waits for its records: `none` for a plain read; `at-commit` for
 * what the database commits with its transaction (DML, DDL, GRANT: held where the transaction
 * ends); `now` for effects outside any transaction (`admin`: files, other backends, the server's
 * configuration; `unknown`: anything, a dblink call included), held at their own answer.
 */
export type Durability = 'none' | 'at-commit' | 'now';

export function durabilityOf(action: SqlAction | undefined): Durability {
  if (action === undefined) return 'now';
  let d: Durability = 'none';
  for (const s of action.statements) {
    if (s.effect === 'admin' || s.effect === 'unknown') return 'now';
    if (s.effect !== 'read') d = 'at-commit';
  }
  return d;
}

/** Whether a statement's answer waits for its records at all: anything but a plain read. */
export function changesSomething(action: SqlAction | undefined): boolean {
  return durabilityOf(action) !== 'none';
}

/**
 * What one session owes the store before its next answer may leave: nothing, its audited
 * decisions ('audit'; the text is in the decision), or those and its recording events ('all';
 * bound parameters are only in the recording).
 */
export class RecordsOwed {
  #owed: false | 'audit' | 'all' = false;
  /** Something owed took effect outside the transaction: the next answer waits, transaction or not. */
  #urgent = false;
  /** A commit started early (when the request was forwarded), waited for with the answer. */
  #started: Promise<void> | undefined;
  readonly #commit: DurableCommit | undefined;

  /** Without `commit`, nothing is ever held (the rule is off for this session). */
  constructor(commit: DurableCommit | undefined) {
    this.#commit = commit;
  }

  get owing(): boolean {
    return this.#owed !== false;
  }

  /** Set when what is owed took effect outside any transaction (Durability `now`). */
  get urgent(): boolean {
    return this.#urgent;
  }

  /** A changing request was recorded; `inRecording`: something of it is only in the recording event; `now`: it took effect outside the transaction. */
  owe(inRecording: boolean, now = false): void {
    this.#owed = inRecording || this.#owed === 'all' ? 'all' : 'audit';
    if (now) this.#urgent = true;
  }

  /** Start committing the decisions now, while the upstream works: the answer then waits less. */
  startEarly(): void {
    this.#started ??= this.#commit?.(false);
  }

  /** The commit the held answer waits for (undefined: it may leave now); clears what is owed. */
  settle(): Promise<void> | undefined {
    if (this.#owed === false) return undefined;
    const recording = this.#owed === 'all';
    this.#owed = false;
    this.#urgent = false;
    const started = this.#started;
    this.#started = undefined;
    const barrier = this.#commit?.(recording);
    if (started === undefined) return barrier;
    return barrier === undefined ? started : Promise.all([started, barrier]).then(() => undefined);
  }
}
