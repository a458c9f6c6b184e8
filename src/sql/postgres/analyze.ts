// PostgreSQL statement analysis with the real grammar (libpg-query 18, WASM, run by
// parse.ts). Turns SQL text into a SqlAction: per statement, its command class, effect,
// relations and called functions. The tree stays with parse.ts for masking's lineage.
// Parse, don't grep: a statement the parser rejects or we do not classify gets effect
// `unknown`, which policy treats as fail closed.
//
// Two layers, so that the cache stays effective and the catalog stays live:
// - the structure of a text (commands, relations, calls, statement boundaries) is cached by
//   the text with its literals normalised (normalize.ts) and the search path;
// - the effect of each statement (its command's, made worse by the functions it calls, which
//   depend on the session's function catalog) is applied after the lookup, cheaply.
import { analysisCacheStats } from '../../core/analysis-cache-stats.ts';
import type { AnalyzeOptions } from '../dialect.ts';
import type { SqlAction, SqlEffect, SqlRelation, SqlStatement } from '../../core/action.ts';
import { unwrap } from './ast.ts';
import { classify } from './classify.ts';
import { worse } from '../effects.ts';
import type { FunctionCatalog } from '../function-catalog.ts';
import { functionEffect } from './function-catalog.ts';
import { Lru } from '../../util/lru.ts';
import { keyToText, textToKey, type Normalised } from '../normalised.ts';
import { normaliseSql } from './normalize.ts';
import { clearParsedTrees, loadPostgresParser, parsePostgres, postgresParserLoaded, type Parsed } from './parse.ts';
import { carriesCredential, mayCarryCredential, redactBareSecrets, redactLiterals, type CredentialRange } from './redact.ts';
import { StatementWalker } from './walk.ts';

const DEFAULT_SEARCH_PATH: readonly string[] = ['public'];
/** Agents repeat their statements: cache analyses, but bound entries and the text cached. */
const CACHE_ENTRIES = 2000;
const MAX_CACHED_TEXT = 16 * 1024;

/**
 * Statement types whose analysis never depends on a literal's value: their texts share cache
 * entries across literals. Others (SET values, EXPLAIN options, DDL) are cached by exact text.
 */
const LITERAL_FREE = new Set([
  'SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt', 'CallStmt', 'ExecuteStmt',
  'PrepareStmt', 'DeclareCursorStmt', 'FetchStmt', 'TransactionStmt', 'LockStmt', 'TruncateStmt',
]);

/** A statement's analysis without its text and without the catalog-dependent effect. */
interface Shape {
  readonly command: string;
  /** The command's own effect. */
  readonly effect: SqlEffect;
  readonly relations: readonly SqlRelation[];
  readonly functions: readonly string[];
  /** Calls that run (as parsed), whose effects make `effect` worse. */
  readonly calls: readonly (readonly string[])[];
  /** Bounds of the statement's text, as offsets into the cache key. */
  readonly start: number;
  readonly end: number;
  readonly extra: Partial<Pick<SqlStatement, 'error' | 'setting' | 'prepared' | 'executes' | 'unbounded' | 'credential'>>;
}

interface Entry {
  readonly shapes: readonly Shape[];
  /** The last action built from this entry, returned again for the same text, path and catalog. */
  last?: { readonly text: string; readonly catalog: FunctionCatalog | undefined; readonly action: SqlAction };
}

/** Keys by normalised text: an entry, or EXACT when the text's analysis depends on its literals. */
const cache = new Lru<string, Entry | typeof EXACT>(CACHE_ENTRIES);
const exactCache = new Lru<string, Entry>(CACHE_ENTRIES);
const EXACT = 0;
const NO_LITERALS: Normalised = Object.freeze({ key: '', literals: Object.freeze([]) });

/** Loads the grammar (parse.ts) once; analyzePostgres is synchronous after it. */
export function loadSqlAnalyzer(): Promise<void> {
  return loadPostgresParser();
}

/**
 * Synchronous once loadSqlAnalyzer() has resolved. Results are frozen; the same text, search
 * path and catalog give the same object. Every statement's `text` is this call's own text.
 */
