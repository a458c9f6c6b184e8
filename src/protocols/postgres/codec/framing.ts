// Framing of a PostgreSQL byte stream: a cursor over received chunks that hands out complete
// messages as views (`subarray`) of the chunk they arrived in. Only a message split across
// chunks is copied, once, when its last byte arrives. A declared length is checked before
// anything is buffered for it, so a 1 GiB length costs nothing.
// https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS
import { HEADER_LENGTH, MAX_STARTUP_LENGTH, STARTUP_HEADER_LENGTH } from './constants.ts';

export type FramingProblem = 'length-too-small' | 'length-too-large';

export class FramingError extends Error {
  readonly problem: FramingProblem;
  readonly length: number;
  constructor(problem: FramingProblem, length: number, limit: number) {
    super(problem === 'length-too-large' ? `message length ${length} exceeds the limit of ${limit} bytes` : `invalid message length ${length}`);
    this.name = 'FramingError';
    this.problem = problem;
    this.length = length;
  }
}

const EMPTY = Buffer.alloc(0);

export class FrameReader {
  /** The chunk the cursor is in, and the cursor. */
  #head: Buffer = EMPTY;
  #pos = 0;
  /** Chunks received after #head while a message is incomplete. */
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #maxLength: number;

  /** maxLength: the largest message accepted, header included. */
  constructor(maxLength: number) {
    this.#maxLength = maxLength;
  }

  /** Change the limit: small before authentication, the configured one after. */
  setMaxLength(maxLength: number): void {
    this.#maxLength = maxLength;
  }

  /** Adds a received chunk. Views handed out earlier stay valid: chunks are never written to. */
  push(chunk: Buffer): void {
    if (this.#pos >= this.#head.length) {
      this.#head = chunk;
      this.#pos = 0;
    } else {
      this.#tail.push(chunk);
      this.#tailBytes += chunk.length;
    }
  }

  /** Bytes received and not yet handed out. */
  get buffered(): number {
    return this.#head.length - this.#pos + this.#tailBytes;
  }

  /** The next complete typed message (type byte + int32 length + body), or null when incomplete. */
  next(): Buffer | null {
    if (!this.#ensure(HEADER_LENGTH)) return null;
    const length = this.#head.readInt32BE(this.#pos + 1);
    if (length < 4) throw new FramingError('length-too-small', length, this.#maxLength);
    if (length + 1 > this.#maxLength) throw new FramingError('length-too-large', length, this.#maxLength);
    return this.#take(length + 1);
  }

  /** The next complete startup packet (int32 length + int32 code + body), or null. */
  nextStartup(): Buffer | null {
    if (!this.#ensure(STARTUP_HEADER_LENGTH)) return null;
    const length = this.#head.readInt32BE(this.#pos);
    if (length < 8) throw new FramingError('length-too-small', length, MAX_STARTUP_LENGTH);
    if (length > MAX_STARTUP_LENGTH) throw new FramingError('length-too-large', length, MAX_STARTUP_LENGTH);
    return this.#take(length);
  }

  /** Everything buffered and not handed out (a copy-free view when in one chunk); empties the reader. */
  drain(): Buffer {
    const rest = this.#tailBytes === 0 ? this.#head.subarray(this.#pos) : Buffer.concat([this.#head.subarray(this.#pos), ...this.#tail]);
    this.#head = EMPTY;
    this.#pos = 0;
    this.#tail = [];
    this.#tailBytes = 0;
    return rest;
  }

  #take(n: number): Buffer | null {
    if (!this.#ensure(n)) return null;
    const frame = this.#head.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return frame;
  }

  /** Makes `n` bytes contiguous at the cursor, merging the tail once, when enough has arrived. */
  #ensure(n: number): boolean {
    const available = this.#head.length - this.#pos;
    if (available >= n) return true;
    if (available + this.#tailBytes < n) return false;
    this.#head = Buffer.concat([this.#head.subarray(this.#pos), ...this.#tail]);
    this.#pos = 0;
    this.#tail = [];
    this.#tailBytes = 0;
    return true;
  }
}
