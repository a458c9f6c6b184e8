// IPv4 and IPv6 addresses, validated by node:net (no leading zeros, octets up to 255, one
// `::` at most). Candidates are maximal runs of address characters, each read once.
// Not matched: version strings with more than four parts (`1.2.3.4.5`), times (`10:30:00`),
// MAC addresses, and `std::vector`-like names (the run must not touch a letter or digit).
import { isIPv4, isIPv6 } from 'node:net';
import { REDACTED } from '../maskers.ts';
import { codeAt, isDigit, isWordChar } from '../text.ts';
import { FLAG, type Detector, type SpanSink, type TextProfile } from '../types.ts';

const V4 = /\d{1,3}(?:\.\d{1,3}){3}/g;

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function findV4(text: string, sink: SpanSink): void {
  V4.lastIndex = 0;
  for (let m = V4.exec(text); m !== null; m = V4.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    const before = codeAt(text, start - 1);
    const after = codeAt(text, end);
    // Part of a longer dotted number or word: a version, an OID, a hostname label.
    if (isWordChar(before) || before === 46 || isWordChar(after) || (after === 46 && isDigit(codeAt(text, end + 1)))) {
      V4.lastIndex = end;
      continue;
    }
    // Inside an IPv6 address (`::ffff:10.0.0.1`): the IPv6 pass reports the whole address.
    if (before === 58) continue;
    if (isIPv4(m[0])) sink.add(start, end);
  }
}

/** Longest IPv6 text form (with an embedded IPv4 address). */
const MAX_V6 = 45;

function findV6(text: string, sink: SpanSink): void {
  let floor = 0;
  let colon = text.indexOf(':');
  while (colon !== -1) {
    let s = colon;
    while (s > floor && (isHex(text.charCodeAt(s - 1)) || text.charCodeAt(s - 1) === 58)) s--;
    let e = colon;
    let colons = 0;
    while (e < text.length) {
      const c = text.charCodeAt(e);
      if (c === 58) colons++;
      else if (!isHex(c) && c !== 46) break;
      e++;
    }
    while (e > s && text.charCodeAt(e - 1) === 46) e--;
    if (colons >= 2 && e - s <= MAX_V6 && !isWordChar(codeAt(text, s - 1)) && !isWordChar(codeAt(text, e))) {
      const candidate = text.slice(s, e);
      if (plausibleV6(candidate) && isIPv6(candidate)) sink.add(s, e);
    }
    floor = Math.max(e, colon + 1);
    colon = text.indexOf(':', Math.max(e, colon + 1));
  }
}

/**
 * At least two non-empty groups and four hex digits: `::1`, `a::b` or `x[::2]` alone are more
 * often code than addresses.
 */
function plausibleV6(candidate: string): boolean {
  let groups = 0;
  let hex = 0;
  for (const part of candidate.split(':')) {
    if (part.length > 0) groups++;
    hex += part.length;
  }
  return groups >= 2 && hex >= 4;
}

function find(text: string, sink: SpanSink): void {
  // Two passes would report out of order; collect both and hand them over sorted.
  const spans: number[] = [];
  const collect: SpanSink = { add: (s, e) => void spans.push(s, e) };
  if (text.indexOf(':') !== -1) findV6(text, collect);
  const v6Count = spans.length;
  if (text.indexOf('.') !== -1) findV4(text, collect);
  if (v6Count === 0 || v6Count === spans.length) {
    for (let i = 0; i < spans.length; i += 2) sink.add(spans[i] as number, spans[i + 1] as number);
    return;
  }
  const order: number[] = [];
  for (let i = 0; i < spans.length; i += 2) order.push(i);
  order.sort((a, b) => (spans[a] as number) - (spans[b] as number));
  for (const i of order) sink.add(spans[i] as number, spans[i + 1] as number);
}

/** `192.168.10.7` -> `192.168.*.*`, `2001:db8:85a3::7334` -> `2001:db8:****`: the network stays. */
function partial(match: string): string {
  if (match.indexOf(':') === -1) {
    const parts = match.split('.');
    return `${parts[0]}.${parts[1]}.*.*`;
  }
  const parts = match.split(':');
  return parts.length >= 3 && parts[0] !== '' && parts[1] !== '' ? `${parts[0]}:${parts[1]}:${REDACTED}` : REDACTED;
}

export const ipAddressDetector: Detector = {
  name: 'ip_address',
  wants: (p: TextProfile) => ((p.flags & FLAG.dot) !== 0 && p.digits >= 4) || (p.flags & FLAG.colon) !== 0,
  find,
  partial,
};
