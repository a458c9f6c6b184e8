// Payment card numbers: 13 to 19 digits, contiguous or grouped by single spaces or dashes,
// with a known issuer prefix (IIN) and a valid Luhn check digit. The checksum alone would
// let one random 16-digit number in ten through; the IIN table and the grouping rules cut
// order numbers, invoice ids and timestamps further.
import { partialCard } from '../maskers.ts';
import { codeAt, isDigit, isWordChar } from '../text.ts';
import type { Detector, SpanSink, TextProfile } from '../types.ts';

/** [lowest prefix, highest prefix, lengths]: prefixes compared on their own number of digits. */
type Iin = readonly [string, string, readonly number[]];

const L16_19 = [16, 17, 18, 19];
const IINS: readonly Iin[] = [
  ['4', '4', [13, 16, 19]], // Visa
  ['51', '55', [16]], // Mastercard
  ['2221', '2720', [16]], // Mastercard 2-series
  ['34', '34', [15]], // American Express
  ['37', '37', [15]],
  ['6011', '6011', L16_19], // Discover
  ['644', '649', L16_19],
  ['65', '65', L16_19],
  ['300', '305', [14, 16, 17, 18, 19]], // Diners Club
  ['36', '36', [14, 16, 17, 18, 19]],
  ['38', '39', [14, 16, 17, 18, 19]],
  ['3528', '3589', L16_19], // JCB
  ['62', '62', L16_19], // UnionPay
  ['81', '81', L16_19],
  ['2200', '2204', L16_19], // Mir
  ['50', '50', [12, 13, 14, 15, ...L16_19]], // Maestro
  ['56', '58', [12, 13, 14, 15, ...L16_19]],
  ['63', '63', [12, 13, 14, 15, ...L16_19]],
  ['67', '67', [12, 13, 14, 15, ...L16_19]],
];

function knownIin(digits: string): boolean {
  for (const [low, high, lengths] of IINS) {
    if (!lengths.includes(digits.length)) continue;
    const prefix = digits.slice(0, low.length);
    if (prefix >= low && prefix <= high) return true;
  }
  return false;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && knownIin(digits) && luhnValid(digits);
}

/**
 * Groups as printed on cards and in forms: 4-4-4-4(-3), 4-4-4-1..4, 4-6-5 (Amex), 4-6-4
 * (Diners); one separator kind throughout. Anything else is some other number.
 */
function plausibleGrouping(groups: readonly string[]): boolean {
  if (groups.length === 1) return true;
  const lens = groups.map((g) => g.length);
  if (lens.length === 3 && lens[0] === 4 && lens[1] === 6 && (lens[2] === 5 || lens[2] === 4)) return true;
  for (let i = 0; i < lens.length - 1; i++) if (lens[i] !== 4) return false;
  const last = lens[lens.length - 1] as number;
  return last >= 1 && last <= 4;
}

/** A digit run continues into a decimal or a version (`0.4242...`, `...4242.5`)? */
function attachedNumber(text: string, sepAt: number, digitAt: number): boolean {
  const c = codeAt(text, sepAt);
  return (c === 46 || c === 44) && isDigit(codeAt(text, digitAt));
}

/** Groups of digits and the separator before each group (`''` for the first). */
function split(run: string): { groups: string[]; seps: string[] } {
  const groups: string[] = [];
  const seps: string[] = [''];
  let from = 0;
  for (let i = 0; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c === 32 || c === 45) {
      groups.push(run.slice(from, i));
      seps.push(run[i] as string);
      from = i + 1;
    }
  }
  groups.push(run.slice(from));
  return { groups, seps };
}

/** Groups i..j as one candidate: one separator kind, card grouping, IIN and Luhn. */
function isCardWindow(groups: readonly string[], seps: readonly string[], i: number, j: number): boolean {
  let digits = '';
  for (let k = i; k <= j; k++) {
    if (k > i + 1 && seps[k] !== seps[i + 1]) return false;
    digits += groups[k];
  }
  return digits.length >= 13 && digits.length <= 19 && plausibleGrouping(groups.slice(i, j + 1)) && isCardNumber(digits);
}

function checkRun(text: string, start: number, run: string, sink: SpanSink): void {
  const { groups, seps } = split(run);
  if (isCardWindow(groups, seps, 0, groups.length - 1)) {
    sink.add(start, start + run.length);
    return;
  }
  // A card next to another number ("4242 4242 4242 4242 12/29", "4242424242424242 123-45"):
  // try the group-aligned windows, longest first from each start. Few groups: cheap.
  let from = start;
  for (let i = 0; i < groups.length; i++) {
    let best = -1;
    let digits = 0;
    // A window opens with a 4-digit group or is one group of 13-19 digits: skip the rest
    // without building strings (a run of `1 1 1 ...` stays linear).
    const first = (groups[i] as string).length;
    if (first !== 4 && (first < 13 || first > 19)) {
      from += first + 1;
      continue;
    }
    for (let j = i; j < groups.length && digits <= 19; j++) {
      digits += (groups[j] as string).length;
      if (digits >= 13 && isCardWindow(groups, seps, i, j)) best = j;
    }
    if (best === -1) {
      from += (groups[i] as string).length + 1;
      continue;
    }
    let to = from;
    for (let k = i; k <= best; k++) to += (groups[k] as string).length + (k > i ? 1 : 0);
    sink.add(from, to);
    from = to + 1;
    i = best;
  }
}

// Runs of 13 or more digits joined by single spaces or dashes. Each step consumes one digit
// or one separator-and-digit; a shorter run fails within 13 steps at each of its positions,
// so the scan is linear, and short numbers (most of them) never allocate a match.
const RUN = /\d(?:[ -]?\d){12,}/g;

function find(text: string, sink: SpanSink): void {
  // Module-level and reset per call: find() is synchronous and calls nothing that re-enters it.
  RUN.lastIndex = 0;
  for (let m = RUN.exec(text); m !== null; m = RUN.exec(text)) {
    const run = m[0];
    const start = m.index;
    const end = start + run.length;
    if (isWordChar(codeAt(text, start - 1)) || isWordChar(codeAt(text, end))) continue;
    if (attachedNumber(text, start - 1, start - 2) || attachedNumber(text, end, end + 1)) continue;
    checkRun(text, start, run, sink);
  }
}

export const paymentCardDetector: Detector = {
  name: 'payment_card',
  wants: (p: TextProfile) => p.digits >= 13,
  find,
  partial: partialCard,
};
