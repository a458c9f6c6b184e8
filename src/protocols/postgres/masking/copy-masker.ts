// Masks chosen columns in the data of a `COPY ... TO STDOUT` (the payloads of the server's
// CopyData messages), for the text, CSV and binary formats:
// https://www.postgresql.org/docs/current/sql-copy.html#SQL-COPY-FILE-FORMATS
//
// The stream is cut into units (rows; for binary also the header and the trailer) by a
// splitter that looks at each byte once and keeps its state across payloads, so a row split
// over messages costs no rescan. A complete unit is then parsed once and rewritten only if a
// value changed; untouched units go out as the same bytes. Data that never completes a unit
// is never sent: a truncated row could show protected bytes outside any field we mask.
import type { CopyFormat } from '../../../sql/postgres/copy-format.ts';

/** A column's mask: the value's bytes (de-escaped text for text/csv, raw field bytes for binary) -> new bytes, or null for SQL NULL. Never called for NULL input. */
export type ValueMasker = (value: Buffer) => Buffer | null;

export interface CopyMasker {
  /** The payload of one CopyData message from the server -> payloads to send to the client (zero or more; rows may span messages, so incomplete data is held back). */
  push(payload: Buffer): Buffer[];
  /** At CopyDone: whatever is held back, masked as far as possible; a truncated row is dropped (never sent unmasked). Returns payloads to send before CopyDone. */
  end(): Buffer[];
  /** Rows that had at least one value changed. */
  readonly maskedRows: number;
}

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

/** Finds where units end in a stream fed chunk by chunk. */
interface Splitter {
  /** Appends to `out` the offset just past each unit that ends in `chunk`. */
  scan(chunk: Buffer, out: number[]): void;
}

/** One complete unit -> the unit to send; the same Buffer when no value changed. */
type Rewrite = (unit: Buffer) => Buffer;

/** Column i's masker; fields beyond the expected columns get the first masker (fail closed). */
type MaskerAt = (index: number) => ValueMasker | undefined;

export function createCopyMasker(format: CopyFormat, columns: readonly (ValueMasker | undefined)[]): CopyMasker {
  const maskers = [...columns];
  const fallback = maskers.find((m) => m !== undefined);
  const maskerAt: MaskerAt = (i) => (i < maskers.length ? maskers[i] : fallback);
  switch (format.kind) {
    case 'text': {
      const delimiter = asciiByte(format.delimiter, 'delimiter');
      return new StreamMasker(new TextSplitter(), textRewrite(delimiter, Buffer.from(format.null, 'utf8'), maskerAt));
    }
    case 'csv': {
      const quote = asciiByte(format.quote, 'quote');
      const escape = asciiByte(format.escape, 'escape');
      const syntax: CsvSyntax = { delimiter: asciiByte(format.delimiter, 'delimiter'), quote, escape, nullString: Buffer.from(format.null, 'utf8') };
      return new StreamMasker(new CsvSplitter(quote, escape), csvRewrite(syntax, format.header, maskerAt));
    }
    case 'binary':
      return new StreamMasker(new BinarySplitter(), binaryRewrite(maskerAt));
  }
}

/** Delimiter, quote and escape are single one-byte characters (copyOutputFormat ensures it). */
function asciiByte(s: string, what: string): number {
  const b = Buffer.from(s, 'utf8');
  if (b.length !== 1) throw new Error(`COPY ${what} must be a single one-byte character`);
  return b[0]!;
}

class StreamMasker implements CopyMasker {
  #maskedRows = 0;
  /** The start of an unfinished unit, copied: the caller may reuse its payload buffers. */
  #held: Buffer[] = [];
  readonly #ends: number[] = [];

  constructor(private readonly splitter: Splitter, private readonly rewrite: Rewrite) {}

  get maskedRows(): number {
    return this.#maskedRows;
  }

