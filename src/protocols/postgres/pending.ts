// The requests forwarded upstream and not yet answered, in order. The server answers every
// message of a session in order, so the head of this queue is always what the next response
// belongs to; that is how a stand-in error is recognised as the denial it stands for, and
// how a CommandComplete finds its statement.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
import type { ErrorFields } from './codec/backend-encode.ts';
import type { StatementRecord } from './record.ts';
import type { DescribeTarget, ResultSlot } from './masking/slot.ts';

export type PendingKind = 'query' | 'parse' | 'bind' | 'describe' | 'execute' | 'close' | 'sync' | 'internal';

export interface Pending {
  readonly kind: PendingKind;
  /** Set when the message was replaced by a stand-in: the error the client sees instead. */
  readonly refusal: ErrorFields | null;
  readonly record: StatementRecord | null;
  /** What masks this request's rows (query, execute); null when nothing does. */
  readonly slot: ResultSlot | null;
  /** A Describe: where its RowDescription goes (and whether the gateway sent it itself). */
  readonly describe: DescribeTarget | null;
}

export class PendingQueue {
  #items: Pending[] = [];
  #head = 0;

  push(kind: PendingKind, refusal: ErrorFields | null = null, record: StatementRecord | null = null, slot: ResultSlot | null = null, describe: DescribeTarget | null = null): void {
    this.#items.push({ kind, refusal, record, slot, describe });
  }

  peek(): Pending | undefined {
    return this.#items[this.#head];
  }

  shift(): Pending | undefined {
    const item = this.#items[this.#head];
    if (item === undefined) return undefined;
    this.#head++;
    // Compact now and then instead of Array.shift() on every response.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** After an error in extended protocol the server skips everything up to Sync: so do we. */
  skipToSync(): void {
    while (this.#head < this.#items.length && this.#items[this.#head]?.kind !== 'sync') this.shift();
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Every pending entry, oldest first (for recording what was cut off). */
  *entries(): IterableIterator<Pending> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as Pending;
  }
}
