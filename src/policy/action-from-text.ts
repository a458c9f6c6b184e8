// Builds an Action from what a person types into `portcullis policy test`, so a decision can
// be explained without running anything. One input format per connection type:
//   postgres  SQL text (one or several statements)
//   mysql     SQL text (one or several statements), read for no particular server version:
//             what depends on the version (/*!80000 ... */) is unknown; the connection's
//             `upstream.database` is the current database
//   http      `METHOD /path?query`, optionally followed by a JSON body on the next lines
//   ssh       `shell` | `sftp <op> <path>` | `forward [local|remote] <host>:<port>` | any other line: exec
//             (a legacy `scp -t <path>` / `scp -f <path>` line is an sftp write / read)
import { SFTP_OPS, type Action, type HttpAction, type SftpOp, type SshAction, type SshCommand } from '../core/action.ts';
import { GatewayError } from '../core/errors.ts';
import type { ConnectionConfig } from '../config/schema.ts';
import { mysqlDialect } from '../sql/mysql/dialect.ts';
import { postgresDialect } from '../sql/postgres/dialect.ts';
import { createFunctionCatalog } from '../sql/postgres/function-catalog.ts';
import { policyPath, readTarget } from './http-target.ts';
import { launchesOf } from './shell/launchers.ts';
import { parseShellLine, type SimpleCommand } from './shell/parse.ts';

function invalid(reason: string): GatewayError {
  return new GatewayError('PCS_POLICY_INPUT_INVALID', { reason });
}


const REQUEST_LINE = /^([A-Za-z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/;

export function httpActionFromText(text: string, integrity: { readonly non_canonical_paths: string; readonly case_insensitive_paths: boolean } = { non_canonical_paths: 'refuse', case_insensitive_paths: false }): HttpAction {
  const newline = text.indexOf('\n');
  const first = (newline === -1 ? text : text.slice(0, newline)).trim();
  const rest = newline === -1 ? '' : text.slice(newline + 1).trim();
  const m = REQUEST_LINE.exec(first);
  if (m === null) throw invalid(`expected "METHOD /path?query" on the first line, got "${first}"`);
  const [, method = '', target = ''] = m;
  // The target read as the gateway reads it (http-target.ts), so the path explained is the one decided.
  const reading = readTarget(target);
  if (reading.unreadable !== undefined) throw invalid(`the gateway refuses this target on every connection (PCS_HTTP_AMBIGUOUS_PATH): ${reading.unreadable}`);
  if (reading.nonCanonical !== undefined && integrity.non_canonical_paths !== 'normalise') {
    throw invalid(`the gateway refuses this path (PCS_HTTP_AMBIGUOUS_PATH: ${reading.nonCanonical}) unless the connection sets integrity.non_canonical_paths: normalise; it would then decide on ${reading.path}`);
  }
  const url = new URL(`${reading.path}${reading.search}`, 'http://policy-test.invalid');
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
  const action: HttpAction = { kind: 'http', method: method.toUpperCase(), path: policyPath(integrity, reading.path), query, headers: {} };
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
      const [op, ...words] = args;
      const usage = `expected "sftp <op> <path>" with <op> one of ${SFTP_OPS.join(', ')} and an absolute or ~/ path, such as "sftp read /etc/hosts"`;
      if (op === undefined || words.length === 0 || !isSftpOp(op)) throw invalid(usage);
      const text = words.join(' ');
      // As the gateway would see it: dot segments and duplicate slashes resolved; `dir/**` a tree.
      const tree = text.endsWith('/**');
      const named = tree ? text.slice(0, -3) || '/' : text;
      const path = named.startsWith('/') || named.startsWith('~/') || named === '~' ? normaliseFilePath(named.replace(/^~/, '.'), '~') : undefined;
      if (path === undefined) throw invalid(usage);
      return { kind: 'ssh', op: 'sftp', sftp: { op, path: tree ? treeOf(path) : path } };
    }
    case 'forward': {
      // `forward host:port` (-L), `forward remote host:port` (-R: where the host listens).
      const remote = args[0] === 'remote';
      const rest = remote || args[0] === 'local' ? args.slice(1) : args;
      const m = rest.length === 1 ? /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(rest[0] ?? '') : null;
      const port = Number(m?.[2]);
      if (m === null || !(port >= 0 && port <= 65535) || (!remote && port === 0)) throw invalid('expected "forward [local|remote] <host>:<port>", such as "forward db.internal:5432"');
      return { kind: 'ssh', op: 'forward', forward: { host: m[1] ?? '', port, direction: remote ? 'remote' : 'local' } };
    }
  }
  return sshExecAction(line);
}

export function isSftpOp(op: string): op is SftpOp {
  return (SFTP_OPS as readonly string[]).includes(op);
}

/**
 * A file path as policy sees it: resolved against `base` when relative, `.` and `..` segments
 * and duplicate or trailing slashes removed, as POSIX does it lexically (`..` of `/` is `/`;
 * symbolic links are not known here and not followed). `base` is an absolute normalised path,
 * or `~` when the home directory is not known (then the result is `~` or `~/...`, and a path
 * that climbs above `~` cannot be placed: undefined). Undefined too for a path with NUL.
 */
