// Column lineage of PostgreSQL statements (issue 4, points 2 and 3): for each output column,
// the base columns whose values flow into it, and the base columns the statements filter,
// join, group or order on. Pure: a parsed text and a catalog in, lineage out. The tree is
// the one policy analysis parsed (../parse.ts keeps it): lineage does not parse again.
//
// Everything errs towards more sources and towards opaque: a column that lineage wrongly
// marks as carrying ssn is masked for nothing; one it wrongly clears leaks ssn.
import type { LineageOptions, TextLineage } from '../../dialect.ts';
import type { QueryLineage, SourceColumn } from '../../lineage.ts';
import type { RelationCatalog } from '../../relation-catalog.ts';
import { isObject, str, unwrap, type JsonObject } from '../ast.ts';
import { parsePostgres, type Parsed } from '../parse.ts';
import { relationItem } from './from.ts';
import { CONSTANT, opaque, sourceKey } from './lin.ts';
import { literalReads } from './literal-reads.ts';
import { analyzeQuery } from './query.ts';
import { DEFAULT_SEARCH_PATH, Scope, type Column, type Context } from './scope.ts';
import { writesOf } from './writes.ts';

const ROOT = (): Scope => new Scope([], undefined, new Map());

type Options = { readonly searchPath?: readonly string[] };

/**
 * Masking's whole view of a text (the dialect's lineage()): per statement its outputs (or,
 * sending no rows, its predicates only), the predicates of all, and the writes when asked.
 */
export function textLineage(sql: string, catalog: RelationCatalog, opts: LineageOptions): TextLineage {
  const before = literalReads();
  const parsed = parsePostgres(sql);
  const results: Column[][] = [];
  const predicates = new Map<string, SourceColumn>();
  const opaquePredicates: string[] = [];
  const notes: string[] = [];
  // One context per statement, as when each was analysed alone; predicates gather across.
  for (const one of statements(parsed, catalog, opts.searchPath, true)) {
    if (one.outputs !== undefined) results.push(one.outputs);
    notes.push(...one.ctx.notes);
    for (const c of one.ctx.predicates.values()) predicates.set(sourceKey(c), c);
    for (const r of one.ctx.opaquePredicates) if (!opaquePredicates.includes(r)) opaquePredicates.push(r);
  }
  const writes = opts.writes ? writesOf(sql === '' ? EMPTY : parsed, catalog, opts.searchPath) : [];
  return Object.freeze({
    results: Object.freeze(results.map((outputs) => freezeOutputs(outputs))),
    predicateColumns: Object.freeze([...predicates.values()]),
    opaquePredicates: Object.freeze(opaquePredicates),
    notes: Object.freeze(notes),
    writes,
    readsLiterals: literalReads() !== before,
  });
}

/** The parser refuses the empty text, which the server takes as an empty query: it writes nothing. */
const EMPTY: Parsed = Object.freeze({ ok: true, stmts: Object.freeze([]) });

/** Undefined for statements without a result set (DDL, SET, SELECT INTO, DML without RETURNING...). */
export function analyzeLineage(sql: string, catalog: RelationCatalog, opts?: Options): QueryLineage | undefined {
  const ctx = newContext(catalog, opts);
  const results: Column[][] = [];
  for (const one of statements(parsePostgres(sql), catalog, ctx.searchPath, false, ctx)) if (one.outputs !== undefined) results.push(one.outputs);
  if (results.length === 0) return undefined;
  if (results.length > 1) return result([{ name: '*', lineage: opaque('several statements return results: analyse each one on its own') }], ctx);
  return result(results[0] ?? [], ctx);
}

/**
 * The predicates of every statement in the text, including those that send no rows: an
 * `UPDATE ... WHERE ssn LIKE '1%'` leaks one bit through its row count, and the query of a
 * `CREATE TABLE AS`, `DECLARE CURSOR` or `PREPARE` filters just the same.
 */
export function analyzePredicates(sql: string, catalog: RelationCatalog, opts?: Options): Pick<QueryLineage, 'predicateColumns' | 'opaquePredicates'> {
  const ctx = newContext(catalog, opts);
  for (const _ of statements(parsePostgres(sql), catalog, ctx.searchPath, true, ctx));
  const { predicateColumns, opaquePredicates } = result([], ctx);
  return Object.freeze({ predicateColumns, opaquePredicates });
}

/** What writes to the text's targets, one entry per target (writes.ts). */
export function analyzeWrites(sql: string, catalog: RelationCatalog, opts?: Options): TextLineage['writes'] {
  return writesOf(sql === '' ? EMPTY : parsePostgres(sql), catalog, searchPathOf(opts));
}

function searchPathOf(opts: Options | undefined): readonly string[] {
  return opts?.searchPath !== undefined && opts.searchPath.length > 0 ? opts.searchPath : DEFAULT_SEARCH_PATH;
}

function newContext(catalog: RelationCatalog, opts: Options | undefined): Context {
  return { catalog, searchPath: searchPathOf(opts), predicates: new Map(), opaquePredicates: [], notes: new Set(), views: [] };
}

/**
 * Each statement's outputs, with the context its walk filled: `shared` for one context over
 * all of them, else a new one each. `silentToo`: walk statements that send no rows for their
 * predicates.
 */
