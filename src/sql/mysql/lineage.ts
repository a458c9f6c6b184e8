// Column lineage of MySQL statements for masking: a conservative engine over sqlparser-rs's
// tree, which analyze() already parsed (analyseStatements is cached: no second parse).
//
// Traced: SELECT lists over tables, aliases, derived tables, non-recursive CTEs and UNION,
// through expressions and built-in functions (a built-in's value derives from its arguments);
// scalar and IN/EXISTS subqueries; predicates of WHERE, JOIN ON/USING, GROUP BY, HAVING,
// ORDER BY and windows, at every level; writes of INSERT/REPLACE, UPDATE, CREATE TABLE ...
// AS, SELECT ... INTO OUTFILE/@var and SET @var; views through their definitions. Opaque
// (which fails closed: masked or refused): views without a definition, stored functions, user variables read back, recursive
// CTEs, NATURAL joins' predicates, JSON_TABLE and other table functions, every statement
// whose rows come from elsewhere (SHOW, CALL, EXECUTE, HANDLER) and everything unknown.
// Errs towards more sources and towards opaque, as the PostgreSQL engine does.
import type { LineageOptions, TextLineage } from '../dialect.ts';
import type { ColumnLineage, OutputLineage, SourceColumn, WrittenColumn, WriteTarget } from '../lineage.ts';
import type { RelationCatalog } from '../relation-catalog.ts';
import { analyseStatements } from './analyze.ts';
import { isObject, nameParts, type Json, type JsonObject } from './ast.ts';
import { derivesFromArguments, mysqlFunctionEffect } from './builtin-functions.ts';
import type { Classified } from './classify.ts';
import type { MysqlServer } from './server.ts';

/** Views over views deeper than this are opaque. */
const MAX_VIEW_DEPTH = 16;

const CONSTANT: ColumnLineage = Object.freeze({ kind: 'columns', sources: Object.freeze([]) });

function opaque(reason: string): ColumnLineage {
  return Object.freeze({ kind: 'opaque', reason });
}

const key = (s: SourceColumn): string => `${s.schema}\0${s.table}\0${s.column}`;

function union(a: ColumnLineage, b: ColumnLineage): ColumnLineage {
  if (a.kind === 'opaque') return a;
  if (b.kind === 'opaque') return b;
  if (b.sources.length === 0) return a;
  if (a.sources.length === 0) return b;
  const seen = new Set(a.sources.map(key));
  const added = b.sources.filter((s) => !seen.has(key(s)));
  return added.length === 0 ? a : Object.freeze({ kind: 'columns', sources: Object.freeze([...a.sources, ...added]) });
}

interface Column {
  readonly name: string;
  readonly lineage: ColumnLineage;
}

/** A FROM item: its name in the query and its columns (undefined: not known, every reference to it is opaque). */
interface Item {
  readonly alias: string;
  readonly schema?: string;
  readonly table?: string;
  readonly columns: readonly Column[] | undefined;
  readonly why: string;
}

class Scope {
  readonly items: Item[] = [];
  /** Select-list aliases, for GROUP BY, HAVING and ORDER BY. */
  aliases: ReadonlyMap<string, ColumnLineage> | undefined;
  constructor(
    readonly parent: Scope | undefined,
    readonly ctes: ReadonlyMap<string, readonly Column[] | string>,
  ) {}
}

class Walk {
  readonly predicates = new Map<string, SourceColumn>();
  readonly opaquePredicates: string[] = [];
  readonly notes: string[] = [];
  readsLiterals = false;
  constructor(
    private readonly catalog: RelationCatalog,
    private readonly database: string | undefined,
    private readonly server: MysqlServer,
    private readonly depth = 0,
  ) {}

