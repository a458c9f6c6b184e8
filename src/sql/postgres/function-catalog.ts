// User-defined functions count by their volatility in the database's catalog (issue 3, point
// 4): immutable and stable ones only read; a volatile one is opaque (`unknown`) unless the
// connection's `read_functions` allow-list names it. The adapter loads the catalog from the
// server (query below) and builds a new FunctionCatalog to refresh it: a catalog never changes,
// so analyses can rely on its identity.
//
//   select n.nspname as schema, p.proname as name, p.provolatile as volatility
//   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
//
// Rows of pg_catalog are welcome: they classify built-ins newer than the shipped list.
import type { SqlEffect } from '../../core/action.ts';
import { builtinEffect, EXTENSION_EFFECTS } from './builtin-functions.ts';
import { worse } from '../effects.ts';
import { anyMatch, compileDottedGlob, type Matcher } from '../../util/glob.ts';
import type { FunctionCatalog, Volatility } from '../function-catalog.ts';

export interface FunctionCatalogRow {
  readonly schema: string;
  readonly name: string;
  /** pg_proc.provolatile */
  readonly volatility: 'i' | 's' | 'v';
}

const VOLATILITY: Readonly<Record<FunctionCatalogRow['volatility'], Volatility>> = { i: 'immutable', s: 'stable', v: 'volatile' };
const RANK: Readonly<Record<Volatility, number>> = { immutable: 0, stable: 1, volatile: 2 };

/** Allow-list globs compare lower-case; `*` stays inside a part; a glob without a dot matches the bare name in any schema. */
function compileReadGlob(glob: string): Matcher {
  const lower = glob.toLowerCase();
  const full = compileDottedGlob(lower);
  if (lower.includes('.')) return full;
  return (name) => full(name.slice(name.lastIndexOf('.') + 1));
}

export function createFunctionCatalog(rows: Iterable<FunctionCatalogRow>, opts?: { readonly readFunctions?: readonly string[] }): FunctionCatalog {
  const byName = new Map<string, Volatility>();
  for (const row of rows) {
    const key = `${row.schema}.${row.name}`;
    const v = VOLATILITY[row.volatility];
    const seen = byName.get(key);
    if (seen === undefined || RANK[v] > RANK[seen]) byName.set(key, v);
  }
  const allow = (opts?.readFunctions ?? []).map(compileReadGlob);
  return Object.freeze({
    volatility: (qualifiedName: string) => byName.get(qualifiedName),
    readAllowed: (name: string) => allow.length > 0 && anyMatch(allow, name.toLowerCase()),
  });
}

function userEffect(catalog: FunctionCatalog, qualified: string, volatility: Volatility | undefined): SqlEffect {
  if (volatility === 'immutable' || volatility === 'stable') return 'read';
  return catalog.readAllowed(qualified) ? 'read' : 'unknown';
}

/**
 * The effect of calling a function, named as parsed (`['app', 'f']` or `['f']`, exact case).
 * See builtin-functions.ts for built-ins. For the rest, fail closed: without a catalog, or when
 * the catalog does not know the function, it is `unknown` unless allow-listed. An unqualified
 * name is looked up in pg_catalog and in every schema of the search path, and the worst match
 * counts, since overload resolution may pick a later schema's function with closer argument types.
 */
export function functionEffect(parts: readonly string[], searchPath: readonly string[], catalog: FunctionCatalog | undefined): SqlEffect {
  const name = parts[parts.length - 1] ?? '';
  const extension = EXTENSION_EFFECTS[name];
  if (extension !== undefined) return extension;
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
  if (schema === 'pg_catalog') return builtinEffect(name, catalog?.volatility(`pg_catalog.${name}`)) ?? 'unknown';
  if (schema !== undefined) {
    const qualified = `${schema}.${name}`;
    return catalog === undefined ? 'unknown' : userEffect(catalog, qualified, catalog.volatility(qualified));
  }
  let effect = builtinEffect(name, catalog?.volatility(`pg_catalog.${name}`));
  if (catalog === undefined) return effect ?? 'unknown';
  for (const s of searchPath) {
    if (s === 'pg_catalog') continue;
    const qualified = `${s}.${name}`;
    const v = catalog.volatility(qualified);
    if (v !== undefined) effect = effect === undefined ? userEffect(catalog, qualified, v) : worse(effect, userEffect(catalog, qualified, v));
  }
  if (effect !== undefined) return effect;
  for (const s of searchPath) if (catalog.readAllowed(`${s}.${name}`)) return 'read';
  return 'unknown';
}
