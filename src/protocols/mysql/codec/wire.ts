// Reading and writing the protocol's basic types: fixed little-endian integers,
// length-encoded integers and strings, NUL-terminated strings.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_data_types.html

export class MalformedPacket extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPacket';
  }
}

/** A cursor over one payload; every read checks bounds and throws MalformedPacket. */
export class PayloadReader {
  readonly buf: Buffer;
  pos: number;

  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  #need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) throw new MalformedPacket(`truncated packet reading ${what}`);
  }

  u8(): number {
    this.#need(1, 'a byte');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.#need(2, 'an int<2>');
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.#need(3, 'an int<3>');
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.#need(4, 'an int<4>');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** int<lenenc>; null for the 0xfb NULL marker (rows only). Values above 2^53 are refused. */
  lenenc(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return null;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      this.#need(8, 'an int<8>');
      const v = this.buf.readBigUInt64LE(this.pos);
      this.pos += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedPacket('length-encoded integer too large');
      return Number(v);
    }
    throw new MalformedPacket('invalid length-encoded integer (0xff)');
  }

  lenencInt(): number {
    const v = this.lenenc();
    if (v === null) throw new MalformedPacket('unexpected NULL length');
    return v;
  }

  bytes(n: number): Buffer {
    this.#need(n, `${n} bytes`);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenencInt());
  }

  lenencString(): string {
    return this.lenencBytes().toString('utf8');
  }

  /** NUL-terminated; a missing NUL is malformed. */
  cstringBytes(): Buffer {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new MalformedPacket('unterminated string');
    const v = this.buf.subarray(this.pos, end);
    this.pos = end + 1;
    return v;
  }

  cstring(): string {
    return this.cstringBytes().toString('utf8');
  }

  /** NUL-terminated, or to the end of the payload when no NUL is left (some clients omit it). */
  cstringOrRest(): string {
    const end = this.buf.indexOf(0, this.pos);
    const stop = end < 0 ? this.buf.length : end;
    const v = this.buf.toString('utf8', this.pos, stop);
    this.pos = end < 0 ? stop : end + 1;
    return v;
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }

  skip(n: number): void {
    this.#need(n, `${n} bytes`);
    this.pos += n;
  }
}

/** Builds a payload; grows as needed. */
export class PayloadWriter {
  #buf: Buffer;
  #len = 0;

  constructor(size = 128) {
    this.#buf = Buffer.allocUnsafe(size);
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  u8(v: number): this {
    this.#ensure(1);
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.#ensure(2);
    this.#buf.writeUInt16LE(v & 0xffff, this.#len);
    this.#len += 2;
    return this;
  }

  u24(v: number): this {
    this.#ensure(3);
    this.#buf.writeUIntLE(v, this.#len, 3);
    this.#len += 3;
    return this;
  }

  u32(v: number): this {
    this.#ensure(4);
    this.#buf.writeUInt32LE(v >>> 0, this.#len);
    this.#len += 4;
    return this;
  }

  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24(v);
    this.#ensure(9);
    this.#buf[this.#len++] = 0xfe;
    this.#buf.writeBigUInt64LE(BigInt(v), this.#len);
    this.#len += 8;
    return this;
  }

  bytes(b: Buffer | Uint8Array): this {
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  string(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'));
  }

  cstring(s: string): this {
    return this.string(s).u8(0);
  }

  lenencBytes(b: Buffer): this {
    return this.lenenc(b.length).bytes(b);
  }

  lenencString(s: string): this {
    return this.lenencBytes(Buffer.from(s, 'utf8'));
  }

  zeros(n: number): this {
    this.#ensure(n);
    this.#buf.fill(0, this.#len, this.#len + n);
    this.#len += n;
    return this;
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}
