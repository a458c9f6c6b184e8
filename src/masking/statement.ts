// What masking means for one SQL text, worked out once when it is decided: which output
// columns to mask and with which rule (from lineage), whether a predicate or a write on a
// masked column refuses it, and whether the server's messages about it may echo protected
// values. Any dialect: the lineage comes from its SqlDialect, over the tree its policy
// analysis parsed. The adapter's wire side (e.g. protocols/postgres/masking/result.ts)
// applies this to the rows.
import { analysisCacheStats } from '../core/analysis-cache-stats.ts';
import type { SqlAction, SqlStatement } from '../core/action.ts';
import type { MaskSpec } from '../core/decision.ts';
import { GatewayError } from '../core/errors.ts';
import type { SqlDialect } from '../sql/dialect.ts';
import type { ColumnLineage, OutputLineage, SourceColumn } from '../sql/lineage.ts';
import type { RelationCatalog } from '../sql/relation-catalog.ts';
import type { MaskPlan } from './plan.ts';
import { MASK_STRENGTH } from './scanner.ts';

/** How one output column is masked, and why (for the recording). */
export interface ColumnMask {
  readonly rule: MaskSpec;
  /** `lineage public.customers.email`, `unknown lineage: ...`, `origin public.customers.ssn`. */
  readonly why: string;
  /** The one masked source when there is exactly one: `partial` keeps its shape only for a plain reference to it. */
  readonly source?: SourceColumn;
}

/** One result set's masks, per output column in order (undefined: clear). */
export type ResultMasks = readonly (ColumnMask | undefined)[];

export interface StatementMasking {
  readonly plan: MaskPlan;
  /**
   * The masks of each result set the text sends, in order (a simple Query may hold several
   * statements). A result set beyond these (lineage saw no rows, or none could be traced)
   * has every field masked.
   */
  readonly results: readonly ResultMasks[];
  /**
   * Masks every field whose lineage is unknown; also used when the output count differs from
   * the server's. Undefined when untraced output stays clear: only built-in credential masks
   * apply and the text does not reach their relations.
   */
  readonly failClosed: ColumnMask | undefined;
  /** The statement must not run. */
  readonly refusal: GatewayError | undefined;
  /** Errors and notices about this statement may echo protected values: rewrite them. */
  readonly sensitive: boolean;
  /** Whole-row expansions and other remarks of lineage, for the recording. */
  readonly notes: readonly string[];
  /**
   * Nothing to apply: no output column masked, untraced output left clear (failClosed
   * undefined), no message to rewrite. What built-in credential masks give most statements:
   * an adapter may then relay the results untouched, as if no column rule applied.
   */
  readonly inert: boolean;
}

export interface MaskingOptions {
  readonly unknownLineage: 'mask' | 'deny';
  /**
   * Names may resolve differently on the server than here: an earlier statement of the same
   * text or pipeline may move the search_path. Then no result is traced (all masked).
   */
  readonly pathMayMove: boolean;
  /** User functions the catalog says cannot write (stable, immutable): not a laundering risk. */
  readonly functionCannotWrite?: (name: string) => boolean;
  /**
   * An earlier statement of the session left credential data where this text may read it
   * without naming it (a cursor declared over pg_authid, read by FETCH): fail closed.
   */
  readonly credentialsCarried?: boolean;
  /** MySQL: the session's sql_mode, which changes how the text reads (`"x"` a string or a column): lineage reads under it, the cache keys by it. */
  readonly sqlMode?: string;
}

const FAIL_CLOSED_SOURCE = 'fail-closed';

/** The mask for a column nobody can trace: at least `redact`, `null` when a rule nulls. */
function failClosedRule(plan: MaskPlan): MaskSpec {
  let fn: MaskSpec['with'] = 'redact';
  for (const r of plan.rules) if (r.column !== undefined && MASK_STRENGTH[r.with] > MASK_STRENGTH[fn]) fn = r.with;
  return Object.freeze({ with: fn, source: FAIL_CLOSED_SOURCE });
}

const name = (s: SourceColumn): string => `${s.schema}.${s.table}.${s.column}`;