  /**
   * A view's columns through its definition (information_schema.VIEWS.VIEW_DEFINITION, read in
   * the view's database); its own filters count as predicates. Opaque without a definition,
   * nested too deep, or when the definition's outputs do not match the view's columns.
   */
  private viewColumns(schema: string, table: string, names: readonly string[]): Column[] {
    const all = (reason: string): Column[] => names.map((n) => ({ name: n, lineage: opaque(reason) }));
    const definition = this.catalog.viewDefinition?.(schema, table);
    if (definition === undefined) return all(`${schema}.${table} is a view whose definition is not known`);
    if (this.depth >= MAX_VIEW_DEPTH) return all(`${schema}.${table}: views nested deeper than ${MAX_VIEW_DEPTH}`);
    const statements = analyseStatements(definition, this.server, { searchPath: [schema] }, true).statements;
    const tree = statements.length === 1 ? statements[0]?.classified.tree : undefined;
    if (tree === undefined || !isObject(tree.Query)) return all(`${schema}.${table}: its definition is not traced`);
    const sub = new Walk(this.catalog, schema, this.server, this.depth + 1);
    const outputs = sub.query(tree.Query, undefined);
    for (const [k, c] of sub.predicates) this.predicates.set(k, c);
    for (const r of sub.opaquePredicates) this.opaquePredicate(r);
    if (sub.readsLiterals) this.readsLiterals = true;
    if (outputs.length !== names.length || outputs.some((o) => o.name === '*')) return all(`${schema}.${table}: its definition's columns do not match the view's`);
    return names.map((n, i) => ({ name: n, lineage: outputs[i]?.lineage ?? opaque('a view column without a definition') }));
  }

  // Queries

  query(q: JsonObject, parent: Scope | undefined): Column[] {
    const ctes = new Map(parent?.ctes ?? []);
    const w = q.with;
    if (isObject(w) && Array.isArray(w.cte_tables)) {
      for (const c of w.cte_tables as readonly Json[]) {
        if (!isObject(c) || !isObject(c.alias) || !isObject(c.alias.name) || typeof c.alias.name.value !== 'string') continue;
        const name = c.alias.name.value;
        if (w.recursive === true) ctes.set(name, 'a recursive CTE is not traced');
        else if (isObject(c.query)) {
          const outputs = this.query(c.query, new Scope(parent, ctes));
          const renamed = Array.isArray(c.alias.columns) && c.alias.columns.length > 0 ? (c.alias.columns as readonly Json[]).map((col, i) => ({ name: columnName(col) ?? outputs[i]?.name ?? '?', lineage: outputs[i]?.lineage ?? opaque('CTE column list longer than its query') })) : outputs;
          ctes.set(name, renamed);
        }
      }
    }
    const scope = new Scope(parent, ctes);
    const outputs = this.setExpr(q.body, scope);
    const order = isObject(q.order_by) && isObject(q.order_by.kind) ? q.order_by.kind.Expressions : undefined;
    if (Array.isArray(order)) {
      const orderScope = scope.items.length > 0 ? scope : Object.assign(new Scope(parent, ctes), { aliases: new Map(outputs.map((o) => [o.name.toLowerCase(), o.lineage])) });
      for (const o of order as readonly Json[]) {
        if (!isObject(o)) continue;
        const e = o.expr;
        // ORDER BY 2: the second output.
        if (isObject(e) && isObject(e.Value) && isObject(e.Value.value) && Array.isArray(e.Value.value.Number)) {
          this.readsLiterals = true;
          const at = Number((e.Value.value.Number as readonly Json[])[0]) - 1;
          this.predicate(outputs[at]?.lineage ?? opaque('ORDER BY position out of range'));
        } else this.predicate(this.expr(e, orderScope));
      }
    }
    return outputs;
  }

