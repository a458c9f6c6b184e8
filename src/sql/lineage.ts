// Public types of column lineage. Kept apart from the analysis so that the adapter and the
// recording can import them without pulling in the parser.

export interface SourceColumn {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
}

export type ColumnLineage =
  /** The base columns that flow into this output column (empty: constants only). */
  | { readonly kind: 'columns'; readonly sources: readonly SourceColumn[] }
  /** Lineage could not be established: the caller fails closed (masks or denies). */
  | { readonly kind: 'opaque'; readonly reason: string };

export interface OutputLineage {
  readonly name: string;
  readonly lineage: ColumnLineage;
}

export interface QueryLineage {
  /**
   * One entry per output column of the statement (SELECT list, RETURNING list, COPY). A star
   * over a relation of unknown columns yields ONE opaque entry named `*`: when the count
   * differs from the RowDescription's, the caller must treat every column as opaque.
   */
  readonly outputs: readonly OutputLineage[];
  /** Base columns referenced in WHERE, JOIN ON/USING, GROUP BY, HAVING, ORDER BY, DISTINCT ON, windows, LIMIT/OFFSET, at every level. */
  readonly predicateColumns: readonly SourceColumn[];
  /** Predicates whose columns could not be established (why): deny_in_predicates fails closed on them. */
  readonly opaquePredicates: readonly string[];
  /** Whole-row references whose columns were expanded, for the recording. */
  readonly notes: readonly string[];
}

/** Where a written value lands. */
export type WriteTarget =
  /** A column of a table (schema-resolved; the table may be new, as with CREATE TABLE AS). */
  | { readonly kind: 'column'; readonly schema: string; readonly table: string; readonly column: string }
  /** Outside every table: a file or program (COPY TO), or code that can write anything (`(procedural code)`, `(function name)`). */
  | { readonly kind: 'file'; readonly name: string };

export interface WrittenColumn {
  readonly target: WriteTarget;
  /** What flows into it: columns (empty: constants only), or opaque with a reason. */
  readonly lineage: ColumnLineage;
}