/** The strongest rule over a lineage's sources, or undefined when none is masked. */
export function lineageMask(plan: MaskPlan, lineage: ColumnLineage, failClosed: MaskSpec | undefined): ColumnMask | undefined {
  if (lineage.kind === 'opaque') return failClosed === undefined ? undefined : { rule: failClosed, why: `unknown lineage: ${lineage.reason}` };
  let best: MaskSpec | undefined;
  let masked: SourceColumn[] | undefined;
  for (const s of lineage.sources) {
    const rule = plan.columnMask(s.schema, s.table, s.column);
    if (rule === undefined) continue;
    (masked ??= []).push(s);
    if (best === undefined || MASK_STRENGTH[rule.with] > MASK_STRENGTH[best.with]) best = rule;
  }
  if (best === undefined || masked === undefined) return undefined;
  return { rule: best, why: `lineage ${masked.map(name).join(', ')}`, ...(masked.length === 1 ? { source: masked[0] as SourceColumn } : {}) };
}

/** What masking reads of the upstream's relations: one object per snapshot (replaced, never mutated). */
export interface MaskingRelations {
  readonly catalog: RelationCatalog;
}

/**
 * Undefined when the plan has no column rules (detectors alone need no analysis). `action`
 * is the policy analysis of the text (for the relations it touches); its dialect's lineage
 * reads the same parse.
 */
export function analyzeStatementMasking(dialect: SqlDialect, action: SqlAction, plan: MaskPlan, relations: MaskingRelations, searchPath: readonly string[], opts: MaskingOptions): StatementMasking | undefined {
  return analyse(dialect, action, plan, relations, searchPath, opts)?.masking;
}

function analyse(dialect: SqlDialect, action: SqlAction, plan: MaskPlan, relations: MaskingRelations, searchPath: readonly string[], opts: MaskingOptions): { masking: StatementMasking; readsLiterals: boolean } | undefined {
  if (!plan.hasColumnRules) return undefined;
  const { text: sql, statements } = action;
  const catalog = relations.catalog;
  // Built-in credential masks alone leave untraced output clear (a user function, FETCH),
  // unless the text reaches their relations: then it is masked as a written mask would.
  const strict = plan.hasConfiguredColumnRules || opts.credentialsCarried === true || namesCredentials(dialect, statements, plan, catalog, [...dialect.implicitSchemas, ...searchPath]);
  const failClosed = strict ? failClosedRule(plan) : undefined;
  const failClosedMask: ColumnMask | undefined = failClosed === undefined ? undefined : { rule: failClosed, why: 'unknown lineage: the result has more columns than the statement shows' };
  let refusal: GatewayError | undefined;
  let sensitive = false;

  // Each statement on its own, so that `SET ...; SELECT ...` traces the SELECT's result;
  // writes only when a statement may write (a second walk of the tree).
  const lineage = dialect.lineage(sql, catalog, { searchPath, writes: statements.some((s) => s.effect !== 'read'), ...(opts.sqlMode !== undefined ? { sqlMode: opts.sqlMode } : {}) });
  const results: ResultMasks[] = [];
  const notes = [...lineage.notes];
  for (const result of lineage.results) {
    const outputs = result.map((o) => lineageMask(plan, o.lineage, failClosed));
    results.push(outputs);
    outputs.forEach((m, i) => {
      if (m === undefined) return;
      sensitive = true;
      const out: OutputLineage | undefined = result[i];
      if (refusal === undefined && opts.unknownLineage === 'deny' && out?.lineage.kind === 'opaque') {
        refusal = new GatewayError('PCS_MASK_LINEAGE_UNKNOWN', { column: out.name, reason: out.lineage.reason });
      }
    });
  }
  if (opts.pathMayMove) {
    results.length = 0;
    if (strict) sensitive = true;
  }

  // Predicates: every statement of the text, with rows or without (a row count leaks too).
  const denyInPredicates = plan.rules.some((r) => r.column !== undefined && r.denyInPredicates === true && (strict || r.builtin !== true));
  for (const col of lineage.predicateColumns) {
    const rule = plan.columnMask(col.schema, col.table, col.column);
    if (rule === undefined) continue;
    sensitive = true;
    if (refusal === undefined && rule.denyInPredicates === true) refusal = new GatewayError('PCS_MASK_PREDICATE_DENIED', { column: name(col), rule: rule.source ?? rule.column ?? 'a mask' });
  }
  if (lineage.opaquePredicates.length > 0 && strict) {
    sensitive = true;
    if (refusal === undefined && denyInPredicates) refusal = new GatewayError('PCS_MASK_PREDICATE_UNKNOWN', { reason: lineage.opaquePredicates[0] ?? 'unknown' });
  }

  // Writes: a masked column copied where no mask covers it would be read back in clear.
  for (const w of lineage.writes) {
    if (w.target.kind === 'file' && w.target.name.startsWith('(function ') && opts.functionCannotWrite?.(w.target.name.slice(10, -1)) === true) continue;
    const covered = w.target.kind === 'column' && plan.columnMask(w.target.schema, w.target.table, w.target.column) !== undefined;
    if (covered) continue;
    const mask = lineageMask(plan, w.lineage, failClosed);
    if (mask === undefined) continue;
    sensitive = true;
    const target = w.target.kind === 'column' ? `${w.target.schema}.${w.target.table}.${w.target.column}` : w.target.name;
    const source = w.lineage.kind === 'opaque' ? `data of unknown origin (${w.lineage.reason})` : mask.why.replace(/^lineage /, '');
    refusal ??= new GatewayError('PCS_MASK_WRITE_REFUSED', { source, rule: mask.rule.source ?? 'a mask', target });
  }

  if (!sensitive && strict) sensitive = touchesProtected(statements, plan, catalog, [...dialect.implicitSchemas, ...searchPath]);
  const masking = Object.freeze({
    plan,
    results,
    failClosed: failClosedMask,
    refusal,
    sensitive,
    notes,
    inert: failClosedMask === undefined && !sensitive && results.every((r) => r.every((m) => m === undefined)),
  });
  return { masking, readsLiterals: lineage.readsLiterals };
}