  private setExpr(body: Json | undefined, scope: Scope): Column[] {
    if (!isObject(body)) return [{ name: '*', lineage: opaque('a query body of an unexpected shape') }];
    if (isObject(body.Select)) return this.select(body.Select, scope);
    if (isObject(body.Query)) return this.query(body.Query, scope.parent);
    if (isObject(body.SetOperation)) {
      const left = this.setExpr(body.SetOperation.left, new Scope(scope.parent, scope.ctes));
      const right = this.setExpr(body.SetOperation.right, new Scope(scope.parent, scope.ctes));
      if (left.length !== right.length || left.some((c) => c.name === '*') || right.some((c) => c.name === '*')) return [{ name: '*', lineage: opaque('set operation branches of different or unknown widths') }];
      return left.map((c, i) => ({ name: c.name, lineage: union(c.lineage, right[i]?.lineage ?? CONSTANT) }));
    }
    if (isObject(body.Values) && Array.isArray(body.Values.rows)) {
      const out: Column[] = [];
      for (const row of body.Values.rows as readonly Json[]) {
        const exprs = isObject(row) && Array.isArray(row.content) ? (row.content as readonly Json[]) : [];
        exprs.forEach((e, i) => {
          out[i] = { name: `column_${i}`, lineage: union(out[i]?.lineage ?? CONSTANT, this.expr(e, scope)) };
        });
      }
      return out;
    }
    return [{ name: '*', lineage: opaque(`${Object.keys(body)[0] ?? 'a query'} is not traced`) }];
  }

  private select(s: JsonObject, scope: Scope): Column[] {
    for (const twj of Array.isArray(s.from) ? (s.from as readonly Json[]) : []) this.fromItem(twj, scope);
    if (s.selection !== null && s.selection !== undefined) this.predicate(this.expr(s.selection, scope));
    const outputs: Column[] = [];
    for (const item of Array.isArray(s.projection) ? (s.projection as readonly Json[]) : []) outputs.push(...this.projection(item, scope));
    scope.aliases = new Map(outputs.map((o) => [o.name.toLowerCase(), o.lineage]));
    const group = isObject(s.group_by) ? s.group_by.Expressions : undefined;
    if (Array.isArray(group) && Array.isArray(group[0])) for (const g of group[0] as readonly Json[]) this.predicate(this.expr(g, scope));
    else if (isObject(s.group_by) && !('Expressions' in s.group_by)) this.opaquePredicate('GROUP BY ALL is not traced');
    if (s.having !== null && s.having !== undefined) this.predicate(this.expr(s.having, scope));
    if (s.qualify !== null && s.qualify !== undefined) this.predicate(this.expr(s.qualify, scope));
    if (Array.isArray(s.named_window) && s.named_window.length > 0) this.predicate(this.expr(s.named_window, scope));
    return outputs;
  }

  private projection(item: Json, scope: Scope): Column[] {
    if (!isObject(item)) return [{ name: '*', lineage: opaque('a select item of an unexpected shape') }];
    if ('UnnamedExpr' in item) return [{ name: exprName(item.UnnamedExpr), lineage: this.expr(item.UnnamedExpr, scope) }];
    if (isObject(item.ExprWithAlias)) {
      const alias = isObject(item.ExprWithAlias.alias) && typeof item.ExprWithAlias.alias.value === 'string' ? item.ExprWithAlias.alias.value : 'expr';
      return [{ name: alias, lineage: this.expr(item.ExprWithAlias.expr, scope) }];
    }
    if ('Wildcard' in item) {
      const out: Column[] = [];
      for (const it of scope.items) {
        if (it.columns === undefined) return [{ name: '*', lineage: opaque(it.why) }];
        out.push(...it.columns);
      }
      return out;
    }
    if (Array.isArray(item.QualifiedWildcard)) {
      const first = (item.QualifiedWildcard as readonly Json[])[0];
      const parts = isObject(first) ? nameParts(first.ObjectName) : undefined;
      const it = parts === undefined ? undefined : this.findItem(parts, scope);
      if (it?.columns === undefined) return [{ name: '*', lineage: opaque(it?.why ?? 'a qualified * that does not resolve') }];
      return [...it.columns];
    }
    return [{ name: '*', lineage: opaque(`${Object.keys(item)[0] ?? 'a select item'} is not traced`) }];
  }

  // FROM

  fromItem(twj: Json | undefined, scope: Scope): void {
    if (!isObject(twj)) return;
    this.factor(twj.relation, scope);
    for (const j of Array.isArray(twj.joins) ? (twj.joins as readonly Json[]) : []) {
      if (!isObject(j)) continue;
      this.factor(j.relation, scope);
      this.joinConstraint(j.join_operator, scope);
    }
  }

