// Character-level helpers shared by maskers and detectors. Detectors work on char codes
// rather than regular expressions where a regex could backtrack, and the profile below lets
// the scanner skip every detector a value cannot trigger.
import { FLAG, type TextProfile } from './types.ts';

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

export function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

export function isAlnum(c: number): boolean {
  return isDigit(c) || isAlpha(c);
}

/** Letters, digits and `_`: what continues an identifier, so a finding must not touch one. */
export function isWordChar(c: number): boolean {
  return isAlnum(c) || c === 95;
}

/** Char code at i, or -1 outside the text: boundary checks need no length tests. */
export function codeAt(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}

// Flag per ASCII code: one table lookup per character in the profile loop.
const ASCII_FLAGS = new Uint8Array(128);
ASCII_FLAGS[64] = FLAG.at;
ASCII_FLAGS[43] = FLAG.plus;
ASCII_FLAGS[58] = FLAG.colon;
ASCII_FLAGS[46] = FLAG.dot;
ASCII_FLAGS[95] = FLAG.underscore;
ASCII_FLAGS[45] = FLAG.dash;

export function newProfile(): TextProfile {
  return { length: 0, digits: 0, upper: 0, flags: 0 };
}

/** Fill `p` from a string. Reuses the object: the scanner calls this once per value. */
export function profileText(text: string, p: TextProfile): TextProfile {
  let digits = 0;
  let upper = 0;
  let flags = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 65 && c <= 90) upper++;
    else if (c < 128) flags |= ASCII_FLAGS[c] as number;
    else flags |= FLAG.high;
  }
  p.length = text.length;
  p.digits = digits;
  p.upper = upper;
  p.flags = flags;
  return p;
}

/** Same as profileText over bytes, so a Buffer that needs no scan is never decoded. */
export function profileBytes(bytes: Uint8Array, p: TextProfile): TextProfile {
  let digits = 0;
  let upper = 0;
  let flags = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 65 && c <= 90) upper++;
    else if (c < 128) flags |= ASCII_FLAGS[c] as number;
    else flags |= FLAG.high;
  }
  p.length = bytes.length;
  p.digits = digits;
  p.upper = upper;
  p.flags = flags;
  return p;
}

/** Index `i` moved back off the low half of a surrogate pair, so a slice never splits one. */
function safeCut(text: string, i: number): number {
  const c = codeAt(text, i);
  return c >= 0xdc00 && c <= 0xdfff && i > 0 ? i - 1 : i;
}

/** The first `n` UTF-16 units, never ending inside a surrogate pair. */
export function head(text: string, n: number): string {
  return text.slice(0, safeCut(text, n));
}

/** The last `n` UTF-16 units, never starting inside a surrogate pair. */
export function tail(text: string, n: number): string {
  const start = Math.max(0, text.length - n);
  const c = codeAt(text, start);
  return text.slice(c >= 0xdc00 && c <= 0xdfff ? start + 1 : start);
}

/** Replace every ASCII digit with `*` except the last `keep`, leaving separators in place. */
export function starDigitsExceptLast(text: string, keep: number): string {
  let remaining = 0;
  for (let i = 0; i < text.length; i++) if (isDigit(text.charCodeAt(i))) remaining++;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) {
      out += remaining > keep ? '*' : text[i];
      remaining--;
    } else out += text[i];
  }
  return out;
}
