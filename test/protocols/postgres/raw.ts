// A raw protocol client for tests that need exact message sequences (pipelines, Execute
// without Describe): log in through the gateway with a token, then collect frames by type.
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';

/** A raw socket logged in through the gateway (cleartext token on loopback), after ReadyForQuery. */
export async function rawSession(port: number, token: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const frames = new FrameCollector(socket);
  socket.write(serialize.startup({ user: 'agent', database: 'app-db' }));
  await frames.until((t) => t.includes('R'));
  socket.write(serialize.password(token));
  await frames.until((t) => t.includes('Z'));
  frames.detach();
  return socket;
}

export interface RawFrame {
  readonly type: string;
  readonly body: Buffer;
}

export class FrameCollector {
  #buf = Buffer.alloc(0);
  readonly #frames: RawFrame[] = [];
  #wake: (() => void) | undefined;
  readonly #socket: Socket;
  readonly #onData = (d: Buffer): void => {
    this.#buf = Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= 5) {
      const len = this.#buf.readInt32BE(1);
      if (this.#buf.length < len + 1) break;
      this.#frames.push({ type: String.fromCharCode(this.#buf[0] as number), body: this.#buf.subarray(5, len + 1) });
      this.#buf = this.#buf.subarray(len + 1);
    }
    this.#wake?.();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', this.#onData);
  }

  detach(): void {
    this.#socket.off('data', this.#onData);
  }

  async until(done: (types: string[]) => boolean, timeoutMs = 5000): Promise<RawFrame[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.#frames.map((f) => f.type))) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.#frames.map((f) => f.type).join(' ')}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.#frames;
  }
}