  private joinConstraint(op: Json | undefined, scope: Scope): void {
    if (!isObject(op)) return;
    for (const k in op) {
      const c = op[k];
      if (c === 'Natural') this.opaquePredicate('a NATURAL join compares columns not traced');
      if (!isObject(c)) continue;
      if ('On' in c) this.predicate(this.expr(c.On, scope));
      else if (Array.isArray(c.Using)) for (const name of c.Using as readonly Json[]) this.predicate(this.usingColumn(nameParts(isObject(name) && Array.isArray(name.ObjectName) ? name.ObjectName : [name])?.[0], scope));
      else if ('Natural' in c) this.opaquePredicate('a NATURAL join compares columns not traced');
    }
  }

  private usingColumn(name: string | undefined, scope: Scope): ColumnLineage {
    if (name === undefined) return opaque('a USING column of an unexpected shape');
    let out = CONSTANT;
    for (const it of scope.items) {
      if (it.columns === undefined) return opaque(it.why);
      const c = it.columns.find((col) => col.name.toLowerCase() === name.toLowerCase());
      if (c !== undefined) out = union(out, c.lineage);
    }
    return out;
  }

  private factor(f: Json | undefined, scope: Scope): void {
    if (!isObject(f)) return;
    const aliasOf = (v: JsonObject): string | undefined => (isObject(v.alias) && isObject(v.alias.name) && typeof v.alias.name.value === 'string' ? v.alias.name.value : undefined);
    if (isObject(f.Table)) {
      const parts = nameParts(f.Table.name);
      const alias = aliasOf(f.Table) ?? parts?.[parts.length - 1] ?? '?';
      if (parts === undefined || parts.length > 2) return void scope.items.push({ alias, columns: undefined, why: 'a table name of an unexpected shape' });
      if (parts.length === 1) {
        const cte = lookupCte(scope, parts[0] ?? '');
        if (cte !== undefined) return void scope.items.push(typeof cte === 'string' ? { alias, columns: undefined, why: cte } : { alias, columns: cte, why: '' });
        if (parts[0]?.toLowerCase() === 'dual') return;
      }
      const schema = parts.length === 2 ? parts[0] : this.database;
      const table = parts[parts.length - 1] ?? '';
      if (schema === undefined) return void scope.items.push({ alias, table, columns: undefined, why: `${table}: no current database` });
      const names = this.catalog.columns(schema, table);
      if (names === undefined) return void scope.items.push({ alias, schema, table, columns: undefined, why: `${schema}.${table}: columns not known` });
      if (this.catalog.isView?.(schema, table) === true) {
        return void scope.items.push({ alias, schema, table, columns: this.viewColumns(schema, table, names), why: '' });
      }
      return void scope.items.push({ alias, schema, table, columns: names.map((n) => ({ name: n, lineage: Object.freeze({ kind: 'columns', sources: Object.freeze([Object.freeze({ schema, table, column: n })]) }) })), why: '' });
    }
    if (isObject(f.Derived)) {
      const alias = aliasOf(f.Derived) ?? '?';
      const outputs = isObject(f.Derived.subquery) ? this.query(f.Derived.subquery, new Scope(f.Derived.lateral === true ? scope : scope.parent, scope.ctes)) : [];
      const star = outputs.some((o) => o.name === '*');
      return void scope.items.push({ alias, columns: star ? undefined : outputs, why: star ? `derived table ${alias} has columns not traced` : '' });
    }
    if (isObject(f.NestedJoin)) {
      this.fromItem(f.NestedJoin.table_with_joins, scope);
      return;
    }
    const kind = Object.keys(f)[0] ?? 'a FROM item';
    const body = f[kind];
    scope.items.push({ alias: isObject(body) ? (aliasOf(body) ?? kind) : kind, columns: undefined, why: `${kind} is not traced` });
  }

