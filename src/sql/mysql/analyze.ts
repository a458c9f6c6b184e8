// MySQL statement analysis (first cut: every statement fails closed as `unknown`; the lexer
// and the grammar land in the next commits).
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import type { AnalyzeOptions } from '../dialect.ts';
import type { MysqlServer } from './server.ts';

export function analyzeMysql(text: string, _server: MysqlServer, _opts?: AnalyzeOptions): SqlAction {
  const statement: SqlStatement = Object.freeze({ command: 'unknown', effect: 'unknown', relations: Object.freeze([]), functions: Object.freeze([]), text, error: 'MySQL analysis is not available yet' });
  return Object.freeze({ kind: 'sql', dialect: 'mysql', text, statements: Object.freeze(text.trim() === '' ? [] : [statement]) });
}

/** EXECUTE name takes the effect of what PREPARE name FROM '...' prepared. */
export function resolveExecute(statement: SqlStatement, _prepared: (name: string) => SqlStatement | undefined): SqlStatement {
  return statement;
}
