// Wire request -> Action. The SQL of a simple Query or of a Parse is analysed by the
// PostgreSQL dialect (src/sql/postgres), unqualified names resolved with the session's search_path.
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import type { FunctionCatalog } from '../../sql/function-catalog.ts';
import { postgresDialect } from '../../sql/postgres/dialect.ts';

/**
 * `prepared`: the session's SQL-level prepared statements (`PREPARE name AS ...`), so that
 * `EXECUTE name` is decided by what it runs instead of failing closed as `unknown`.
 */
export function sqlAction(sql: string, searchPath: readonly string[], catalog: FunctionCatalog | undefined, prepared: ReadonlyMap<string, SqlStatement>): SqlAction {
  const action = postgresDialect.analyze(sql, catalog ? { searchPath, catalog } : { searchPath });
  if (prepared.size === 0 || !action.statements.some((s) => s.executes !== undefined)) return action;
  return { ...action, statements: action.statements.map((s) => postgresDialect.resolveExecute(s, (name) => prepared.get(name))) };
}

/**
 * Whether running these statements may change what the server's search_path resolves to, so
 * that the session re-reads it afterwards: SET/RESET search_path, set_config, SET ROLE and
 * session authorization (`$user`), DISCARD, and transaction ends (a rollback undoes a SET).
 * Only a trigger to ask the server again, not a policy input.
 */
const MAY_MOVE_SEARCH_PATH = /search_path|set_config|\brole\b|authorization|discard|reset|rollback|abort/i;

export function mayChangeSearchPath(action: SqlAction): boolean {
  return MAY_MOVE_SEARCH_PATH.test(action.text);
}

/** COPY hands the connection to a data stream: nothing may be injected behind it. */
export function startsCopy(action: SqlAction): boolean {
  return action.statements.some((s) => s.command === 'copy');
}