export function analyzePostgres(sql: string, opts?: AnalyzeOptions): SqlAction {
  if (!postgresParserLoaded()) throw new Error('analyzePostgres called before loadSqlAnalyzer() resolved');
  const searchPath = opts?.searchPath !== undefined && opts.searchPath.length > 0 ? opts.searchPath : DEFAULT_SEARCH_PATH;
  const catalog = opts?.catalog;
  if (sql.length > MAX_CACHED_TEXT) {
    analysisCacheStats.policy.misses++;
    const built = analyzeShapes(sql, NO_LITERALS, searchPath[0] ?? 'public');
    return materialise(sql, built.shapes, NO_LITERALS, searchPath, catalog);
  }
  const prefix = pathPrefix(searchPath);
  const normalised = normaliseSql(sql);
  let entry: Entry | typeof EXACT | undefined = normalised === undefined ? EXACT : cache.get(prefix + normalised.key);
  let mapping = normalised ?? NO_LITERALS;
  if (entry === EXACT) {
    entry = exactCache.get(prefix + sql);
    mapping = NO_LITERALS;
  }
  if (entry !== undefined) analysisCacheStats.policy.hits++;
  else {
    analysisCacheStats.policy.misses++;
    const built = analyzeShapes(sql, normalised ?? NO_LITERALS, searchPath[0] ?? 'public');
    if (built.literalFree && normalised !== undefined) {
      entry = { shapes: built.shapes };
      cache.set(prefix + normalised.key, entry);
    } else {
      // Re-based on the exact text: offsets into the text itself.
      entry = normalised === undefined || normalised.literals.length === 0 ? { shapes: built.shapes } : { shapes: rebase(built.shapes, normalised) };
      if (normalised !== undefined) cache.set(prefix + normalised.key, EXACT);
      exactCache.set(prefix + sql, entry);
      mapping = NO_LITERALS;
    }
  }
  const last = entry.last;
  if (last !== undefined && last.text === sql && last.catalog === catalog) return last.action;
  const action = materialise(sql, entry.shapes, mapping, searchPath, catalog);
  entry.last = { text: sql, catalog, action };
  return action;
}

/** The search path part of a cache key, for the last path array seen (sessions keep theirs). */
let lastPath: readonly string[] | undefined;
let lastPrefix = '';

function pathPrefix(searchPath: readonly string[]): string {
  if (searchPath !== lastPath) {
    // NUL cannot occur in PostgreSQL identifiers or query text: a safe separator.
    lastPrefix = `${searchPath.join('\0')}\0\0`;
    lastPath = searchPath;
  }
  return lastPrefix;
}

/**
 * EXECUTE of a prepared statement takes the effect of what it runs. The adapter records the
 * analysis of each `PREPARE name AS ...` (statement.prepared) per session and passes a lookup;
 * an EXECUTE of a name it does not know stays `unknown`.
 */
export function resolveExecute(statement: SqlStatement, prepared: (name: string) => SqlStatement | undefined): SqlStatement {
  if (statement.executes === undefined) return statement;
  const target = prepared(statement.executes);
  if (target === undefined || target.error !== undefined) return statement;
  const relations = new Map<string, SqlRelation>();
  for (const r of [...statement.relations, ...target.relations]) if (relations.get(r.name)?.access !== 'write') relations.set(r.name, r);
  const { error: _error, ...rest } = statement;
  return Object.freeze({
    ...rest,
    // CREATE TABLE ... AS EXECUTE also creates a table.
    effect: statement.command === 'create' ? worse('ddl', target.effect) : target.effect,
    relations: Object.freeze([...relations.values()]),
    functions: Object.freeze([...new Set([...statement.functions, ...target.functions])]),
    ...(target.unbounded === true ? { unbounded: true as const } : {}),
  });
}

/** For tests and benchmarks: measure first-time analysis. */
export function clearSqlAnalysisCache(): void {
  cache.clear();
  exactCache.clear();
  clearParsedTrees();
}

function materialise(sql: string, shapes: readonly Shape[], mapping: Normalised, searchPath: readonly string[], catalog: FunctionCatalog | undefined): SqlAction {
  const statements: SqlStatement[] = [];
  let credentials: CredentialRange[] | undefined;
  for (const shape of shapes) {
    let effect = shape.effect;
    for (const call of shape.calls) {
      if (effect === 'unknown') break;
      effect = worse(effect, functionEffect(call, searchPath, catalog));
    }
    const text = mapping.literals.length === 0 ? sql.slice(shape.start, shape.end) : sql.slice(keyToText(mapping, shape.start), keyToText(mapping, shape.end));
    statements.push(Object.freeze({ command: shape.command, effect, relations: shape.relations, functions: shape.functions, text, ...shape.extra }));
    // The tree vouches for credential statements; DO blocks, bodies and unparsed text go by their words.
    const byWords = shape.extra.credential === true ? undefined : mayCarryCredential(shape.command, text);
    if (shape.extra.credential === true || byWords !== undefined) {
      const [from, to] = mapping.literals.length === 0 ? [shape.start, shape.end] : [keyToText(mapping, shape.start), keyToText(mapping, shape.end)];
      (credentials ??= []).push([from, to, byWords?.code === true]);
    }
  }
  const unparsed = credentials !== undefined && statements.some((s) => s.command === 'unknown');
  const redacted = credentials === undefined ? {} : { redacted: unparsed ? redactBareSecrets(redactLiterals(sql, credentials)) : redactLiterals(sql, credentials) };
  return Object.freeze({ kind: 'sql', dialect: 'postgres', text: sql, statements: Object.freeze(statements), ...redacted });
}

