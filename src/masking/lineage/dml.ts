// RETURNING of INSERT, UPDATE and DELETE. A returned column holds the row's new value, so its
// lineage is the target column's own plus whatever the statement writes into it
// (`INSERT INTO notes(body) SELECT ssn FROM customers RETURNING body` returns ssn values).
import { isObject, str, unwrap, type JsonObject } from '../../policy/sql/ast.ts';
import { exprLineage, predicate } from './expr.ts';
import { fromItems, relationItem } from './from.ts';
import { union } from './lin.ts';
import { analyzeQuery, selectTargets, withScope } from './query.ts';
import { Scope, type Column, type Context, type FromItem } from './scope.ts';
import type { ColumnLineage } from './types.ts';

const NO_CTES = new Map();

export function analyzeDml(type: string, body: JsonObject, parent: Scope | undefined, ctx: Context): readonly Column[] {
  const outer = withScope(body, parent, ctx);
  // A write target is always a real relation: INSERT INTO x never means a CTE named x.
  const target = relationItem(isObject(body.relation) ? body.relation : {}, outer, ctx, false);
  const written = new Map<string, ColumnLineage>();
  const write = (column: string, lineage: ColumnLineage): void => {
    const prev = written.get(column);
    written.set(column, prev === undefined ? lineage : union(prev, lineage));
  };
  let others: FromItem[] = [];
  if (type === 'InsertStmt') {
    insertValues(body, target, outer, ctx, write);
  } else {
    others = fromItems(type === 'UpdateStmt' ? body.fromClause : body.usingClause, outer, ctx);
    const scope = new Scope([target, ...others], outer, NO_CTES);
    if (type === 'UpdateStmt') assignments(body.targetList, scope, ctx, write);
    predicate(body.whereClause, scope, ctx);
  }
  const after = withWritten(target, written);
  const returning = isObject(body.returningClause) ? body.returningClause.exprs : body.returningList;
  // PostgreSQL 18's old/new aliases: the new row's lineage covers the old one's.
  const aliases = ['old', 'new'].map((name): FromItem => ({ entries: [{ name, columns: after.visible }], visible: [] }));
  return selectTargets(returning, new Scope([after, ...others, ...aliases], outer, NO_CTES), ctx);
}

function insertValues(body: JsonObject, target: FromItem, outer: Scope, ctx: Context, write: (c: string, l: ColumnLineage) => void): void {
  const sub = unwrap(body.selectStmt);
  const values = sub !== undefined ? analyzeQuery(sub[0], sub[1], outer, ctx) : [];
  const explicit = Array.isArray(body.cols) ? body.cols.map((c) => str(unwrap(c)?.[1].name) ?? '') : [];
  const columns = explicit.length > 0 ? explicit : target.visible.map((c) => c.name);
  values.forEach((v, i) => {
    const column = columns[i];
    if (column !== undefined) write(column, v.lineage);
    // More values than known columns: the target's columns are unknown; every one is suspect.
    else for (const c of target.visible) write(c.name, v.lineage);
  });
  const conflict = isObject(body.onConflictClause) ? body.onConflictClause : undefined;
  if (conflict === undefined) return;
  // EXCLUDED is the row proposed for insertion.
  const excluded: FromItem = { entries: [{ name: 'excluded', columns: withWritten(target, collect(values, columns)).visible }], visible: [] };
  const scope = new Scope([target, excluded], outer, NO_CTES);
  assignments(conflict.targetList, scope, ctx, write);
  predicate(conflict.whereClause, scope, ctx);
}

function collect(values: readonly Column[], columns: readonly string[]): Map<string, ColumnLineage> {
  const out = new Map<string, ColumnLineage>();
  values.forEach((v, i) => {
    const c = columns[i];
    if (c !== undefined) out.set(c, v.lineage);
  });
  return out;
}

/** SET col = expr, SET (a, b) = (subquery): each named column receives the expression. */
function assignments(list: unknown, scope: Scope, ctx: Context, write: (c: string, l: ColumnLineage) => void): void {
  for (const item of Array.isArray(list) ? list : []) {
    const target = unwrap(item);
    if (target === undefined || target[0] !== 'ResTarget') continue;
    const multi = unwrap(target[1].val);
    const value = multi !== undefined && multi[0] === 'MultiAssignRef' ? multi[1].source : target[1].val;
    write(str(target[1].name) ?? '', exprLineage(value, scope, ctx));
    // Subscripts of `SET arr[i] = ...` select what is written.
    predicate(target[1].indirection, scope, ctx);
  }
}

function withWritten(target: FromItem, written: ReadonlyMap<string, ColumnLineage>): FromItem {
  const visible = target.visible.map((c) => {
    const w = written.get(c.name);
    return w === undefined ? c : { name: c.name, lineage: union(c.lineage, w) };
  });
  const entry = target.entries[0];
  if (entry === undefined || entry.columns === undefined) {
    // Unknown target: whatever it returns may include what was written.
    return target;
  }
  return { ...target, entries: [{ ...entry, columns: visible }], visible };
}
