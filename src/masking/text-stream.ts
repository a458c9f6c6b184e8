// Streaming masking of text: a byte stream cut into lines whatever its chunking, the content
// detectors run on each line, line endings kept, and a private key block held until its END
// line so that it is scanned whole. Protocol-neutral and pure (no sockets, no I/O): the HTTP
// gateway feeds it response bodies, the SSH gateway the stdout and stderr of commands.
import type { MaskPlan } from './plan.ts';

/** What a line too long to hold and scan is replaced by: never passed unmasked (fail closed). */
export const WITHHELD_LINE = '[withheld by portcullis: line too long to mask]';

/** Streaming maskers for data that must not be buffered whole. push(chunk) -> output chunks now; end() -> the rest. */
export interface StreamMasker {
  push(chunk: Buffer): Buffer[];
  end(): Buffer[];
  /** `changed`: documents, events or lines changed; `maskedPaths` (JSON rules only) at most 100 in all. */
  readonly stats: { changed: number; maskedPaths: string[]; detectorHits: number };
}

/** One line of a stream: its content and its ending (empty at the end of the stream). */
export interface Line {
  readonly content: Buffer;
  readonly eol: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;

export const EOL_LF = Buffer.from('\n');
const EOL_CRLF = Buffer.from('\r\n');
const EOL_CR = Buffer.from('\r');
const EOL_NONE = Buffer.alloc(0);

/**
 * Cuts a byte stream into lines, whatever the chunking, and hands each to `line` with its
 * ending (`\n`, `\r\n`, with `cr` also a lone `\r`; empty at the end of the stream). A line
 * whose content (ending not counted) passes `max` bytes is not kept: its bytes are dropped as
 * they come and `line` gets null at its end. `max` may change between lines.
 */
export class LineSplitter {
  max: number;
  readonly #cr: boolean;
  readonly #line: (content: Buffer | null, eol: Buffer) => void;
  #parts: Buffer[] = [];
  #size = 0;
  #dropping = false;
  /** cr mode: the last chunk ended with `\r`; whether it is `\r\n` is known at the next byte. */
  #pendingCR = false;
  /** Non-cr mode: the held part ends with `\r` (part of the ending if `\n` follows, not counted). */
  #trailingCR = false;

  constructor(max: number, cr: boolean, line: (content: Buffer | null, eol: Buffer) => void) {
    this.max = max;
    this.#cr = cr;
    this.#line = line;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.#pendingCR && chunk.length > 0) {
      this.#pendingCR = false;
      if (chunk[0] === LF) {
        pos = 1;
        this.#emit(EOL_NONE, EOL_CRLF);
      } else this.#emit(EOL_NONE, EOL_CR);
    }
    // The next `\r` is searched again only once passed: a chunk of many `\n` lines and no
    // `\r` must not be rescanned to its end for every line.
    let nextCR = this.#cr ? chunk.indexOf(CR, pos) : -1;
    while (pos < chunk.length) {
      let t = chunk.indexOf(LF, pos);
      if (nextCR !== -1 && nextCR < pos) nextCR = chunk.indexOf(CR, pos);
      if (nextCR !== -1 && (t === -1 || nextCR < t)) t = nextCR;
      if (t === -1) {
        this.#hold(chunk.subarray(pos));
        return;
      }
      if (chunk[t] === LF) {
        this.#emit(chunk.subarray(pos, t), EOL_LF);
        pos = t + 1;
      } else if (t + 1 < chunk.length) {
        const crlf = chunk[t + 1] === LF;
        this.#emit(chunk.subarray(pos, t), crlf ? EOL_CRLF : EOL_CR);
        pos = t + (crlf ? 2 : 1);
      } else {
        this.#hold(chunk.subarray(pos, t));
        this.#pendingCR = true;
        return;
      }
    }
  }

  end(): void {
    if (this.#pendingCR) {
      this.#pendingCR = false;
      this.#emit(EOL_NONE, EOL_CR);
    } else if (this.#size > 0 || this.#dropping) this.#emit(EOL_NONE, EOL_NONE);
  }

  #hold(part: Buffer): void {
    if (part.length === 0) return;
    if (!this.#dropping) {
      this.#parts.push(part);
      this.#size += part.length;
      this.#trailingCR = part[part.length - 1] === CR;
      if (this.#size - (this.#trailingCR ? 1 : 0) <= this.max) return;
      this.#parts = [];
      this.#size = 0;
      this.#dropping = true;
    }
    this.#trailingCR = part[part.length - 1] === CR;
  }

  /** Ends the current line: what was held plus `tail`, then `eol`. */
  #emit(tail: Buffer, eol: Buffer): void {
    const dropped = this.#dropping;
    let content: Buffer | null = null;
    if (!dropped) content = this.#parts.length === 0 ? tail : Buffer.concat([...this.#parts, tail]);
    const endsWithCR = tail.length > 0 ? tail[tail.length - 1] === CR : this.#trailingCR;
    this.#parts = [];
    this.#size = 0;
    this.#dropping = false;
    this.#trailingCR = false;
    if (!this.#cr && eol === EOL_LF && endsWithCR) {
      eol = EOL_CRLF;
      if (content !== null) content = content.subarray(0, content.length - 1);
    }
    if (content !== null && content.length > this.max) content = null;
    this.#line(content, eol);
  }
}

/** A stream masker's output between two calls, and its counts. */
export class StreamOutput {
  parts: Buffer[] = [];
  readonly stats = { changed: 0, maskedPaths: [] as string[], detectorHits: 0 };