function rebase(shapes: readonly Shape[], normalised: Normalised): Shape[] {
  return shapes.map((s) => ({ ...s, start: keyToText(normalised, s.start), end: keyToText(normalised, s.end) }));
}

function analyzeShapes(sql: string, normalised: Normalised, defaultSchema: string): { shapes: Shape[]; literalFree: boolean } {
  if (sql.trim() === '') return { shapes: [], literalFree: true };
  const parsed = parsePostgres(sql);
  // The message carries a position: only this exact text has it.
  if (!parsed.ok) return { shapes: [parseErrorShape(sql, parsed)], literalFree: false };
  const stmts = parsed.stmts;
  const offsets = charOffsets(sql);
  let literalFree = true;
  const shapes = stmts.map((raw) => {
    const begin = offsets(raw.stmt_location ?? 0);
    const stop = raw.stmt_len === undefined || raw.stmt_len === 0 ? sql.length : offsets((raw.stmt_location ?? 0) + raw.stmt_len);
    const [start, end] = trimmed(sql, begin, stop);
    const type = unwrap(raw.stmt)?.[0];
    if (type === undefined || !LITERAL_FREE.has(type)) literalFree = false;
    return analyzeStatement(raw.stmt, textToKey(normalised, start), textToKey(normalised, end), defaultSchema);
  });
  return { shapes, literalFree };
}

function analyzeStatement(stmt: unknown, start: number, end: number, defaultSchema: string): Shape {
  const node = unwrap(stmt);
  if (node === undefined) return unknownShape(start, end, 'the parser returned no statement');
  const walker = new StatementWalker(defaultSchema);
  walker.walk(stmt);
  const c = classify(node[0], node[1], walker);
  const relations: SqlRelation[] = [];
  for (const [name, access] of walker.relations) relations.push(Object.freeze({ name, access: c.readOnlyRelations === true ? 'read' : access }));
  const extra: Shape['extra'] = {
    ...(c.error !== undefined ? { error: c.error } : {}),
    ...(c.setting !== undefined ? { setting: c.setting } : {}),
    ...(c.prepared !== undefined ? { prepared: Object.freeze({ name: c.prepared }) } : {}),
    ...(c.executes !== undefined ? { executes: c.executes } : {}),
    ...(c.unbounded === true ? { unbounded: true as const } : {}),
    ...(carriesCredential(node[0], walker.functions) ? { credential: true as const } : {}),
  };
  return {
    command: c.command,
    effect: c.effect,
    relations: Object.freeze(relations),
    functions: Object.freeze([...walker.functions]),
    // EXPLAIN without ANALYZE runs nothing.
    calls: c.readOnlyRelations === true ? [] : [...walker.calls.values()],
    start,
    end,
    extra: Object.freeze(extra),
  };
}

function unknownShape(start: number, end: number, error: string): Shape {
  return { command: 'unknown', effect: 'unknown', relations: Object.freeze([]), functions: Object.freeze([]), calls: [], start, end, extra: Object.freeze({ error }) };
}

function parseErrorShape(sql: string, err: Extract<Parsed, { ok: false }>): Shape {
  const [start, end] = trimmed(sql, 0, sql.length);
  if (err.position === undefined) return unknownShape(start, end, err.message);
  // The parser counts characters from 0; PostgreSQL reports them from 1.
  return unknownShape(start, end, `${err.message} at character ${err.position + 1}`);
}

/** [start, end) of text.slice(start, end).trim() within text. */
function trimmed(text: string, start: number, end: number): [number, number] {
  let s = start;
  let e = end;
  while (s < e && /\s/.test(text.charAt(s))) s++;
  while (e > s && /\s/.test(text.charAt(e - 1))) e--;
  return [s, e];
}

/** Statement locations are byte offsets into the UTF-8 text: byte offset -> character offset. */
function charOffsets(sql: string): (byteOffset: number) => number {
  const bytes = Buffer.from(sql);
  if (bytes.length === sql.length) return (offset) => offset;
  return (offset) => bytes.subarray(0, offset).toString().length;
}
