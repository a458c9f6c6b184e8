// Builds an Action from what a person types into `portcullis policy test`, so a decision can
// be explained without running anything. One input format per connection type:
//   postgres  SQL text (one or several statements)
//   mysql     SQL text (not analysed yet: one statement of effect unknown, fail closed)
//   http      `METHOD /path?query`, optionally followed by a JSON body on the next lines
//   ssh       `shell` | `sftp <op> <path>` | `forward <host>:<port>` | any other line: exec
import type { Action, HttpAction, SqlAction, SshAction } from '../core/action.ts';
import { GatewayError } from '../core/errors.ts';
import type { ConnectionConfig } from '../config/schema.ts';
import { analyzePostgres, loadSqlAnalyzer } from './sql/analyze-postgres.ts';
import { createFunctionCatalog } from './sql/function-catalog.ts';
import { parseShellLine } from './shell/parse.ts';

function invalid(reason: string): GatewayError {
  return new GatewayError('PCS_POLICY_INPUT_INVALID', { reason });
}

function mysqlAction(text: string): SqlAction {
  const statement = { command: 'unknown', effect: 'unknown', relations: [], functions: [], text, error: 'MySQL analysis is not available yet' } as const;
  return { kind: 'sql', dialect: 'mysql', text, statements: [statement] };
}

const REQUEST_LINE = /^([A-Za-z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/;

export function httpActionFromText(text: string): HttpAction {
  const newline = text.indexOf('\n');
  const first = (newline === -1 ? text : text.slice(0, newline)).trim();
  const rest = newline === -1 ? '' : text.slice(newline + 1).trim();
  const m = REQUEST_LINE.exec(first);
  if (m === null) throw invalid(`expected "METHOD /path?query" on the first line, got "${first}"`);
  const [, method = '', target = ''] = m;
  if (!target.startsWith('/')) throw invalid(`the path must start with "/", got "${target}"`);
  // The URL parser resolves dot segments (`/public/../admin` is `/admin`), as the upstream would.
  const url = new URL(target, 'http://policy-test.invalid');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  let body: unknown;
  if (rest !== '') {
    try {
      body = JSON.parse(rest);
    } catch (err) {
      throw invalid(`the body after the first line is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const action: HttpAction = { kind: 'http', method: method.toUpperCase(), path: url.pathname, query, headers: {} };
  return body === undefined ? action : { ...action, body };
}

export function sshActionFromText(text: string): SshAction {
  const line = text.trim();
  const [word = '', ...args] = line.split(/\s+/);
  switch (word) {
    case 'shell':
      if (args.length > 0) break; // `shell foo` is an exec of a program named shell
      return { kind: 'ssh', op: 'shell' };
    case 'sftp': {
      const [op, ...path] = args;
      if (op === undefined || path.length === 0) throw invalid('expected "sftp <op> <path>", such as "sftp get /etc/hosts"');
      return { kind: 'ssh', op: 'sftp', sftp: { op, path: path.join(' ') } };
    }
    case 'forward': {
      const m = args.length === 1 ? /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(args[0] ?? '') : null;
      const port = Number(m?.[2]);
      if (m === null || !(port >= 1 && port <= 65535)) throw invalid('expected "forward <host>:<port>", such as "forward db.internal:5432"');
      return { kind: 'ssh', op: 'forward', forward: { host: m[1] ?? '', port, direction: 'local' } };
    }
  }
  return sshExecAction(line);
}

/** An SSH exec request, with what the shell parser reads in its command line. */
export function sshExecAction(command: string): SshAction {
  const parsed = parseShellLine(command);
  return {
    kind: 'ssh',
    op: 'exec',
    command,
    commands: parsed.commands.map((c) => ({ program: c.program, args: c.args, dynamic: c.dynamic })),
    uncertain: parsed.uncertain,
    redirects: parsed.redirects,
    assignments: parsed.assignments,
  };
}

export async function actionFromText(connection: ConnectionConfig, text: string): Promise<Action> {
  if (text.trim() === '') throw invalid(`nothing to test: give the ${connection.type} request as text`);
  switch (connection.type) {
    case 'postgres':
      await loadSqlAnalyzer();
      // No database here: user-defined functions are unknown unless `read_functions` names them.
      return analyzePostgres(text, connection.read_functions === undefined ? undefined : { catalog: createFunctionCatalog([], { readFunctions: connection.read_functions }) });
    case 'mysql':
      return mysqlAction(text);
    case 'http':
      return httpActionFromText(text);
    case 'ssh':
      return sshActionFromText(text);
  }
}
