// Lineage of a query's outputs: SELECT (with WITH, set operations, VALUES), and through
// dml.ts the RETURNING lists of INSERT/UPDATE/DELETE (MERGE's is opaque). Predicates of every
// level are recorded in the context as the walk meets them.
import { isObject, names, str, unwrap, type JsonObject } from '../ast.ts';
import { analyzeDml, analyzeMerge } from './dml.ts';
import { exprLineage, predicate, sortNode, windowDef } from './expr.ts';
import { fromItems } from './from.ts';
import { opaque, sameLineage, union, unionAll } from './lin.ts';
import { addPredicate, Scope, wholeRow, type Column, type CteBinding, type Context } from './scope.ts';
import { readLiteralValue } from './literal-reads.ts';

/** A recursive CTE reaches its fixpoint in a few rounds (each can only add sources). */
const MAX_RECURSION_ROUNDS = 16;
const NO_CTES: ReadonlyMap<string, CteBinding> = new Map();

export function analyzeQuery(type: string, body: JsonObject, parent: Scope | undefined, ctx: Context): readonly Column[] {
  switch (type) {
    case 'SelectStmt':
      return analyzeSelect(body, parent, ctx);
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
      return analyzeDml(type, body, parent, ctx);
    case 'MergeStmt':
      return analyzeMerge(body, parent, ctx);
    default:
      return [{ name: '*', lineage: opaque(`${type} used as a query`) }];
  }
}

/** The scope of a statement's WITH clause (or just its parent). */
export function withScope(body: JsonObject, parent: Scope | undefined, ctx: Context): Scope {
  const ctes = new Map<string, CteBinding>();
  const scope = new Scope([], parent, ctes);
  if (!isObject(body.withClause)) return scope;
  const recursive = body.withClause.recursive === true;
  for (const item of Array.isArray(body.withClause.ctes) ? body.withClause.ctes : []) {
    const cte = unwrap(item);
    if (cte === undefined || cte[0] !== 'CommonTableExpr') continue;
    const name = str(cte[1].ctename) ?? '';
    const colnames = names(cte[1].aliascolnames);
    const query = unwrap(cte[1].ctequery);
    if (query === undefined) continue;
    if (recursive && query[0] === 'SelectStmt' && str(query[1].op) === 'SETOP_UNION') {
      ctes.set(name, recursiveCte(name, query[1], colnames, scope, ctes, ctx));
    } else {
      // A non-recursive CTE sees only the ones before it: bind it after analysing it.
      ctes.set(name, { columns: rename(analyzeQuery(query[0], query[1], scope, ctx), colnames) });
    }
  }
  return scope;
}

/**
 * WITH RECURSIVE t AS (anchor UNION recursive terms): t's columns start as the anchor's (the
 * leftmost arm, which cannot read t) and grow by the whole union's, which reads t, until
 * nothing changes.
 */
function recursiveCte(name: string, body: JsonObject, colnames: readonly string[], scope: Scope, ctes: Map<string, CteBinding>, ctx: Context): CteBinding {
  let anchor = body;
  while (str(anchor.op) !== 'SETOP_NONE' && isObject(anchor.larg)) anchor = anchor.larg;
  const binding: CteBinding = { columns: rename(analyzeSelect(anchor, scope, ctx), colnames) };
  ctes.set(name, binding);
  for (let round = 0; round < MAX_RECURSION_ROUNDS; round++) {
    const current = binding.columns ?? [];
    const next = positionalUnion(current, rename(analyzeSelect(body, scope, ctx), colnames));
    if (next.every((c, i) => sameLineage(c.lineage, (current[i] as Column).lineage))) return binding;
    binding.columns = next;
  }
  binding.columns = (binding.columns ?? []).map((c) => ({ name: c.name, lineage: opaque(`recursive CTE "${name}" did not converge`) }));
  return binding;
}

