// A statement text with its literal values replaced by marks: the key under which the
// analysis caches share one entry for `WHERE id = 1` and `WHERE id = 2`. Each dialect's
// lexer builds it (PostgreSQL: postgres/normalize.ts); the offset maps are the same for all.

export interface Normalised {
  readonly key: string;
  /** Per literal, three numbers: its offset in key, its offset in the text, its length in the text. */
  readonly literals: readonly number[];
}

/** Offset in the key -> offset in the text (never inside a literal). */
export function keyToText(n: Normalised, offset: number): number {
  let out = offset;
  const l = n.literals;
  for (let k = 0; k < l.length && (l[k] ?? 0) < offset; k += 3) out += (l[k + 2] ?? 1) - 1;
  return out;
}

/** Offset in the text -> offset in the key. */
export function textToKey(n: Normalised, offset: number): number {
  let out = offset;
  const l = n.literals;
  for (let k = 0; k < l.length && (l[k + 1] ?? 0) < offset; k += 3) out -= (l[k + 2] ?? 1) - 1;
  return out;
}
