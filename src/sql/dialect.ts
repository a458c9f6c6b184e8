// What a SQL grammar gives the rest of the gateway. Each dialect (PostgreSQL now, MySQL next)
// owns its parser and its tree; callers only see analyses: policy reads a SqlAction
// (commands, effects, relations, functions, settings, prepared names), masking reads a
// TextLineage (output lineage, predicates, writes). A text is parsed once: analyze() parses
// a new text and keeps the tree, lineage() then walks that tree for the session's relations
// and search_path (which is why it is a second step, not part of the cached SqlAction).
import type { SqlAction, SqlStatement } from '../core/action.ts';
import type { FunctionCatalog } from './function-catalog.ts';
import type { OutputLineage, SourceColumn, WrittenColumn } from './lineage.ts';
import type { Normalised } from './normalised.ts';
import type { RelationCatalog } from './relation-catalog.ts';

export interface AnalyzeOptions {
  /** The session's search_path: unqualified relations resolve to its first schema, unqualified functions through all of it. */
  readonly searchPath?: readonly string[];
  /** The database's functions: user-defined functions count by their volatility. Without it they are `unknown`. */
  readonly catalog?: FunctionCatalog;
  /** MySQL: the session's sql_mode as `SELECT @@sql_mode` shows it (ANSI_QUOTES and NO_BACKSLASH_ESCAPES change how text reads). */
  readonly sqlMode?: string;
}

export interface LineageOptions {
  readonly searchPath: readonly string[];
  /** Also trace what the statements write (for statements that may write: it costs a second walk). */
  readonly writes: boolean;
  /** MySQL: the session's sql_mode, as for AnalyzeOptions. */
  readonly sqlMode?: string;
}

/** Masking's view of a whole text, every statement of it. */
export interface TextLineage {
  /**
   * One entry per statement that sends rows, in order: its output columns. A star over a
   * relation of unknown columns yields ONE opaque entry named `*`.
   */
  readonly results: readonly (readonly OutputLineage[])[];
  /** Base columns any statement filters, joins, groups or orders on (row counts leak too). */
  readonly predicateColumns: readonly SourceColumn[];
  /** Predicates whose columns could not be established (why). */
  readonly opaquePredicates: readonly string[];
  /** Whole-row expansions and other remarks, for the recording. */
  readonly notes: readonly string[];
  /** Every target written, when asked for (LineageOptions.writes); else empty. */
  readonly writes: readonly WrittenColumn[];
  /**
   * The analysis depended on a literal's value (`ORDER BY 2`, `EXPLAIN (ANALYZE 1)`): it may
   * be cached only under the exact text, not the literal-normalised one.
   */
  readonly readsLiterals: boolean;
}

export interface SqlDialect {
  readonly name: SqlAction['dialect'];
  /** Loads the grammar; idempotent. analyze() and lineage() are synchronous after it. */
  load(): Promise<void>;
  /** Policy's analysis of a text; cached under the literal-normalised text and search path. */
  analyze(text: string, opts?: AnalyzeOptions): SqlAction;
  /** EXECUTE name takes the effect of what the session prepared under that name. */
  resolveExecute(statement: SqlStatement, prepared: (name: string) => SqlStatement | undefined): SqlStatement;
  /** The text with literals marked (this dialect's lexer), or undefined when that is not safe. */
  normalise(text: string): Normalised | undefined;
  /** Masking's analysis of the same text, over the tree analyze() parsed (parsed now only if it is gone). */
  lineage(text: string, relations: RelationCatalog, opts: LineageOptions): TextLineage;
  /** Schemas that unqualified relation names resolve in before the search path (PostgreSQL: pg_catalog). */
  readonly implicitSchemas: readonly string[];
}