  private findItem(parts: readonly string[], scope: Scope): Item | undefined {
    for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
      for (const it of s.items) {
        if (parts.length === 1 && (it.alias === parts[0] || it.alias.toLowerCase() === parts[0]?.toLowerCase())) return it;
        if (parts.length === 2 && it.schema === parts[0] && it.table === parts[1] && it.alias === it.table) return it;
      }
    }
    return undefined;
  }

  // Expressions

  resolve(parts: readonly string[], scope: Scope): ColumnLineage {
    const column = parts[parts.length - 1] ?? '';
    const lower = column.toLowerCase();
    if (parts.length > 1) {
      const it = this.findItem(parts.slice(0, -1), scope);
      if (it === undefined) return opaque(`${parts.join('.')} does not resolve`);
      if (it.columns === undefined) return opaque(it.why);
      return it.columns.find((c) => c.name.toLowerCase() === lower)?.lineage ?? opaque(`${parts.join('.')} does not resolve`);
    }
    for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
      let found: ColumnLineage | undefined;
      for (const it of s.items) {
        if (it.columns === undefined) return opaque(`${column} may come from ${it.alias} (${it.why})`);
        const c = it.columns.find((col) => col.name.toLowerCase() === lower);
        if (c !== undefined) found = union(found ?? CONSTANT, c.lineage);
      }
      if (found !== undefined) return found;
      const alias = s.aliases?.get(lower);
      if (alias !== undefined) return alias;
    }
    return opaque(`column ${column} does not resolve`);
  }

  expr(e: Json | undefined, scope: Scope): ColumnLineage {
    if (Array.isArray(e)) {
      let out = CONSTANT;
      for (const x of e as readonly Json[]) out = union(out, this.expr(x, scope));
      return out;
    }
    if (!isObject(e)) return CONSTANT;
    // A query in an expression: its outputs flow in, its predicates count.
    if ('body' in e && 'with' in e) return this.query(e, scope).reduce((acc, c) => union(acc, c.lineage), CONSTANT);
    if ('Value' in e) return CONSTANT;
    // @v := expr has the value of expr (the variable keeps it: a write, see statementLineage).
    if (isObject(e.BinaryOp) && e.BinaryOp.op === 'Assignment') return this.expr(e.BinaryOp.right, scope);
    if (isObject(e.Identifier) && typeof e.Identifier.value === 'string') {
      const v = e.Identifier.value;
      if (v.startsWith('@@')) return CONSTANT;
      if (v.startsWith('@')) return opaque(`the user variable ${v} may hold any value the session put in it`);
      return this.resolve([v], scope);
    }
    if (Array.isArray(e.CompoundIdentifier)) {
      const parts = (e.CompoundIdentifier as readonly Json[]).map((p) => (isObject(p) && typeof p.value === 'string' ? p.value : ''));
      if (parts[0]?.startsWith('@') === true) return parts[0].startsWith('@@') ? CONSTANT : opaque('a user variable');
      return this.resolve(parts, scope);
    }
    if (isObject(e.Function)) {
      const parts = nameParts(e.Function.name)?.map((p) => p.toLowerCase());
      const name = parts?.length === 1 ? (parts[0] ?? '') : '';
      if (isObject(e.Function.over) || Array.isArray(e.Function.over)) this.predicate(this.expr(e.Function.over, scope));
      if (!derivesFromArguments(name)) return opaque(`the function ${parts?.join('.') ?? '?'} is not traced`);
      let out = CONSTANT;
      for (const k in e.Function) if (k !== 'name' && k !== 'over') out = union(out, this.expr(e.Function[k], scope));
      return out;
    }
    let out = CONSTANT;
    for (const k in e) out = union(out, this.expr(e[k], scope));
    return out;
  }

  predicate(l: ColumnLineage): void {
    if (l.kind === 'opaque') this.opaquePredicate(l.reason);
    else for (const s of l.sources) this.predicates.set(key(s), s);
  }

  opaquePredicate(reason: string): void {
    if (!this.opaquePredicates.includes(reason)) this.opaquePredicates.push(reason);
  }

  /** An UPDATE's or DELETE's tables and WHERE, for their predicates; the scope for assignments. */
  modifyScope(tables: Json | undefined, selection: Json | undefined): Scope {
    const scope = new Scope(undefined, new Map());
    const list = isObject(tables) && (Array.isArray(tables.WithFromKeyword) || Array.isArray(tables.WithoutKeyword)) ? (tables.WithFromKeyword ?? tables.WithoutKeyword) : tables;
    for (const twj of Array.isArray(list) ? (list as readonly Json[]) : [list ?? null]) this.fromItem(twj, scope);
    if (selection !== null && selection !== undefined) this.predicate(this.expr(selection, scope));
    return scope;
  }

  /** A written column `[t.]col` in an UPDATE's scope. */
  target(parts: readonly string[] | undefined, scope: Scope): WriteTarget {
    const column = parts?.[parts.length - 1];
    if (parts === undefined || column === undefined) return { kind: 'file', name: '(an assignment target of an unexpected shape)' };
    const candidates = parts.length > 1 ? [this.findItem(parts.slice(0, -1), scope)] : scope.items.filter((it) => it.columns === undefined || it.columns.some((c) => c.name.toLowerCase() === column.toLowerCase()));
    const it = candidates.length === 1 ? candidates[0] : undefined;
    if (it?.schema === undefined || it.table === undefined) return { kind: 'file', name: `(column ${parts.join('.')} of a table not resolved)` };
    return { kind: 'column', schema: it.schema, table: it.table, column: it.columns?.find((c) => c.name.toLowerCase() === column.toLowerCase())?.name ?? column };
  }

  columnsOf(schema: string | undefined, table: string): readonly string[] | undefined {
    return schema === undefined ? undefined : this.catalog.columns(schema, table);
  }

  get currentDatabase(): string | undefined {
    return this.database;
  }
}

