// Lineage of a value expression: the union of everything it reads. Only nodes whose meaning
// the generic rule gets wrong are special-cased: column references (scope lookup), subqueries
// (their outputs), function calls (user-defined ones are opaque; ordering, FILTER and window
// clauses are predicates rather than values). Every other node (operators, casts, CASE,
// COALESCE, ROW, arrays, JSON constructors...) is the union of its children, which is the
// safe direction for node types this file has never heard of.
import { isObject, names, str, unwrap, type JsonObject } from '../ast.ts';
import { callWrites, functionKind, isSetReturning } from './functions.ts';
import { CONSTANT, opaque, union, unionAll } from './lin.ts';
import { analyzeQuery } from './query.ts';
import { addPredicate, wholeRow, type Context, type Scope } from './scope.ts';
import type { ColumnLineage } from '../../lineage.ts';

export function exprLineage(value: unknown, scope: Scope, ctx: Context): ColumnLineage {
  if (Array.isArray(value)) return unionAll(value.map((v) => exprLineage(v, scope, ctx)));
  if (!isObject(value)) return CONSTANT;
  const node = unwrap(value);
  if (node === undefined) return children(value, scope, ctx);
  const [type, body] = node;
  switch (type) {
    case 'A_Const':
    case 'ParamRef':
    case 'SQLValueFunction':
    case 'SetToDefault':
    case 'TypeName':
      return CONSTANT;
    case 'ColumnRef':
      return columnRef(body, scope, ctx);
    case 'SubLink':
      return subLink(body, scope, ctx);
    case 'FuncCall':
      return funcCall(body, scope, ctx);
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
      return unionAll(analyzeQuery(type, body, scope, ctx).map((c) => c.lineage));
    case 'CaseExpr':
      // CASE WHEN ssn LIKE '1%' THEN 1/0 END: which branch runs (an error, a row count, a
      // value) answers the condition, like a WHERE; the value is everything it reads.
      predicate(body.arg, scope, ctx);
      for (const w of Array.isArray(body.args) ? body.args : []) predicate(unwrap(w)?.[1].expr, scope, ctx);
      return children(body, scope, ctx);
    case 'A_Expr':
      // NULLIF(ssn, 'guess') compares.
      if (str(body.kind) === 'AEXPR_NULLIF') {
        predicate(body.lexpr, scope, ctx);
        predicate(body.rexpr, scope, ctx);
      }
      return children(body, scope, ctx);
    default:
      return children(body, scope, ctx);
  }
}

/** A predicate: its lineage is recorded, not returned. */
export function predicate(value: unknown, scope: Scope, ctx: Context): void {
  if (value !== undefined) addPredicate(exprLineage(value, scope, ctx), ctx);
}

function children(body: JsonObject, scope: Scope, ctx: Context): ColumnLineage {
  let out = CONSTANT;
  for (const key in body) if (key !== 'typeName') out = union(out, exprLineage(body[key], scope, ctx));
  return out;
}

function columnRef(body: JsonObject, scope: Scope, ctx: Context): ColumnLineage {
  const fields = Array.isArray(body.fields) ? body.fields : [];
  const last = unwrap(fields[fields.length - 1]);
  const qualifier = names(fields.slice(0, -1));
  if (last !== undefined && last[0] === 'A_Star') {
    // `*` or `c.*` inside an expression (ROW(c.*), to_jsonb(c.*)): whole rows.
    if (qualifier.length === 0) return unionAll(scope.items.flatMap((i) => i.entries.map((e) => wholeRow(e, ctx))));
    const entry = scope.findEntry(qualifier);
    return entry !== undefined ? wholeRow(entry, ctx) : opaque(`relation "${qualifier.join('.')}" is not in scope`);
  }
  const column = last !== undefined && last[0] === 'String' ? (str(last[1].sval) ?? '') : '';
  return qualifier.length === 0 ? scope.resolveName(column, ctx) : scope.resolveQualified(qualifier, column);
}

function subLink(body: JsonObject, scope: Scope, ctx: Context): ColumnLineage {
  const sub = unwrap(body.subselect);
  const outputs = sub !== undefined ? analyzeQuery(sub[0], sub[1], scope, ctx) : [];
  // EXISTS yields a boolean from the subquery's predicates (recorded by its analysis).
  const value = str(body.subLinkType) === 'EXISTS_SUBLINK' ? CONSTANT : unionAll(outputs.map((c) => c.lineage));
  return union(value, exprLineage(body.testexpr, scope, ctx));
}

function funcCall(body: JsonObject, scope: Scope, ctx: Context): ColumnLineage {
  // Ordering, FILTER and the window's PARTITION/ORDER decide which values meet, not what
  // they are: they leak one bit at a time, like a WHERE.
  for (const sort of Array.isArray(body.agg_order) ? body.agg_order : []) predicate(sortNode(sort), scope, ctx);
  predicate(body.agg_filter, scope, ctx);
  if (isObject(body.over)) windowDef(body.over, scope, ctx);
  const parts = names(body.funcname);
  const fn = functionKind(parts);
  const args = exprLineage(body.args, scope, ctx);
  callWrites(parts, args, ctx);
  // generate_series(1, length(ssn)) in a select list: the row count answers.
  if (isSetReturning(parts)) addPredicate(args, ctx);
  if (fn.kind === 'opaque') return opaque(fn.reason ?? 'opaque function');
  // count(*) reads no column; count(email) carries email (conservative: see docs/masking.md).
  return args;
}

export function windowDef(def: JsonObject, scope: Scope, ctx: Context): void {
  predicate(def.partitionClause, scope, ctx);
  for (const sort of Array.isArray(def.orderClause) ? def.orderClause : []) predicate(sortNode(sort), scope, ctx);
  predicate(def.startOffset, scope, ctx);
  predicate(def.endOffset, scope, ctx);
}

/** `{ SortBy: { node } }` -> node. */
export function sortNode(sort: unknown): unknown {
  const node = unwrap(sort);
  return node !== undefined && node[0] === 'SortBy' ? node[1].node : sort;
}
