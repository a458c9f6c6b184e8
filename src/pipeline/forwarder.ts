// Writes relayed messages (PostgreSQL frames, MySQL packets) to a socket, coalescing those
// that sit next to each other in the chunk they arrived in into one view: a chunk of rows
// leaves as one write, not one write per row, and nothing is copied. Messages of our own (a
// masked row, a notice) are
// queued behind the views in order and leave with them in one write at flush: a result whose
// every row is rewritten costs one socket write per chunk, not one per row.
import type { Duplex } from 'node:stream';

export class Forwarder {
  readonly #socket: Duplex;
  #view: Buffer | null = null;
  #end = 0;
  /** Segments waiting for flush, in order (closed views and our own messages). */
  #queued: Buffer[] = [];
  #queuedBytes = 0;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  /** Queue a received message (a view); contiguous ones are merged. */
  add(frame: Buffer): void {
    const view = this.#view;
    if (view !== null && frame.buffer === view.buffer && frame.byteOffset === this.#end) {
      this.#end += frame.length;
      return;
    }
    this.#closeView();
    this.#view = frame;
    this.#end = frame.byteOffset + frame.length;
  }

  /** Queue a message of our own, after what is queued. */
  write(bytes: Buffer): void {
    this.#closeView();
    this.#queued.push(bytes);
    this.#queuedBytes += bytes.length;
    // Keep the batch bounded: a huge result flushes as it goes.
    if (this.#queuedBytes >= MAX_BATCH_BYTES) this.flush();
  }

  flush(): void {
    this.#closeView();
    const queued = this.#queued;
    if (queued.length === 0) return;
    this.#queued = [];
    this.#queuedBytes = 0;
    if (queued.length === 1) {
      this.#socket.write(queued[0] as Buffer);
      return;
    }
    // Many small segments (rewritten rows between relayed runs): one gathered write (writev)
    // instead of copying them together.
    this.#socket.cork();
    for (const b of queued) this.#socket.write(b);
    this.#socket.uncork();
  }

  #closeView(): void {
    const view = this.#view;
    if (view === null) return;
    this.#view = null;
    const bytes = Buffer.from(view.buffer, view.byteOffset, this.#end - view.byteOffset);
    this.#queued.push(bytes);
    this.#queuedBytes += bytes.length;
  }
}

const MAX_BATCH_BYTES = 256 * 1024;
