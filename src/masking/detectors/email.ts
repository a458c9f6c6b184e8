// Email addresses: a local part and a domain of at least two labels with an alphabetic TLD
// (letters of any script). Scanned outward from each `@` with plain loops: no regex, nothing to backtrack.
// Not matched, on purpose: `user@localhost` and other single-label hosts (ssh targets, git
// remotes, `postgres@db1` in logs are not personal addresses), and `icon@2x.png` image names.
import { partialEmail, REDACTED } from '../maskers.ts';
import { codeAt, isAlnum, isAlpha, isDigit } from '../text.ts';
import { FLAG, type Detector, type SpanSink, type TextProfile } from '../types.ts';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const MAX_LABEL = 63;

/**
 * Letters of other scripts (RFC 6531 addresses, IDN domains): from U+00C0 on, without the
 * punctuation and space blocks, so `søren@exämple.de` is found whole and not as `ren@...`.
 */
function isIntl(c: number): boolean {
  return c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && !(c >= 0x2000 && c <= 0x206f) && !(c >= 0x3000 && c <= 0x303f) && c !== 0xfeff;
}

// RFC 5322 atext without the rarely used symbols that mostly appear as punctuation around text.
function isLocalChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || isIntl(c); // . _ % + -
}

function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 45 || c === 46 || isIntl(c); // - .
}

/** Checks labels of text[start, end): 1-63 chars, no leading or trailing `-`, alphabetic TLD. */
function validDomain(text: string, start: number, end: number): boolean {
  let labels = 0;
  let labelStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== 46) continue;
    const len = i - labelStart;
    if (len === 0 || len > MAX_LABEL) return false;
    if (text.charCodeAt(labelStart) === 45 || text.charCodeAt(i - 1) === 45) return false;
    labels++;
    if (i === end) {
      if (len < 2) return false;
      for (let j = labelStart; j < end; j++) if (!isAlpha(text.charCodeAt(j)) && !isIntl(text.charCodeAt(j))) return false;
    }
    labelStart = i + 1;
  }
  return labels >= 2;
}

/**
 * `scheme://user:password@host` and `scheme://user@host`: URL credentials, not an address
 * (the connection_string detector masks the password and leaves the host readable).
 */
function inUrlAuthority(text: string, s: number): boolean {
  const before = codeAt(text, s - 1);
  if (before !== 58 && before !== 47) return false; // : /
  for (let i = s - 1; i >= 2 && s - i <= MAX_LOCAL * 2; i--) {
    const c = text.charCodeAt(i);
    if (c <= 32) return false;
    if (c === 47 && text.charCodeAt(i - 1) === 47 && text.charCodeAt(i - 2) === 58) return true;
  }
  return false;
}

function hasDoubleDot(text: string, start: number, end: number): boolean {
  for (let i = start + 1; i < end; i++) if (text.charCodeAt(i) === 46 && text.charCodeAt(i - 1) === 46) return true;
  return false;
}

/** `2x.png`, `3x.jpg`: the retina suffix of image file names. */
function isRetinaSuffix(text: string, start: number): boolean {
  let i = start;
  while (isDigit(codeAt(text, i))) i++;
  return i > start && codeAt(text, i) === 120 && codeAt(text, i + 1) === 46; // x .
}

function find(text: string, sink: SpanSink): void {
  let floor = 0;
  let at = text.indexOf('@');
  while (at !== -1) {
    let next = at + 1;
    let s = at;
    while (s > floor && at - s <= MAX_LOCAL && isLocalChar(text.charCodeAt(s - 1))) s--;
    // Leading dots belong to the sentence, not the address.
    while (s < at && text.charCodeAt(s) === 46) s++;
    let e = at + 1;
    while (e < text.length && e - at <= MAX_DOMAIN && isDomainChar(text.charCodeAt(e))) e++;
    // A trailing dot or dash ends the sentence ("write to jane@example.com.").
    while (e > at + 1 && (text.charCodeAt(e - 1) === 46 || text.charCodeAt(e - 1) === 45)) e--;
    const localOk = s < at && at - s <= MAX_LOCAL && text.charCodeAt(at - 1) !== 46 && !hasDoubleDot(text, s, at);
    if (localOk && e - at - 1 <= MAX_DOMAIN && !inUrlAuthority(text, s) && validDomain(text, at + 1, e) && !isRetinaSuffix(text, at + 1)) {
      sink.add(s, e);
      floor = e;
      next = e;
    }
    at = text.indexOf('@', next);
  }
}

export const emailDetector: Detector = {
  name: 'email',
  wants: (p: TextProfile) => (p.flags & FLAG.at) !== 0 && p.length >= 6,
  find,
  partial: (match) => partialEmail(match) ?? REDACTED,
};
