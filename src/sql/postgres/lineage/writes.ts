// What a statement writes, and where from: masking protects what a statement returns, but a
// statement that may write can copy a protected column somewhere no rule names
// (`CREATE TABLE t AS SELECT ssn ...`, `UPDATE customers SET name = ssn`, `COPY (SELECT ssn
// ...) TO '/tmp/x'`) and read it back later in the clear. The adapter refuses such writes;
// this tells it, per written target, which base columns flow in.
//
// The walk is the lineage walk (query.ts, dml.ts) with ctx.write set: INSERT, UPDATE and MERGE
// report their targets wherever they sit (top level, CTEs of any statement), and every
// function call reports itself when it can write (functions.ts). This file adds the
// statements that write without being a query: CREATE TABLE AS, SELECT INTO, COPY TO a file,
// DO, CALL, and the DDL that copies values or installs code that will.
import { isObject, names, str, unwrap, type JsonObject } from '../ast.ts';
import type { RelationCatalog } from '../../relation-catalog.ts';
import type { Parsed } from '../parse.ts';
import { place, reportWrites } from './dml.ts';
import { exprLineage, predicate } from './expr.ts';
import { relationItem, resolveSchema } from './from.ts';
import { callWrites } from './functions.ts';
import { CONSTANT, opaque, union, unionAll } from './lin.ts';
import { analyzeQuery, rename } from './query.ts';
import { Scope, type Column, type Context, type FromItem } from './scope.ts';
import type { ColumnLineage, WriteTarget, WrittenColumn } from '../../lineage.ts';
import { readLiteralValue } from './literal-reads.ts';

const NO_CTES = new Map();
const ROOT = (): Scope => new Scope([], undefined, NO_CTES);
const PROCEDURAL: WriteTarget = Object.freeze({ kind: 'file', name: '(procedural code)' });

/**
 * Every value the statements of a parsed text write somewhere, one entry per target (what
 * several writes put in the same target is merged). Statements that write nothing contribute
 * nothing.
 */
export function writesOf(parsed: Parsed, catalog: RelationCatalog, searchPath: readonly string[]): readonly WrittenColumn[] {
  const found = new Map<string, { target: WriteTarget; lineage: ColumnLineage }>();
  const write = (target: WriteTarget, lineage: ColumnLineage): void => {
    // NUL cannot occur in identifiers or file names: a safe separator.
    const key = target.kind === 'column' ? `c\0${target.schema}\0${target.table}\0${target.column}` : `f\0${target.name}`;
    const prev = found.get(key);
    found.set(key, { target, lineage: prev === undefined ? lineage : union(prev.lineage, lineage) });
  };
  const ctx: Context = { catalog, searchPath, predicates: new Map(), opaquePredicates: [], notes: new Set(), views: [], write };
  // The server rejects it too, but never guess about text we could not read.
  if (!parsed.ok) write({ kind: 'file', name: '(unparsable statement)' }, opaque(`statement does not parse: ${parsed.message}`));
  for (const raw of parsed.ok ? parsed.stmts : []) {
    const stmt = unwrap(raw.stmt);
    if (stmt === undefined) continue;
    try {
      statementWrites(stmt[0], stmt[1], ROOT(), ctx);
    } catch (err) {
      // A tree deep enough to exhaust the stack, or a shape this module does not expect.
      write({ kind: 'file', name: '(statement not analysed)' }, opaque(`write analysis failed: ${(err as Error).message}`));
    }
  }
  return Object.freeze([...found.values()].map((w) => Object.freeze({ target: Object.freeze(w.target), lineage: w.lineage })));
}

