// INSERT, UPDATE, DELETE and MERGE: what they write into each target column (for RETURNING,
// and for analyzeWrites through ctx.write) and what RETURNING sends. A returned column holds
// the row's new value, so its lineage is the target column's own plus whatever the statement
// writes into it (`INSERT INTO notes(body) SELECT ssn FROM customers RETURNING body` returns
// ssn values).
import { isObject, str, unwrap, type JsonObject } from '../ast.ts';
import { exprLineage, predicate } from './expr.ts';
import { fromItems, relationItem, resolveSchema } from './from.ts';
import { CONSTANT, opaque, union, unionAll } from './lin.ts';
import { analyzeQuery, selectTargets, withScope } from './query.ts';
import { Scope, type Column, type Context, type FromItem } from './scope.ts';
import type { ColumnLineage } from '../../lineage.ts';

const NO_CTES = new Map();

type Write = (column: string, lineage: ColumnLineage) => void;

function writer(): { written: Map<string, ColumnLineage>; write: Write } {
  const written = new Map<string, ColumnLineage>();
  const write = (column: string, lineage: ColumnLineage): void => {
    const prev = written.get(column);
    written.set(column, prev === undefined ? lineage : union(prev, lineage));
  };
  return { written, write };
}

export function analyzeDml(type: string, body: JsonObject, parent: Scope | undefined, ctx: Context): readonly Column[] {
  const outer = withScope(body, parent, ctx);
  // A write target is always a real relation: INSERT INTO x never means a CTE named x.
  const relation = isObject(body.relation) ? body.relation : {};
  const target = relationItem(relation, outer, ctx, false);
  const { written, write } = writer();
  let others: FromItem[] = [];
  if (type === 'InsertStmt') {
    insertValues(body, target, outer, ctx, write);
  } else {
    others = fromItems(type === 'UpdateStmt' ? body.fromClause : body.usingClause, outer, ctx);
    const scope = new Scope([target, ...others], outer, NO_CTES);
    if (type === 'UpdateStmt') assignments(body.targetList, scope, ctx, write);
    predicate(body.whereClause, scope, ctx);
  }
  reportWrites(relation, target, written, ctx);
  const after = withWritten(target, written);
  const returning = isObject(body.returningClause) ? body.returningClause.exprs : body.returningList;
  // PostgreSQL 18's old/new aliases: the new row's lineage covers the old one's.
  const aliases = ['old', 'new'].map((name): FromItem => ({ entries: [{ name, columns: after.visible }], visible: [] }));
  return selectTargets(returning, new Scope([after, ...others, ...aliases], outer, NO_CTES), ctx);
}

function insertValues(body: JsonObject, target: FromItem, outer: Scope, ctx: Context, write: Write): void {
  const sub = unwrap(body.selectStmt);
  const explicit = Array.isArray(body.cols) ? body.cols.map((c) => str(unwrap(c)?.[1].name) ?? '') : [];
  const columns = explicit.length > 0 ? explicit : target.visible.map((c) => c.name);
  // DEFAULT VALUES: every column gets its default, a constant as far as the statement shows.
  const values = sub !== undefined ? analyzeQuery(sub[0], sub[1], outer, ctx) : (columns.length > 0 ? columns : ['*']).map((name) => ({ name, lineage: CONSTANT }));
  const inserted = writer();
  place(values, columns, inserted.write);
  for (const [c, l] of inserted.written) write(c, l);
  const conflict = isObject(body.onConflictClause) ? body.onConflictClause : undefined;
  if (conflict === undefined) return;
  // EXCLUDED is the row proposed for insertion.
  const excluded: FromItem = { entries: [{ name: 'excluded', columns: withWritten(target, inserted.written).visible }], visible: [] };
  const scope = new Scope([target, excluded], outer, NO_CTES);
  assignments(conflict.targetList, scope, ctx, write);
  predicate(conflict.whereClause, scope, ctx);
}

/**
 * Values to columns by position. A value of unknown width (`*` over a relation of unknown
 * columns, `(x).*`) shifts every later one by an unknown amount, and more values than columns
 * means the columns are not the ones lineage knows: then every column, or `*` when none is
 * known, may receive any of the values.
 */
export function place(values: readonly Column[], columns: readonly string[], write: Write): void {
  if (values.some((v) => v.name === '*') || values.length > columns.length) {
    const all = unionAll(values.map((v) => v.lineage));
    for (const c of columns.length > 0 ? columns : ['*']) write(c, all);
    return;
  }
  values.forEach((v, i) => write(columns[i] ?? '*', v.lineage));
}

/** SET col = expr, SET (a, b) = (subquery): each named column receives the expression. */
function assignments(list: unknown, scope: Scope, ctx: Context, write: Write): void {
  for (const item of Array.isArray(list) ? list : []) {
    const target = unwrap(item);
    if (target === undefined || target[0] !== 'ResTarget') continue;
    const multi = unwrap(target[1].val);
    const lineage = multi !== undefined && multi[0] === 'MultiAssignRef' ? multiAssign(multi[1], scope, ctx) : exprLineage(target[1].val, scope, ctx);
    write(str(target[1].name) ?? '', lineage);
    // Subscripts of `SET arr[i] = ...` select what is written.
    predicate(target[1].indirection, scope, ctx);
  }
}

