// Does one compiled rule match one action? Pure predicates over precompiled matchers.
// For SQL, a rule is matched against one statement at a time (decide() splits the action).
import type { Action, HttpAction, McpAction, SqlStatement, SshAction, SshCommand } from '../core/action.ts';
import type { ArgMatcher, CompiledRule, FilePathMatcher, HttpMatcher, McpMatcher, ParamMatcher, SqlMatcher, SshMatcher } from './compile.ts';
import { anyMatch, type Matcher } from '../util/glob.ts';
import { changesDirectory, placeArg } from './shell/arg-paths.ts';
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

/**
 * The path as a `~` glob names it: `~/rest` when it lies below the home directory the adapter
 * knows (legacy scp paths are written so already), else undefined (no `~` glob matches).
 */
function homeRelative(path: string, home: string | undefined): string | undefined {
  if (path === '~' || path.startsWith('~/')) return path;
  if (home === undefined) return undefined;
  if (path === home) return '~';
  const base = home === '/' ? '' : home;
  return path.startsWith(`${base}/`) ? `~${path.slice(base.length)}` : undefined;
}

/**
 * A whole tree (`dir/**`, from `scp -r`) against one glob. To allow it the glob must cover all
 * of it (`X/**` with X matching dir or one of its parents); to deny it, it is enough that the
 * glob could match something in it (fail closed).
 */
function treeMatches(p: FilePathMatcher, tree: string, deny: boolean): boolean {
  const dir = tree === '/**' ? '/' : tree.slice(0, -3);
  if (!deny) {
    if (p.treeRoot === undefined) return false;
    for (let d = dir; ; ) {
      if (p.treeRoot(d)) return true;
      const slash = d.lastIndexOf('/');
      if (slash === -1 || d === '/') return false; // `~` has no parent that a glob could name
      d = slash === 0 ? '/' : d.slice(0, slash);
    }
  }
  if (p.matches(tree) || p.matches(dir)) return true;
  const below = dir.endsWith('/') ? dir : `${dir}/`;
  return p.literal.startsWith(below) || below.startsWith(p.literal);
}

/** Segments of a glob (from `from`) against segments of a path (from `at`); `open`: more path segments may follow. */
function segmentsMatch(glob: readonly (RegExp | null)[], from: number, path: readonly string[], at: number, open: boolean): boolean {
  if (at === path.length) {
    if (open) return true;
    for (let i = from; i < glob.length; i++) if (glob[i] !== null) return false;
    return true;
  }
  if (from === glob.length) return false;
  const segment = glob[from];
  if (segment === null) return segmentsMatch(glob, from + 1, path, at, open) || segmentsMatch(glob, from, path, at + 1, open);
  return segment === undefined ? false : segment.test(path[at] ?? '') && segmentsMatch(glob, from + 1, path, at + 1, open);
}

/**
 * A deny rule's glob across a home directory that is not known (legacy scp lines): an absolute
 * glob whose end matches the end of a `~/...` path (`/home/deploy/.ssh/**` and `~/.ssh/x`), or a
 * `~/...` glob whose rest matches the end of an absolute path (`~/.ssh/**` and `/x/.ssh/y`).
 * A glob part made only of `**` places nothing (`/srv/**` does not catch `~/x`). Fail closed:
 * the home directory could be wherever these say.
 */
function matchesAcrossHome(p: FilePathMatcher, path: string): boolean {
  const tree = path.endsWith('/**');
  const named = tree ? path.slice(0, -3) : path;
  const placed = (from: number): boolean => {
    for (let i = from; i < p.segments.length; i++) if (p.segments[i] !== null) return true;
    return false;
  };
  if (p.home) {
    if (!named.startsWith('/') || !placed(0)) return false;
    const segments = named === '/' ? [] : named.slice(1).split('/');
    for (let at = 0; at <= segments.length; at++) if (segmentsMatch(p.segments, 0, segments, at, tree)) return true;
    return false;
  }
  const rest = named.slice(2);
  const segments = rest === '' ? [] : rest.split('/');
  for (let from = 0; from < p.segments.length; from++) if (placed(from) && segmentsMatch(p.segments, from, segments, 0, tree)) return true;
  return false;
}

function pathMatches(paths: readonly FilePathMatcher[], path: string, home: string | undefined, deny: boolean): boolean {
  const tree = path.endsWith('/**');
  const relative = path === '~' || path.startsWith('~/');
  for (const p of paths) {
    const subject = p.home ? homeRelative(path, home) : relative ? undefined : path;
    if (subject === undefined) {
      // A `~` glob and an absolute path (or the reverse) with no home directory to join them.
      if (deny && home === undefined && matchesAcrossHome(p, path)) return true;
      continue;
    }
    if (tree ? treeMatches(p, subject, deny) : p.matches(subject)) return true;
  }
  return false;
}

