// The answers a session waits for, in the order the commands went: the server answers in
// order, and an answer of the gateway's own (a denial) waits its turn behind the server's
// answers to earlier commands.
import type { SqlAction } from '../../core/action.ts';
import type { GateDecision } from '../../pipeline/permit.ts';
import type { ColumnDefinition } from './codec/columns.ts';
import { ResponseTracker, type ResponseShape } from './codec/response-tracker.ts';
import type { MaskContext, RowMasker } from './masking/result.ts';
import type { StatementRecord } from './record.ts';

export interface Pending {
  /** Undefined for an answer of the gateway's own (`local`). */
  readonly tracker: ResponseTracker | undefined;
  /** The gateway's own answer, framed: written when this entry reaches the head. */
  readonly local: Buffer | undefined;
  readonly record: StatementRecord | null;
  /** The gateway's own query: its answer is read, not relayed, and handed here (undefined: the server refused it). */
  readonly internal: ((rows: readonly Buffer[] | undefined) => void) | undefined;
  /** An allowed LOAD DATA LOCAL: the server's file request goes to the client. */
  readonly infileOk: boolean;
  /** COM_STMT_PREPARE: what the statement was decided as, kept under the server's id. */
  readonly prepared: { readonly action: SqlAction; readonly decision: GateDecision; readonly mask: MaskContext | undefined } | undefined;
  /** A file request refused: the rest of the answer is dropped and this ERR (sequence id kept) sent instead. */
  swallowSeq: number | undefined;
  /** Internal answers: the row payloads (copied). */
  rows: Buffer[] | undefined;
  /** The masking its rows get; undefined: relayed untouched. */
  readonly mask: MaskContext | undefined;
  /** Binary rows (COM_STMT_EXECUTE, COM_STMT_FETCH). */
  readonly binary: boolean;
  /** The current result set's column definitions, while they arrive. */
  columns: ColumnDefinition[];
  /** The current result set's row masker (a fetch takes its execute's). */
  masker: RowMasker | undefined;
  /** An execute that opens a cursor: hands its masker to the statement, for the fetches. */
  readonly cursorOf: ((masker: RowMasker) => void) | undefined;
}

export interface ExpectOptions {
  readonly internal?: (rows: readonly Buffer[] | undefined) => void;
  readonly infileOk?: boolean;
  readonly prepared?: Pending['prepared'];
  readonly mask?: MaskContext;
  readonly binary?: boolean;
  readonly masker?: RowMasker;
  readonly cursorOf?: { masker?: RowMasker | undefined };
}

export function expect(shape: ResponseShape, deprecateEof: boolean, record: StatementRecord | null, opts: ExpectOptions = {}): Pending {
  return {
    tracker: new ResponseTracker(shape, deprecateEof),
    local: undefined,
    record,
    internal: opts.internal,
    infileOk: opts.infileOk === true,
    prepared: opts.prepared,
    swallowSeq: undefined,
    rows: opts.internal !== undefined ? [] : undefined,
    mask: opts.mask,
    binary: opts.binary === true,
    columns: [],
    masker: opts.masker,
    cursorOf: opts.cursorOf === undefined ? undefined : (m: RowMasker) => {
      (opts.cursorOf as { masker?: RowMasker | undefined }).masker = m;
    },
  };
}

export function localAnswer(packet: Buffer): Pending {
  return { tracker: undefined, local: packet, record: null, internal: undefined, infileOk: false, prepared: undefined, swallowSeq: undefined, rows: undefined, mask: undefined, binary: false, columns: [], masker: undefined, cursorOf: undefined };
}

/** A FIFO without shifting arrays on the hot path. */
export class PendingQueue {
  #items: (Pending | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(p: Pending): void {
    this.#items.push(p);
  }

  peek(): Pending | undefined {
    return this.#items[this.#head];
  }

  shift(): Pending | undefined {
    const p = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    return p;
  }
}
