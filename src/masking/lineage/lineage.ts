// Column lineage of a PostgreSQL statement (issue 4, points 2 and 3): for each output column,
// the base columns whose values flow into it, and the base columns the statement filters,
// joins, groups or orders on. Pure: SQL text and a catalog in, lineage out. Call
// loadSqlAnalyzer() (src/policy/sql/analyze-postgres.ts) once before: parsing is synchronous.
//
// Everything errs towards more sources and towards opaque: a column that lineage wrongly
// marks as carrying ssn is masked for nothing; one it wrongly clears leaks ssn.
import { parseSync } from 'libpg-query';
import { isObject, str, unwrap, type JsonObject } from '../../policy/sql/ast.ts';
import type { RelationCatalog } from './catalog.ts';
import { relationItem } from './from.ts';
import { CONSTANT, opaque } from './lin.ts';
import { analyzeQuery } from './query.ts';
import { DEFAULT_SEARCH_PATH, Scope, type Column, type Context } from './scope.ts';
import type { QueryLineage } from './types.ts';

export type { ColumnLineage, OutputLineage, QueryLineage, SourceColumn, WriteTarget, WrittenColumn } from './types.ts';
export { createRelationCatalog, type RelationCatalog } from './catalog.ts';
export { analyzeWrites } from './writes.ts';

const ROOT = (): Scope => new Scope([], undefined, new Map());

type Options = { readonly searchPath?: readonly string[] };

/** Undefined for statements without a result set (DDL, SET, SELECT INTO, DML without RETURNING...). */
export function analyzeLineage(sql: string, catalog: RelationCatalog, opts?: Options): QueryLineage | undefined {
  const { results, ctx } = run(sql, catalog, opts, false);
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
  const { ctx } = run(sql, catalog, opts, true);
  const { predicateColumns, opaquePredicates } = result([], ctx);
  return Object.freeze({ predicateColumns, opaquePredicates });
}

function run(sql: string, catalog: RelationCatalog, opts: Options | undefined, silentToo: boolean): { results: (readonly Column[])[]; ctx: Context } {
  const searchPath = opts?.searchPath !== undefined && opts.searchPath.length > 0 ? opts.searchPath : DEFAULT_SEARCH_PATH;
  const ctx: Context = { catalog, searchPath, predicates: new Map(), opaquePredicates: [], notes: new Set(), views: [] };
  const results: (readonly Column[])[] = [];
  let stmts: readonly unknown[];
  try {
    const parsed: unknown = parseSync(sql);
    stmts = isObject(parsed) && Array.isArray(parsed.stmts) ? parsed.stmts : [];
  } catch (err) {
    // The server rejects it too, but never guess about text we could not read.
    const reason = `statement does not parse: ${(err as Error).message}`;
    ctx.opaquePredicates.push(reason);
    results.push([{ name: '*', lineage: opaque(reason) }]);
    return { results, ctx };
  }
  for (const raw of stmts) {
    const stmt = isObject(raw) ? unwrap(raw.stmt) : undefined;
    if (stmt === undefined) continue;
    try {
      const outputs = statementOutputs(stmt[0], stmt[1], ctx);
      if (outputs !== undefined) results.push(outputs);
      else if (silentToo) analyzeSilently(stmt[0], stmt[1], ctx);
    } catch (err) {
      // A tree deep enough to exhaust the stack, or a shape this module does not expect.
      const reason = `lineage analysis failed: ${(err as Error).message}`;
      ctx.opaquePredicates.push(reason);
      results.push([{ name: '*', lineage: opaque(reason) }]);
    }
  }
  return { results, ctx };
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

function result(outputs: readonly Column[], ctx: Context): QueryLineage {
  return Object.freeze({
    outputs: Object.freeze(outputs.map((c) => Object.freeze({ name: c.name, lineage: c.lineage }))),
    predicateColumns: Object.freeze([...ctx.predicates.values()]),
    opaquePredicates: Object.freeze([...ctx.opaquePredicates]),
    notes: Object.freeze([...ctx.notes]),
  });
}
