// The four masking functions a rule can name. Each takes a text value as a string or as the
// bytes of one (a wire value), and never throws, whatever the input: empty, huge, binary,
// invalid UTF-8. `null` is SQL NULL: the caller writes a NULL instead of the value.
import { createHmac, type KeyObject, createSecretKey } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { head, isDigit, starDigitsExceptLast, tail } from './text.ts';
import type { MaskFunction } from './types.ts';

export const REDACTED = '****';

/** `redact`: a fixed `****` whatever the value, so not even its length shows. */
export function redact(_value?: string | Uint8Array): string {
  return REDACTED;
}

export function redactBytes(_value?: Uint8Array): Buffer {
  // A fresh copy each time: a shared Buffer could be written into by a caller.
  return Buffer.from(REDACTED, 'latin1');
}

export interface PartialOptions {
  /** Characters kept at the start. */
  readonly head?: number;
  /** Characters kept at the end. */
  readonly tail?: number;
}

/** Generic values shorter than this are redacted whole: four kept characters would be half. */
const GENERIC_MIN = 8;
const GENERIC_TAIL = 4;
/** Longest value whose shape is examined (an email is at most 254 characters). */
const SHAPE_MAX = 320;

/**
 * `partial`: keep a little of the value. With no options the value's shape decides:
 * an email keeps the first character of its local part and its domain (`j***@example.com`),
 * a card number its last four digits and its grouping (`**** **** **** 4242`), anything
 * else its last four characters when it has at least eight (`****6789`), else `****`.
 * With options, `head`/`tail` characters are kept when together they are at most half the
 * value; otherwise the value is redacted.
 */
export function partial(value: string, options?: PartialOptions): string {
  if (options !== undefined && (options.head !== undefined || options.tail !== undefined)) return partialKeep(value, options.head ?? 0, options.tail ?? 0);
  if (value.length <= SHAPE_MAX) {
    if (value.indexOf('@') > 0) {
      const email = partialEmail(value);
      if (email !== undefined) return email;
    }
    if (looksLikeCard(value)) return partialCard(value);
  }
  return partialGeneric(value);
}

/** `partial` over the bytes of a text value; binary or invalid UTF-8 is redacted whole. */
export function partialBytes(value: Uint8Array, options?: PartialOptions): Buffer {
  if (!isUtf8(value)) return redactBytes();
  return Buffer.from(partial(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'), options), 'utf8');
}

function partialKeep(value: string, keepHead: number, keepTail: number): string {
  const h = Math.max(0, Math.floor(keepHead));
  const t = Math.max(0, Math.floor(keepTail));
  if (h + t === 0 || value.length < 2 * (h + t)) return REDACTED;
  return head(value, h) + REDACTED + (t > 0 ? tail(value, t) : '');
}

export function partialGeneric(value: string): string {
  return value.length < GENERIC_MIN ? REDACTED : REDACTED + tail(value, GENERIC_TAIL);
}

/** `jane.doe@example.com` -> `j***@example.com`; undefined when the value is not email-shaped. */
export function partialEmail(value: string): string | undefined {
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1 || value.indexOf('.', at) === -1) return undefined;
  const local = value.slice(0, at);
  return (local.length >= 2 ? head(local, 1) : '') + '***' + value.slice(at);
}

/** Digits, spaces and dashes only, with 13 to 19 digits. */
function looksLikeCard(value: string): boolean {
  if (value.length < 13 || value.length > 23) return false;
  let digits = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (c !== 32 && c !== 45) return false;
  }
  return digits >= 13 && digits <= 19;
}

/** `4242 4242 4242 4242` -> `**** **** **** 4242`: the grouping stays, the last four too. */
export function partialCard(value: string): string {
  return starDigitsExceptLast(value, 4);
}

/** The minimum key length: HMAC with a short key would be a guessable mapping. */
export const MIN_HASH_KEY_BYTES = 16;
const TOKEN_BYTES = 8;

/** `hash` bound to a deployment key: a short stable token per distinct value. */
export type Hasher = (value: string | Uint8Array) => string;

/**
 * `hash`: HMAC-SHA-256 of the value's UTF-8 bytes under the deployment's key, shown as
 * `h:` and 16 hex digits. The same value always gives the same token (joins and group-bys
 * still work), a different key gives unrelated tokens, and without the key nobody can
 * test a guess (a plain hash of a 9-digit SSN would be reversed by enumeration).
 * A string and its UTF-8 bytes give the same token. Throws only on a key that is too short.
 */
export function createHasher(key: Uint8Array): Hasher {
  if (key.byteLength < MIN_HASH_KEY_BYTES) throw new RangeError(`the mask hash key must have at least ${MIN_HASH_KEY_BYTES} bytes`);
  const secret: KeyObject = createSecretKey(Buffer.from(key));
  return (value) => 'h:' + createHmac('sha256', secret).update(value).digest().toString('hex', 0, TOKEN_BYTES);
}

/** What a mask function turned a value into: text, or null for SQL NULL. */
export function applyMask(fn: MaskFunction, value: string, hasher: Hasher, options?: PartialOptions): string | null {
  switch (fn) {
    case 'redact':
      return REDACTED;
    case 'partial':
      return partial(value, options);
    case 'hash':
      return hasher(value);
    case 'null':
      return null;
  }
}

/** applyMask over the bytes of a value; the token of `hash` covers the exact bytes. */
export function applyMaskBytes(fn: MaskFunction, value: Uint8Array, hasher: Hasher, options?: PartialOptions): Buffer | null {
  switch (fn) {
    case 'redact':
      return redactBytes();
    case 'partial':
      return partialBytes(value, options);
    case 'hash':
      return Buffer.from(hasher(value), 'latin1');
    case 'null':
      return null;
  }
}
