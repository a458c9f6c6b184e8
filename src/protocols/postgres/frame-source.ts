// PostgreSQL frames from a socket, awaited during startup and login (pipeline/socket-source.ts).
import type { Duplex } from 'node:stream';
import { SocketSource } from '../../pipeline/socket-source.ts';
import { FrameReader } from './codec/framing.ts';

export class FrameSource extends SocketSource<FrameReader> {
  constructor(socket: Duplex, maxLength: number, maxBuffered?: number) {
    super(socket, new FrameReader(maxLength), maxBuffered);
  }

  nextStartup(): Promise<Buffer> {
    return this.take((r) => r.nextStartup());
  }

  next(): Promise<Buffer> {
    return this.take((r) => r.next());
  }

  /** Exactly one byte (the answer to SSLRequest); `extra` counts what the peer sent before we asked. */
  async byte(): Promise<{ readonly value: number; readonly extra: number }> {
    const rest = await this.take((r) => (r.buffered < 1 ? null : r.drain()));
    return { value: rest[0] as number, extra: rest.length - 1 };
  }
}
