// US Social Security numbers written AAA-GG-SSSS. Nine bare digits are not matched: too many
// other numbers look like that (mask such columns by name instead). Numbers the SSA never
// issues are rejected: area 000, 666 and 900-999, group 00, serial 0000.
import { codeAt, isDigit, isWordChar } from '../text.ts';
import type { Detector, SpanSink, TextProfile } from '../types.ts';

const SHAPE = /\d{3}-\d{2}-\d{4}/g;

export function ssnValid(area: number, group: number, serial: number): boolean {
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/** Part of a longer dashed or dotted number (a phone, a date, a part number)? */
function continues(text: string, sepAt: number, digitAt: number): boolean {
  const c = codeAt(text, sepAt);
  return (c === 45 || c === 46 || c === 47) && isDigit(codeAt(text, digitAt));
}

function find(text: string, sink: SpanSink): void {
  SHAPE.lastIndex = 0;
  for (let m = SHAPE.exec(text); m !== null; m = SHAPE.exec(text)) {
    const start = m.index;
    const end = start + 11;
    if (isWordChar(codeAt(text, start - 1)) || isWordChar(codeAt(text, end))) continue;
    if (codeAt(text, start - 1) === 43 || continues(text, start - 1, start - 2) || continues(text, end, end + 1)) continue;
    const s = m[0];
    if (!ssnValid(Number(s.slice(0, 3)), Number(s.slice(4, 6)), Number(s.slice(7)))) continue;
    sink.add(start, end);
  }
}

export const usSsnDetector: Detector = {
  name: 'us_ssn',
  wants: (p: TextProfile) => p.digits >= 9 && p.length >= 11,
  find,
  partial: (match) => '***-**-' + match.slice(7),
};
