// Name resolution for one query level, following PostgreSQL: an unqualified name is a column
// of the level's FROM items (ambiguous if two items have it), else a whole-row reference to a
// FROM item of that name, else the same at the enclosing level (correlated subqueries).
// A FROM item whose columns are unknown makes every unresolved name at its level opaque: the
// name may be one of its columns, and stepping out to the parent would be a guess.
import type { RelationCatalog } from '../../relation-catalog.ts';
import { CONSTANT, opaque, sourceKey, unionAll } from './lin.ts';
import type { ColumnLineage, SourceColumn, WriteTarget } from '../../lineage.ts';

/** The session's search_path when the caller gives none. */
export const DEFAULT_SEARCH_PATH: readonly string[] = ['public'];

export interface Column {
  readonly name: string;
  readonly lineage: ColumnLineage;
}

/** A relation-like FROM item addressable by name. `columns` undefined: unknown (why in `unknown`). */
export interface RangeEntry {
  readonly name: string;
  /** Set only for an unaliased relation, so that `schema.table.column` matches it. */
  readonly schema?: string;
  readonly columns: readonly Column[] | undefined;
  readonly unknown?: string;
}

/** One element of a FROM list: a relation, or a join tree with its merged (USING) columns. */
export interface FromItem {
  readonly entries: readonly RangeEntry[];
  /** Columns seen by unqualified names and `*`, in PostgreSQL's order. */
  readonly visible: readonly Column[];
  /** Set when some entry's columns are unknown. */
  readonly unknown?: string;
}

/** A CTE visible by name; `columns` may grow while a recursive CTE reaches its fixpoint. */
export interface CteBinding {
  columns: readonly Column[] | undefined;
  readonly unknown?: string;
}

export interface Context {
  readonly catalog: RelationCatalog;
  readonly searchPath: readonly string[];
  readonly predicates: Map<string, SourceColumn>;
  readonly opaquePredicates: string[];
  readonly notes: Set<string>;
  /** Views being expanded, outermost first: bounds depth and breaks cycles. */
  readonly views: string[];
  /** Set by the writes walk only (writes.ts): told of every value the walk sees written somewhere. */
  readonly write?: (target: WriteTarget, lineage: ColumnLineage) => void;
}

export class Scope {
  constructor(
    readonly items: readonly FromItem[],
    readonly parent: Scope | undefined,
    readonly ctes: ReadonlyMap<string, CteBinding>,
  ) {}

  /** This level, then the enclosing ones outwards. */
  *levels(): Generator<Scope> {
    yield this;
    if (this.parent !== undefined) yield* this.parent.levels();
  }

  /** A CTE visible here or above. */
  cte(name: string): CteBinding | undefined {
    for (const s of this.levels()) {
      const found = s.ctes.get(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /**
   * `name` alone: a column of this level or an enclosing one, and only if there is none, a
   * whole-row reference to a FROM item of that name (PostgreSQL's order).
   */
  resolveName(name: string, ctx: Context): ColumnLineage {
    for (const s of this.levels()) {
      const matches: Column[] = [];
      for (const item of s.items) for (const c of item.visible) if (c.name === name) matches.push(c);
      if (matches.length > 1) return opaque(`column reference "${name}" is ambiguous`);
      if (matches.length === 1) return (matches[0] as Column).lineage;
      const unknown = s.items.find((i) => i.unknown !== undefined);
      if (unknown !== undefined) return opaque(`"${name}" may be a column of a relation whose columns are unknown (${unknown.unknown})`);
    }
    const entry = this.findEntry([name]);
    return entry !== undefined ? wholeRow(entry, ctx) : opaque(`column "${name}" does not resolve`);
  }

  /** `qualifier.column` (qualifier: alias, table or schema.table). */
  resolveQualified(qualifier: readonly string[], column: string): ColumnLineage {
    for (const s of this.levels()) {
      const entry = s.entry(qualifier);
      if (entry === undefined) continue;
      if (entry.columns === undefined) return opaque(`columns of "${entry.name}" are unknown (${entry.unknown ?? 'no catalog entry'})`);
      const c = entry.columns.find((x) => x.name === column);
      return c !== undefined ? c.lineage : opaque(`column ${qualifier.join('.')}.${column} does not resolve`);
    }
    return opaque(`relation "${qualifier.join('.')}" is not in scope`);
  }

  /** The entry named by `qualifier` here or above, for `t.*` and whole-row references. */
  findEntry(qualifier: readonly string[]): RangeEntry | undefined {
    for (const s of this.levels()) {
      const entry = s.entry(qualifier);
      if (entry !== undefined) return entry;
    }
    return undefined;
  }

  private entry(qualifier: readonly string[]): RangeEntry | undefined {
    // A 3-part qualifier names the database first: PostgreSQL only accepts the current one.
    const parts = qualifier.length > 2 ? qualifier.slice(-2) : qualifier;
    const name = parts[parts.length - 1];
    const schema = parts.length === 2 ? parts[0] : undefined;
    for (const item of this.items) {
      for (const e of item.entries) if (e.name === name && (schema === undefined || e.schema === schema)) return e;
    }
    return undefined;
  }
}

/** A whole-row reference carries every column of the entry (row_to_json(c), c::text...). */
export function wholeRow(entry: RangeEntry, ctx: Context): ColumnLineage {
  if (entry.columns === undefined) return opaque(`whole row of "${entry.name}" whose columns are unknown (${entry.unknown ?? 'no catalog entry'})`);
  ctx.notes.add(`whole-row reference to "${entry.name}" expanded to its ${entry.columns.length} columns`);
  return entry.columns.length === 0 ? CONSTANT : unionAll(entry.columns.map((c) => c.lineage));
}

/** Records a predicate expression's lineage. */
export function addPredicate(lineage: ColumnLineage, ctx: Context): void {
  if (lineage.kind === 'opaque') {
    if (!ctx.opaquePredicates.includes(lineage.reason)) ctx.opaquePredicates.push(lineage.reason);
    return;
  }
  for (const s of lineage.sources) ctx.predicates.set(sourceKey(s), s);
}
