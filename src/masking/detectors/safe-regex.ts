// Custom detector patterns come from the policy file and run over data an agent may have
// written, so a pattern that can backtrack exponentially would let one row stall the gateway.
// This check accepts the patterns people write for ids and codes (`EMP-[0-9]{6}`,
// `ACME-[A-Z0-9]+`) and rejects the constructs behind catastrophic backtracking:
// quantified groups that contain a quantifier or an alternation (`(a+)+`, `(a|ab)*`),
// backreferences and lookarounds. Unbounded repetition is capped (`+` -> `{1,128}`), so a
// failing attempt at one position costs a bounded number of steps.

export const MAX_PATTERN_LENGTH = 512;
/** Largest repetition count an unbounded quantifier becomes. */
export const MAX_REPEAT = 128;

export type PatternCheck = { readonly ok: true; readonly source: string } | { readonly ok: false; readonly reason: string };

interface Group {
  quantified: boolean;
  alternation: boolean;
}

/** Reads a `{n}`, `{n,}` or `{n,m}` at i; undefined when the brace is a literal. */
function readBraces(p: string, i: number): { min: number; max: number | undefined; end: number } | undefined {
  const m = /^\{(\d{1,5})(,(\d{0,5}))?\}/.exec(p.slice(i, i + 14));
  if (m === null) return undefined;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
  return { min, max, end: i + m[0].length };
}

export function checkCustomPattern(pattern: string): PatternCheck {
  if (pattern.length === 0) return { ok: false, reason: 'the pattern is empty' };
  if (pattern.length > MAX_PATTERN_LENGTH) return { ok: false, reason: `the pattern is longer than ${MAX_PATTERN_LENGTH} characters` };
  const stack: Group[] = [{ quantified: false, alternation: false }];
  let out = '';
  // What the next quantifier applies to: a group just closed (and what it held), or an atom.
  let lastGroup: Group | undefined;
  let hasAtom = false;
  for (let i = 0; i < pattern.length; ) {
    const ch = pattern[i] as string;
    const top = stack[stack.length - 1] as Group;
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return { ok: false, reason: 'backreferences are not allowed' };
      out += pattern.slice(i, i + 2);
      i += 2;
      lastGroup = undefined;
      hasAtom = true;
      continue;
    }
    if (ch === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      if (j >= pattern.length) return { ok: false, reason: 'unterminated character class' };
      out += pattern.slice(i, j + 1);
      i = j + 1;
      lastGroup = undefined;
      hasAtom = true;
      continue;
    }
    if (ch === '(') {
      const rest = pattern.slice(i, i + 4);
      if (rest.startsWith('(?=') || rest.startsWith('(?!') || rest.startsWith('(?<=') || rest.startsWith('(?<!')) return { ok: false, reason: 'lookahead and lookbehind are not allowed' };
      // `(`, `(?:` or `(?<name>`: copy the opening as one token.
      let open = ch;
      if (pattern[i + 1] === '?') {
        const named = /^\(\?<[A-Za-z_][A-Za-z0-9_]*>/.exec(pattern.slice(i, i + 40));
        if (pattern[i + 2] === ':') open = '(?:';
        else if (named !== null) open = named[0];
        else return { ok: false, reason: 'unsupported group syntax (use (...), (?:...) or (?<name>...))' };
      }
      stack.push({ quantified: false, alternation: false });
      out += open;
      i += open.length;
      hasAtom = false;
      continue;
    }
    if (ch === ')') {
      if (stack.length === 1) return { ok: false, reason: 'unbalanced parenthesis' };
      lastGroup = stack.pop();
      const parent = stack[stack.length - 1] as Group;
      parent.quantified ||= (lastGroup as Group).quantified;
      parent.alternation ||= (lastGroup as Group).alternation;
      out += ch;
      i++;
      hasAtom = true;
      continue;
    }
    if (ch === '|') {
      top.alternation = true;
      out += ch;
      i++;
      hasAtom = false;
      lastGroup = undefined;
      continue;
    }
    const braces = ch === '{' ? readBraces(pattern, i) : undefined;
    if (ch === '*' || ch === '+' || ch === '?' || braces !== undefined) {
      if (!hasAtom) return { ok: false, reason: `quantifier ${ch} has nothing to repeat` };
      const min = ch === '*' || ch === '?' ? 0 : ch === '+' ? 1 : (braces as { min: number }).min;
      const max = ch === '?' ? 1 : ch === '*' || ch === '+' ? undefined : (braces as { max: number | undefined }).max;
      const repeats = max === undefined || max > 1;
      if (repeats && lastGroup !== undefined && (lastGroup.quantified || lastGroup.alternation)) {
        return { ok: false, reason: 'a repeated group must not contain a quantifier or an alternation (nested repetition can take exponential time)' };
      }
      if (min > MAX_REPEAT) return { ok: false, reason: `repetition counts above ${MAX_REPEAT} are not allowed` };
      out += max === undefined || max > MAX_REPEAT ? `{${min},${MAX_REPEAT}}` : ch === '{' ? pattern.slice(i, (braces as { end: number }).end) : ch;
      i = braces !== undefined ? braces.end : i + 1;
      // A lazy or possessive-looking suffix (`+?`) is copied as is.
      if (pattern[i] === '?') {
        out += '?';
        i++;
      }
      top.quantified = true;
      lastGroup = undefined;
      hasAtom = false;
      continue;
    }
    out += ch;
    i++;
    lastGroup = undefined;
    hasAtom = true;
  }
  if (stack.length !== 1) return { ok: false, reason: 'unbalanced parenthesis' };
  let re: RegExp;
  try {
    re = new RegExp(out, 'g');
  } catch (err) {
    return { ok: false, reason: `not a valid regular expression: ${(err as Error).message}` };
  }
  if (re.test('')) return { ok: false, reason: 'the pattern matches the empty string' };
  return { ok: true, source: out };
}
