// Packet framing: a cursor over received chunks that yields whole logical packets. A payload of
// 0xffffff bytes continues in the next packet (16 MiB split); the logical packet is the join.
// A packet that fits one received chunk is a view of it, not a copy; only a partial tail is
// kept across chunks. A view is valid until the next push(): callers that keep one copy it.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
import { HEADER_LENGTH, MAX_PACKET_PAYLOAD } from './constants.ts';

export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

export interface Packet {
  /** Sequence id of the last physical packet (answers continue from it + 1). */
  readonly seq: number;
  /** The payload, joined across splits. */
  readonly payload: Buffer;
  /** The bytes as received, headers included (all physical packets): what a relay forwards. */
  readonly raw: Buffer;
}

const EMPTY = Buffer.alloc(0);

export class PacketReader {
  #buf: Buffer = EMPTY;
  #pos = 0;
  #maxLength: number;

  constructor(maxLength: number) {
    this.#maxLength = maxLength;
  }

  setMaxLength(n: number): void {
    this.#maxLength = n;
  }

  get buffered(): number {
    return this.#buf.length - this.#pos;
  }

  push(chunk: Buffer): void {
    if (this.#pos >= this.#buf.length) {
      this.#buf = chunk;
      this.#pos = 0;
      return;
    }
    // A partial packet waits: join it with what came (copy only the tail).
    this.#buf = Buffer.concat([this.#buf.subarray(this.#pos), chunk]);
    this.#pos = 0;
  }

  /** Everything not yet read, removed from the reader. */
  drain(): Buffer {
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = EMPTY;
    this.#pos = 0;
    return rest;
  }

  /** The next whole packet, or null when it has not arrived yet. Throws FramingError on a packet over the limit. */
  next(): Packet | null {
    const buf = this.#buf;
    const start = this.#pos;
    let at = start;
    let total = 0;
    let parts = 0;
    let seq = 0;
    for (;;) {
      if (buf.length - at < HEADER_LENGTH) return null;
      const len = buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16);
      seq = buf[at + 3]!;
      total += len;
      if (total > this.#maxLength) throw new FramingError(`packet of more than ${this.#maxLength} bytes`);
      if (buf.length - at - HEADER_LENGTH < len) return null;
      at += HEADER_LENGTH + len;
      parts++;
      if (len < MAX_PACKET_PAYLOAD) break;
    }
    this.#pos = at;
    const raw = buf.subarray(start, at);
    if (parts === 1) return { seq, payload: raw.subarray(HEADER_LENGTH), raw };
    const payload = Buffer.allocUnsafe(total);
    let from = start;
    let to = 0;
    for (let i = 0; i < parts; i++) {
      const len = buf[from]! | (buf[from + 1]! << 8) | (buf[from + 2]! << 16);
      buf.copy(payload, to, from + HEADER_LENGTH, from + HEADER_LENGTH + len);
      to += len;
      from += HEADER_LENGTH + len;
    }
    return { seq, payload, raw };
  }
}

/** A payload as packets starting at `seq`, split at 16 MiB (an exact multiple ends with an empty packet). */
export function framePacket(payload: Buffer, seq: number): Buffer {
  if (payload.length < MAX_PACKET_PAYLOAD) {
    const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
    out.writeUIntLE(payload.length, 0, 3);
    out[3] = seq & 0xff;
    payload.copy(out, HEADER_LENGTH);
    return out;
  }
  const chunks: Buffer[] = [];
  let off = 0;
  let s = seq;
  for (;;) {
    const len = Math.min(MAX_PACKET_PAYLOAD, payload.length - off);
    const head = Buffer.allocUnsafe(HEADER_LENGTH);
    head.writeUIntLE(len, 0, 3);
    head[3] = s & 0xff;
    chunks.push(head, payload.subarray(off, off + len));
    off += len;
    s++;
    if (len < MAX_PACKET_PAYLOAD) break;
  }
  return Buffer.concat(chunks);
}

/** How many physical packets (sequence ids) a payload of this length takes. */
export function packetCount(payloadLength: number): number {
  return Math.floor(payloadLength / MAX_PACKET_PAYLOAD) + 1;
}
