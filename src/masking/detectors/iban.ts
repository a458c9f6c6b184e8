// IBANs: country code, two check digits, then exactly the country's BBAN length of
// uppercase letters and digits, optionally in groups separated by single spaces, with the
// ISO 13616 mod-97 check. Each candidate is read with a plain loop of bounded length.
import { codeAt, isAlnum, isDigit, isUpper } from '../text.ts';
import type { Detector, SpanSink, TextProfile } from '../types.ts';

/** Total IBAN length per country (SWIFT IBAN registry). */
const LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** ISO 7064 mod 97-10 over the rearranged IBAN (first four characters moved to the end). */
export function ibanChecksumValid(compact: string): boolean {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    rem = isDigit(c) ? (rem * 10 + (c - 48)) % 97 : (rem * 100 + (c - 55)) % 97;
  }
  return rem === 1;
}

const START = /[A-Z]{2}\d{2}/g;

function find(text: string, sink: SpanSink): void {
  START.lastIndex = 0;
  for (let m = START.exec(text); m !== null; m = START.exec(text)) {
    const start = m.index;
    START.lastIndex = start + 1;
    if (isAlnum(codeAt(text, start - 1))) continue;
    const length = LENGTHS[m[0].slice(0, 2)];
    if (length === undefined) continue;
    let compact = m[0];
    let i = start + 4;
    while (compact.length < length) {
      let c = codeAt(text, i);
      // One space between groups; it must be followed by another character of the IBAN.
      if (c === 32) c = codeAt(text, ++i);
      if (!isUpper(c) && !isDigit(c)) break;
      compact += text[i];
      i++;
    }
    if (compact.length !== length || isAlnum(codeAt(text, i))) continue;
    if (!ibanChecksumValid(compact)) continue;
    sink.add(start, i);
    START.lastIndex = i;
  }
}

/** `DE89 3704 0044 0532 0130 00` -> `DE** **** **** **** **30 00`: country and last four. */
function partial(match: string): string {
  let alnum = 0;
  for (let i = 0; i < match.length; i++) if (match.charCodeAt(i) !== 32) alnum++;
  let seen = 0;
  let out = '';
  for (let i = 0; i < match.length; i++) {
    if (match.charCodeAt(i) === 32) {
      out += ' ';
      continue;
    }
    out += seen < 2 || seen >= alnum - 4 ? match[i] : '*';
    seen++;
  }
  return out;
}

export const ibanDetector: Detector = {
  name: 'iban',
  wants: (p: TextProfile) => p.upper >= 2 && p.digits >= 4 && p.length >= 15,
  find,
  partial,
};