/**
 * file_op/path rules judge sftp operations. The subsystem itself (an sftp action without
 * `sftp`) opens when some operation could be allowed: such a rule matches it unless it denies,
 * so a rule denying some files does not close the subsystem, and one allowing some opens it.
 */
function fileMatches(m: SshMatcher, action: SshAction, deny: boolean): boolean {
  if (action.op !== 'sftp') return false;
  const f = action.sftp;
  if (f === undefined) return !deny;
  if (m.fileOps !== undefined && !m.fileOps.has(f.op)) return false;
  return m.paths === undefined || pathMatches(m.paths, f.path, f.home, deny);
}

/** Collects why an exec rule does not match, for `policy test`; undefined on the data path. */
type Why = string[] | undefined;

/** Records a reason (built only when asked for) and answers false. */
function no(why: Why, reason: () => string): false {
  why?.push(reason());
  return false;
}

function sshMatches(m: SshMatcher, action: SshAction, deny: boolean, why?: Why): boolean {
  if (m.ops !== undefined && !m.ops.has(action.op)) return no(why, () => `op is ${action.op}`);
  if (m.fileOps !== undefined || m.paths !== undefined) return fileMatches(m, action, deny);
  if (m.destinations !== undefined || m.directions !== undefined) return forwardMatches(m, action);
  if (!m.exec) return true;
  // Only exec runs a program.
  if (action.op !== 'exec' || action.command === undefined) return no(why, () => `op is ${action.op}, the rule judges exec lines`);
  // An exact line is what the rule's author read and meant: nothing else about it is asked.
  if (m.commandLines !== undefined && !m.commandLines.has(action.command)) return no(why, () => 'command_line: the line is not one of those listed, exactly');
  if (!m.parsedExec) return true;
  const commands = action.commands;
  if (commands === undefined) return firstWordMatches(m, action.command);
  const { programs, anyPrograms } = m;
  const uncertain = action.uncertain === true;
  // Deny lists: a line not understood, or a command that can run what it is told, could run
  // anything, so it matches (fail closed).
  if (anyPrograms !== undefined && !uncertain && !commands.some((c) => c.launches !== undefined || programMatches(anyPrograms, c.program, true))) return no(why, () => 'any_program: no command runs a listed program');
  if (m.allowForms) {
    // Allow lists: everything the line runs is known and listed. A line that writes files
    // through redirections or sets variables (PATH=/tmp ls) does more than its programs.
    if (uncertain) return no(why, () => 'the line is not fully understood, and an allow list needs every command known');
    if (commands.length === 0) return no(why, () => 'the line runs no command');
    if (writesOrConnects(action)) return no(why, () => 'the line writes a file or opens a connection through a redirection');
    if ((action.assignments?.length ?? 0) > 0) return no(why, () => `the line sets variables (${action.assignments?.join(', ') ?? ''})`);
    const relativeKnown = !changesDirectory(commands);
    for (const c of commands) {
      if (programs !== undefined && !programMatches(programs, c.program, false)) return no(why, () => `program: ${c.program} is not listed`);
      const first = m.argv?.[0];
      if (first !== undefined && !programMatches([first.matches], c.program, false)) return no(why, () => `argv: the program ${c.program} is not ${first.glob}`);
      const launch = m.launch;
      if (c.launches !== undefined) {
        const unnamed = c.launches.find((l) => launch === undefined || !anyMatch(launch, l));
        if (unnamed !== undefined) return no(why, () => `${c.program} can run another program (${unnamed}), and the rule's launch does not name it`);
      }
      if (!argFormsMatch(m, c, relativeKnown, deny, why)) return false;
    }
  }
  return true;
}

/** `-x`, `-la`, `--flag`: a plain option, which `args_all` does not judge (one with `=` or `/` may name a file, and is judged). */
function plainOption(arg: string): boolean {
  return arg.startsWith('-') && !arg.includes('=') && !arg.includes('/');
}

/**
 * One argument against globs. One only known at run time matches for a deny rule only; a path
 * glob compares the argument placed as a path (one that cannot be placed matches a deny rule's
 * path glob, and no allow rule's).
 */