function lookupCte(scope: Scope, name: string): readonly Column[] | string | undefined {
  return scope.ctes.get(name);
}

function columnName(c: Json): string | undefined {
  if (isObject(c) && isObject(c.name) && typeof c.name.value === 'string') return c.name.value;
  if (isObject(c) && typeof c.value === 'string') return c.value;
  return undefined;
}

function exprName(e: Json | undefined): string {
  if (isObject(e) && isObject(e.Identifier) && typeof e.Identifier.value === 'string') return e.Identifier.value;
  if (isObject(e) && Array.isArray(e.CompoundIdentifier)) {
    const last = (e.CompoundIdentifier as readonly Json[]).at(-1);
    if (isObject(last) && typeof last.value === 'string') return last.value;
  }
  return 'expr';
}

/** Commands whose rows come from somewhere this text does not show. */
const OPAQUE_ROWS = new Set(['show', 'explain', 'analyze', 'handler', 'call', 'execute', 'help', 'unknown']);

const NO_COLUMNS: readonly Column[] = Object.freeze([]);

/** Masking's view of a text: outputs per statement that sends rows, predicates, writes. */
export function mysqlLineage(text: string, server: MysqlServer, relations: RelationCatalog, opts: LineageOptions): TextLineage {
  const entry = analyseStatements(text, server, { searchPath: opts.searchPath, ...(opts.sqlMode !== undefined ? { sqlMode: opts.sqlMode } : {}) }, true);
  const results: OutputLineage[][] = [];
  const predicates = new Map<string, SourceColumn>();
  const opaquePredicates: string[] = [];
  const notes: string[] = [];
  const writes: WrittenColumn[] = [];
  let readsLiterals = false;
  for (const s of entry.statements) {
    const walk = new Walk(relations, s.database, server);
    try {
      statementLineage(s.classified, walk, results, opts.writes ? writes : undefined);
    } catch (err) {
      const reason = `lineage analysis failed: ${(err as Error).message}`;
      walk.opaquePredicate(reason);
      results.push([{ name: '*', lineage: opaque(reason) }]);
      if (opts.writes) writes.push({ target: { kind: 'file', name: '(statement)' }, lineage: opaque(reason) });
    }
    for (const [k, c] of walk.predicates) predicates.set(k, c);
    for (const r of walk.opaquePredicates) if (!opaquePredicates.includes(r)) opaquePredicates.push(r);
    notes.push(...walk.notes);
    readsLiterals ||= walk.readsLiterals || s.classified.literalBound;
  }
  return Object.freeze({
    results: Object.freeze(results.map((r) => Object.freeze(r.map((o) => Object.freeze({ name: o.name, lineage: o.lineage }))))),
    predicateColumns: Object.freeze([...predicates.values()]),
    opaquePredicates: Object.freeze(opaquePredicates),
    notes: Object.freeze(notes),
    writes: Object.freeze(writes.map((w) => Object.freeze(w))),
    readsLiterals,
  });
}

