// Passwords in URLs: `scheme://user:password@host...`. Only the password is the finding, so
// `postgres://app:****@db:5432/app` still says where it points. The authority ends at the
// first `/`, `?`, `#`, whitespace or quote; its last `@` separates the credentials (an
// unencoded `@` in a password is common enough to allow).
import { REDACTED } from '../maskers.ts';
import { isAlnum, isAlpha } from '../text.ts';
import { FLAG, type Detector, type SpanSink, type TextProfile } from '../types.ts';

/** Longest authority looked at; beyond it a run is not a URL worth parsing. */
const MAX_AUTHORITY = 1024;

function isSchemeChar(c: number): boolean {
  return isAlnum(c) || c === 43 || c === 45 || c === 46; // + - .
}

function endsAuthority(c: number): boolean {
  // / ? # space tab CR LF " ' < > ` and controls
  return c === 47 || c === 63 || c === 35 || c <= 32 || c === 34 || c === 39 || c === 60 || c === 62 || c === 96;
}

function find(text: string, sink: SpanSink): void {
  let sep = text.indexOf('://');
  while (sep !== -1) {
    let s = sep;
    while (s > 0 && isSchemeChar(text.charCodeAt(s - 1))) s--;
    // The scheme starts with a letter (skip leading digits or dots of a longer run).
    while (s < sep && !isAlpha(text.charCodeAt(s))) s++;
    const authStart = sep + 3;
    let e = authStart;
    let at = -1;
    while (e < text.length && e - authStart < MAX_AUTHORITY) {
      const c = text.charCodeAt(e);
      if (endsAuthority(c)) break;
      if (c === 64) at = e;
      e++;
    }
    if (s < sep && at > authStart && at + 1 < e) {
      const colon = text.indexOf(':', authStart);
      if (colon !== -1 && colon < at - 1) sink.add(colon + 1, at);
    }
    sep = text.indexOf('://', Math.max(e, sep + 3));
  }
}

export const connectionStringDetector: Detector = {
  name: 'connection_string',
  wants: (p: TextProfile) => (p.flags & (FLAG.at | FLAG.colon)) === (FLAG.at | FLAG.colon) && p.length >= 12,
  find,
  partial: () => REDACTED,
};
