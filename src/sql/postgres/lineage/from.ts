// FROM items: relations (tables, views expanded through their definitions, CTEs), subqueries,
// functions, and join trees with PostgreSQL's USING/NATURAL column merging.
import { isObject, names, str, unwrap, type JsonObject } from '../ast.ts';
import { Lru } from '../../../util/lru.ts';
import { exprLineage, predicate } from './expr.ts';
import { builtinOutputs, callWrites, functionKind } from './functions.ts';
import { CONSTANT, opaque, source, union } from './lin.ts';
import { analyzeQuery, rename } from './query.ts';
import { parseViewDefinition } from '../parse.ts';
import { addPredicate, Scope, type Column, type Context, type FromItem, type RangeEntry } from './scope.ts';
import type { ColumnLineage } from '../../lineage.ts';

/** Views over views over views: deeper than this is opaque (and a cycle is caught earlier). */
export const MAX_VIEW_DEPTH = 8;
const NO_CTES = new Map();
const VIEW_SEARCH_PATH: readonly string[] = ['public'];

/** Items in order: a LATERAL subquery or a function sees the items before it. */
export function fromItems(list: unknown, outer: Scope, ctx: Context): FromItem[] {
  const items: FromItem[] = [];
  for (const node of Array.isArray(list) ? list : []) items.push(fromItem(node, outer, items, ctx));
  return items;
}

function fromItem(node: unknown, outer: Scope, before: readonly FromItem[], ctx: Context): FromItem {
  const n = unwrap(node);
  if (n === undefined) return unknownItem(undefined, [], 'unrecognised FROM item');
  const [type, body] = n;
  const alias = isObject(body.alias) ? body.alias : {};
  const aliasName = str(alias.aliasname);
  const colnames = names(alias.colnames);
  switch (type) {
    case 'RangeVar':
      return relationItem(body, outer, ctx, true);
    case 'RangeTableSample':
      return fromItem(body.relation, outer, before, ctx);
    case 'RangeSubselect': {
      const sub = unwrap(body.subquery);
      const scope = body.lateral === true ? new Scope(before, outer, NO_CTES) : outer;
      const columns = sub !== undefined ? rename(analyzeQuery(sub[0], sub[1], scope, ctx), colnames) : [];
      return leaf({ name: aliasName ?? '', columns });
    }
    case 'RangeFunction':
      return functionItem(body, new Scope(before, outer, NO_CTES), aliasName, colnames, ctx);
    case 'JoinExpr':
      return joinItem(body, outer, before, ctx);
    default:
      // XMLTABLE, JSON_TABLE...: columns cut out of a document by paths: opaque.
      return unknownItem(aliasName, colnames, `${type} in FROM`);
  }
}

function leaf(entry: RangeEntry): FromItem {
  return { entries: [entry], visible: entry.columns ?? [], ...(entry.columns === undefined ? { unknown: entry.unknown ?? entry.name } : {}) };
}

/** Columns named by an alias (or nothing known): named ones are opaque, others unknown. */
function unknownItem(name: string | undefined, colnames: readonly string[], reason: string): FromItem {
  const lineage = opaque(reason);
  if (colnames.length > 0) return leaf({ name: name ?? '', columns: colnames.map((c) => ({ name: c, lineage })) });
  return leaf({ name: name ?? '', columns: undefined, unknown: reason });
}

/** Resolves a RangeVar: CTE, view (expanded), table, or unknown. */
export function relationItem(rv: JsonObject, outer: Scope, ctx: Context, allowCte: boolean): FromItem {
  const relname = str(rv.relname) ?? '';
  const explicit = str(rv.schemaname);
  const alias = isObject(rv.alias) ? rv.alias : {};
  const name = str(alias.aliasname) ?? relname;
  const colnames = names(alias.colnames);
  const cte = explicit === undefined && allowCte ? outer.cte(relname) : undefined;
  if (cte !== undefined) {
    const columns = cte.columns === undefined ? undefined : rename(cte.columns, colnames);
    return leaf({ name, columns, unknown: cte.unknown ?? `CTE ${relname}` });
  }
  const schema = explicit ?? resolveSchema(relname, ctx);
  const columns = relationColumns(schema, relname, ctx);
  const entryName = { name, ...(str(alias.aliasname) === undefined ? { schema } : {}) };
  if (typeof columns === 'string') return leaf({ ...entryName, columns: undefined, unknown: columns });
  return leaf({ ...entryName, columns: rename(columns, colnames) });
}

