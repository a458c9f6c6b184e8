// Compiles validated policy configuration into matchers once (at start-up and on reload), so
// that decide() only runs predicates: no RegExp is built and no config is re-read per request.
import { credentialMasks, maskRuleFromConfig } from './mask-rules.ts';
import { CREDENTIAL_COLUMNS, type CredentialDialect } from '../core/credential-columns.ts';
import type { ActionKind, SqlEffect } from '../core/action.ts';
import type { Approvers, MaskSpec, ReviewSpec, RuleRef, Verdict } from '../core/decision.ts';
import type { MatchConfig, PolicyConfig, RuleConfig } from '../config/schema.ts';
import { compileDottedGlob, compileGlob, escapeRegExp, type Matcher } from '../util/glob.ts';
import { compileBodyTest, type BodyPredicate } from './http-body.ts';
import { compilePathPattern } from './http-path.ts';
import { isPathGlob } from './shell/arg-paths.ts';

export interface SqlMatcher {
  /** False for `sql: {}`: such a rule matches every SQL statement, even one not understood. */
  readonly constrained: boolean;
  /** `effect` lists `unknown`: the only way a constrained rule matches a statement not understood. */
  readonly allowsUnknown: boolean;
  readonly effects: ReadonlySet<SqlEffect> | undefined;
  readonly commands: ReadonlySet<string> | undefined;
  readonly tables: readonly Matcher[] | undefined;
  readonly touches: readonly Matcher[] | undefined;
  readonly functions: readonly Matcher[] | undefined;
  readonly unbounded: boolean | undefined;
}

export interface HttpMatcher {
  /** Upper-case. */
  readonly methods: ReadonlySet<string> | undefined;
  readonly paths: readonly Matcher[] | undefined;
  /** Each must hold. Undefined when the rule names none, so most rules skip them at once. */
  readonly query: readonly ParamMatcher[] | undefined;
  /** Names lower-case, as adapters give them. */
  readonly headers: readonly ParamMatcher[] | undefined;
  readonly body: readonly BodyPredicate[] | undefined;
}

/** One query parameter or header: `values` null means it must be absent. */
export interface ParamMatcher {
  readonly name: string;
  readonly values: readonly Matcher[] | null;
}

export interface SshMatcher {
  readonly ops: ReadonlySet<string> | undefined;
  /** `program`: every command's program matches one (allow lists). */
  readonly programs: readonly Matcher[] | undefined;
  /** `args`: every command has an argument matching one. */
  readonly args: readonly ArgMatcher[] | undefined;
  /** `args_all`: every argument of every command that is not a plain option matches one. */
  readonly argsAll: readonly ArgMatcher[] | undefined;
  /** `argv`: every command is exactly these words (the first, the program, as `program` compares it). */
  readonly argv: readonly ArgMatcher[] | undefined;
  /** `argv` without its first word: the arguments, in place. */
  readonly argvArgs: readonly ArgMatcher[] | undefined;
  /** `command_line`: the exec line is exactly one of these. */
  readonly commandLines: ReadonlySet<string> | undefined;
  /** `launch`: every launch of every command (src/policy/shell/launchers.ts) matches one. */
  readonly launch: readonly Matcher[] | undefined;
  /** Some exec key is set (the rule matches exec lines only). */
  readonly exec: boolean;
  /** Some key other than `command_line` judges the parsed commands. */
  readonly parsedExec: boolean;
  /** `program`, `args`, `args_all` or `argv`: an allow list of what the line runs. */
  readonly allowForms: boolean;
  /** `any_program`: some command's program matches one, or the line is uncertain (deny lists). */
  readonly anyPrograms: readonly Matcher[] | undefined;
  /** `file_op`: the sftp operation is one of these. */
  readonly fileOps: ReadonlySet<string> | undefined;
  /** `path`: the sftp path matches one of these. */
  readonly paths: readonly FilePathMatcher[] | undefined;
  /** `destination`: a forward's `host:port` matches one of these. */
  readonly destinations: readonly Matcher[] | undefined;
  /** `direction`: a forward's direction is one of these. */
  readonly directions: ReadonlySet<string> | undefined;
}

/** One argument glob: a path glob (starting with `/` or `~`) is compared with the argument placed as a path. */
export interface ArgMatcher {
  readonly path: boolean;
  readonly matches: Matcher;
  /** As configured, for explanations. */
  readonly glob: string;
}