  add(...parts: Buffer[]): void {
    for (const p of parts) if (p.length > 0) this.parts.push(p);
  }

  /** What was produced since the last call, as one chunk (one write per upstream chunk). */
  take(): Buffer[] {
    const parts = this.parts;
    this.parts = [];
    if (parts.length === 0) return [];
    return [parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)];
  }
}

const PEM_BEGIN = '-----BEGIN ';
const PEM_DASHES = '-----';
const REDACTED_LINE = Buffer.from('****');

/** The END line an unfinished private key block in `line` waits for, or undefined. */
function openPemBlock(line: Buffer): string | undefined {
  const at = line.lastIndexOf(PEM_BEGIN);
  if (at === -1) return undefined;
  const labelStart = at + PEM_BEGIN.length;
  const labelEnd = line.indexOf(PEM_DASHES, labelStart);
  if (labelEnd === -1 || labelEnd - labelStart > 40) return undefined;
  const label = line.toString('latin1', labelStart, labelEnd);
  if (!label.endsWith('PRIVATE KEY') && label !== 'PGP PRIVATE KEY BLOCK') return undefined;
  const endLine = `-----END ${label}-----`;
  return line.indexOf(endLine, labelEnd) === -1 ? endLine : undefined;
}

/** `b` with every `\n` not already preceded by `\r` turned into `\r\n`. */
function toCRLF(b: Buffer): Buffer {
  let bare = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === LF && b[i - 1] !== CR) bare++;
  if (bare === 0) return b;
  const out = Buffer.allocUnsafe(b.length + bare);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c === LF && b[i - 1] !== CR) out[n++] = CR;
    out[n++] = c;
  }
  return out;
}

export interface TextMaskerOptions {
  /**
   * Terminal output (SSH): a lone `\r` ends a line too (progress bars redraw a line without
   * ever ending it), and a masked key block whose lines ended with `\r\n` keeps `\r\n` between
   * the lines the detector writes (a PTY's raw mode shows a bare `\n` as a staircase).
   */
  readonly terminal?: boolean;
}

/**
 * Text: detectors line by line (no finding spans lines), line endings kept. A private
 * key block is the exception: from its BEGIN line it is held back and scanned whole at its
 * END line, or when it reaches `maxLine` bytes; then it is masked to the end of what was
 * held and every further line up to the END line becomes `****` (fail closed). A line of
 * more than `maxLine` bytes is replaced by `[withheld by portcullis: line too long to mask]`.
 * A `null` finding empties its line (or block). Bytes that are not text (binary output) are
 * lines like any other: what no detector recognises passes byte for byte.
 */
export function textMasker(plan: MaskPlan, maxLine: number, opts: TextMaskerOptions = {}): StreamMasker {
  const out = new StreamOutput();
  const scanner = plan.scanner;
  const terminal = opts.terminal === true;
  const withheld = Buffer.from(WITHHELD_LINE);
  const pem = scanner?.detectors.includes('private_key') === true;
  let block: Line[] = [];
  let blockSize = 0;
  let blockEnd: string | undefined;
  /** After a block too long to hold: the END line this stream still waits for. */
  let redactUntil: string | undefined;

  const scan = (content: Buffer, eol: Buffer, crlf = false): void => {
    const masked = scanner === undefined ? content : scanner.scanBytes(content);
    if (masked === content) {
      out.add(content, eol);
      return;
    }
    out.stats.changed++;
    out.stats.detectorHits++;
    out.add(masked === null ? EOL_NONE : crlf ? toCRLF(masked) : masked, eol);
  };
  const flushBlock = (): void => {
    const lines = block;
    block = [];
    blockSize = 0;
    blockEnd = undefined;
    const last = lines[lines.length - 1];
    if (last === undefined) return;
    const parts: Buffer[] = [];
    let crlf = terminal;
    for (const l of lines) {
      parts.push(l.content, l === last ? EOL_NONE : l.eol);
      if (l !== last && l.eol !== EOL_CRLF) crlf = false;
    }
    scan(Buffer.concat(parts), last.eol, crlf);
  };

  const splitter = new LineSplitter(maxLine, terminal, (content, eol) => {
    if (redactUntil !== undefined) {
      if (content !== null && content.includes(redactUntil)) {
        redactUntil = undefined;
        scan(content, eol);
      } else {
        out.stats.changed++;
        out.add(REDACTED_LINE, eol);
      }
      return;
    }
    if (blockEnd !== undefined) {
      if (content === null) {
        // Too long to hold: what was held is masked to its end (the END line is missing
        // from it), and the rest of the key is redacted line by line.
        redactUntil = blockEnd;
        flushBlock();
        out.stats.changed++;
        out.add(REDACTED_LINE, eol);
        splitter.max = maxLine;
        return;
      }
      block.push({ content, eol });
      blockSize += content.length;
      if (content.includes(blockEnd)) {
        flushBlock();
        splitter.max = maxLine;
      } else splitter.max = maxLine - blockSize;
      return;
    }
    if (content === null) {
      out.stats.changed++;
      out.add(withheld, eol);
      return;
    }
    const waitFor = pem ? openPemBlock(content) : undefined;
    if (waitFor === undefined) {
      scan(content, eol);
      return;
    }
    blockEnd = waitFor;
    block = [{ content, eol }];
    blockSize = content.length;
    splitter.max = maxLine - blockSize;
  });
  return {
    push: (chunk) => {
      splitter.push(chunk);
      return out.take();
    },
    end: () => {
      splitter.end();
      flushBlock();
      return out.take();
    },
    stats: out.stats,
  };
}
