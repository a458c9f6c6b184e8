// Awaitable packets from a socket, for the request/response steps before a session relays
// (the agent's login, the gateway's own upstream login). The relay itself never awaits: it
// runs on 'data' events (session.ts).
import type { Socket } from 'node:net';
import { PacketReader, type Packet } from './codec/framing.ts';

export class StreamClosed extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'StreamClosed';
  }
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class PacketSource {
  readonly reader: PacketReader;
  #socket: Socket;
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

  constructor(socket: Socket, maxLength: number, maxBuffered?: number) {
    this.reader = new PacketReader(maxLength);
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

  /** The next packet, its payload copied (the reader's buffer is not ours to keep). */
  async next(): Promise<Packet> {
    for (;;) {
      const p = this.reader.next();
      if (p !== null) return { seq: p.seq, payload: Buffer.from(p.payload), raw: p.raw };
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
