// Writes relayed messages to a socket, coalescing messages that sit next to each other in
// the chunk they arrived in into one view: a chunk of DataRows leaves as one write, not one
// write per row, and nothing is copied.
import type { Socket } from 'node:net';

export class Forwarder {
  readonly #socket: Socket;
  #view: Buffer | null = null;
  #end = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Queue a received message (a view); contiguous ones are merged. */
  add(frame: Buffer): void {
    const view = this.#view;
    if (view !== null && frame.buffer === view.buffer && frame.byteOffset === this.#end) {
      this.#end += frame.length;
      return;
    }
    this.flush();
    this.#view = frame;
    this.#end = frame.byteOffset + frame.length;
  }

  /** Write a message of our own, after what is queued. */
  write(bytes: Buffer): void {
    this.flush();
    this.#socket.write(bytes);
  }

  flush(): void {
    const view = this.#view;
    if (view === null) return;
    this.#view = null;
    this.#socket.write(Buffer.from(view.buffer, view.byteOffset, this.#end - view.byteOffset));
  }
}
