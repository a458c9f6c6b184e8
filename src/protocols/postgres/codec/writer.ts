// Builds one message: reserves the 5-byte header and back-fills type and length at the end
// (as pg-protocol's buffer-writer does), but one writer per message: nothing shared between
// callers, so it is re-entrant.
export class MessageWriter {
  #buf: Buffer;
  #len: number;
  readonly #type: number;

  /** type: the message code, or -1 for an untyped startup-style packet (4-byte header). */
  constructor(type: number, capacity = 64) {
    this.#type = type;
    this.#buf = Buffer.allocUnsafe(Math.max(capacity, 16));
    this.#len = type < 0 ? 4 : 5;
  }

  int8(v: number): this {
    this.#grow(1);
    this.#buf.writeUInt8(v, this.#len);
    this.#len += 1;
    return this;
  }

  int16(v: number): this {
    this.#grow(2);
    this.#buf.writeInt16BE(v, this.#len);
    this.#len += 2;
    return this;
  }

  int32(v: number): this {
    this.#grow(4);
    this.#buf.writeInt32BE(v, this.#len);
    this.#len += 4;
    return this;
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.#grow(n + 1);
    this.#buf.write(s, this.#len, 'utf8');
    this.#buf[this.#len + n] = 0;
    this.#len += n + 1;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#grow(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** The finished message; the writer must not be used afterwards. */
  finish(): Buffer {
    if (this.#type < 0) {
      this.#buf.writeInt32BE(this.#len, 0);
    } else {
      this.#buf[0] = this.#type;
      this.#buf.writeInt32BE(this.#len - 1, 1);
    }
    return this.#buf.subarray(0, this.#len);
  }

  #grow(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
}

/** Reads fields of one message body in order; throws RangeError past the end. */
export class MessageReader {
  readonly #buf: Buffer;
  #pos: number;

  constructor(buf: Buffer, start: number) {
    this.#buf = buf;
    this.#pos = start;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  int8(): number {
    this.#need(1);
    return this.#buf[this.#pos++] as number;
  }

  int16(): number {
    this.#need(2);
    const v = this.#buf.readInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  /** Counts of fields and parameters are unsigned 16-bit on the wire. */
  uint16(): number {
    this.#need(2);
    const v = this.#buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  int32(): number {
    this.#need(4);
    const v = this.#buf.readInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** OIDs are unsigned 32-bit. */
  uint32(): number {
    this.#need(4);
    const v = this.#buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  cstring(): string {
    const end = this.#buf.indexOf(0, this.#pos);
    if (end < 0) throw new RangeError('string without terminating NUL');
    const s = this.#buf.toString('utf8', this.#pos, end);
    this.#pos = end + 1;
    return s;
  }

  /** A view of the next n bytes (not a copy). */
  bytes(n: number): Buffer {
    this.#need(n);
    const b = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  rest(): Buffer {
    const b = this.#buf.subarray(this.#pos);
    this.#pos = this.#buf.length;
    return b;
  }

  #need(n: number): void {
    if (n < 0 || this.#pos + n > this.#buf.length) throw new RangeError('message shorter than its fields');
  }
}