export function analyzeSelect(body: JsonObject, parent: Scope | undefined, ctx: Context): readonly Column[] {
  const outer = withScope(body, parent, ctx);
  const op = str(body.op) ?? 'SETOP_NONE';
  if (op !== 'SETOP_NONE') {
    const left = analyzeSelect(isObject(body.larg) ? body.larg : {}, outer, ctx);
    const right = analyzeSelect(isObject(body.rarg) ? body.rarg : {}, outer, ctx);
    const outputs = positionalUnion(left, right);
    // UNION, INTERSECT and EXCEPT compare rows (only UNION ALL does not): `... INTERSECT
    // SELECT 'guess'` answers whether a protected value equals the guess.
    if (op !== 'SETOP_UNION' || body.all !== true) for (const o of outputs) addPredicate(o.lineage, ctx);
    tail(body, new Scope([], outer, NO_CTES), outputs, ctx);
    return outputs;
  }
  if (Array.isArray(body.valuesLists)) return valuesOutputs(body.valuesLists, outer, ctx);
  const level = new Scope(fromItems(body.fromClause, outer, ctx), outer, NO_CTES);
  const outputs = selectTargets(body.targetList, level, ctx);
  predicate(body.whereClause, level, ctx);
  predicate(body.havingClause, level, ctx);
  for (const g of Array.isArray(body.groupClause) ? body.groupClause : []) clauseItem(g, outputs, level, false, ctx);
  const distinct = Array.isArray(body.distinctClause) ? body.distinctClause : [];
  // Plain DISTINCT (one empty item) compares whole output rows; DISTINCT ON its expressions.
  if (distinct.length === 1 && unwrap(distinct[0]) === undefined) for (const o of outputs) addPredicate(o.lineage, ctx);
  else for (const d of distinct) clauseItem(d, outputs, level, true, ctx);
  for (const w of Array.isArray(body.windowClause) ? body.windowClause : []) {
    const def = unwrap(w);
    if (def !== undefined) windowDef(def[1], level, ctx);
  }
  tail(body, level, outputs, ctx);
  return outputs;
}

/** ORDER BY, LIMIT and OFFSET. */
function tail(body: JsonObject, level: Scope, outputs: readonly Column[], ctx: Context): void {
  for (const s of Array.isArray(body.sortClause) ? body.sortClause : []) clauseItem(sortNode(s), outputs, level, true, ctx);
  predicate(body.limitCount, level, ctx);
  predicate(body.limitOffset, level, ctx);
}

/**
 * A GROUP BY / ORDER BY / DISTINCT ON item: a number is an output's position; a bare name is
 * an output's name first for ORDER BY and DISTINCT ON, an input column first for GROUP BY
 * (PostgreSQL's rules); anything else is an expression over the inputs.
 */
function clauseItem(node: unknown, outputs: readonly Column[], level: Scope, outputFirst: boolean, ctx: Context): void {
  const n = unwrap(node);
  // Any constant here is read for its value: `ORDER BY 2` and `ORDER BY 2.5` differ.
  if (n !== undefined && n[0] === 'A_Const') readLiteralValue();
  if (n !== undefined && n[0] === 'A_Const' && isObject(n[1].ival)) {
    const position = typeof n[1].ival.ival === 'number' ? n[1].ival.ival : 0;
    return addPredicate(outputs[position - 1]?.lineage ?? opaque(`position ${position} is not an output column`), ctx);
  }
  const bare = n !== undefined && n[0] === 'ColumnRef' && Array.isArray(n[1].fields) && n[1].fields.length === 1 ? names(n[1].fields) : [];
  const named = bare.length === 1 ? outputs.filter((o) => o.name === bare[0]) : [];
  const byName = unionAll(named.map((o) => o.lineage));
  if (named.length > 0 && outputFirst) return addPredicate(byName, ctx);
  const input = exprLineage(node, level, ctx);
  addPredicate(input.kind === 'opaque' && named.length > 0 ? byName : input, ctx);
}

/** The select list, with `*` and `t.*` expanded into one output per column. */
export function selectTargets(list: unknown, level: Scope, ctx: Context): Column[] {
  const outputs: Column[] = [];
  for (const item of Array.isArray(list) ? list : []) {
    const target = unwrap(item);
    if (target === undefined || target[0] !== 'ResTarget') continue;
    const val = target[1].val;
    const star = starQualifier(val);
    if (star !== undefined) {
      outputs.push(...expandStar(star, level, ctx));
      continue;
    }
    outputs.push({ name: str(target[1].name) ?? outputName(val), lineage: exprLineage(val, level, ctx) });
  }
  return outputs;
}