function* statements(parsed: Parsed, catalog: RelationCatalog, searchPath: readonly string[], silentToo: boolean, shared?: Context): Generator<{ outputs: Column[] | undefined; ctx: Context }> {
  const fresh = (): Context => shared ?? newContext(catalog, { searchPath });
  if (!parsed.ok) {
    // The server rejects it too, but never guess about text we could not read.
    const ctx = fresh();
    const reason = `statement does not parse: ${parsed.message}`;
    ctx.opaquePredicates.push(reason);
    yield { outputs: [{ name: '*', lineage: opaque(reason) }], ctx };
    return;
  }
  for (const raw of parsed.stmts) {
    const stmt = unwrap(raw.stmt);
    if (stmt === undefined) continue;
    const ctx = fresh();
    try {
      const outputs = statementOutputs(stmt[0], stmt[1], ctx);
      if (outputs === undefined && silentToo) analyzeSilently(stmt[0], stmt[1], ctx);
      yield { outputs: outputs === undefined ? undefined : [...outputs], ctx };
    } catch (err) {
      // A tree deep enough to exhaust the stack, or a shape this module does not expect.
      const reason = `lineage analysis failed: ${(err as Error).message}`;
      ctx.opaquePredicates.push(reason);
      yield { outputs: [{ name: '*', lineage: opaque(reason) }], ctx };
    }
  }
}

/** Statements that send no rows, for their predicates only. */
function analyzeSilently(type: string, body: JsonObject, ctx: Context): void {
  switch (type) {
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
      analyzeQuery(type, body, ROOT(), ctx);
      return;
    case 'CreateTableAsStmt':
    case 'DeclareCursorStmt':
    case 'PrepareStmt':
    case 'CopyStmt': {
      const query = unwrap(body.query);
      if (query !== undefined) analyzeQuery(query[0], query[1], ROOT(), ctx);
      return;
    }
    case 'MergeStmt':
      ctx.opaquePredicates.push('MERGE is not analysed');
      return;
    default:
      return;
  }
}

function statementOutputs(type: string, body: JsonObject, ctx: Context): readonly Column[] | undefined {
  switch (type) {
    case 'SelectStmt':
      return selectInto(body) ? undefined : analyzeQuery(type, body, ROOT(), ctx);
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt': {
      const returning = isObject(body.returningClause) ? body.returningClause.exprs : body.returningList;
      return Array.isArray(returning) && returning.length > 0 ? analyzeQuery(type, body, ROOT(), ctx) : undefined;
    }
    case 'MergeStmt':
      return isObject(body.returningClause) || Array.isArray(body.returningList) ? [{ name: '*', lineage: opaque('MERGE ... RETURNING is not analysed') }] : undefined;
    case 'CopyStmt':
      return copyOutputs(body, ctx);
    case 'ExplainStmt': {
      // The plan shows no column values, but EXPLAIN ANALYZE counts rows a filter removed.
      const query = unwrap(body.query);
      if (query !== undefined) analyzeQuery(query[0], query[1], ROOT(), ctx);
      return [{ name: 'QUERY PLAN', lineage: CONSTANT }];
    }
    case 'VariableShowStmt':
      return [{ name: str(body.name) ?? 'setting', lineage: CONSTANT }];
    case 'ExecuteStmt':
    case 'FetchStmt':
    case 'CallStmt':
      // Their rows come from a statement analysed elsewhere (PREPARE, DECLARE) or a procedure.
      return [{ name: '*', lineage: opaque(`${type}: the rows come from a statement not in this text`) }];
    default:
      return undefined;
  }
}

/** SELECT ... INTO creates a table: no rows reach the client. */
function selectInto(body: JsonObject): boolean {
  if (isObject(body.intoClause)) return true;
  return isObject(body.larg) && selectInto(body.larg);
}

/** COPY (query) TO STDOUT and COPY table [(cols)] TO STDOUT send rows; to a file they do not. */
function copyOutputs(body: JsonObject, ctx: Context): readonly Column[] | undefined {
  if (body.is_from === true || str(body.filename) !== undefined || body.is_program === true) return undefined;
  const query = unwrap(body.query);
  if (query !== undefined) return analyzeQuery(query[0], query[1], ROOT(), ctx);
  if (!isObject(body.relation)) return undefined;
  const item = relationItem(body.relation, ROOT(), ctx, false);
  if (item.unknown !== undefined) return [{ name: '*', lineage: opaque(item.unknown) }];
  const attlist = Array.isArray(body.attlist) ? body.attlist.map((a) => str(unwrap(a)?.[1].sval) ?? '') : [];
  if (attlist.length === 0) return item.visible;
  return attlist.map((name) => item.visible.find((c) => c.name === name) ?? { name, lineage: opaque(`column ${name} does not resolve`) });
}

function freezeOutputs(outputs: readonly Column[]): QueryLineage['outputs'] {
  return Object.freeze(outputs.map((c) => Object.freeze({ name: c.name, lineage: c.lineage })));
}

function result(outputs: readonly Column[], ctx: Context): QueryLineage {
  return Object.freeze({
    outputs: freezeOutputs(outputs),
    predicateColumns: Object.freeze([...ctx.predicates.values()]),
    opaquePredicates: Object.freeze([...ctx.opaquePredicates]),
    notes: Object.freeze([...ctx.notes]),
  });
}