/**
 * `SET (a, b) = (SELECT x, y ...)` or `= ROW(x, y)`: column `colno` of the source. Each target
 * carries the whole source in the tree, analysed once per column (predicates dedupe). When
 * the source's width is not the target list's, the union of all of it.
 */
function multiAssign(ref: JsonObject, scope: Scope, ctx: Context): ColumnLineage {
  const colno = typeof ref.colno === 'number' ? ref.colno : 0;
  const width = typeof ref.ncolumns === 'number' ? ref.ncolumns : 0;
  const source = unwrap(ref.source);
  let parts: Column[] | undefined;
  if (source !== undefined && source[0] === 'RowExpr' && Array.isArray(source[1].args)) {
    parts = source[1].args.map((a) => ({ name: starValue(a) ? '*' : '', lineage: exprLineage(a, scope, ctx) }));
  } else if (source !== undefined && source[0] === 'SubLink' && source[1].testexpr === undefined) {
    const sub = unwrap(source[1].subselect);
    if (sub !== undefined) parts = [...analyzeQuery(sub[0], sub[1], scope, ctx)];
  }
  if (parts === undefined) return exprLineage(ref.source, scope, ctx);
  const one = parts[colno - 1];
  if (parts.length !== width || parts.some((p) => p.name === '*') || one === undefined) return unionAll(parts.map((p) => p.lineage));
  return one.lineage;
}

/** `c.*` or `(x).*` as a value: expands into an unknown number of columns. */
function starValue(value: unknown): boolean {
  const node = unwrap(value);
  if (node === undefined) return false;
  const list = node[0] === 'ColumnRef' ? node[1].fields : node[0] === 'A_Indirection' ? node[1].indirection : undefined;
  const last = Array.isArray(list) ? unwrap(list[list.length - 1]) : undefined;
  return last !== undefined && last[0] === 'A_Star';
}

/**
 * MERGE: its UPDATE SET and INSERT VALUES actions write into the target like UPDATE and
 * INSERT do. Its RETURNING is not analysed (opaque), as at the top level.
 */
export function analyzeMerge(body: JsonObject, parent: Scope | undefined, ctx: Context): readonly Column[] {
  const outer = withScope(body, parent, ctx);
  const relation = isObject(body.relation) ? body.relation : {};
  const target = relationItem(relation, outer, ctx, false);
  const source = fromItems([body.sourceRelation], outer, ctx);
  const both = new Scope([target, ...source], outer, NO_CTES);
  predicate(body.joinCondition, both, ctx);
  const { written, write } = writer();
  for (const item of Array.isArray(body.mergeWhenClauses) ? body.mergeWhenClauses : []) {
    const clause = unwrap(item);
    if (clause === undefined || clause[0] !== 'MergeWhenClause') continue;
    const when = clause[1];
    // PostgreSQL hides the side that has no row: the target for NOT MATCHED [BY TARGET], the
    // source for NOT MATCHED BY SOURCE.
    const match = str(when.matchKind);
    const scope = match === 'MERGE_WHEN_NOT_MATCHED_BY_TARGET' ? new Scope(source, outer, NO_CTES) : match === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE' ? new Scope([target], outer, NO_CTES) : both;
    predicate(when.condition, scope, ctx);
    const command = str(when.commandType);
    if (command === 'CMD_UPDATE') assignments(when.targetList, scope, ctx, write);
    if (command !== 'CMD_INSERT') continue;
    const explicit = Array.isArray(when.targetList) ? when.targetList.map((t) => str(unwrap(t)?.[1].name) ?? '') : [];
    const columns = explicit.length > 0 ? explicit : target.visible.map((c) => c.name);
    const values = Array.isArray(when.values)
      ? when.values.map((v) => ({ name: starValue(v) ? '*' : '', lineage: exprLineage(v, scope, ctx) }))
      : (columns.length > 0 ? columns : ['*']).map((name) => ({ name, lineage: CONSTANT }));
    place(values, columns, write);
  }
  reportWrites(relation, target, written, ctx);
  // Only for the functions it may call: what it returns is opaque anyway.
  const returning = isObject(body.returningClause) ? body.returningClause.exprs : body.returningList;
  exprLineage(returning, both, ctx);
  return [{ name: '*', lineage: opaque('MERGE ... RETURNING is not analysed') }];
}

/**
 * Tells analyzeWrites what a statement writes into its target's columns. Through a view, the
 * value also lands in the base columns the view's column reads.
 */
export function reportWrites(relation: JsonObject, target: FromItem, written: ReadonlyMap<string, ColumnLineage>, ctx: Context): void {
  if (ctx.write === undefined) return;
  const table = str(relation.relname) ?? '';
  const schema = str(relation.schemaname) ?? resolveSchema(table, ctx);
  for (const [column, lineage] of written) {
    ctx.write({ kind: 'column', schema, table, column }, lineage);
    const through = target.visible.find((c) => c.name === column)?.lineage;
    if (through?.kind !== 'columns') continue;
    for (const s of through.sources) {
      if (s.schema !== schema || s.table !== table || s.column !== column) ctx.write({ kind: 'column', schema: s.schema, table: s.table, column: s.column }, lineage);
    }
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
