// PostgreSQL statement analysis with the real grammar (libpg-query 18, WASM). Turns SQL text
// into a SqlAction: per statement, its command class, effect, relations and called functions.
// Parse, don't grep: a statement the parser rejects or we do not classify gets effect
// `unknown`, which policy treats as fail closed.
import { hasSqlDetails, loadModule, parseSync } from 'libpg-query';
import type { SqlAction, SqlRelation, SqlStatement } from '../../core/action.ts';
import { unwrap } from './ast.ts';
import { classify } from './classify.ts';
import { Lru } from './lru.ts';
import { StatementWalker } from './walk.ts';

export interface AnalyzeOptions {
  /** The session's search_path; unqualified relations resolve to its first schema. */
  readonly searchPath?: readonly string[];
}

const DEFAULT_SEARCH_PATH: readonly string[] = ['public'];
/** Agents repeat their statements: cache analyses, but bound entries and the text cached. */
const CACHE_ENTRIES = 2000;
const MAX_CACHED_TEXT = 16 * 1024;

const cache = new Lru<string, SqlAction>(CACHE_ENTRIES);
let loading: Promise<void> | undefined;
let loaded = false;

/** Loads the parser's WASM module once (~25 ms). Idempotent; a failed load can be retried. */
export function loadSqlAnalyzer(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      loaded = true;
    },
    (err: unknown) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

/** Synchronous once loadSqlAnalyzer() has resolved. Results are frozen and shared (cached). */
export function analyzePostgres(sql: string, opts?: AnalyzeOptions): SqlAction {
  if (!loaded) throw new Error('analyzePostgres called before loadSqlAnalyzer() resolved');
  const searchPath = opts?.searchPath !== undefined && opts.searchPath.length > 0 ? opts.searchPath : DEFAULT_SEARCH_PATH;
  // NUL cannot occur in PostgreSQL identifiers or query text: a safe separator.
  const key = `${searchPath.join('\0')}\0\0${sql}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const action: SqlAction = Object.freeze({ kind: 'sql', dialect: 'postgres', text: sql, statements: Object.freeze(analyze(sql, searchPath[0] ?? 'public')) });
  if (sql.length <= MAX_CACHED_TEXT) cache.set(key, action);
  return action;
}

/** For tests and benchmarks: measure first-time analysis. */
export function clearSqlAnalysisCache(): void {
  cache.clear();
}

function analyze(sql: string, defaultSchema: string): SqlStatement[] {
  if (sql.trim() === '') return [];
  let stmts;
  try {
    stmts = parseSync(sql).stmts ?? [];
  } catch (err) {
    return [parseErrorStatement(sql, err)];
  }
  const slicer = textSlicer(sql);
  return stmts.map((raw) => analyzeStatement(raw.stmt, slicer(raw.stmt_location ?? 0, raw.stmt_len ?? 0), defaultSchema));
}

function analyzeStatement(stmt: unknown, text: string, defaultSchema: string): SqlStatement {
  const node = unwrap(stmt);
  if (node === undefined) return unknownStatement(text, 'the parser returned no statement');
  const walker = new StatementWalker(defaultSchema);
  walker.walk(stmt);
  const c = classify(node[0], node[1], walker);
  const relations: SqlRelation[] = [];
  for (const [name, access] of walker.relations) relations.push(Object.freeze({ name, access: c.readOnlyRelations === true ? 'read' : access }));
  const base = { command: c.command, effect: c.effect, relations: Object.freeze(relations), functions: Object.freeze([...walker.functions]), text };
  return Object.freeze(c.error === undefined ? base : { ...base, error: c.error });
}

function unknownStatement(text: string, error: string): SqlStatement {
  return Object.freeze({ command: 'unknown', effect: 'unknown', relations: Object.freeze([]), functions: Object.freeze([]), text, error });
}

function parseErrorStatement(sql: string, err: unknown): SqlStatement {
  const message = err instanceof Error ? err.message : String(err);
  if (!hasSqlDetails(err) || err.sqlDetails === undefined) return unknownStatement(sql.trim(), message);
  // cursorPosition counts characters from 0; PostgreSQL reports them from 1.
  return unknownStatement(sql.trim(), `${message} at character ${err.sqlDetails.cursorPosition + 1}`);
}

/**
 * Statement locations are byte offsets into the UTF-8 text (stmt_len 0 means "to the end").
 * ASCII text, the common case, is sliced directly; other text through its UTF-8 bytes.
 */
function textSlicer(sql: string): (location: number, length: number) => string {
  const bytes = Buffer.from(sql);
  if (bytes.length === sql.length) return (location, length) => sql.slice(location, length === 0 ? undefined : location + length).trim();
  return (location, length) => bytes.subarray(location, length === 0 ? undefined : location + length).toString().trim();
}
