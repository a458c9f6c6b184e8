// policy.decide: the one decision point of the gateway. Pure and synchronous.
//
// Semantics (docs/policy.md has the long form with examples):
// - A policy applies when the connection name matches one of its `connections` globs and the
//   subject matches one of `subjects.users` or one of the identity's groups matches one of
//   `subjects.groups`.
// - Enforcing policies are tried in file order, their rules in order; the first rule that
//   matches decides. Nothing matches: deny.
// - Shadow policies never end the search. Each applicable one reports, in `shadow`, what its
//   first matching rule would have decided. When no enforcing rule matched but a shadow rule
//   did, the verdict is allow ("decide and record, but allow": rolling out a new policy), with
//   a reason naming what the shadow policy would have decided.
// - A SQL action is judged statement by statement; the most restrictive verdict wins
//   (deny > review > allow) and its rule and reason are reported, with the statement's number.
// - On a PostgreSQL (or MySQL) connection, the masks of what is allowed include the built-in
//   credential masks (core/credential-columns.ts) that the policy does not reveal.
import type { Action, SqlStatement } from '../core/action.ts';
import { credentialDialect, type CredentialDialect } from '../core/credential-columns.ts';
import type { Decision, MaskSpec, ShadowVerdict } from '../core/decision.ts';
import type { Identity } from '../core/identity.ts';
import type { CompiledPolicies, CompiledPolicy, CompiledRule } from './compile.ts';
import { describeAction } from './describe.ts';
import { makeDecision, NO_MASKS, NO_SHADOW, severity } from './decision.ts';
import { applicablePolicies } from './applicable.ts';
import { ruleMatches } from './match.ts';

export interface ConnectionRef {
  /** Matched against policies' `connections` globs. */
  readonly name: string;
  /** postgres, mysql, ssh, http: informative; rules select protocols through `match`. */
  readonly type: string;
}

// No matching rule denies: it ranks with deny, and the first denied statement is the one reported.
const NO_MATCH = 2;

function firstRule(policy: CompiledPolicy, action: Action, statement: SqlStatement | undefined): CompiledRule | undefined {
  for (const rule of policy.rules) if (ruleMatches(rule, action, statement)) return rule;
  return undefined;
}

function firstInMode(applicable: readonly CompiledPolicy[], shadow: boolean, action: Action, statement: SqlStatement | undefined): CompiledRule | undefined {
  for (const policy of applicable) {
    if (policy.shadow !== shadow) continue;
    const rule = firstRule(policy, action, statement);
    if (rule !== undefined) return rule;
  }
  return undefined;
}

/** The rule that decides one statement: first enforcing match, else first shadow match. */
function decidingRule(applicable: readonly CompiledPolicy[], hasShadow: boolean, action: Action, statement: SqlStatement | undefined): CompiledRule | undefined {
  const rule = firstInMode(applicable, false, action, statement);
  if (rule !== undefined || !hasShadow) return rule;
  return firstInMode(applicable, true, action, statement);
}

/** A rule found only in a shadow policy allows: shadow policies never block. */
function effectiveSeverity(rule: CompiledRule | undefined): number {
  if (rule === undefined) return NO_MATCH;
  return rule.policy.shadow ? 0 : severity(rule.verdict);
}

function ruleReason(rule: CompiledRule, action: Action, statement: SqlStatement | undefined): string {
  return rule.reason ?? `${rule.lead} ${describeAction(action, statement)}`;
}

function statementPrefix(index: number, count: number): string {
  return count > 1 ? `statement ${index + 1} of ${count}: ` : '';
}

/**
 * Masks of every policy that let one of the statements through, each policy once: when two
 * policies each allowed a statement, the masks of both apply to the results (fail closed).
 */
function unionMasks(policies: ReadonlySet<CompiledPolicy>, dialect: CredentialDialect | undefined): readonly MaskSpec[] {
  if (policies.size === 0) return NO_MASKS;
  if (policies.size === 1) for (const policy of policies) return policyMasks(policy, dialect);
  const masks: MaskSpec[] = [];
  // Each built-in mask once: it applies unless every passing policy revealed it.
  const seen = new Set<string>();
  for (const policy of policies) {
    for (const m of policyMasks(policy, dialect)) {
      if (m.builtin === true) {
        if (seen.has(m.column as string)) continue;
        seen.add(m.column as string);
      }
      masks.push(m);
    }
  }
  return Object.freeze(masks);
}

/** A policy's masks on a connection: its own, plus the built-in credential masks of a SQL dialect. */
function policyMasks(policy: CompiledPolicy, dialect: CredentialDialect | undefined): readonly MaskSpec[] {
  return dialect === undefined ? policy.masks : policy.sqlMasks[dialect];
}

