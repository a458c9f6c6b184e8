// Phone numbers in international (E.164) form: `+`, a country code that does not start with
// 0, then 8 to 15 digits in all, separated by at most single spaces, dashes or dots, with an
// optional parenthesised group: `+1 (212) 555-0100`, `+44 20 7946 0958`, `+4915112345678`.
// Without the `+` nothing matches: dates, ISBNs, versions and amounts stay untouched.
import { starDigitsExceptLast } from '../text.ts';
import { codeAt, isDigit, isWordChar } from '../text.ts';
import { FLAG, type Detector, type SpanSink, type TextProfile } from '../types.ts';

const MIN_DIGITS = 8;
const MAX_DIGITS = 15;

function isSep(c: number): boolean {
  return c === 32 || c === 45 || c === 46; // space - .
}

/** End of the number starting at `plus`, or -1. Reads at most a few dozen characters. */
function readNumber(text: string, plus: number): number {
  let i = plus + 1;
  const first = codeAt(text, i);
  if (!isDigit(first) || first === 48) return -1;
  let digits = 0;
  let end = -1;
  let inParen = false;
  let usedParen = false;
  while (i < text.length && digits <= MAX_DIGITS) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) {
      digits++;
      end = i + 1;
      i++;
      continue;
    }
    const prev = codeAt(text, i - 1);
    const next = codeAt(text, i + 1);
    if (isSep(c) && (isDigit(prev) || prev === 41) && (isDigit(next) || (next === 40 && !usedParen))) i++;
    else if (c === 40 && !usedParen && (isDigit(prev) || isSep(prev)) && isDigit(next)) {
      inParen = usedParen = true;
      i++;
    } else if (c === 41 && inParen && isDigit(prev)) {
      inParen = false;
      end = i + 1;
      i++;
    } else break;
  }
  if (inParen || digits < MIN_DIGITS || digits > MAX_DIGITS) return -1;
  // A trailing `)` counts only when the group was closed; the number must end at a boundary.
  const after = codeAt(text, end);
  if (isWordChar(after) || ((after === 46 || after === 45 || after === 58) && isDigit(codeAt(text, end + 1)))) return -1;
  return end;
}

function find(text: string, sink: SpanSink): void {
  let plus = text.indexOf('+');
  while (plus !== -1) {
    let next = plus + 1;
    // `1+1`, `v1.2+build`, `a++`: a plus glued to a word or number is an operator or a suffix.
    const before = codeAt(text, plus - 1);
    if (!isWordChar(before) && before !== 43 && before !== 46) {
      const end = readNumber(text, plus);
      if (end !== -1) {
        sink.add(plus, end);
        next = end;
      }
    }
    plus = text.indexOf('+', next);
  }
}

export const phoneDetector: Detector = {
  name: 'phone',
  wants: (p: TextProfile) => (p.flags & FLAG.plus) !== 0 && p.digits >= MIN_DIGITS,
  find,
  partial: (match) => starDigitsExceptLast(match, 4),
};
