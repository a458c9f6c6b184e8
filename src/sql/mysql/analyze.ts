// MySQL/MariaDB statement analysis: the lexer (lex.ts) splits the text as the server does and
// yields what the server parses; each statement is classified (classify.ts) by the grammar or
// by its first words; calls make the effect worse (builtin-functions.ts). Anything not
// understood is `unknown` with a reason, which policy treats as fail closed.
//
// A statement that sets sql_mode changes how the rest of the same text is read: the rest is
// lexed again under the new mode. Analyses are cached by exact text, server, mode and
// database; the classified statements (with the grammar's trees) serve lineage() after.
import { analysisCacheStats } from '../../core/analysis-cache-stats.ts';
import type { SqlAction, SqlRelation, SqlStatement } from '../../core/action.ts';
import type { AnalyzeOptions } from '../dialect.ts';
import { worse } from '../effects.ts';
import type { FunctionCatalog } from '../function-catalog.ts';
import { Lru } from '../../util/lru.ts';
import { mysqlFunctionEffect } from './builtin-functions.ts';
import { Classifier, unknown, type Classified } from './classify.ts';
import { lexMysql, sqlModeOf, type LexedStatement, type SqlMode } from './lex.ts';
import { normaliseMysql } from './normalize.ts';
import { loadMysqlParser, mysqlParserLoaded } from './parse.ts';
import { redactMysql } from './redact.ts';
import type { MysqlServer } from './server.ts';

const CACHE_ENTRIES = 2000;
const MAX_CACHED_TEXT = 16 * 1024;

/** One statement of a text: where it is, how it was lexed, what it does. */
export interface AnalysedStatement {
  readonly start: number;
  readonly end: number;
  readonly lexed: LexedStatement;
  readonly classified: Classified;
  /** The current database it was read in (USE changes it for later statements). */
  readonly database: string | undefined;
}

interface Entry {
  readonly statements: readonly AnalysedStatement[];
  /** Classified for another text of the same literal-normalised key: the trees are that text's (lineage parses again). */
  readonly borrowed?: true;
  last?: { readonly catalog: FunctionCatalog | undefined; readonly action: SqlAction };
}

const cache = new Lru<string, Entry>(CACHE_ENTRIES);
/** By literal-normalised key: the classifications of a text whose statements do not depend on literal values. */
const templates = new Lru<string, readonly Classified[]>(CACHE_ENTRIES);

export function loadMysqlAnalyzer(): Promise<void> {
  return loadMysqlParser();
}

function cacheKey(text: string, server: MysqlServer, sqlMode: string | undefined, database: string | undefined): string {
  // NUL is no character of a statement the server accepts: a safe separator.
  return `${server.version ?? '?'}\0${server.mariadb ?? '?'}\0${server.lowerCaseTableNames ?? '?'}\0${sqlMode ?? ''}\0${database ?? ''}\0${text}`;
}

/**
 * The statements of a text, classified (cached; the same entry for the same inputs). With
 * `trees`, the grammar's trees are this text's own (for lineage): a borrowed entry is redone.
 */
export function analyseStatements(text: string, server: MysqlServer, opts: { readonly sqlMode?: string; readonly searchPath?: readonly string[] } | undefined, trees = false): Entry {
  const database = opts?.searchPath?.[0];
  const key = text.length <= MAX_CACHED_TEXT ? cacheKey(text, server, opts?.sqlMode, database) : undefined;
  const hit = key === undefined ? undefined : cache.get(key);
  if (hit !== undefined && !(trees && hit.borrowed === true)) {
    analysisCacheStats.policy.hits++;
    return hit;
  }
  const mode = sqlModeOf(opts?.sqlMode);
  const normalised = key === undefined || trees ? undefined : normaliseMysql(text, server);
  const templateKey = normalised === undefined || normalised.literals.length === 0 ? undefined : cacheKey(normalised.key, server, opts?.sqlMode, database);
  const template = templateKey === undefined ? undefined : templates.get(templateKey);
  if (template !== undefined && key !== undefined) {
    // Same statements but for literal values: their classifications, this text's offsets.
    const lexed = lexMysql(text, server, mode);
    if (lexed.length === template.length) {
      analysisCacheStats.policy.hits++;
      const entry: Entry = { statements: Object.freeze(lexed.map((s, i) => Object.freeze({ start: s.start, end: s.end, lexed: s, classified: template[i] as Classified, database }))), borrowed: true };
      cache.set(key, entry);
      return entry;
    }
  }
  analysisCacheStats.policy.misses++;
  const entry: Entry = { statements: Object.freeze(split(text, server, mode, database)) };
  if (key !== undefined) cache.set(key, entry);
  if (templateKey !== undefined && entry.statements.every((s) => !s.classified.literalBound && s.lexed.error === undefined)) templates.set(templateKey, entry.statements.map((s) => s.classified));
  return entry;
}