/** One `match.ssh.path` glob. */
export interface FilePathMatcher {
  readonly matches: Matcher;
  /** The glob starts with `~`: it names paths below the home directory. */
  readonly home: boolean;
  /** For a glob ending in `/**`: matches the directories whose whole tree the glob covers. */
  readonly treeRoot: Matcher | undefined;
  /** The glob up to its first wildcard: every path it matches starts with this text. */
  readonly literal: string;
  /** Its segments after `/` or `~/`, each a RegExp or null for `**` (to place paths when the home directory is not known). */
  readonly segments: readonly (RegExp | null)[];
}

export interface McpMatcher {
  readonly tools: readonly Matcher[] | undefined;
}

/**
 * `any`: the rule has no `match` (or an empty one) and matches every action.
 * `none`: `match` names two protocols; its keys are ANDed and an action has one kind, so the
 * rule can never match (kept rather than rejected so rule indexes stay those of the file).
 */
export type MatchKind = ActionKind | 'any' | 'none';

export interface CompiledRule {
  readonly ref: RuleRef;
  readonly verdict: Verdict;
  /** The configured `reason`, used verbatim. */
  readonly reason: string | undefined;
  /** Start of a generated reason: `rule 0 of agents-read-only allows`. */
  readonly lead: string;
  readonly review: ReviewSpec | undefined;
  readonly kind: MatchKind;
  readonly sql: SqlMatcher | undefined;
  readonly http: HttpMatcher | undefined;
  readonly ssh: SshMatcher | undefined;
  readonly mcp: McpMatcher | undefined;
  readonly policy: CompiledPolicy;
}

export interface CompiledPolicy {
  readonly name: string;
  readonly shadow: boolean;
  readonly users: readonly Matcher[];
  readonly groups: readonly Matcher[];
  readonly connections: readonly Matcher[];
  readonly rules: readonly CompiledRule[];
  /** Frozen and shared by every Decision this policy makes. */
  readonly masks: readonly MaskSpec[];
  /**
   * `masks` followed by the built-in credential masks of a dialect (less `reveal_credentials`):
   * what a decision on a connection of that type carries (frozen, one array per dialect).
   */
  readonly sqlMasks: Readonly<Record<CredentialDialect, readonly MaskSpec[]>>;
  /** A just-in-time policy: applies only while an access request for it is approved and running. */
  readonly access: AccessSpec | undefined;
}

export interface AccessSpec {
  readonly approvers: Approvers;
  readonly maxDurationSeconds: number;
  readonly timeoutSeconds: number;
}

/** Opaque to callers: build it with compilePolicies, hand it to decide. */
export interface CompiledPolicies {
  /** In file order. */
  readonly policies: readonly CompiledPolicy[];
  /** True when at least one policy is in shadow mode (saves a loop per decision when not). */
  readonly hasShadow: boolean;
}

export const DEFAULT_REVIEW: ReviewSpec = Object.freeze({
  mode: 'hold',
  timeoutSeconds: 120,
  approvers: Object.freeze({ groups: Object.freeze(['admins']), min: 1, allGroups: false }),
  uses: 1,
  validForSeconds: 3600,
});

const VERB: Record<Verdict, string> = { allow: 'allows', deny: 'denies', review: 'sends for review' };

function list<T, R>(values: readonly T[] | undefined, fn: (value: T) => R): readonly R[] | undefined {
  return values === undefined ? undefined : Object.freeze(values.map(fn));
}

function set<T extends string>(values: readonly T[] | undefined, fn: (value: T) => T = (v) => v): ReadonlySet<T> | undefined {
  return values === undefined ? undefined : new Set(values.map(fn));
}

/** Function globs compare lower-case; a glob without a dot also matches the unqualified name. */
function compileFunctionGlob(glob: string): Matcher {
  const lower = glob.toLowerCase();
  const full = compileDottedGlob(lower);
  if (lower.includes('.')) return full;
  return (name) => full(name) || full(name.slice(name.lastIndexOf('.') + 1));
}

function fileSegmentSource(segment: string): string {
  let source = '';
  for (const ch of segment) source += ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : escapeRegExp(ch);
  return source;
}

