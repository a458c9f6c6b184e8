// MySQL packets from a socket, awaited during the agent's and the upstream's login
// (pipeline/socket-source.ts).
import type { Socket } from 'node:net';
import { SocketSource } from '../../pipeline/socket-source.ts';
import { PacketReader, type Packet } from './codec/framing.ts';

export class PacketSource extends SocketSource<PacketReader> {
  constructor(socket: Socket, maxLength: number, maxBuffered?: number) {
    super(socket, new PacketReader(maxLength), maxBuffered);
  }

  /** The next packet, its payload copied (the reader's buffer is not ours to keep). */
  next(): Promise<Packet> {
    return this.take((r) => {
      const p = r.next();
      return p === null ? null : { seq: p.seq, payload: Buffer.from(p.payload), raw: p.raw };
    });
  }
}