/**
 * An unqualified name is the first relation of that name along pg_catalog (searched first
 * unless the path lists it) and then the search path; unknown everywhere, the first schema.
 */
export function resolveSchema(relname: string, ctx: Context): string {
  const path = ctx.searchPath.includes('pg_catalog') ? ctx.searchPath : ['pg_catalog', ...ctx.searchPath];
  for (const schema of path) if (ctx.catalog.columns(schema, relname) !== undefined) return schema;
  return ctx.searchPath[0] ?? 'public';
}

/** The relation's columns with their lineage, or why they are unknown. */
function relationColumns(schema: string, relname: string, ctx: Context): Column[] | string {
  const known = ctx.catalog.columns(schema, relname);
  const definition = ctx.catalog.viewDefinition?.(schema, relname);
  if (definition !== undefined) return expandView(schema, relname, definition, known, ctx);
  if (ctx.catalog.isView?.(schema, relname) === true) {
    const why = `view ${schema}.${relname} has no known definition`;
    return known === undefined ? why : known.map((c) => ({ name: c, lineage: opaque(why) }));
  }
  if (known === undefined) return `relation ${schema}.${relname} is not in the catalog`;
  return known.map((c) => ({ name: c, lineage: source(schema, relname, c) }));
}

function expandView(schema: string, relname: string, definition: string, known: readonly string[] | undefined, ctx: Context): Column[] | string {
  const key = `${schema}.${relname}`;
  if (ctx.views.includes(key)) return `view ${key} refers to itself`;
  if (ctx.views.length >= MAX_VIEW_DEPTH) return `views nested deeper than ${MAX_VIEW_DEPTH} at ${key}`;
  const stmt = parseDefinition(definition);
  if (stmt === null || stmt[0] !== 'SelectStmt') return `definition of view ${key} is not one SELECT`;
  ctx.views.push(key);
  try {
    // A view's predicates are recorded too: its WHERE filters on the agent's behalf. Its
    // names were bound when it was created, so the session's search_path (which the agent
    // sets) must not re-bind them: pg_get_viewdef qualifies what the path it ran under does
    // not show, and the catalog says which path that was (`public` when it does not).
    const columns = analyzeQuery(stmt[0], stmt[1], undefined, { ...ctx, searchPath: ctx.catalog.viewSearchPath ?? VIEW_SEARCH_PATH });
    return known !== undefined && known.length === columns.length ? rename(columns, known) : [...columns];
  } finally {
    ctx.views.pop();
  }
}

/**
 * Views' definitions are parsed once per text: the same views appear in statement after
 * statement, and the AST is only read, never changed.
 */
const definitions = new Lru<string, readonly [string, JsonObject] | null>(512);

function parseDefinition(definition: string): readonly [string, JsonObject] | null {
  const cached = definitions.get(definition);
  if (cached !== undefined) return cached;
  let stmt: readonly [string, JsonObject] | null = null;
  const parsed = parseViewDefinition(definition);
  if (parsed.ok && parsed.stmts.length === 1) stmt = unwrap(parsed.stmts[0]?.stmt) ?? null;
  definitions.set(definition, stmt);
  return stmt;
}

