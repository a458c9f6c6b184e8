// Awaitable frames from a socket, for the request/response steps before a session relays
// (client startup and authentication, upstream login). The relay itself never awaits: it
// runs on 'data' events (session.ts).
import type { Socket } from 'node:net';
import { FrameReader } from './codec/framing.ts';

export class StreamClosed extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'StreamClosed';
  }
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class FrameSource {
  readonly reader: FrameReader;
  #socket: Socket;
  #waiter: Waiter | undefined;
  #failure: Error | undefined;
  /** Stop reading the socket while more than this is buffered (undefined: no cap). */
  readonly #maxBuffered: number | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    // Bytes pipelined behind an unfinished handshake wait in the kernel, not in our memory.
    if (this.#maxBuffered !== undefined && this.reader.buffered > this.#maxBuffered) this.#socket.pause();
    this.#wake();
  };
  readonly #onEnd = (): void => this.#fail(new StreamClosed('the peer closed the connection'));
  readonly #onError = (err: Error): void => this.#fail(err);

  constructor(socket: Socket, maxLength: number, reader?: FrameReader, maxBuffered?: number) {
    this.reader = reader ?? new FrameReader(maxLength);
    this.#socket = socket;
    this.#maxBuffered = maxBuffered;
    this.#attach();
  }

  get socket(): Socket {
    return this.#socket;
  }

  /** Switch to another socket over the same connection (after a TLS upgrade). */
  replaceSocket(socket: Socket): void {
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

  async nextStartup(): Promise<Buffer> {
    for (;;) {
      const frame = this.reader.nextStartup();
      if (frame !== null) return frame;
      await this.#wait();
    }
  }

  async next(): Promise<Buffer> {
    for (;;) {
      const frame = this.reader.next();
      if (frame !== null) return frame;
      await this.#wait();
    }
  }

  /** Exactly one byte (the answer to SSLRequest); fails if the peer sent more before we asked. */
  async byte(): Promise<{ readonly value: number; readonly extra: number }> {
    while (this.reader.buffered < 1) await this.#wait();
    const rest = this.reader.drain();
    return { value: rest[0] as number, extra: rest.length - 1 };
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