export function normaliseFilePath(path: string, base: string): string | undefined {
  if (path.includes('\0')) return undefined;
  const out: string[] = [];
  let floor = 0;
  if (!path.startsWith('/')) {
    if (base.startsWith('/')) {
      for (const segment of base.split('/')) if (segment !== '') out.push(segment);
    } else {
      out.push(base);
      floor = 1;
    }
  }
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') out.push(segment);
    else if (out.length > floor) out.pop();
    else if (floor > 0) return undefined;
  }
  return floor > 0 ? out.join('/') : `/${out.join('/')}`;
}

/** `dir/**`: the whole tree under dir (what `scp -r` reads or writes). */
function treeOf(dir: string): string {
  return dir === '/' ? '/**' : `${dir}/**`;
}

// What OpenSSH's scp client runs on the remote side in legacy mode (`scp -O`): `scp [-v] [-r]
// [-p] [-d] -t [--] <path>` to upload into <path>, `scp [-v] [-r] [-p] -f [--] <path>` to
// download it. The options before -t/-f, each at most once.
const SCP_FLAGS: ReadonlySet<string> = new Set(['-v', '-r', '-p', '-d']);
// Characters the remote shell would expand in the path besides a leading `~`.
const SHELL_SPECIAL = /[$`*?[\]{}\\]/;

/**
 * A legacy scp line as an sftp action: `-t` writes, `-f` reads. With -r (a tree) or -d (a
 * directory to put files in) the path is `dir/**`. A relative path is relative to the home
 * directory, which is not known here: it becomes `~/...`, and one that climbs above it, or
 * any other form, is no scp line (undefined: the caller decides it as exec).
 */
function scpAction(command: string, c: SshCommand): SshAction | undefined {
  if (c.program !== 'scp') return undefined;
  const flags = new Set<string>();
  let i = 0;
  for (; i < c.args.length && SCP_FLAGS.has(c.args[i] ?? ''); i++) {
    if (flags.has(c.args[i] ?? '')) return undefined;
    flags.add(c.args[i] ?? '');
  }
  const mode = c.args[i++];
  if (mode !== '-t' && mode !== '-f') return undefined;
  if (mode === '-f' && flags.has('-d')) return undefined;
  if (c.args[i] === '--') i++;
  if (i !== c.args.length - 1) return undefined;
  let text = c.args[i] ?? '';
  if (c.dynamic) {
    // The only expansion allowed is the shell's leading `~` (the home directory).
    if (!(text === '~' || text.startsWith('~/')) || SHELL_SPECIAL.test(text)) return undefined;
    text = text.slice(1);
    if (!text.startsWith('/')) text = `/${text}`;
    text = `.${text}`;
  } else if (text === '') return undefined;
  const path = normaliseFilePath(text, '~');
  if (path === undefined) return undefined;
  const op: SftpOp = mode === '-t' ? 'write' : 'read';
  return { kind: 'ssh', op: 'sftp', command, sftp: { op, path: flags.has('-r') || flags.has('-d') ? treeOf(path) : path } };
}

/** One parsed command as the action carries it; optional fields only when they say something. */
function sshCommand(c: SimpleCommand, terminal: boolean): SshCommand {
  const launches = launchesOf(c.program, c.args, { terminal });
  return {
    program: c.program,
    args: c.args,
    dynamic: c.dynamic,
    ...(c.unknownArgs !== undefined ? { unknownArgs: c.unknownArgs } : {}),
    ...(c.inputArgs === true ? { inputArgs: true } : {}),
    ...(launches.length > 0 ? { launches } : {}),
  };
}

/**
 * An SSH exec request, with what the shell parser reads in its command line. A line that is
 * exactly one legacy scp command is an sftp read or write of its path (scpAction).
 */
export function sshExecAction(command: string, terminal = false): SshAction {
  const parsed = parseShellLine(command);
  const [only] = parsed.commands;
  if (only !== undefined && parsed.commands.length === 1 && !parsed.uncertain && parsed.redirects.length === 0 && parsed.assignments.length === 0) {
    const scp = scpAction(command, only);
    if (scp !== undefined) return scp;
  }
  return {
    kind: 'ssh',
    op: 'exec',
    command,
    commands: parsed.commands.map((c) => sshCommand(c, terminal)),
    ...(terminal ? { terminal } : {}),
    uncertain: parsed.uncertain,
    redirects: parsed.redirects,
    assignments: parsed.assignments,
  };
}

export async function actionFromText(connection: ConnectionConfig, text: string): Promise<Action> {
  if (text.trim() === '') throw invalid(`nothing to test: give the ${connection.type} request as text`);
  switch (connection.type) {
    case 'postgres':
      await postgresDialect.load();
      // No database here: user-defined functions are unknown unless `read_functions` names them.
      return postgresDialect.analyze(text, connection.read_functions === undefined ? undefined : { catalog: createFunctionCatalog([], { readFunctions: connection.read_functions }) });
    case 'mysql':
      await mysqlDialect.load();
      return mysqlDialect.analyze(text, connection.upstream.database === undefined ? undefined : { searchPath: [connection.upstream.database] });
    case 'http':
      return httpActionFromText(text, connection.integrity);
    case 'ssh':
      return sshActionFromText(text);
  }
}
