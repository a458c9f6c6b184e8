// SET / RESET / SET TRANSACTION: which run-time parameters an agent may change as `read`.
// Harmless settings (issue 3, point 4) only change how this session formats, plans or times
// out; changing who the session is (role, session authorization, row security) is
// `privilege`; session_replication_role (turns off triggers and foreign keys) is `admin`; a
// setting that changes how the server reads the text we analyse (client_encoding other than
// UTF-8, standard_conforming_strings off) and every parameter not listed here, including
// custom ones such as `app.tenant_id` that row-level security policies read, is `unknown`.
import type { SqlEffect, SqlStatement } from '../../core/action.ts';
import { isObject, str, unwrap, type JsonObject } from './ast.ts';

const HARMLESS = new Set([
  'search_path', 'timezone', 'application_name', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',
  'idle_session_timeout', 'transaction_timeout', 'datestyle', 'intervalstyle', 'extra_float_digits', 'client_min_messages',
  'bytea_output', 'xmloption', 'xmlbinary', 'default_transaction_isolation', 'default_transaction_read_only',
  'default_transaction_deferrable', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable',
  'work_mem', 'maintenance_work_mem', 'hash_mem_multiplier', 'temp_buffers', 'jit', 'plan_cache_mode', 'random_page_cost',
  'seq_page_cost', 'cpu_tuple_cost', 'cpu_index_tuple_cost', 'cpu_operator_cost', 'parallel_setup_cost', 'parallel_tuple_cost',
  'effective_cache_size', 'effective_io_concurrency', 'from_collapse_limit', 'join_collapse_limit', 'geqo', 'geqo_threshold',
  'default_statistics_target', 'constraint_exclusion', 'cursor_tuple_fraction', 'max_parallel_workers_per_gather',
  'force_parallel_mode', 'debug_parallel_query', 'lc_monetary', 'lc_numeric', 'lc_time', 'default_text_search_config',
  'gin_fuzzy_search_limit', 'timezone_abbreviations', 'escape_string_warning', 'quote_all_identifiers', 'array_nulls',
  'check_function_bodies', 'synchronous_commit', 'default_toast_compression',
]);

const PRIVILEGE = new Set(['role', 'session_authorization']);
const TRUE_WORDS = new Set(['on', 'true', 'yes', '1']);
const UTF8 = new Set(['utf8', 'utf-8', 'unicode']);

export interface SettingClass {
  readonly command: string;
  readonly effect: SqlEffect;
  readonly setting?: NonNullable<SqlStatement['setting']>;
}

/** One argument as PostgreSQL shows it: identifiers double-quoted when they need it. */
function argText(arg: unknown, name: string): string {
  const node = unwrap(arg);
  if (node === undefined) return '';
  if (node[0] === 'A_Const') {
    const c = node[1];
    if (isObject(c.sval)) {
      const s = str(c.sval.sval) ?? '';
      // search_path elements are identifiers: quote like SHOW search_path does.
      return name === 'search_path' && !/^[a-z_][a-z0-9_$]*$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    }
    if (isObject(c.ival)) return String(c.ival.ival ?? 0);
    if (isObject(c.fval)) return str(c.fval.fval) ?? '';
    if (isObject(c.boolval)) return c.boolval.boolval === true ? 'on' : 'off';
  }
  // SET TIME ZONE INTERVAL '...' and other typed values: keep something readable.
  return '?';
}

function valueOf(body: JsonObject, name: string): string | null {
  if (!Array.isArray(body.args)) return null;
  return body.args.map((a) => argText(a, name)).join(', ');
}

function effectOf(name: string, value: string | null, reset: boolean): SqlEffect {
  if (PRIVILEGE.has(name)) return 'privilege';
  if (name === 'session_replication_role') return 'admin';
  // RESET or DEFAULT returns to the server's value: harmless for the settings below.
  if (name === 'row_security') return reset || TRUE_WORDS.has((value ?? '').toLowerCase()) ? 'read' : 'privilege';
  if (name === 'client_encoding') return reset || UTF8.has((value ?? '').toLowerCase()) ? 'read' : 'unknown';
  if (name === 'standard_conforming_strings') return reset || TRUE_WORDS.has((value ?? '').toLowerCase()) ? 'read' : 'unknown';
  if (HARMLESS.has(name) || name.startsWith('enable_') || name.startsWith('jit_') || name.startsWith('geqo_')) return 'read';
  return 'unknown';
}

/** A VariableSetStmt (SET, RESET, SET TRANSACTION, SET SESSION CHARACTERISTICS). */
export function classifySetting(body: JsonObject): SettingClass {
  const kind = str(body.kind) ?? '';
  // RESET ALL leaves role and session authorization alone (PostgreSQL's GUC_NO_RESET_ALL).
  if (kind === 'VAR_RESET_ALL') return { command: 'reset', effect: 'read' };
  const rawName = str(body.name) ?? '';
  if (kind === 'VAR_SET_MULTI') {
    // SET TRANSACTION ..., SET SESSION CHARACTERISTICS AS TRANSACTION ..., SET TRANSACTION SNAPSHOT
    return { command: 'set_transaction', effect: 'read' };
  }
  const name = rawName.toLowerCase();
  const reset = kind === 'VAR_RESET' || kind === 'VAR_SET_DEFAULT';
  const value = reset ? null : valueOf(body, name);
  const command = name === 'role' ? 'set_role' : name === 'session_authorization' ? 'set_session_authorization' : kind === 'VAR_RESET' ? 'reset' : 'set';
  return { command, effect: effectOf(name, value, reset), setting: Object.freeze({ name, value }) };
}

/** Splits a search_path value (as in SqlStatement.setting or SHOW search_path) into schema names. */
export function parseSearchPath(value: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < value.length && (m = re.exec(value)) !== null) {
    out.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? '').toLowerCase());
  }
  return out;
}
