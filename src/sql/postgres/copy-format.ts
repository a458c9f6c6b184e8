// The output format of a `COPY ... TO STDOUT`, read from the statement's parse tree (the one
// policy analysis parsed), so that the adapter can mask its data
// (src/protocols/postgres/masking/copy-masker.ts). Only what we fully understand is returned:
// an option we do not know, or one PostgreSQL itself would reject, gives undefined and the
// caller denies rather than guess at the layout of the bytes.
import { str, unwrap } from './ast.ts';
import { parsePostgres } from './parse.ts';

export type CopyFormat =
  | { readonly kind: 'text'; readonly delimiter: string; readonly null: string }
  | { readonly kind: 'csv'; readonly delimiter: string; readonly quote: string; readonly escape: string; readonly null: string; readonly header: boolean }
  | { readonly kind: 'binary' };

/** PostgreSQL refuses these as a text-format delimiter: they would be read as escapes. */
const TEXT_DELIMITER_FORBIDDEN = '\\.abcdefghijklmnopqrstuvwxyz0123456789';

interface Options {
  format?: string;
  delimiter?: string;
  null?: string;
  header?: boolean;
  quote?: string;
  escape?: string;
  forceQuote?: true;
}

/** The output format of a `COPY ... TO STDOUT` statement, from its parse tree; undefined when `sql` is not exactly one such COPY or has an option this module does not understand (then the caller refuses to mask and denies). */
export function copyOutputFormat(sql: string): CopyFormat | undefined {
  // The tree policy analysis parsed. Unparsable, or the parser not loaded yet: either way we
  // cannot vouch for the format.
  const parsed = parsePostgres(sql);
  if (!parsed.ok || parsed.stmts.length !== 1) return undefined;
  const stmt = unwrap(parsed.stmts[0]?.stmt);
  if (stmt === undefined || stmt[0] !== 'CopyStmt') return undefined;
  const body = stmt[1];
  // Only STDOUT reaches the client: FROM, a file name or a program do not produce CopyData out.
  if (body.is_from === true || body.is_program === true || body.filename !== undefined) return undefined;
  const options = readOptions(body.options);
  return options === undefined ? undefined : toFormat(options);
}

function readOptions(list: unknown): Options | undefined {
  const out: Options = {};
  if (list === undefined) return out;
  if (!Array.isArray(list)) return undefined;
  const seen = new Set<string>();
  for (const item of list) {
    const node = unwrap(item);
    if (node === undefined || node[0] !== 'DefElem') return undefined;
    const name = str(node[1].defname);
    // PostgreSQL rejects a repeated option ("conflicting or redundant options").
    if (name === undefined || seen.has(name)) return undefined;
    seen.add(name);
    const arg = node[1].arg;
    switch (name) {
      case 'format': {
        const v = stringArg(arg);
        if (v !== 'text' && v !== 'csv' && v !== 'binary') return undefined;
        out.format = v;
        break;
      }
      case 'delimiter':
      case 'null':
      case 'quote':
      case 'escape': {
        const v = stringArg(arg);
        if (v === undefined) return undefined;
        out[name] = v;
        break;
      }
      case 'header': {
        const v = headerArg(arg);
        if (v === undefined) return undefined;
        out.header = v;
        break;
      }
      case 'force_quote':
        // Only changes which output values are quoted, which the CSV reader handles anyway.
        out.forceQuote = true;
        break;
      case 'encoding': {
        // The masker reads the bytes as UTF-8 (ASCII-safe); another encoding may embed ASCII
        // bytes inside multibyte characters. PostgreSQL ignores case and punctuation here.
        const v = stringArg(arg)?.toLowerCase().replace(/[^a-z0-9]/g, '');
        if (v !== 'utf8' && v !== 'unicode') return undefined;
        break;
      }
      case 'freeze':
        // A loading hint: does not change what COPY TO writes.
        break;
      default:
        // Unknown, or only meaningful for COPY FROM (PostgreSQL rejects those with TO).
        return undefined;
    }
  }
  return out;
}

/** A DefElem's string argument (`'x'`, or a keyword such as csv); other node types -> undefined. */
function stringArg(arg: unknown): string | undefined {
  const node = unwrap(arg);
  if (node === undefined || node[0] !== 'String') return undefined;
  return str(node[1].sval) ?? '';
}

/** HEADER with no argument, a boolean, 0/1 or true/false/on/off/match (as PostgreSQL accepts). */
function headerArg(arg: unknown): boolean | undefined {
  if (arg === undefined) return true;
  const node = unwrap(arg);
  if (node === undefined) return undefined;
  const [type, body] = node;
  if (type === 'Boolean') return body.boolval === true;
  if (type === 'Integer') {
    // The tree omits a zero.
    const v = body.ival ?? 0;
    return v === 0 ? false : v === 1 ? true : undefined;
  }
  if (type === 'String') {
    const v = (str(body.sval) ?? '').toLowerCase();
    if (v === 'true' || v === 'on' || v === 'match') return true;
    if (v === 'false' || v === 'off') return false;
  }
  return undefined;
}

/** One byte in UTF-8: PostgreSQL requires single one-byte delimiter, quote and escape characters. */
function oneByte(s: string): boolean {
  return Buffer.byteLength(s, 'utf8') === 1;
}

function toFormat(o: Options): CopyFormat | undefined {
  const format = o.format ?? 'text';
  if (format === 'binary') {
    // PostgreSQL rejects these in binary mode.
    if (o.delimiter !== undefined || o.null !== undefined || o.header !== undefined || o.quote !== undefined
      || o.escape !== undefined || o.forceQuote !== undefined) return undefined;
    return { kind: 'binary' };
  }
  const csv = format === 'csv';
  const delimiter = o.delimiter ?? (csv ? ',' : '\t');
  const nullString = o.null ?? (csv ? '' : '\\N');
  if (!oneByte(delimiter) || delimiter === '\n' || delimiter === '\r') return undefined;
  if (nullString.includes('\n') || nullString.includes('\r') || nullString.includes(delimiter)) return undefined;
  if (!csv) {
    if (TEXT_DELIMITER_FORBIDDEN.includes(delimiter)) return undefined;
    // quote, escape and force_quote are CSV-only in PostgreSQL. A text-format header line is
    // valid PostgreSQL but CopyFormat has no place for it: refuse rather than mask it as a row.
    if (o.quote !== undefined || o.escape !== undefined || o.forceQuote !== undefined || o.header === true) return undefined;
    return { kind: 'text', delimiter, null: nullString };
  }
  const quote = o.quote ?? '"';
  const escape = o.escape ?? quote;
  if (!oneByte(quote) || !oneByte(escape) || quote === delimiter || nullString.includes(quote)) return undefined;
  // PostgreSQL accepts a line break as quote or escape; the masker does not follow such records.
  if (/[\r\n]/.test(quote + escape)) return undefined;
  return { kind: 'csv', delimiter, quote, escape, null: nullString, header: o.header ?? false };
}
