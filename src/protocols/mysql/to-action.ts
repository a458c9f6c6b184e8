// Wire request -> Action. The SQL of a COM_QUERY or COM_STMT_PREPARE is analysed by the MySQL
// dialect of the upstream's version and flavour (src/sql/mysql), with the session's sql_mode
// and current database; the commands that name an object without SQL (COM_INIT_DB,
// COM_FIELD_LIST, COM_PROCESS_KILL) are decided as the statement that does the same.
import type { SqlAction } from '../../core/action.ts';
import type { SqlDialect } from '../../sql/dialect.ts';

/** `name` quoted as a MySQL identifier (backticks doubled), so that it cannot change the statement's shape. */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

export interface SessionSql {
  readonly dialect: SqlDialect;
  /** The session's sql_mode (changes how quotes and backslashes read). */
  readonly sqlMode: string | undefined;
  /** The current database: unqualified names resolve in it. */
  readonly database: string | undefined;
}

export function sqlAction(s: SessionSql, sql: string): SqlAction {
  return s.dialect.analyze(sql, { ...(s.database !== undefined ? { searchPath: [s.database] } : {}), ...(s.sqlMode !== undefined ? { sqlMode: s.sqlMode } : {}) });
}

/** COM_INIT_DB is `USE db`. */
export function initDbText(schema: string): string {
  return `USE ${quoteIdent(schema)}`;
}

/** COM_FIELD_LIST reads a table's column definitions, as `SHOW COLUMNS FROM t` does. */
export function fieldListText(table: string): string {
  return `SHOW COLUMNS FROM ${quoteIdent(table)}`;
}

/** COM_PROCESS_KILL is `KILL CONNECTION n`. */
export function killText(id: number): string {
  return `KILL CONNECTION ${id}`;
}

/** A LOAD DATA LOCAL statement in the text: the only one after which a server may ask for a client file. */
export function loadsLocalFile(action: SqlAction): boolean {
  return action.statements.some((s) => s.command === 'load_data_local');
}

/** Settings that change how later statements read: sql_mode (quotes, backslashes), the current database, the character set. */
const READING_SETTINGS = new Set(['sql_mode', 'database', 'names', 'character_set_client']);
/** What else may move them unseen (a procedure's SET, a RESET, a rollback of nothing...): only a trigger to ask the server. */
const MAY_MOVE = /sql_mode|\bcall\b|reset|change_user/i;

/** Whether the session reads sql_mode and the database back after these statements. */
export function mayChangeSessionReading(action: SqlAction): boolean {
  return action.statements.some((s) => s.command === 'use' || (s.setting !== undefined && READING_SETTINGS.has(s.setting.name))) || MAY_MOVE.test(action.text);
}
