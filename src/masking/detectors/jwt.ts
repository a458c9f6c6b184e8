// JSON Web Tokens (and JWE): dot-separated base64url segments whose first segment decodes to
// a JSON object with a string `alg`. Anchored on `eyJ` (base64 of `{"`); a run that is not a
// token is skipped whole, so a large base64 blob is read once.
import { REDACTED } from '../maskers.ts';
import { codeAt, isAlnum } from '../text.ts';
import { FLAG, type Detector, type SpanSink, type TextProfile } from '../types.ts';

/** Headers are small; a longer first segment is not worth decoding. */
const MAX_HEADER = 4096;

function isB64Url(c: number): boolean {
  return isAlnum(c) || c === 45 || c === 95; // - _
}

function segmentEnd(text: string, i: number): number {
  while (i < text.length && isB64Url(text.charCodeAt(i))) i++;
  return i;
}

export function isJwtHeader(segment: string): boolean {
  if (segment.length > MAX_HEADER) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

function find(text: string, sink: SpanSink): void {
  let at = text.indexOf('eyJ');
  while (at !== -1) {
    const headerEnd = segmentEnd(text, at + 3);
    let next = headerEnd;
    if (!isB64Url(codeAt(text, at - 1)) && codeAt(text, at - 1) !== 46 && codeAt(text, headerEnd) === 46) {
      // header.payload.signature (signature empty for alg none); JWE has five segments.
      // A sixth dot or an empty fourth segment (a full stop after the token) is not part of it.
      const ends = [headerEnd];
      let last = headerEnd;
      while (ends.length < 5 && codeAt(text, last) === 46) {
        last = segmentEnd(text, last + 1);
        ends.push(last);
      }
      const end = ends.length === 5 ? ends[4] : ends.length >= 3 ? ends[2] : undefined;
      if (end !== undefined && headerEnd - at >= 10 && isJwtHeader(text.slice(at, headerEnd))) {
        sink.add(at, end);
        next = end;
      }
    }
    at = text.indexOf('eyJ', next);
  }
}

/** Keeps the header (algorithm and key id, no claims); payload and signature go. */
function partial(match: string): string {
  const dot = match.indexOf('.');
  return dot === -1 ? REDACTED : `${match.slice(0, dot)}.${REDACTED}`;
}

export const jwtDetector: Detector = {
  name: 'jwt',
  wants: (p: TextProfile) => (p.flags & FLAG.dot) !== 0 && p.upper >= 1 && p.length >= 16,
  find,
  partial,
};
