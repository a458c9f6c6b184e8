// Two connected in-memory streams: what one side writes, the other reads, with backpressure
// and half-close. An executor talks to an adapter's own session through such a pair instead
// of a socket (Node 20 has no stream.duplexPair).
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer: End | undefined = undefined;
  /** The write waiting for this side's reader to ask for more. */
  #blocked: (() => void) | undefined = undefined;

  override _read(): void {
    this.peer?.unblock();
  }

  /** The reader on the other side wants more: let the waiting write complete. */
  unblock(): void {
    const b = this.#blocked;
    this.#blocked = undefined;
    b?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === undefined || peer.destroyed) return callback(new Error('the other end is closed'));
    if (peer.push(chunk)) callback();
    else this.#blocked = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    // A closed end is a closed connection for the other side: it ends and closes too.
    if (peer !== undefined && !peer.destroyed) {
      peer.push(null);
      peer.destroy();
    }
    this.unblock();
    callback(error);
  }
}

/** Two streams joined back to back. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
