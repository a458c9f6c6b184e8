// Turns an event's data into the JSON text stored in `session_events.data`. Runs at flush time,
// off the hot path: event() only keeps a reference. Bulky values are cut with a visible marker
// (a recording must say what it left out), values JSON cannot hold are converted, and values
// under secret-named keys are redacted as a last line of defence (adapters must not pass them).
import { isSecretFieldName } from '../core/secret-names.ts';

/** Statement text and other long strings: enough for any statement a human reads in replay. */
export const MAX_STRING_BYTES = 64 * 1024;
/** One bound parameter: a bulk insert's bytea payload is not worth replaying byte for byte. */
export const MAX_PARAM_BYTES = 4 * 1024;
/** Parameters kept per statement (PostgreSQL allows 65535). */
export const MAX_PARAMS = 256;
/** Array entries kept anywhere else. */
const MAX_ARRAY = 1000;
/** Deep enough for any sane event; also what stops a cyclic object. */
const MAX_DEPTH = 16;

export const REDACTED = '[REDACTED]';

/** `text` cut to at most `maxBytes` of UTF-8, with a marker naming the original size. */
export function truncateText(text: string, maxBytes: number): string {
  // Cheap test first: a string of n UTF-16 units is at most 3n bytes of UTF-8.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxBytes) return text;
  // Decoding a cut buffer replaces a split character with U+FFFD; drop it.
  const head = Buffer.from(text, 'utf8').subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  return `${head}…[truncated: ${bytes} bytes]`;
}

function truncateArray(values: readonly unknown[], max: number, depth: number, itemBytes: number): unknown[] {
  const out: unknown[] = [];
  const n = Math.min(values.length, max);
  for (let i = 0; i < n; i++) out.push(clean(values[i], depth + 1, itemBytes));
  if (values.length > max) out.push(`…[truncated: ${values.length} items]`);
  return out;
}

function clean(value: unknown, depth: number, maxBytes: number): unknown {
  switch (typeof value) {
    case 'string':
      return truncateText(value, maxBytes);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value;
    case 'undefined':
      return null;
    case 'function':
    case 'symbol':
      return `[${typeof value}]`;
    default:
      break;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return '…[truncated: nested too deep]';
  if (value instanceof Uint8Array) {
    // Binary (bytea parameters, raw frames): base64 of at most maxBytes of it.
    const b64 = Buffer.from(value.buffer, value.byteOffset, Math.min(value.byteLength, maxBytes)).toString('base64');
    return value.byteLength > maxBytes ? { base64: b64, truncated: value.byteLength } : { base64: b64 };
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Error) return { error: value.name, message: truncateText(value.message, MAX_PARAM_BYTES) };
  if (Array.isArray(value)) return truncateArray(value, MAX_ARRAY, depth, maxBytes);
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (isSecretFieldName(key)) out[key] = REDACTED;
    else if (key === 'params' && Array.isArray(child)) out[key] = truncateArray(child, MAX_PARAMS, depth, MAX_PARAM_BYTES);
    else out[key] = clean(child, depth + 1, maxBytes);
  }
  return out;
}

/**
 * Whether clean() would return a copy equal to `value`: then JSON.stringify can write `value`
 * itself. Most events are small flat objects (a statement, its verdict, row counts), and this
 * walk allocates nothing where clean() copies every object.
 */
function alreadyClean(value: unknown, depth: number, maxBytes: number): boolean {
  switch (typeof value) {
    case 'string':
      return value.length * 3 <= maxBytes;
    case 'number':
      return Number.isFinite(value);
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      return false; // undefined (null in a copy, absent from JSON.stringify), bigint, function, symbol
  }
  if (value === null) return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    if (value.length > MAX_ARRAY) return false;
    for (let i = 0; i < value.length; i++) if (!alreadyClean(value[i], depth + 1, maxBytes)) return false;
    return true;
  }
  // Buffers, Dates, Errors, Maps and class instances are converted by clean().
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) return false;
    if (isSecretFieldName(key)) return false;
    const child = record[key];
    if (key === 'params' && Array.isArray(child)) {
      if (!(child.length <= MAX_PARAMS && alreadyClean(child, depth, MAX_PARAM_BYTES))) return false;
    } else if (!alreadyClean(child, depth + 1, maxBytes)) return false;
  }
  return true;
}

/** The bounded copy of `data` that eventDataJson writes when the data needs cleaning (the reference its fast path must match). */
export function cleanEventData(data: Readonly<Record<string, unknown>>): unknown {
  return clean(data, 0, MAX_STRING_BYTES);
}

/** JSON text of `data`, bounded; never throws (a getter that throws is recorded as such). */
export function eventDataJson(data: Readonly<Record<string, unknown>>): string {
  try {
    if (alreadyClean(data, 0, MAX_STRING_BYTES)) return JSON.stringify(data);
    return JSON.stringify(clean(data, 0, MAX_STRING_BYTES));
  } catch (err) {
    return JSON.stringify({ unrecordable: err instanceof Error ? truncateText(err.message, MAX_PARAM_BYTES) : 'unknown error' });
  }
}