function argMatches(globs: readonly ArgMatcher[], arg: string, known: boolean, relativeKnown: boolean, deny: boolean): boolean {
  if (!known) return deny;
  let placed: string | undefined | null = null;
  for (const g of globs) {
    if (!g.path) {
      if (g.matches(arg)) return true;
      continue;
    }
    if (placed === null) placed = placeArg(arg, relativeKnown);
    if (placed === undefined ? deny : g.matches(placed)) return true;
  }
  return false;
}

/** How an argument was seen, for an explanation: as written, placed as a path, or not at all. */
function shownArg(arg: string, known: boolean, relativeKnown: boolean): string {
  if (!known) return `${arg} (only known at run time)`;
  const placed = placeArg(arg, relativeKnown);
  if (placed === undefined) return `${arg} (a path that cannot be placed${relativeKnown ? '' : ': the line changes directory'})`;
  return placed === arg ? arg : `${arg} (as a path: ${placed})`;
}

/** `args`, `args_all` and `argv` for one command. */
function argFormsMatch(m: SshMatcher, c: SshCommand, relativeKnown: boolean, deny: boolean, why: Why): boolean {
  const unknown = c.unknownArgs;
  const known = (i: number): boolean => unknown === undefined || !unknown.includes(i);
  // Words xargs adds from its input are not known: an allow rule that judges arguments fails.
  const more = c.inputArgs === true;
  if (m.args !== undefined) {
    let some = false;
    for (let i = 0; i < c.args.length && !some; i++) some = argMatches(m.args, c.args[i] as string, known(i), relativeKnown, deny);
    if (!some && !(more && deny)) return no(why, () => `args: no argument of ${c.program} matches`);
  }
  if (m.argsAll !== undefined) {
    if (more && !deny) return no(why, () => `args_all: xargs adds arguments to ${c.program} from its input`);
    let options = true;
    for (let i = 0; i < c.args.length; i++) {
      const a = c.args[i] as string;
      if (options && a === '--') {
        options = false;
        continue;
      }
      if (options && known(i) && plainOption(a)) continue;
      if (!argMatches(m.argsAll, a, known(i), relativeKnown, deny)) return no(why, () => `args_all: argument ${i + 1} of ${c.program}, ${shownArg(a, known(i), relativeKnown)}, matches none`);
    }
  }
  if (m.argvArgs !== undefined) {
    // The program (the first word) was judged with the other commands' programs.
    const rest = m.argvArgs;
    if (more && !deny) return no(why, () => `argv: xargs adds arguments to ${c.program} from its input`);
    if (rest.length !== c.args.length) return no(why, () => `argv: ${c.program} has ${c.args.length} argument(s), the rule ${rest.length}`);
    for (let i = 0; i < rest.length; i++) {
      const g = rest[i] as ArgMatcher;
      const a = c.args[i] as string;
      if (!argMatches([g], a, known(i), relativeKnown, deny)) return no(why, () => `argv: argument ${i + 1} of ${c.program}, ${shownArg(a, known(i), relativeKnown)}, is not ${g.glob}`);
    }
  }
  return true;
}

/**
 * Why an SSH exec rule does or does not match an action, for `policy test`: undefined when
 * it matches, else the first failed check. The same predicate as the data path.
 */
export function sshMismatch(rule: CompiledRule, action: SshAction): string | undefined {
  if (rule.ssh === undefined) return undefined;
  const why: string[] = [];
  if (sshMatches(rule.ssh, action, rule.verdict === 'deny', why)) return undefined;
  return why[0] ?? 'does not match';
}

/** A forward by its `host:port` (IPv6 hosts in brackets, as OpenSSH writes them) and direction. */
function forwardMatches(m: SshMatcher, action: SshAction): boolean {
  const f = action.forward;
  if (action.op !== 'forward' || f === undefined) return false;
  if (m.directions !== undefined && !m.directions.has(f.direction)) return false;
  const host = (f.host.includes(':') ? `[${f.host}]` : f.host).toLowerCase();
  return m.destinations === undefined || anyMatch(m.destinations, `${host}:${f.port}`);
}

/**
 * An exec action built without the shell parser (no `commands`): judged by its first word, and
 * a line that could run more (programOf gives undefined) matches no `program` rule and every
 * `any_program` rule. `args` needs the parser's words.
 */
function firstWordMatches(m: SshMatcher, commandLine: string): boolean {
  if (m.args !== undefined || m.argsAll !== undefined || m.argv !== undefined) return false;
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
      return rule.ssh === undefined || sshMatches(rule.ssh, action, rule.verdict === 'deny');
    case 'mcp':
      return rule.mcp === undefined || mcpMatches(rule.mcp, action);
  }
}