function statementLineage(c: Classified, walk: Walk, results: OutputLineage[][], writes: WrittenColumn[] | undefined): void {
  const tree = c.tree;
  const type = tree === undefined ? undefined : Object.keys(tree)[0];
  const body = type === undefined || tree === undefined ? undefined : tree[type];
  const unknownWrite = (reason: string): void => void writes?.push({ target: { kind: 'file', name: `(${c.command})` }, lineage: opaque(reason) });
  // A stored function may write anything with what it is given (the session may know it cannot: functionCannotWrite).
  for (const call of c.calls) if (mysqlFunctionEffect(call, undefined) === 'unknown') writes?.push({ target: { kind: 'file', name: `(function ${call.join('.')})` }, lineage: opaque(`the function ${call.join('.')} may write what it is given`) });
  if (c.effect === 'unknown' || c.command === 'unknown') {
    // It may send rows, read and write anything.
    const reason = c.extra.error ?? `${c.command} is not traced`;
    results.push([{ name: '*', lineage: opaque(reason) }]);
    walk.opaquePredicate(reason);
    unknownWrite(reason);
    return;
  }
  if (c.outside?.assigned !== undefined) {
    for (const a of c.outside.assigned) {
      const q = a.tree !== undefined && isObject(a.tree.Query) ? a.tree.Query : undefined;
      const lineage = q === undefined ? CONSTANT : walk.query(q, undefined).reduce((acc, col) => union(acc, col.lineage), CONSTANT);
      writes?.push({ target: { kind: 'file', name: a.variable }, lineage });
    }
    return;
  }
  if (type === 'Query' && isObject(body)) {
    const outputs = walk.query(body, undefined);
    const outside = c.outside;
    if (outside?.outfile !== undefined) {
      writes?.push({ target: { kind: 'file', name: `outfile ${outside.outfile}` }, lineage: outputs.reduce((acc, o) => union(acc, o.lineage), CONSTANT) });
      return;
    }
    if (outside !== undefined && outside.variables.length > 0) {
      outside.variables.forEach((v, i) => writes?.push({ target: { kind: 'file', name: `@${v}` }, lineage: outputs.length === outside.variables.length ? (outputs[i]?.lineage ?? CONSTANT) : opaque('INTO lists a different number of variables') }));
      return;
    }
    results.push(outputs);
    // `SELECT @v := col`: the variable keeps the value.
    if (writes !== undefined && JSON.stringify(body).includes('"Assignment"')) writes.push({ target: { kind: 'file', name: '(user variable)' }, lineage: outputs.reduce((acc, o) => union(acc, o.lineage), CONSTANT) });
    return;
  }
  if (type === 'Insert' && isObject(body)) return insertLineage(body, c, walk, results, writes);
  if (type === 'Update' && isObject(body)) {
    const scope = walk.modifyScope(body.table, body.selection);
    if (body.from !== null && body.from !== undefined) walk.fromItem(body.from, scope);
    for (const a of Array.isArray(body.assignments) ? (body.assignments as readonly Json[]) : []) {
      if (!isObject(a)) continue;
      const target = isObject(a.target) ? nameParts(a.target.ColumnName) : undefined;
      writes?.push({ target: walk.target(target, scope), lineage: walk.expr(a.value, scope) });
    }
    if (Array.isArray(body.returning)) results.push([{ name: '*', lineage: opaque('UPDATE ... RETURNING is not traced') }]);
    return;
  }
  if (type === 'Delete' && isObject(body)) {
    const scope = walk.modifyScope(body.from, body.selection);
    if (Array.isArray(body.using)) for (const u of body.using as readonly Json[]) walk.fromItem(u, scope);
    if (Array.isArray(body.returning)) results.push([{ name: '*', lineage: opaque('DELETE ... RETURNING is not traced') }]);
    return;
  }
  if (type === 'CreateTable' && isObject(body) && isObject(body.query)) {
    const outputs = walk.query(body.query, undefined);
    const parts = nameParts(body.name);
    const schema = parts?.length === 2 ? parts[0] : walk.currentDatabase;
    const table = parts?.[parts.length - 1];
    for (const o of outputs) writes?.push({ target: schema === undefined || table === undefined || o.name === '*' ? { kind: 'file', name: '(a new table)' } : { kind: 'column', schema, table, column: o.name }, lineage: o.lineage });
    return;
  }
  if (type === 'CreateView' && isObject(body) && isObject(body.query)) {
    // Creating a view copies no data; reading it later is traced through its definition.
    walk.query(body.query, undefined);
    return;
  }
  if (OPAQUE_ROWS.has(c.command)) {
    results.push([{ name: '*', lineage: opaque(`${c.command.toUpperCase()}: the rows come from a statement or object not in this text`) }]);
    if (c.command === 'call' || c.command === 'execute') unknownWrite(`${c.command.toUpperCase()} runs code not in this text`);
  }
  // DDL, SET of system variables, transactions, locks, LOAD DATA (the client's file): no column data flows.
  void NO_COLUMNS;
}

