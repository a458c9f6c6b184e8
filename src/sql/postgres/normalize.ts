// Literal normalisation for the analysis cache (issue 3, point 8): `WHERE aid = 1` and
// `WHERE aid = 2` share an entry. A small scanner that follows PostgreSQL's lexer where it
// matters: standard strings ('' doubles a quote), E-strings (backslash escapes), dollar
// quoting ($$...$$, $tag$...$tag$), quoted identifiers, -- and nested /* */ comments, and
// parameters ($1, kept). Each string literal becomes STRING_MARK and each number NUMBER_MARK;
// everything else is kept as written, so two texts share a key only when they differ in
// literal values. Whatever the scanner is not sure about (an unterminated quote or comment,
// a number glued to a word, a mark character in the text) gives no key: the caller then keys
// by the exact text.

import type { Normalised } from '../normalised.ts';

export const STRING_MARK = '\u0001';
export const NUMBER_MARK = '\u0002';

const Ch = {
  Mark1: 1,
  Mark2: 2,
  Dollar: 36,
  Quote: 39,
  DoubleQuote: 34,
  Minus: 45,
  Dot: 46,
  Slash: 47,
  Star: 42,
  Zero: 48,
  Nine: 57,
  Backslash: 92,
  Underscore: 95,
} as const;

function isDigit(c: number): boolean {
  return c >= Ch.Zero && c <= Ch.Nine;
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === Ch.Underscore || c >= 128;
}

function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === Ch.Dollar;
}

/** End (exclusive) of a quoted run starting at `i` (the opening quote), or -1 if unterminated. */
function endOfQuoted(sql: string, i: number, quote: number, backslash: boolean): number {
  const n = sql.length;
  for (let j = i + 1; j < n; j++) {
    const c = sql.charCodeAt(j);
    if (backslash && c === Ch.Backslash) j++;
    else if (c === quote) {
      if (sql.charCodeAt(j + 1) !== quote) return j + 1;
      j++;
    }
  }
  return -1;
}

/** End of a number starting at `i`, or -1 when it runs into a word (`1abc`, PostgreSQL 16 rejects it). */
function endOfNumber(sql: string, i: number): number {
  const n = sql.length;
  let j = i;
  const radix = sql.charCodeAt(i) === Ch.Zero ? sql.charCodeAt(i + 1) | 0x20 : 0;
  if (radix === 0x78 || radix === 0x6f || radix === 0x62) {
    // 0x1F, 0o17, 0b101 (PostgreSQL 16+): hex digits are word characters, so take them all.
    j += 2;
    while (j < n && (isIdentChar(sql.charCodeAt(j)) && sql.charCodeAt(j) !== Ch.Dollar)) j++;
    return j;
  }
  while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === Ch.Underscore)) j++;
  if (sql.charCodeAt(j) === Ch.Dot && sql.charCodeAt(j + 1) !== Ch.Dot) {
    j++;
    while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === Ch.Underscore)) j++;
  }
  if ((sql.charCodeAt(j) | 0x20) === 0x65) {
    let k = j + 1;
    const sign = sql.charCodeAt(k);
    if (sign === 43 || sign === Ch.Minus) k++;
    if (isDigit(sql.charCodeAt(k))) {
      j = k;
      while (j < n && isDigit(sql.charCodeAt(j))) j++;
    }
  }
  const next = sql.charCodeAt(j);
  return j < n && (isIdentChar(next) || next === Ch.Dot) ? -1 : j;
}

/** The key being built: a plain object, not a closure over locals (cheaper per call under tsx). */
interface KeyBuilder {
  key: string;
  /** Text before this offset is in key already. */
  copied: number;
  readonly literals: number[];
}

function literal(b: KeyBuilder, sql: string, start: number, end: number, mark: string): void {
  b.key += sql.slice(b.copied, start);
  b.literals.push(b.key.length, start, end - start);
  b.key += mark;
  b.copied = end;
}

/**
 * The last text normalised and its result: the policy analysis and the masking check each key
 * their cache by the same statement, one right after the other.
 */
let lastText: string | undefined;
let lastResult: Normalised | undefined;

/** The key with literals replaced, or undefined when the text is not safe to normalise. */
export function normaliseSql(sql: string): Normalised | undefined {
  if (sql === lastText) return lastResult;
  const result = normalise(sql);
  lastText = sql;
  lastResult = result;
  return result;
}

function normalise(sql: string): Normalised | undefined {
  const n = sql.length;
  const b: KeyBuilder = { key: '', copied: 0, literals: [] };
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === Ch.Quote) {
      // E'...' (a one-letter word E right before the quote) takes backslash escapes.
      const prev = i > 0 ? sql.charCodeAt(i - 1) | 0x20 : 0;
      const escapes = prev === 0x65 && (i < 2 || !isIdentChar(sql.charCodeAt(i - 2)));
      const end = endOfQuoted(sql, i, Ch.Quote, escapes);
      if (end < 0) return undefined;
      literal(b, sql, i, end, STRING_MARK);
      i = end;
    } else if (c === Ch.DoubleQuote) {
      const end = endOfQuoted(sql, i, Ch.DoubleQuote, false);
      if (end < 0) return undefined;
      i = end;
    } else if (c === Ch.Minus && sql.charCodeAt(i + 1) === Ch.Minus) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end;
    } else if (c === Ch.Slash && sql.charCodeAt(i + 1) === Ch.Star) {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        const d = sql.charCodeAt(j);
        if (d === Ch.Slash && sql.charCodeAt(j + 1) === Ch.Star) {
          depth++;
          j += 2;
        } else if (d === Ch.Star && sql.charCodeAt(j + 1) === Ch.Slash) {
          depth--;
          j += 2;
        } else j++;
      }
      if (depth > 0) return undefined;
      i = j;
    } else if (c === Ch.Dollar) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        i++; // a parameter: $1
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
        continue;
      }
      let j = i + 1;
      while (j < n && isIdentChar(sql.charCodeAt(j)) && sql.charCodeAt(j) !== Ch.Dollar) j++;
      if (sql.charCodeAt(j) !== Ch.Dollar || (j > i + 1 && !isIdentStart(sql.charCodeAt(i + 1)))) return undefined;
      const tag = sql.slice(i, j + 1);
      const close = sql.indexOf(tag, j + 1);
      if (close < 0) return undefined;
      literal(b, sql, i, close + tag.length, STRING_MARK);
      i = close + tag.length;
    } else if (isDigit(c) || (c === Ch.Dot && isDigit(sql.charCodeAt(i + 1)))) {
      const end = endOfNumber(sql, i);
      if (end < 0) return undefined;
      literal(b, sql, i, end, NUMBER_MARK);
      i = end;
    } else if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentChar(sql.charCodeAt(i))) i++;
    } else if (c === Ch.Mark1 || c === Ch.Mark2) {
      return undefined;
    } else {
      i++;
    }
  }
  return { key: b.copied === 0 ? sql : b.key + sql.slice(b.copied), literals: b.literals };
}
