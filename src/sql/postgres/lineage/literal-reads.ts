// Whether an analysis read a literal's value. Lineage is the same for `WHERE id = 1` and
// `WHERE id = 2`, so callers cache it by the text with literals normalised, except when the
// analysis looked at a value: `ORDER BY 2` names an output, `EXPLAIN (analyze 1)` runs it.
// A counter rather than a flag in Context because one text's analysis builds several
// contexts (one per statement, another for the writes); the analysis is synchronous, so
// before/after reads of the counter (textLineage) bracket exactly one caller's work.
let reads = 0;

/** Called where the analysis depends on a literal's value. */
export function readLiteralValue(): void {
  reads++;
}

/** Literal reads so far; compare before and after an analysis. */
export function literalReads(): number {
  return reads;
}
