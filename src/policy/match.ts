// Does one compiled rule match one action? Pure predicates over precompiled matchers.
// For SQL, a rule is matched against one statement at a time (decide() splits the action).
import type { Action, HttpAction, McpAction, SqlStatement, SshAction } from '../core/action.ts';
import type { CompiledRule, HttpMatcher, McpMatcher, ParamMatcher, SqlMatcher, SshMatcher } from './compile.ts';
import { anyMatch, type Matcher } from './glob.ts';
import { programOf } from './ssh-program.ts';

function sqlMatches(m: SqlMatcher, statement: SqlStatement | undefined, deny: boolean): boolean {
  if (!m.constrained) return true;
  // An empty query string has no statement to judge: only an unconstrained rule takes it.
  if (statement === undefined) return false;
  // Fail closed: what the analyser did not understand (parse error, EXECUTE, an opaque
  // function, an unclassified command) could be anything, so a rule that says anything about
  // SQL does not allow or review it, unless it names `unknown` explicitly (`tables` would
  // otherwise be vacuously true). A deny rule still may: denying is never less safe, and
  // `functions: [dblink*] -> deny` must catch `select dblink_exec(...)`, which is unknown.
  if (statement.effect === 'unknown' && !m.allowsUnknown && !deny) return false;
  if (m.effects !== undefined && !m.effects.has(statement.effect)) return false;
  if (m.commands !== undefined && !m.commands.has(statement.command)) return false;
  if (m.unbounded !== undefined && (statement.unbounded === true) !== m.unbounded) return false;
  if (m.tables !== undefined) {
    for (const relation of statement.relations) if (!anyMatch(m.tables, relation.name)) return false;
  }
  if (m.touches !== undefined && !touchesAny(m.touches, statement)) return false;
  if (m.functions !== undefined && !callsAny(m.functions, statement)) return false;
  return true;
}

function touchesAny(matchers: readonly Matcher[], statement: SqlStatement): boolean {
  for (const relation of statement.relations) if (anyMatch(matchers, relation.name)) return true;
  return false;
}

function callsAny(matchers: readonly Matcher[], statement: SqlStatement): boolean {
  for (const fn of statement.functions) if (anyMatch(matchers, fn.toLowerCase())) return true;
  return false;
}

function httpMatches(m: HttpMatcher, action: HttpAction): boolean {
  if (m.methods !== undefined && !m.methods.has(action.method.toUpperCase())) return false;
  if (m.paths !== undefined && !anyMatch(m.paths, action.path)) return false;
  if (m.query !== undefined && !paramsMatch(m.query, action.query)) return false;
  if (m.headers !== undefined && !paramsMatch(m.headers, action.headers)) return false;
  if (m.body !== undefined) {
    for (const test of m.body) if (!test(action.body)) return false;
  }
  return true;
}

/**
 * Every named parameter is present with at least one value matching one glob (or, for null,
 * absent). Own properties only: a parameter named `constructor` is not on every request.
 */
function paramsMatch(params: readonly ParamMatcher[], actual: Readonly<Record<string, string | readonly string[]>>): boolean {
  for (const p of params) {
    const present = Object.hasOwn(actual, p.name);
    if (p.values === null) {
      if (present) return false;
      continue;
    }
    if (!present || !someValueMatches(p.values, actual[p.name] as string | readonly string[])) return false;
  }
  return true;
}

function someValueMatches(globs: readonly Matcher[], value: string | readonly string[]): boolean {
  if (typeof value === 'string') return anyMatch(globs, value);
  for (const v of value) if (anyMatch(globs, v)) return true;
  return false;
}

// A program found by its bare name lives in one of these anyway, so `/usr/bin/ls` is `ls` to
// an allow list; `./ls` or `/tmp/x/ls` is whatever file was put there, and is not.
const SYSTEM_DIRS: ReadonlySet<string> = new Set(['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']);
// Redirection targets that write no file.
const NOT_FILES: ReadonlySet<string> = new Set(['/dev/null', '/dev/stdout', '/dev/stderr']);

/** The full program as written, or its basename: for allow lists only in a system directory. */
function programMatches(globs: readonly Matcher[], program: string, anyDirectory: boolean): boolean {
  if (anyMatch(globs, program)) return true;
  const slash = program.lastIndexOf('/');
  if (slash === -1 || (!anyDirectory && !SYSTEM_DIRS.has(program.slice(0, slash)))) return false;
  return anyMatch(globs, program.slice(slash + 1));
}

/** A redirection writes a file (not /dev/null), or opens bash's /dev/tcp or /dev/udp. */
function writesOrConnects(action: SshAction): boolean {
  for (const r of action.redirects ?? []) {
    if (r.target.startsWith('/dev/tcp/') || r.target.startsWith('/dev/udp/')) return true;
    if (r.op.includes('>') && (r.dynamic || !NOT_FILES.has(r.target))) return true;
  }
  return false;
}

function sshMatches(m: SshMatcher, action: SshAction): boolean {
  if (m.ops !== undefined && !m.ops.has(action.op)) return false;
  if (m.programs === undefined && m.args === undefined && m.anyPrograms === undefined) return true;
  // Only exec runs a program.
  if (action.op !== 'exec' || action.command === undefined) return false;
  const commands = action.commands;
  if (commands === undefined) return firstWordMatches(m, action.command);
  const { programs, args, anyPrograms } = m;
  const uncertain = action.uncertain === true;
  // Deny lists: a line not understood could run anything, so it matches (fail closed).
  if (anyPrograms !== undefined && !uncertain && !commands.some((c) => programMatches(anyPrograms, c.program, true))) return false;
  if (programs !== undefined || args !== undefined) {
    // Allow lists: everything the line runs is known and listed. A line that writes files
    // through redirections or sets variables (PATH=/tmp ls) does more than its programs.
    if (uncertain || commands.length === 0 || writesOrConnects(action) || (action.assignments?.length ?? 0) > 0) return false;
    for (const c of commands) {
      if (programs !== undefined && !programMatches(programs, c.program, false)) return false;
      if (args !== undefined && !c.args.some((a) => anyMatch(args, a))) return false;
    }
  }
  return true;
}

/**
 * An exec action built without the shell parser (no `commands`): judged by its first word, and
 * a line that could run more (programOf gives undefined) matches no `program` rule and every
 * `any_program` rule. `args` needs the parser's words.
 */
function firstWordMatches(m: SshMatcher, commandLine: string): boolean {
  if (m.args !== undefined) return false;
  const program = programOf(commandLine);
  if (program === undefined) return m.programs === undefined;
  if (m.programs !== undefined && !anyMatch(m.programs, program)) return false;
  return m.anyPrograms === undefined || anyMatch(m.anyPrograms, program);
}

function mcpMatches(m: McpMatcher, action: McpAction): boolean {
  return m.tools === undefined || anyMatch(m.tools, action.tool);
}

/** `statement` is the SQL statement under judgement (undefined for other kinds, or an empty query). */
export function ruleMatches(rule: CompiledRule, action: Action, statement: SqlStatement | undefined): boolean {
  if (rule.kind === 'any') return true;
  if (rule.kind !== action.kind) return false;
  switch (action.kind) {
    case 'sql':
      return rule.sql === undefined || sqlMatches(rule.sql, statement, rule.verdict === 'deny');
    case 'http':
      return rule.http === undefined || httpMatches(rule.http, action);
    case 'ssh':
      return rule.ssh === undefined || sshMatches(rule.ssh, action);
    case 'mcp':
      return rule.mcp === undefined || mcpMatches(rule.mcp, action);
  }
}