/** `scope`: the root, or NEW and OLD for a rule's actions. */
function statementWrites(type: string, body: JsonObject, scope: Scope, ctx: Context): void {
  switch (type) {
    case 'SelectStmt': {
      const outputs = analyzeQuery(type, body, scope, ctx);
      const into = intoClause(body);
      if (into !== undefined) createdTable(into, outputs, ctx);
      return;
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      analyzeQuery(type, body, scope, ctx);
      return;
    case 'CreateTableAsStmt': {
      // CREATE TABLE AS and CREATE MATERIALIZED VIEW (WITH NO DATA too: a REFRESH fills it).
      const query = unwrap(body.query);
      const into = isObject(body.into) ? body.into : undefined;
      if (query === undefined || into === undefined) return;
      const outputs = query[0] === 'ExecuteStmt' ? [{ name: '*', lineage: opaque('CREATE TABLE AS EXECUTE: the rows come from a statement not in this text') }] : analyzeQuery(query[0], query[1], scope, ctx);
      createdTable(into, outputs, ctx);
      return;
    }
    case 'CopyStmt':
      return copyWrites(body, ctx);
    case 'ExplainStmt': {
      // Only EXPLAIN ANALYZE runs the statement.
      const query = unwrap(body.query);
      if (query !== undefined && explainAnalyze(body.options)) statementWrites(query[0], query[1], scope, ctx);
      return;
    }
    case 'PrepareStmt':
    case 'DeclareCursorStmt': {
      // Judged when defined: EXECUTE and FETCH then run what was let through here.
      const query = unwrap(body.query);
      if (query !== undefined) statementWrites(query[0], query[1], scope, ctx);
      return;
    }
    case 'DoStmt':
      ctx.write?.(PROCEDURAL, opaque('a DO block can write anything'));
      return;
    case 'CallStmt': {
      const call = isObject(body.funccall) ? body.funccall : {};
      exprLineage(call.args, scope, ctx);
      ctx.write?.(PROCEDURAL, opaque(`procedure ${names(call.funcname).join('.')} can write anything`));
      return;
    }
    case 'RefreshMatViewStmt':
      return refreshWrites(body, ctx);
    case 'AlterTableStmt':
      return alterWrites(body, ctx);
    case 'CreateTrigStmt':
    case 'CreateEventTrigStmt':
      // The function (and a WHEN condition) runs on every later event, out of sight of the
      // statement that fires it: judged now, when it is attached.
      if (isObject(body.relation)) exprLineage(body.whenClause, rowsScope(body.relation, ctx), ctx);
      callWrites(names(body.funcname), CONSTANT, ctx);
      return;
    case 'RuleStmt':
      return ruleWrites(body, ctx);
    default:
      // DDL, CREATE VIEW (a view is expanded where it is read), SET, COPY FROM...: nothing.
      return;
  }
}

/** SELECT ... INTO sits on the leftmost arm of a set operation. */
function intoClause(body: JsonObject): JsonObject | undefined {
  if (isObject(body.intoClause)) return body.intoClause;
  return isObject(body.larg) ? intoClause(body.larg) : undefined;
}

/**
 * A new table's columns take the query's output names, or the column list's (which may be
 * shorter). It is created in pg_temp when temporary, else in the schema named or the first
 * of the search path.
 */
function createdTable(into: JsonObject, outputs: readonly Column[], ctx: Context): void {
  const rel = isObject(into.rel) ? into.rel : {};
  const table = str(rel.relname) ?? '';
  const schema = str(rel.schemaname) ?? (str(rel.relpersistence) === 't' ? 'pg_temp' : (ctx.searchPath[0] ?? 'public'));
  const colnames = names(into.colNames);
  const write = (column: string, lineage: ColumnLineage): void => ctx.write?.({ kind: 'column', schema, table, column }, lineage);
  // A column list renames by position, which an output of unknown width makes uncertain.
  if (colnames.length > 0 && outputs.some((o) => o.name === '*')) return place(outputs, [...colnames, '*'], write);
  for (const c of rename(outputs, colnames)) write(c.name, c.lineage);
}

/** COPY ... TO a file or program writes there; TO STDOUT is a read (analyzeLineage), FROM brings data in. */
function copyWrites(body: JsonObject, ctx: Context): void {
  const query = unwrap(body.query);
  const file = str(body.filename);
  if (body.is_from === true) {
    // Only for the functions its WHERE may call.
    if (isObject(body.relation)) exprLineage(body.whereClause, new Scope([relationItem(body.relation, ROOT(), ctx, false)], undefined, NO_CTES), ctx);
    return;
  }
  let outputs: readonly Column[] = [];
  if (query !== undefined) outputs = analyzeQuery(query[0], query[1], ROOT(), ctx);
  else if (isObject(body.relation)) outputs = tableColumns(relationItem(body.relation, ROOT(), ctx, false), body.attlist);
  if (file === undefined) return;
  const name = body.is_program === true ? `program ${file}` : file;
  ctx.write?.({ kind: 'file', name }, unionAll(outputs.map((o) => o.lineage)));
}

function tableColumns(item: FromItem, attlist: unknown): readonly Column[] {
  if (item.unknown !== undefined) return [{ name: '*', lineage: opaque(item.unknown) }];
  const wanted = Array.isArray(attlist) ? attlist.map((a) => str(unwrap(a)?.[1].sval) ?? '') : [];
  if (wanted.length === 0) return item.visible;
  return wanted.map((name) => item.visible.find((c) => c.name === name) ?? { name, lineage: opaque(`column ${name} does not resolve`) });
}

/** `analyze` among EXPLAIN's options, unless set false. */
function explainAnalyze(options: unknown): boolean {
  for (const item of Array.isArray(options) ? options : []) {
    const def = unwrap(item);
    if (def === undefined || def[0] !== 'DefElem' || str(def[1].defname) !== 'analyze') continue;
    const arg = unwrap(def[1].arg);
    if (arg === undefined) return true;
    readLiteralValue();
    const value = arg[0] === 'String' ? str(arg[1].sval)?.toLowerCase() : arg[0] === 'Boolean' ? String(arg[1].boolval === true) : arg[0] === 'Integer' ? String(arg[1].ival ?? 0) : undefined;
    return !['false', 'off', '0', 'no'].includes(value ?? 'true');
  }
  return false;
}

/**
 * REFRESH MATERIALIZED VIEW re-runs the definition into the view: its columns receive what
 * the definition reads (opaque when the catalog has no definition).
 */
function refreshWrites(body: JsonObject, ctx: Context): void {
  if (body.skipData === true || !isObject(body.relation)) return;
  const table = str(body.relation.relname) ?? '';
  const schema = str(body.relation.schemaname) ?? resolveSchema(table, ctx);
  for (const c of tableColumns(relationItem(body.relation, ROOT(), ctx, false), undefined)) ctx.write?.({ kind: 'column', schema, table, column: c.name }, c.lineage);
}

/**
 * ALTER TABLE copies values in two forms: `ALTER COLUMN c TYPE ... USING expr` and a
 * generated column (`ADD COLUMN c ... GENERATED ALWAYS AS (expr)`, `SET EXPRESSION AS`), both
 * over the table's own columns. Defaults cannot read columns, but a volatile one runs for
 * every existing row: walked for the functions it calls. Any other ALTER writes nothing.
 */
function alterWrites(body: JsonObject, ctx: Context): void {
  if (!isObject(body.relation)) return;
  const item = relationItem(body.relation, ROOT(), ctx, false);
  const scope = new Scope([item], undefined, NO_CTES);
  const written = new Map<string, ColumnLineage>();
  const write = (column: string, value: unknown): void => {
    const lineage = exprLineage(value, scope, ctx);
    const prev = written.get(column);
    written.set(column, prev === undefined ? lineage : union(prev, lineage));
  };
  for (const c of Array.isArray(body.cmds) ? body.cmds : []) {
    const cmd = unwrap(c);
    if (cmd === undefined || cmd[0] !== 'AlterTableCmd') continue;
    const sub = str(cmd[1].subtype);
    const def = unwrap(cmd[1].def);
    if (sub === 'AT_SetExpression') write(str(cmd[1].name) ?? '', cmd[1].def);
    if (def === undefined || def[0] !== 'ColumnDef') continue;
    if (sub === 'AT_AlterColumnType' && def[1].raw_default !== undefined) write(str(cmd[1].name) ?? '', def[1].raw_default);
    if (sub !== 'AT_AddColumn') continue;
    for (const k of Array.isArray(def[1].constraints) ? def[1].constraints : []) {
      const con = unwrap(k);
      if (con === undefined || con[0] !== 'Constraint') continue;
      if (str(con[1].contype) === 'CONSTR_GENERATED') write(str(def[1].colname) ?? '', con[1].raw_expr);
      else exprLineage(con[1].raw_expr, scope, ctx);
    }
  }
  reportWrites(body.relation, item, written, ctx);
}

/**
 * CREATE RULE: its actions run with every later matching statement on the relation, whose
 * checks never see them: judged now, with NEW and OLD as the relation's rows.
 */
function ruleWrites(body: JsonObject, ctx: Context): void {
  if (!isObject(body.relation)) return;
  const scope = rowsScope(body.relation, ctx);
  predicate(body.whereClause, scope, ctx);
  for (const action of Array.isArray(body.actions) ? body.actions : []) {
    const stmt = unwrap(action);
    if (stmt !== undefined) statementWrites(stmt[0], stmt[1], scope, ctx);
  }
}

/** NEW and OLD of a rule or a row trigger: rows of the relation. */
function rowsScope(relation: JsonObject, ctx: Context): Scope {
  const item = relationItem(relation, ROOT(), ctx, false);
  const columns = item.unknown !== undefined ? undefined : item.visible;
  const entries = ['new', 'old'].map((name) => ({ name, columns, ...(item.unknown !== undefined ? { unknown: item.unknown } : {}) }));
  return new Scope([{ entries, visible: [] }], undefined, NO_CTES);
}
