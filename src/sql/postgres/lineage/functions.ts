// What lineage assumes about a function. Every built-in carries the lineage of its arguments
// (`length(ssn)` still leaks ssn's length: any function counts as carrying its arguments),
// except the few built-ins that read relations or run SQL they are given as text
// (`query_to_xml('select ssn from customers', ...)`), which no argument lineage can describe.
// A user-defined function can read any table itself, so its result is opaque.
import { BUILTIN_VOLATILITY } from '../builtin-functions.ts';
import { opaque } from './lin.ts';
import type { Context } from './scope.ts';
import type { ColumnLineage } from '../../lineage.ts';

const READS_BY_NAME = new Set(
  `query_to_xml query_to_xmlschema query_to_xml_and_xmlschema table_to_xml table_to_xmlschema
  table_to_xml_and_xmlschema cursor_to_xml cursor_to_xmlschema schema_to_xml schema_to_xmlschema
  schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema database_to_xml_and_xmlschema ts_stat`.split(/\s+/),
);

export type FunctionKind = 'carries' | 'opaque';

/** `parts`: the name as written (optionally schema-qualified). */
export function functionKind(parts: readonly string[]): { kind: FunctionKind; reason?: string } {
  const name = (parts[parts.length - 1] ?? '').toLowerCase();
  const schema = parts.length > 1 ? parts[parts.length - 2]?.toLowerCase() : undefined;
  const display = parts.join('.');
  if (schema !== undefined && schema !== 'pg_catalog') return { kind: 'opaque', reason: `function ${display} is not a built-in: it may read data lineage cannot see` };
  if (READS_BY_NAME.has(name)) return { kind: 'opaque', reason: `function ${display} reads relations or runs SQL given as text` };
  if (!BUILTIN_VOLATILITY.has(name)) return { kind: 'opaque', reason: `function ${display} is not a built-in: it may read data lineage cannot see` };
  return { kind: 'carries' };
}

/** Output column names of built-in set-returning functions that return several columns. */
const RECORD_OUTPUTS: Readonly<Record<string, readonly string[]>> = {
  json_each: ['key', 'value'],
  json_each_text: ['key', 'value'],
  jsonb_each: ['key', 'value'],
  jsonb_each_text: ['key', 'value'],
};

/** Built-ins in FROM that return one column (a scalar or setof a scalar type). */
const SCALAR_SRF = new Set(
  `generate_series generate_subscripts unnest json_array_elements json_array_elements_text
  jsonb_array_elements jsonb_array_elements_text json_object_keys jsonb_object_keys regexp_matches
  regexp_split_to_table string_to_table jsonb_path_query`.split(/\s+/),
);

/** Built-in set-returning functions: their arguments decide how many rows come back. */
export function isSetReturning(parts: readonly string[]): boolean {
  const name = (parts[parts.length - 1] ?? '').toLowerCase();
  return SCALAR_SRF.has(name) || RECORD_OUTPUTS[name] !== undefined || name === 'json_populate_recordset' || name === 'jsonb_populate_recordset' || name === 'json_to_recordset' || name === 'jsonb_to_recordset';
}

/**
 * The output column names of a built-in function in FROM when known without a column list;
 * undefined for other built-ins, whose shape is not listed here (their columns are then
 * unknown unless the alias names them).
 */
export function builtinOutputs(parts: readonly string[], argCount: number): readonly string[] | undefined {
  const name = (parts[parts.length - 1] ?? '').toLowerCase();
  const record = RECORD_OUTPUTS[name];
  if (record !== undefined) return record;
  // unnest(a, b, ...) in FROM returns one column per array.
  if (name === 'unnest' && argCount > 1) return Array.from({ length: argCount }, () => name);
  if (SCALAR_SRF.has(name)) return [name];
  return undefined;
}

/**
 * Built-ins that keep their arguments where a later statement or another session can read
 * them back: settings (current_setting), sequences, notifications, WAL messages, advisory
 * lock keys (pg_locks), large objects.
 */
const STORES_ARGUMENTS = new Set(
  `set_config setval pg_notify pg_logical_emit_message lo_from_bytea lo_put lowrite
  pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock pg_advisory_xact_lock_shared
  pg_try_advisory_lock pg_try_advisory_lock_shared pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared`.split(/\s+/),
);

/**
 * For analyzeWrites: a call to a function that is not a built-in can write anything (even
 * from a SELECT); a built-in that stores its arguments writes their lineage. Unqualified
 * names count as built-ins only while pg_catalog is searched first: a path that lists it
 * after another schema lets that schema's functions shadow the built-ins.
 */
export function callWrites(parts: readonly string[], args: ColumnLineage, ctx: Context): void {
  if (ctx.write === undefined) return;
  const name = (parts[parts.length - 1] ?? '').toLowerCase();
  const schema = parts.length > 1 ? parts[parts.length - 2]?.toLowerCase() : undefined;
  const catalogFirst = !ctx.searchPath.includes('pg_catalog') || ctx.searchPath[0] === 'pg_catalog';
  const builtin = (schema === 'pg_catalog' || (schema === undefined && catalogFirst)) && BUILTIN_VOLATILITY.has(name);
  const display = parts.join('.');
  if (!builtin) ctx.write({ kind: 'file', name: `(function ${display})` }, opaque(`function ${display} is not a built-in: it can write anything`));
  else if (STORES_ARGUMENTS.has(name)) ctx.write({ kind: 'file', name: `(function ${name})` }, args);
}