  push(payload: Buffer): Buffer[] {
    const ends = this.#ends;
    ends.length = 0;
    this.splitter.scan(payload, ends);
    const heldBefore = this.#held.length > 0;
    if (ends.length === 0) {
      if (payload.length > 0) this.#held.push(Buffer.from(payload));
      return [];
    }
    const out: Buffer[] = [];
    let start = 0;
    let changed = false;
    for (const end of ends) {
      let unit = payload.subarray(start, end);
      if (this.#held.length > 0) {
        this.#held.push(unit);
        unit = Buffer.concat(this.#held);
        this.#held = [];
      }
      const rewritten = this.rewrite(unit);
      if (rewritten !== unit) {
        changed = true;
        this.#maskedRows++;
      }
      out.push(rewritten);
      start = end;
    }
    if (start < payload.length) this.#held.push(Buffer.from(payload.subarray(start)));
    // Nothing changed and nothing carried over: the complete units are a prefix of the payload.
    if (!changed && !heldBefore) return [payload.subarray(0, start)];
    return [out.length === 1 ? out[0]! : Buffer.concat(out)];
  }

  end(): Buffer[] {
    // Every complete unit went out in push(): what is held is an unfinished row (or binary
    // header), which is dropped rather than sent with fields we could not delimit.
    this.#held = [];
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Text format: rows end with an unescaped LF; a backslash escapes the next byte, even a LF.

class TextSplitter implements Splitter {
  /** The last byte seen was an unescaped backslash. */
  #escaped = false;

  scan(chunk: Buffer, out: number[]): void {
    let escaped = this.#escaped;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === LF) out.push(i + 1);
    }
    this.#escaped = escaped;
  }
}

/** Control characters PostgreSQL writes as a backslash and a letter, by code. */
const TEXT_ESCAPE_LETTER: ReadonlyMap<number, number> = new Map([
  [0x08, 0x62], // \b
  [0x0c, 0x66], // \f
  [0x0a, 0x6e], // \n
  [0x0d, 0x72], // \r
  [0x09, 0x74], // \t
  [0x0b, 0x76], // \v
]);
const TEXT_UNESCAPE_LETTER: ReadonlyMap<number, number> = new Map([...TEXT_ESCAPE_LETTER].map(([code, letter]) => [letter, code]));

function textRewrite(delimiter: number, nullString: Buffer, maskerAt: MaskerAt): Rewrite {
  /** The field's new bytes, or undefined to keep it as it is. */
  const maskField = (raw: Buffer, masker: ValueMasker): Buffer | undefined => {
    // The null marker is compared before de-escaping, as PostgreSQL reads it.
    if (raw.equals(nullString)) return undefined;
    const value = raw.includes(BACKSLASH) ? textUnescape(raw) : raw;
    const masked = masker(value);
    if (masked === null) return nullString;
    return masked.equals(value) ? undefined : textEscape(masked, delimiter);
  };
  return (row) => {
    const end = row.length - 1; // the terminating LF
    let pieces: Buffer[] | undefined;
    let copied = 0;
    let fieldStart = 0;
    let index = 0;
    for (let i = 0; i <= end; i++) {
      if (i < end) {
        const b = row[i];
        if (b === BACKSLASH && i + 1 < end) {
          i++; // the escaped byte is data, even the delimiter
          continue;
        }
        if (b !== delimiter) continue;
      }
      const masker = maskerAt(index++);
      if (masker !== undefined) {
        const replacement = maskField(row.subarray(fieldStart, i), masker);
        if (replacement !== undefined) {
          (pieces ??= []).push(row.subarray(copied, fieldStart), replacement);
          copied = i;
        }
      }
      fieldStart = i + 1;
    }
    if (pieces === undefined) return row;
    pieces.push(row.subarray(copied));
    return Buffer.concat(pieces);
  };
}

function isOctal(b: number | undefined): b is number {
  return b !== undefined && b >= 0x30 && b <= 0x37;
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

/** A text-format field's value, as PostgreSQL's COPY FROM reads it. */
function textUnescape(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  let i = 0;
  while (i < raw.length) {
    const b = raw[i++]!;
    if (b !== BACKSLASH) {
      out[n++] = b;
      continue;
    }
    // A lone backslash at the end of the row: PostgreSQL drops it.
    if (i >= raw.length) break;
    const c = raw[i++]!;
    if (isOctal(c)) {
      let v = c - 0x30;
      for (let k = 0; k < 2 && isOctal(raw[i]); k++) v = v * 8 + (raw[i++]! - 0x30);
      out[n++] = v & 0xff;
    } else if (c === 0x78 /* x */ && hexValue(raw[i]) >= 0) {
      let v = hexValue(raw[i++]);
      const low = hexValue(raw[i]);
      if (low >= 0) {
        v = v * 16 + low;
        i++;
      }
      out[n++] = v;
    } else {
      out[n++] = TEXT_UNESCAPE_LETTER.get(c) ?? c;
    }
  }
  return out.subarray(0, n);
}

/** A value as PostgreSQL's COPY TO writes it in text format. */
function textEscape(value: Buffer, delimiter: number): Buffer {
  let extra = 0;
  for (const b of value) if (b === BACKSLASH || b === delimiter || TEXT_ESCAPE_LETTER.has(b)) extra++;
  if (extra === 0) return value;
  const out = Buffer.allocUnsafe(value.length + extra);
  let n = 0;
  for (const b of value) {
    const letter = TEXT_ESCAPE_LETTER.get(b);
    if (letter !== undefined) {
      out[n++] = BACKSLASH;
      out[n++] = letter;
    } else {
      if (b === BACKSLASH || b === delimiter) out[n++] = BACKSLASH;
      out[n++] = b;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CSV: records end with LF (or CR LF) outside quotes. Inside quotes an escape byte (when it
// differs from the quote) makes a following quote or escape literal; a doubled quote toggles
// out of and back into the quotes, which needs no special case.

interface CsvSyntax {
  readonly delimiter: number;
  readonly quote: number;
  readonly escape: number;
  readonly nullString: Buffer;
}

class CsvSplitter implements Splitter {
  #inQuote = false;
  /** Inside quotes, the last byte was an escape: the next byte is data. */
  #escaped = false;
  /** -1 when escape equals quote: then only the quote is special. */
  readonly #escape: number;

  constructor(private readonly quote: number, escape: number) {
    this.#escape = escape === quote ? -1 : escape;
  }

  scan(chunk: Buffer, out: number[]): void {
    const quote = this.quote;
    const escape = this.#escape;
    let inQuote = this.#inQuote;
    let escaped = this.#escaped;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (inQuote) {
        if (escaped) escaped = false;
        else if (b === escape) escaped = true;
        else if (b === quote) inQuote = false;
      } else if (b === quote) inQuote = true;
      else if (b === LF) out.push(i + 1);
    }
    this.#inQuote = inQuote;
    this.#escaped = escaped;
  }
}

function csvRewrite(syntax: CsvSyntax, header: boolean, maskerAt: MaskerAt): Rewrite {
  const { delimiter, quote, nullString } = syntax;
  const escape = syntax.escape === quote ? -1 : syntax.escape;
  let skipHeader = header;
  const maskField = (raw: Buffer, masker: ValueMasker): Buffer | undefined => {
    // Any quote byte means the field was quoted; only an unquoted match of the null string is NULL.
    const quoted = raw.includes(quote);
    if (!quoted && raw.equals(nullString)) return undefined;
    const value = quoted ? csvUnquote(raw, syntax) : raw;
    const masked = masker(value);
    if (masked === null) return nullString;
    return masked.equals(value) ? undefined : csvQuote(masked, syntax);
  };
  return (record) => {
    if (skipHeader) {
      skipHeader = false;
      return record;
    }
    let end = record.length - 1; // the terminating LF
    if (end > 0 && record[end - 1] === CR) end--;
    let pieces: Buffer[] | undefined;
    let copied = 0;
    let fieldStart = 0;
    let index = 0;
    let inQuote = false;
    let escaped = false;
    for (let i = 0; i <= end; i++) {
      if (i < end) {
        const b = record[i];
        if (inQuote) {
          if (escaped) escaped = false;
          else if (b === escape) escaped = true;
          else if (b === quote) inQuote = false;
          continue;
        }
        if (b === quote) inQuote = true;
        if (b !== delimiter) continue;
      }
      const masker = maskerAt(index++);
      if (masker !== undefined) {
        const replacement = maskField(record.subarray(fieldStart, i), masker);
        if (replacement !== undefined) {
          (pieces ??= []).push(record.subarray(copied, fieldStart), replacement);
          copied = i;
        }
      }
      fieldStart = i + 1;
    }
    if (pieces === undefined) return record;
    pieces.push(record.subarray(copied));
    return Buffer.concat(pieces);
  };
}

/** A quoted CSV field's value, as PostgreSQL's COPY FROM reads it. */
function csvUnquote(raw: Buffer, { quote, escape }: CsvSyntax): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  let inQuote = false;
  let i = 0;
  while (i < raw.length) {
    const b = raw[i++]!;
    if (!inQuote) {
      if (b === quote) inQuote = true;
      else out[n++] = b;
      continue;
    }
    // Checked before the closing quote: with escape = quote, "" inside quotes is one quote.
    const next = raw[i];
    if (b === escape && (next === escape || next === quote)) {
      out[n++] = next;
      i++;
    } else if (b === quote) {
      inQuote = false;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

const END_OF_DATA = Buffer.from('\\.');

/** A value as a CSV field: quoted when it holds a special byte or would read back as NULL. */
function csvQuote(value: Buffer, { delimiter, quote, escape, nullString }: CsvSyntax): Buffer {
  let specials = 0;
  let mustQuote = value.equals(nullString) || value.equals(END_OF_DATA);
  for (const b of value) {
    if (b === quote || b === escape) specials++;
    else if (b === delimiter || b === LF || b === CR) mustQuote = true;
  }
  if (!mustQuote && specials === 0) return value;
  const out = Buffer.allocUnsafe(value.length + specials + 2);
  let n = 0;
  out[n++] = quote;
  for (const b of value) {
    if (b === quote || b === escape) out[n++] = escape;
    out[n++] = b;
  }
  out[n++] = quote;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Binary: signature, int32 flags, int32 extension length and extension; then tuples (int16
// field count, per field int32 length or -1 for NULL, then the bytes); an int16 -1 trailer.

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_LENGTH = SIGNATURE.length + 8;

const Phase = {
  header: 0,
  extension: 1,
  count: 2,
  length: 3,
  data: 4,
  done: 5,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

class BinarySplitter implements Splitter {
  #phase: Phase = Phase.header;
  readonly #header = Buffer.alloc(HEADER_LENGTH);
  /** Bytes still to read in this phase (header, extension, integer or field data). */
  #need = HEADER_LENGTH;
  /** The integer being read, big-endian, unsigned so far. */
  #int = 0;
  #fieldsLeft = 0;
  #failed: Error | undefined;

  scan(chunk: Buffer, out: number[]): void {
    // A stream we could not follow stays refused: nothing after it can be delimited.
    if (this.#failed !== undefined) throw this.#failed;
    try {
      this.#scan(chunk, out);
    } catch (error) {
      this.#failed = error instanceof Error ? error : new Error(String(error));
      throw this.#failed;
    }
  }

  #scan(chunk: Buffer, out: number[]): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.#phase) {
        case Phase.header: {
          const take = Math.min(this.#need, chunk.length - i);
          chunk.copy(this.#header, HEADER_LENGTH - this.#need, i, i + take);
          i += take;
          this.#need -= take;
          if (this.#need === 0) this.#headerDone(i, out);
          break;
        }
        case Phase.extension:
        case Phase.data: {
          const take = Math.min(this.#need, chunk.length - i);
          i += take;
          this.#need -= take;
          if (this.#need > 0) break;
          if (this.#phase === Phase.extension) this.#tupleStart(i, out);
          else this.#fieldDone(i, out);
          break;
        }
        case Phase.count:
        case Phase.length: {
          this.#int = this.#int * 256 + chunk[i++]!;
          if (--this.#need > 0) break;
          if (this.#phase === Phase.count) this.#countDone(this.#int >= 0x8000 ? this.#int - 0x10000 : this.#int, i, out);
          else this.#lengthDone(this.#int | 0, i, out);
          break;
        }
        case Phase.done:
          throw malformed('data after the trailer');
      }
    }
  }

  #headerDone(at: number, out: number[]): void {
    if (!this.#header.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw malformed('bad signature');
    // Bits 16-31 are critical (16 = OIDs included): a reader must stop on one it does not handle.
    if (this.#header.readUInt32BE(SIGNATURE.length) >>> 16 !== 0) throw malformed('unsupported header flags');
    const extension = this.#header.readInt32BE(SIGNATURE.length + 4);
    if (extension < 0) throw malformed('negative header extension length');
    if (extension > 0) {
      this.#phase = Phase.extension;
      this.#need = extension;
    } else {
      this.#tupleStart(at, out);
    }
  }

  /** The header or a tuple ended at `at`: the next unit starts with a field count. */
  #tupleStart(at: number, out: number[]): void {
    out.push(at);
    this.#readInt(Phase.count, 2);
  }

  #countDone(count: number, at: number, out: number[]): void {
    if (count === -1) {
      out.push(at);
      this.#phase = Phase.done;
    } else if (count < 0) {
      throw malformed(`field count ${count}`);
    } else if (count === 0) {
      this.#tupleStart(at, out);
    } else {
      this.#fieldsLeft = count;
      this.#readInt(Phase.length, 4);
    }
  }

  #lengthDone(length: number, at: number, out: number[]): void {
    if (length < -1) throw malformed(`field length ${length}`);
    if (length <= 0) {
      this.#fieldDone(at, out);
    } else {
      this.#phase = Phase.data;
      this.#need = length;
    }
  }

  #fieldDone(at: number, out: number[]): void {
    if (--this.#fieldsLeft === 0) this.#tupleStart(at, out);
    else this.#readInt(Phase.length, 4);
  }

  #readInt(phase: Phase, bytes: number): void {
    this.#phase = phase;
    this.#need = bytes;
    this.#int = 0;
  }
}

function malformed(what: string): Error {
  return new Error(`COPY binary data is malformed (${what}): it cannot be masked`);
}

function binaryRewrite(maskerAt: MaskerAt): Rewrite {
  let header = true;
  return (unit) => {
    if (header) {
      header = false;
      return unit;
    }
    // The splitter checked the layout; a negative count is the trailer.
    const count = unit.readInt16BE(0);
    let pieces: Buffer[] | undefined;
    let copied = 0;
    let pos = 2;
    for (let field = 0; field < count; field++) {
      const length = unit.readInt32BE(pos);
      const dataStart = pos + 4;
      const dataEnd = dataStart + Math.max(length, 0);
      const masker = length === -1 ? undefined : maskerAt(field);
      if (masker !== undefined) {
        const value = unit.subarray(dataStart, dataEnd);
        const masked = masker(value);
        if (masked === null || !masked.equals(value)) {
          const prefix = Buffer.allocUnsafe(4);
          prefix.writeInt32BE(masked === null ? -1 : masked.length);
          (pieces ??= []).push(unit.subarray(copied, pos), prefix);
          if (masked !== null) pieces.push(masked);
          copied = dataEnd;
        }
      }
      pos = dataEnd;
    }
    if (pieces === undefined) return unit;
    pieces.push(unit.subarray(copied));
    return Buffer.concat(pieces);
  };
}