/**
 * A file path glob: `*` any run and `?` one character inside one segment, `**` as a whole
 * segment any number of segments, none included (`/srv/**` matches `/srv` and everything
 * below). Paths are compared as normalised (no `.`, `..`, duplicate or trailing slash).
 */
export function compileFilePathGlob(glob: string): Matcher {
  const g = glob.length > 1 ? glob.replace(/\/+$/, '') : glob;
  if (g === '**') return () => true;
  if (!/[*?]/.test(g)) return (path) => path === g;
  const prefix = g.slice(0, -3);
  if (g.endsWith('/**') && !/[*?]/.test(prefix)) return prefix === '' ? (path) => path.startsWith('/') : (path) => path === prefix || path.startsWith(`${prefix}/`);
  let source = '';
  g.split('/').forEach((segment, i) => {
    if (segment === '**') source += i === 0 ? '.*' : '(?:/.*)?';
    else source += (i === 0 ? '' : '/') + fileSegmentSource(segment);
  });
  const re = new RegExp(`^${source}$`, 's');
  return (path) => re.test(path);
}

function compileFilePath(glob: string): FilePathMatcher {
  const g = glob.length > 1 ? glob.replace(/\/+$/, '') : glob;
  const wildcard = g.search(/[*?]/);
  let treeRoot: Matcher | undefined;
  if (g === '**') treeRoot = () => true;
  else if (g.endsWith('/**')) treeRoot = compileFilePathGlob(g.slice(0, -3) || '/');
  const home = g.startsWith('~');
  const rest = g.startsWith('/') || home ? g.slice(g.indexOf('/') === -1 ? g.length : g.indexOf('/') + 1) : g;
  return Object.freeze({
    matches: compileFilePathGlob(g),
    home,
    treeRoot,
    literal: wildcard === -1 ? g : g.slice(0, wildcard),
    segments: Object.freeze(rest === '' ? [] : rest.split('/').map((seg) => (seg === '**' ? null : new RegExp(`^${fileSegmentSource(seg)}$`, 's')))),
  });
}

function compileArg(glob: string): ArgMatcher {
  const path = isPathGlob(glob);
  const matches = compileGlob(glob);
  // A path glob `/app/**` names the folder too, as `match.ssh.path` globs do.
  const folder = path && glob.endsWith('/**') ? glob.slice(0, -3) || '/' : undefined;
  return Object.freeze({ path, matches: folder === undefined ? matches : (value: string) => value === folder || matches(value), glob });
}

function compileSsh(m: NonNullable<MatchConfig['ssh']>): SshMatcher {
  const allowForms = m.program !== undefined || m.args !== undefined || m.args_all !== undefined || m.argv !== undefined;
  const parsedExec = allowForms || m.any_program !== undefined;
  return Object.freeze({
    exec: parsedExec || m.command_line !== undefined,
    parsedExec,
    allowForms,
    ops: set(m.op),
    programs: list(m.program, compileGlob),
    args: list(m.args, compileArg),
    argsAll: list(m.args_all, compileArg),
    argv: list(m.argv, compileArg),
    argvArgs: list(m.argv?.slice(1), compileArg),
    commandLines: set(m.command_line),
    launch: list(m.launch, compileGlob),
    anyPrograms: list(m.any_program, compileGlob),
    fileOps: set(m.file_op),
    paths: list(m.path, compileFilePath),
    destinations: list(m.destination?.map((d) => d.toLowerCase()), compileGlob),
    directions: set(m.direction),
  });
}

function compileSql(m: NonNullable<MatchConfig['sql']>): SqlMatcher {
  const effects = set(m.effect);
  return Object.freeze({
    constrained: m.effect !== undefined || m.command !== undefined || m.tables !== undefined || m.touches !== undefined || m.functions !== undefined || m.unbounded !== undefined,
    allowsUnknown: effects?.has('unknown') ?? false,
    effects,
    commands: set(m.command, (c) => c.toLowerCase()),
    tables: list(m.tables, compileDottedGlob),
    touches: list(m.touches, compileDottedGlob),
    functions: list(m.functions, compileFunctionGlob),
    unbounded: m.unbounded,
  });
}