/** Functions in FROM (ROWS FROM lists several): built-ins carry their arguments. */
function functionItem(body: JsonObject, scope: Scope, aliasName: string | undefined, colnames: readonly string[], ctx: Context): FromItem {
  const columns: Column[] = [];
  let unknown: string | undefined;
  let firstName: string | undefined;
  const fns = Array.isArray(body.functions) ? body.functions : [];
  for (const item of fns) {
    const list = unwrap(item);
    const [call, coldefs] = list !== undefined && Array.isArray(list[1].items) ? list[1].items : [];
    const fn = unwrap(call);
    if (fn === undefined || fn[0] !== 'FuncCall') {
      unknown = 'unrecognised function in FROM';
      continue;
    }
    const parts = names(fn[1].funcname);
    firstName ??= parts[parts.length - 1];
    const kind = functionKind(parts);
    const args = exprLineage(fn[1].args, scope, ctx);
    callWrites(parts, args, ctx);
    // A function in FROM returns as many rows as its arguments say (generate_series(1, length(ssn))).
    addPredicate(args, ctx);
    const lineage = kind.kind === 'opaque' ? opaque(kind.reason ?? 'opaque function') : args;
    const defs = Array.isArray(coldefs) ? coldefs : Array.isArray(body.coldeflist) ? body.coldeflist : [];
    const defNames = defs.map((d) => str(unwrap(d)?.[1].colname) ?? '?column?');
    const outputs = defNames.length > 0 ? defNames : kind.kind === 'carries' ? builtinOutputs(parts, Array.isArray(fn[1].args) ? fn[1].args.length : 0) : undefined;
    if (outputs === undefined) {
      // Unknown width: only names the alias gives can be addressed, all opaque.
      unknown = `columns of ${parts.join('.')}() in FROM are unknown`;
      continue;
    }
    // One scalar column takes the alias as its name (FROM generate_series(1,3) AS g).
    const single = fns.length === 1 && outputs.length === 1 && aliasName !== undefined ? [aliasName] : outputs;
    for (const n of single) columns.push({ name: n, lineage });
  }
  if (body.ordinality === true) columns.push({ name: 'ordinality', lineage: CONSTANT });
  if (unknown !== undefined) return unknownItem(aliasName, colnames, unknown);
  return leaf({ name: aliasName ?? firstName ?? '', columns: rename(columns, colnames) });
}

function joinItem(body: JsonObject, outer: Scope, before: readonly FromItem[], ctx: Context): FromItem {
  const left = fromItem(body.larg, outer, before, ctx);
  const right = fromItem(body.rarg, outer, [...before, left], ctx);
  predicate(body.quals, new Scope([left, right], outer, NO_CTES), ctx);
  const natural = body.isNatural === true;
  let common = names(body.usingClause);
  const unknown = left.unknown ?? right.unknown;
  if (natural) {
    if (unknown !== undefined) return { entries: [...left.entries, ...right.entries], visible: [], unknown: `NATURAL JOIN with ${unknown}` };
    const rightNames = new Set(right.visible.map((c) => c.name));
    common = left.visible.map((c) => c.name).filter((n) => rightNames.has(n));
  }
  const merged = common.map((n) => {
    const l = side(left, n);
    const r = side(right, n);
    // USING / NATURAL compare the columns: a predicate on both.
    addPredicate(l, ctx);
    addPredicate(r, ctx);
    return { name: n, lineage: union(l, r) };
  });
  const isCommon = (c: Column): boolean => common.includes(c.name);
  const visible = [...merged, ...left.visible.filter((c) => !isCommon(c)), ...right.visible.filter((c) => !isCommon(c))];
  const alias = isObject(body.alias) ? str(body.alias.aliasname) : undefined;
  if (alias === undefined) return { entries: [...left.entries, ...right.entries], visible, ...(unknown !== undefined ? { unknown } : {}) };
  // An aliased join hides the relations inside it.
  const columns = unknown !== undefined ? undefined : rename(visible, names(isObject(body.alias) ? body.alias.colnames : []));
  return leaf({ name: alias, columns, ...(unknown !== undefined ? { unknown } : {}) });
}

function side(item: FromItem, name: string): ColumnLineage {
  const found = item.visible.filter((c) => c.name === name);
  if (found.length === 1) return (found[0] as Column).lineage;
  return opaque(found.length > 1 ? `join column "${name}" is ambiguous` : item.unknown !== undefined ? `join column "${name}" in ${item.unknown}` : `join column "${name}" does not resolve`);
}