function insertLineage(body: JsonObject, _c: Classified, walk: Walk, results: OutputLineage[][], writes: WrittenColumn[] | undefined): void {
  const parts = isObject(body.table) ? nameParts(body.table.TableName) : undefined;
  const schema = parts?.length === 2 ? parts[0] : walk.currentDatabase;
  const table = parts?.[parts.length - 1] ?? '?';
  const listed = Array.isArray(body.columns) ? (body.columns as readonly Json[]).map((c) => nameParts(Array.isArray(c) ? c : [c])?.at(-1) ?? columnName(c) ?? '?') : [];
  const columns = listed.length > 0 ? listed : walk.columnsOf(schema, table);
  const target = (i: number): WriteTarget => {
    const column = columns?.[i];
    return schema === undefined || column === undefined ? { kind: 'file', name: `(a column of ${table})` } : { kind: 'column', schema, table, column };
  };
  const empty = new Scope(undefined, new Map());
  if (isObject(body.source)) {
    const outputs = walk.query(body.source, undefined);
    if (outputs.some((o) => o.name === '*')) writes?.push({ target: { kind: 'file', name: `(the columns of ${table})` }, lineage: outputs.reduce((acc, o) => union(acc, o.lineage), CONSTANT) });
    else outputs.forEach((o, i) => writes?.push({ target: target(i), lineage: o.lineage }));
  }
  const assign = (list: Json | undefined): void => {
    for (const a of Array.isArray(list) ? (list as readonly Json[]) : []) {
      if (!isObject(a)) continue;
      const column = isObject(a.target) ? nameParts(a.target.ColumnName)?.at(-1) : undefined;
      const where: WriteTarget = schema === undefined || column === undefined ? { kind: 'file', name: `(a column of ${table})` } : { kind: 'column', schema, table, column };
      writes?.push({ target: where, lineage: walk.expr(a.value, empty) });
    }
  };
  assign(body.assignments);
  if (isObject(body.on)) assign(body.on.DuplicateKeyUpdate);
  if (Array.isArray(body.returning)) results.push([{ name: '*', lineage: opaque('INSERT ... RETURNING is not traced') }]);
}