/** `*` -> [], `c.*` -> ['c'], anything else -> undefined. */
function starQualifier(val: unknown): string[] | undefined {
  const ref = unwrap(val);
  if (ref === undefined || ref[0] !== 'ColumnRef' || !Array.isArray(ref[1].fields)) return undefined;
  const last = unwrap(ref[1].fields[ref[1].fields.length - 1]);
  return last !== undefined && last[0] === 'A_Star' ? names(ref[1].fields.slice(0, -1)) : undefined;
}

function expandStar(qualifier: readonly string[], level: Scope, ctx: Context): Column[] {
  if (qualifier.length === 0) {
    const out: Column[] = [];
    for (const item of level.items) {
      out.push(...item.visible);
      if (item.unknown !== undefined) out.push({ name: '*', lineage: opaque(`* over a relation whose columns are unknown (${item.unknown})`) });
    }
    return out;
  }
  const entry = level.findEntry(qualifier);
  if (entry === undefined) return [{ name: '*', lineage: opaque(`relation "${qualifier.join('.')}" is not in scope`) }];
  if (entry.columns === undefined) return [{ name: '*', lineage: wholeRow(entry, ctx) }];
  return [...entry.columns];
}

function valuesOutputs(rows: readonly unknown[], scope: Scope, ctx: Context): Column[] {
  const outputs: Column[] = [];
  for (const row of rows) {
    const list = unwrap(row);
    const items = list !== undefined && Array.isArray(list[1].items) ? list[1].items : [];
    items.forEach((value, i) => {
      const lineage = exprLineage(value, scope, ctx);
      const prev = outputs[i];
      outputs[i] = { name: `column${i + 1}`, lineage: prev === undefined ? lineage : union(prev.lineage, lineage) };
    });
  }
  return outputs;
}

/** UNION/INTERSECT/EXCEPT: column i of the result may hold values of column i of either side. */
function positionalUnion(left: readonly Column[], right: readonly Column[]): Column[] {
  return left.map((c, i) => {
    const r = right[i];
    return { name: c.name, lineage: r === undefined ? opaque('set operation sides differ in width') : union(c.lineage, r.lineage) };
  });
}

export function rename(columns: readonly Column[], colnames: readonly string[]): Column[] {
  return columns.map((c, i) => ({ name: colnames[i] ?? c.name, lineage: c.lineage }));
}

/** PostgreSQL's default output name, for the report (the lineage does not depend on it). */
function outputName(val: unknown): string {
  const node = unwrap(val);
  if (node === undefined) return '?column?';
  const [type, body] = node;
  if (type === 'ColumnRef') return names(body.fields).pop() ?? '?column?';
  if (type === 'FuncCall') return names(body.funcname).pop() ?? '?column?';
  if (type === 'TypeCast') {
    const inner = outputName(body.arg);
    return inner !== '?column?' ? inner : (names(isObject(body.typeName) ? body.typeName.names : []).pop() ?? '?column?');
  }
  if (type === 'A_Indirection') {
    // `(x).*` expands into columns lineage cannot count: named `*` like other such entries.
    const list = Array.isArray(body.indirection) ? body.indirection : [];
    if (unwrap(list[list.length - 1])?.[0] === 'A_Star') return '*';
    return names(list).pop() ?? outputName(body.arg);
  }
  if (type === 'CaseExpr') return 'case';
  if (type === 'CoalesceExpr') return 'coalesce';
  if (type === 'RowExpr') return 'row';
  if (type === 'SubLink') {
    const sub = unwrap(body.subselect);
    if (str(body.subLinkType) === 'EXISTS_SUBLINK') return 'exists';
    if (str(body.subLinkType) === 'ARRAY_SUBLINK') return 'array';
    const first = sub !== undefined && Array.isArray(sub[1].targetList) ? unwrap(sub[1].targetList[0]) : undefined;
    return first !== undefined ? (str(first[1].name) ?? outputName(first[1].val)) : '?column?';
  }
  return '?column?';
}