function split(text: string, server: MysqlServer, initialMode: SqlMode, initialDatabase: string | undefined): AnalysedStatement[] {
  const out: AnalysedStatement[] = [];
  let mode = initialMode;
  let database = initialDatabase;
  let lexed = lexMysql(text, server, mode);
  for (let i = 0; i < lexed.length; i++) {
    const s = lexed[i] as LexedStatement;
    let classified: Classified;
    if (mode.unsupported !== undefined) classified = unknown(`sql_mode ${mode.unsupported} changes the grammar; this analysis does not follow it`);
    else if (s.error !== undefined) classified = unknown(s.error);
    else classified = new Classifier({ server, mode, database }).classify(s.tokens);
    out.push(Object.freeze({ start: s.start, end: s.end, lexed: s, classified, database }));
    const setting = classified.extra.setting;
    if (setting?.name === 'database' && setting.value !== null) database = setting.value;
    if (setting?.name === 'sql_mode') {
      // The rest of the text is read under the new mode (DEFAULT: the server's default, not known here).
      const next = setting.value === null ? undefined : sqlModeOf(setting.value);
      const rest = restAfter(text, s.end);
      if (rest >= text.length) continue;
      if (next === undefined) {
        out.push(Object.freeze({ start: rest, end: text.length, lexed: { start: rest, end: text.length, tokens: [] }, classified: unknown('statements after SET sql_mode = DEFAULT: the default mode is not known here'), database }));
        break;
      }
      mode = next;
      lexed = [...lexed.slice(0, i + 1), ...lexMysql(text, server, mode, rest)];
    }
  }
  return out;
}

/** Offset just past the `;` that ends a statement ending at `end` (or the text's end). */
function restAfter(text: string, end: number): number {
  const semi = text.indexOf(';', end);
  return semi < 0 ? text.length : semi + 1;
}

/** Synchronous once loadMysqlAnalyzer() resolved. Frozen results; the same inputs give the same object. */
export function analyzeMysql(text: string, server: MysqlServer, opts?: AnalyzeOptions): SqlAction {
  if (!mysqlParserLoaded()) throw new Error('analyzeMysql called before the MySQL grammar was loaded (dialect.load())');
  const entry = analyseStatements(text, server, opts);
  const catalog = opts?.catalog;
  if (entry.last !== undefined && entry.last.catalog === catalog) return entry.last.action;
  const statements: SqlStatement[] = [];
  const credentials: [number, number, boolean][] = [];
  for (const s of entry.statements) {
    const c = s.classified;
    let effect = c.effect;
    for (const call of c.calls) {
      if (effect === 'unknown') break;
      effect = worse(effect, mysqlFunctionEffect(call, catalog));
    }
    const relations: SqlRelation[] = [];
    for (const [name, access] of c.relations) relations.push(Object.freeze({ name, access }));
    const credential = c.extra.credential === true || c.functions.some((f) => f === 'password' || f === 'old_password') || mayCarryCredential(s);
    statements.push(
      Object.freeze({
        command: c.command,
        effect,
        relations: Object.freeze(relations),
        functions: Object.freeze([...c.functions]),
        text: text.slice(s.start, s.end),
        ...c.extra,
        ...(credential ? { credential: true as const } : {}),
      }),
    );
    if (credential) credentials.push([s.start, s.end, s.lexed.error !== undefined]);
  }
  const redacted = credentials.length === 0 ? {} : { redacted: redactMysql(text, entry.statements.map((s) => s.lexed), credentials) };
  const action: SqlAction = Object.freeze({ kind: 'sql', dialect: 'mysql', text, statements: Object.freeze(statements), ...redacted });
  entry.last = { catalog, action };
  return action;
}

/** A statement the lexer could not read that starts like an account statement: its text may hold a password. */
function mayCarryCredential(s: AnalysedStatement): boolean {
  if (s.lexed.error === undefined) return false;
  const words = s.lexed.tokens.slice(0, 3).map((t) => (t.kind === 'word' ? t.value.toUpperCase() : ''));
  return ['CREATE', 'ALTER', 'GRANT', 'SET', 'CHANGE', 'START'].includes(words[0] ?? '') || s.lexed.tokens.length === 0;
}

/**
 * EXECUTE of a prepared statement takes the effect of what PREPARE ... FROM prepared; the
 * adapter keeps each PREPARE's analysis per session (statement.prepared) and passes a lookup.
 */
export function resolveExecute(statement: SqlStatement, prepared: (name: string) => SqlStatement | undefined): SqlStatement {
  if (statement.executes === undefined) return statement;
  const target = prepared(statement.executes);
  if (target === undefined || target.error !== undefined) return statement;
  const { error: _error, ...rest } = statement;
  return Object.freeze({
    ...rest,
    effect: target.effect,
    relations: target.relations,
    functions: Object.freeze([...new Set([...statement.functions, ...target.functions])]),
    ...(target.unbounded === true ? { unbounded: true as const } : {}),
  });
}

/** For tests and benchmarks: measure first-time analysis. */
export function clearMysqlAnalysisCache(): void {
  cache.clear();
  templates.clear();
}