function compileParams(params: Readonly<Record<string, readonly string[] | null>> | undefined, lowerCase: boolean): readonly ParamMatcher[] | undefined {
  if (params === undefined) return undefined;
  const out = Object.entries(params).map(([name, globs]) => Object.freeze({ name: lowerCase ? name.toLowerCase() : name, values: globs === null ? null : Object.freeze(globs.map(compileGlob)) }));
  return out.length === 0 ? undefined : Object.freeze(out);
}

function compileHttp(m: NonNullable<MatchConfig['http']>): HttpMatcher {
  return Object.freeze({
    methods: set(m.method, (x) => x.toUpperCase()),
    paths: list(m.path, compilePathPattern),
    query: compileParams(m.query, false),
    headers: compileParams(m.headers, true),
    body: list(m.body, compileBodyTest),
  });
}

function matchKind(match: MatchConfig | undefined): MatchKind {
  const kinds = (['sql', 'http', 'ssh', 'mcp'] as const).filter((k) => match?.[k] !== undefined);
  if (kinds.length === 0) return 'any';
  return kinds.length === 1 ? (kinds[0] as ActionKind) : 'none';
}

function compileReview(rule: RuleConfig): ReviewSpec | undefined {
  if (rule.then !== 'review') return undefined;
  if (rule.review === undefined) return DEFAULT_REVIEW;
  const { mode, timeout, approvers, uses, valid_for } = rule.review;
  return Object.freeze({
    mode,
    timeoutSeconds: timeout,
    approvers: compileApprovers(approvers),
    uses,
    validForSeconds: valid_for,
  });
}

function compileApprovers(a: { groups: readonly string[]; min: number; all_groups: boolean }): Approvers {
  return Object.freeze({ groups: Object.freeze([...a.groups]), min: a.min, allGroups: a.all_groups });
}

function compileRule(rule: RuleConfig, index: number, policy: CompiledPolicy): CompiledRule {
  const m = rule.match;
  const label = rule.name === undefined ? `rule ${index}` : `rule ${index} (${rule.name})`;
  return Object.freeze({
    // Keys in sorted order: audit records carry this as is (see CheckedEvent.canonical).
    ref: Object.freeze(rule.name === undefined ? { index, policy: policy.name } : { index, name: rule.name, policy: policy.name }),
    verdict: rule.then,
    reason: rule.reason,
    lead: `${label} of ${policy.name} ${VERB[rule.then]}`,
    review: compileReview(rule),
    kind: matchKind(m),
    sql: m?.sql === undefined ? undefined : compileSql(m.sql),
    http: m?.http === undefined ? undefined : compileHttp(m.http),
    ssh: m?.ssh === undefined ? undefined : compileSsh(m.ssh),
    mcp: m?.mcp === undefined ? undefined : Object.freeze({ tools: list(m.mcp.tool, compileGlob) }),
    policy,
  });
}

function compilePolicy(config: PolicyConfig): CompiledPolicy {
  const rules: CompiledRule[] = [];
  const masks = Object.freeze(config.masks.map((m, i) => maskRuleFromConfig(m, `${config.name}.masks[${i}]`)));
  const dialects = Object.keys(CREDENTIAL_COLUMNS) as CredentialDialect[];
  // Rules point back at their policy (for masks and names), so the policy exists first.
  const policy: CompiledPolicy = {
    name: config.name,
    shadow: config.mode === 'shadow',
    users: Object.freeze(config.subjects.users.map(compileGlob)),
    groups: Object.freeze(config.subjects.groups.map(compileGlob)),
    connections: Object.freeze(config.connections.map(compileGlob)),
    rules,
    masks,
    sqlMasks: Object.freeze(Object.fromEntries(dialects.map((d) => [d, Object.freeze([...masks, ...credentialMasks(d, config.reveal_credentials)])])) as Record<CredentialDialect, readonly MaskSpec[]>),
    access: config.access === undefined ? undefined : Object.freeze({ approvers: compileApprovers(config.access.approvers), maxDurationSeconds: config.access.max_duration, timeoutSeconds: config.access.timeout }),
  };
  config.rules.forEach((rule, index) => rules.push(compileRule(rule, index, policy)));
  Object.freeze(rules);
  return Object.freeze(policy);
}

export function compilePolicies(policies: readonly PolicyConfig[]): CompiledPolicies {
  const compiled = Object.freeze(policies.map(compilePolicy));
  return Object.freeze({ policies: compiled, hasShadow: compiled.some((p) => p.shadow) });
}