function shadowVerdicts(applicable: readonly CompiledPolicy[], action: Action, statements: readonly (SqlStatement | undefined)[]): readonly ShadowVerdict[] {
  let verdicts: ShadowVerdict[] | undefined;
  for (const policy of applicable) {
    if (!policy.shadow) continue;
    let rule: CompiledRule | undefined;
    let worstIndex = 0;
    let worstSeverity = -1;
    for (let index = 0; index < statements.length; index++) {
      const candidate = firstRule(policy, action, statements[index]);
      const s = candidate === undefined ? NO_MATCH : severity(candidate.verdict);
      if (s > worstSeverity) {
        rule = candidate;
        worstIndex = index;
        worstSeverity = s;
      }
    }
    const prefix = statementPrefix(worstIndex, statements.length);
    (verdicts ??= []).push(
      rule === undefined
        ? { policy: policy.name, verdict: 'deny', reason: `${prefix}no rule of shadow policy ${policy.name} matches ${describeAction(action, statements[worstIndex])}` }
        : { policy: policy.name, verdict: rule.verdict, rule: rule.ref, reason: prefix + ruleReason(rule, action, statements[worstIndex]) },
    );
  }
  return verdicts === undefined ? NO_SHADOW : Object.freeze(verdicts);
}

/**
 * Just-in-time policies only count while their access runs, and then come first: a granted
 * elevation is consulted before the standing policies (whose catch-all deny would hide it).
 */
function withAccess(applicable: readonly CompiledPolicy[], subject: string, connection: string, grants: AccessGrants | undefined): readonly CompiledPolicy[] {
  let jit = false;
  for (const p of applicable) if (p.access !== undefined) jit = true;
  if (!jit) return applicable;
  const running = applicable.filter((p) => p.access !== undefined && grants?.active(subject, p.name, connection) === true);
  return [...running, ...applicable.filter((p) => p.access === undefined)];
}

const SINGLE: readonly (SqlStatement | undefined)[] = Object.freeze([undefined]);

/**
 * Which just-in-time policies are running for a subject: an approved access request that has
 * not expired. Asked per decision, so access ends at the next request after it expires.
 */
export interface AccessGrants {
  active(subject: string, policy: string, connection: string): boolean;
}

export function decide(policies: CompiledPolicies, identity: Identity, connection: ConnectionRef, action: Action, grants?: AccessGrants): Decision {
  // Non-SQL actions and empty queries are judged once, as a single "statement" undefined.
  const statements: readonly (SqlStatement | undefined)[] = action.kind === 'sql' && action.statements.length > 0 ? action.statements : SINGLE;
  const applicable = withAccess(applicablePolicies(policies, identity, connection.name), identity.subject, connection.name, grants);

  let rule: CompiledRule | undefined;
  let worstIndex = 0;
  let masks: readonly MaskSpec[] = NO_MASKS;
  const dialect = credentialDialect(connection.type);
  if (statements.length === 1) {
    rule = decidingRule(applicable, policies.hasShadow, action, statements[0]);
    if (rule !== undefined) masks = policyMasks(rule.policy, dialect);
  } else {
    let worstSeverity = -1;
    const passing = new Set<CompiledPolicy>();
    for (let index = 0; index < statements.length; index++) {
      const candidate = decidingRule(applicable, policies.hasShadow, action, statements[index]);
      const s = effectiveSeverity(candidate);
      if (s > worstSeverity) {
        rule = candidate;
        worstIndex = index;
        worstSeverity = s;
      }
      if (candidate !== undefined && s < 2) passing.add(candidate.policy);
    }
    masks = unionMasks(passing, dialect);
  }

  const shadow = policies.hasShadow ? shadowVerdicts(applicable, action, statements) : NO_SHADOW;
  const statement = statements[worstIndex];
  const prefix = statementPrefix(worstIndex, statements.length);

  if (rule === undefined) {
    const reason = `${prefix}no policy rule matches ${describeAction(action, statement)} for ${identity.subject} on ${connection.name}`;
    return makeDecision('deny', undefined, NO_MASKS, undefined, reason, shadow);
  }
  if (rule.policy.shadow) {
    const reason = `${prefix}allowed because no enforcing rule matches; shadow policy ${rule.policy.name} would have decided ${rule.verdict} (${ruleReason(rule, action, statement)})`;
    return makeDecision('allow', undefined, masks, undefined, reason, shadow);
  }
  return makeDecision(rule.verdict, rule.ref, masks, rule.review, prefix + ruleReason(rule, action, statement), shadow);
}