/** Views already followed, per relation snapshot: `credential relations \0 schema.view` -> reaches them. */
const viewReach = new WeakMap<RelationCatalog, Map<string, boolean>>();
/** Views over views deeper than this are taken to reach credentials (fail closed). */
const MAX_VIEW_DEPTH = 16;

/** Statements whose rows a later statement reads without naming what they read (FETCH, EXECUTE). */
const DEFERRED_COMMANDS = new Set(['declare', 'prepare']);

/**
 * Whether a statement names a relation of a built-in credential mask: then whatever lineage
 * cannot trace in it may be the credential (`f(a) FROM pg_authid a`). Through views only for
 * DECLARE and PREPARE, whose rows come later untraced: a view's own lineage is followed when
 * it is read, and following every view would fail closed on pg_stat_activity (which joins
 * pg_authid for user names) for everyone.
 */
function namesCredentials(dialect: SqlDialect, statements: readonly SqlStatement[], plan: MaskPlan, catalog: RelationCatalog, resolvePath: readonly string[]): boolean {
  if (plan.credentialRelations.length === 0) return false;
  for (const s of statements) {
    const views = DEFERRED_COMMANDS.has(s.command);
    for (const rel of s.relations) if (relationReaches(dialect, rel.name, plan, catalog, resolvePath, views ? 0 : MAX_VIEW_DEPTH + 1)) return true;
  }
  return false;
}

/**
 * A credential relation by name, or a view reaching one within MAX_VIEW_DEPTH. An unqualified
 * name counts whatever schema it resolves in: a search_path that puts another schema before
 * pg_catalog must not hide pg_authid. `depth` beyond MAX_VIEW_DEPTH: views are not followed.
 */
function relationReaches(dialect: SqlDialect, qualified: string, plan: MaskPlan, catalog: RelationCatalog, resolvePath: readonly string[], depth: number): boolean {
  const dot = qualified.lastIndexOf('.');
  const relation = dot < 0 ? qualified : qualified.slice(dot + 1);
  const named = dot < 0 ? undefined : qualified.slice(0, dot);
  if (plan.credentialRelations.some((c) => c.table === relation && (named === undefined || c.schema === named))) return true;
  if (depth > MAX_VIEW_DEPTH) return false;
  const schema = named ?? resolvePath.find((sch) => catalog.columns(sch, relation) !== undefined);
  if (schema === undefined || catalog.isView?.(schema, relation) !== true) return false;
  if (depth === MAX_VIEW_DEPTH) return true;
  let known = viewReach.get(catalog);
  if (known === undefined) viewReach.set(catalog, (known = new Map()));
  const key = `${plan.credentialRelations.map((c) => `${c.schema}.${c.table}`).join(',')}\0${schema}.${relation}`;
  const hit = known.get(key);
  if (hit !== undefined) return hit;
  // A cycle cannot happen in PostgreSQL; answering true while the view is followed is safe anyway.
  known.set(key, true);
  const definition = catalog.viewDefinition?.(schema, relation);
  const viewPath = catalog.viewSearchPath ?? ['public'];
  const resolveView = [...dialect.implicitSchemas, ...viewPath];
  // A view whose definition cannot be read could show anything.
  const reaches = definition === undefined || dialect.analyze(definition, { searchPath: viewPath }).statements.some((st) => st.command === 'unknown' || st.relations.some((r) => relationReaches(dialect, r.name, plan, catalog, resolveView, depth + 1)));
  known.set(key, reaches);
  return reaches;
}

