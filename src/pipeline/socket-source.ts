// Awaitable units (frames, packets) from a socket, for the request/response steps before a
// session relays: the agent's login and the gateway's own upstream login. Each protocol's
// codec brings the reader that cuts the bytes; this part only waits for them. The relay itself
// never awaits: it runs on 'data' events (each adapter's session.ts).
import type { Duplex } from 'node:stream';

export class StreamClosed extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'StreamClosed';
  }
}

/** What a protocol's framing reader offers: bytes in, a count of what waits to be cut. */
export interface ChunkReader {
  push(chunk: Buffer): void;
  readonly buffered: number;
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class SocketSource<R extends ChunkReader> {
  readonly reader: R;
  #socket: Duplex;
  #waiter: Waiter | undefined;
  #failure: Error | undefined;
  /** Stop reading the socket while more than this is buffered (undefined: no cap). */
  readonly #maxBuffered: number | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    // Bytes pipelined behind an unfinished login wait in the kernel, not in our memory.
    if (this.#maxBuffered !== undefined && this.reader.buffered > this.#maxBuffered) this.#socket.pause();
    this.#wake();
  };
  readonly #onEnd = (): void => this.#fail(new StreamClosed('the peer closed the connection'));
  readonly #onError = (err: Error): void => this.#fail(err);

  constructor(socket: Duplex, reader: R, maxBuffered?: number) {
    this.reader = reader;
    this.#socket = socket;
    this.#maxBuffered = maxBuffered;
    this.#attach();
  }

  get socket(): Duplex {
    return this.#socket;
  }

  /** Switch to another socket over the same connection (after a TLS upgrade). */
  replaceSocket(socket: Duplex): void {
    this.detach();
    this.#failure = undefined;
    this.#socket = socket;
    this.#attach();
  }

  /** Stop listening and pause the socket; buffered bytes stay in `reader`. */
  detach(): void {
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    this.#socket.off('error', this.#onError);
    this.#socket.pause();
  }

  /** The first non-null result of `cut` on the reader, waiting for bytes between tries. */
  async take<T>(cut: (reader: R) => T | null): Promise<T> {
    for (;;) {
      const unit = cut(this.reader);
      if (unit !== null) return unit;
      await this.#wait();
    }
  }

  #attach(): void {
    this.#socket.on('data', this.#onData);
    this.#socket.on('end', this.#onEnd);
    this.#socket.on('close', this.#onEnd);
    this.#socket.on('error', this.#onError);
    this.#socket.resume();
  }

  #wait(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    // Waiting means what was buffered is consumed: read again.
    if (this.#socket.isPaused()) this.#socket.resume();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(this.#failure);
  }
}
