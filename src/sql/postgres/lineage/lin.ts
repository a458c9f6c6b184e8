// Operations on lineages. Opaque absorbs everything: once one input of an expression cannot
// be traced, neither can the expression (fail closed).
import type { ColumnLineage, SourceColumn } from '../../lineage.ts';

export const CONSTANT: ColumnLineage = Object.freeze({ kind: 'columns', sources: Object.freeze([]) });

export function opaque(reason: string): ColumnLineage {
  return Object.freeze({ kind: 'opaque', reason });
}

export function source(schema: string, table: string, column: string): ColumnLineage {
  return Object.freeze({ kind: 'columns', sources: Object.freeze([Object.freeze({ schema, table, column })]) });
}

export function sourceKey(s: SourceColumn): string {
  return `${s.schema}.${s.table}.${s.column}`;
}

export function union(a: ColumnLineage, b: ColumnLineage): ColumnLineage {
  if (a.kind === 'opaque') return a;
  if (b.kind === 'opaque') return b;
  if (b.sources.length === 0) return a;
  if (a.sources.length === 0) return b;
  const seen = new Set(a.sources.map(sourceKey));
  const added = b.sources.filter((s) => !seen.has(sourceKey(s)));
  return added.length === 0 ? a : Object.freeze({ kind: 'columns', sources: Object.freeze([...a.sources, ...added]) });
}

export function unionAll(list: Iterable<ColumnLineage>): ColumnLineage {
  let out = CONSTANT;
  for (const l of list) out = union(out, l);
  return out;
}

/** Same lineage (order of sources aside): the fixpoint test of recursive CTEs. */
export function sameLineage(a: ColumnLineage, b: ColumnLineage): boolean {
  if (a.kind === 'opaque' || b.kind === 'opaque') return a.kind === b.kind;
  if (a.sources.length !== b.sources.length) return false;
  const keys = new Set(a.sources.map(sourceKey));
  return b.sources.every((s) => keys.has(sourceKey(s)));
}