/**
 * Whether the server could quote a protected value in an error about these statements
 * ("Failing row contains (...)", "Key (email)=(...)"): they touch a relation with a masked
 * column, a view, a relation the catalog does not know, or run procedural code.
 */
function touchesProtected(statements: readonly SqlStatement[], plan: MaskPlan, catalog: RelationCatalog, resolvePath: readonly string[]): boolean {
  for (const s of statements) {
    if (s.command === 'do' || s.command === 'call' || s.effect === 'unknown') return true;
    for (const rel of s.relations) {
      const dot = rel.name.lastIndexOf('.');
      const relation = dot < 0 ? rel.name : rel.name.slice(dot + 1);
      // Unqualified: the first schema of the path that has it, as the server resolves it.
      const schema = dot >= 0 ? rel.name.slice(0, dot) : resolvePath.find((sch) => catalog.columns(sch, relation) !== undefined);
      if (schema === undefined) return true;
      const columns = catalog.columns(schema, relation);
      if (columns === undefined || catalog.isView?.(schema, relation) === true) return true;
      if (columns.some((c) => plan.columnMask(schema, relation, c) !== undefined)) return true;
    }
  }
  return false;
}

const CACHE_SIZE = 512;
/** A template key maps to this when texts of that shape must be cached by their exact text. */
const EXACT = 0;
const caches = new WeakMap<MaskingRelations, WeakMap<MaskPlan, Map<string, StatementMasking | undefined | typeof EXACT>>>();
/**
 * Commands whose masking never depends on a literal's value beyond what the analysis reports
 * through literalReads() (COPY's options and EXPLAIN's are literals that change the result).
 */
const TEMPLATE_COMMANDS = new Set(['select', 'insert', 'update', 'delete', 'merge', 'begin', 'commit', 'rollback', 'savepoint', 'release']);

/**
 * analyzeStatementMasking, remembered per relation snapshot and plan (both replaced, never
 * mutated, when they change): agents repeat statements, and lineage costs a walk or three of
 * the tree (and a parse when the tree is no longer kept). Texts that differ only in literal
 * values share an entry (pgbench sends a new `aid` every time) unless the analysis read a
 * value (`ORDER BY 2`): those are cached by exact text.
 */
export function statementMasking(dialect: SqlDialect, action: SqlAction, plan: MaskPlan, relations: MaskingRelations, searchPath: readonly string[], opts: MaskingOptions): StatementMasking | undefined {
  if (opts.pathMayMove) return analyzeStatementMasking(dialect, action, plan, relations, searchPath, opts);
  const { text: sql, statements } = action;
  let byPlan = caches.get(relations);
  if (byPlan === undefined) caches.set(relations, (byPlan = new WeakMap()));
  let cache = byPlan.get(plan);
  if (cache === undefined) byPlan.set(plan, (cache = new Map()));
  const prefix = `${opts.sqlMode === undefined ? '' : `${opts.sqlMode}\u0003`}${searchPath.join('\0')}\u0001`;
  const normalised = statements.every((st) => TEMPLATE_COMMANDS.has(st.command)) ? dialect.normalise(sql) : undefined;
  const templateKey = normalised !== undefined ? `${prefix}\u0002${normalised.key}` : undefined;
  const exactKey = `${prefix}${sql}`;
  for (const key of templateKey !== undefined ? [templateKey, exactKey] : [exactKey]) {
    const hit = cache.get(key);
    if (hit !== EXACT && cache.has(key)) {
      analysisCacheStats.masking.hits++;
      return touch(cache, key, hit);
    }
  }
  analysisCacheStats.masking.misses++;
  const analysed = analyse(dialect, action, plan, relations, searchPath, opts);
  const result = analysed?.masking;
  const byValue = analysed?.readsLiterals === true;
  if (cache.size >= CACHE_SIZE - 1) {
    cache.delete(cache.keys().next().value as string);
    cache.delete(cache.keys().next().value as string);
  }
  if (templateKey !== undefined && !byValue) cache.set(templateKey, result);
  else {
    if (templateKey !== undefined) cache.set(templateKey, EXACT);
    cache.set(exactKey, result);
  }
  return result;
}

/** A hit moves to the end: a Map keeps insertion order, so the first key is the least recently used. */
function touch(cache: Map<string, StatementMasking | undefined | typeof EXACT>, key: string, value: StatementMasking | undefined): StatementMasking | undefined {
  cache.delete(key);
  cache.set(key, value);
  return value;
}
