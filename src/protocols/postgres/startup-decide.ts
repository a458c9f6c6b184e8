// Each run-time parameter of the startup packet is decided as the statement a client would
// send for it after connecting, `SET name = 'value'`: the same analysis, the same gate (so
// policy matches it and the audit log holds it). What the session cannot hold at startup is
// refused: a parameter that changes who the session is (`role`, `session_authorization`,
// `row_security = off`: effect privilege) or that turns guards off (`session_replication_role`:
// admin), and one a rule sends for review (nobody can wait for an approval inside a login).
import type { SqlAction, SqlStatement } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { Gate, SessionRef } from '../../pipeline/gate.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import { refusalFields } from './errors.ts';
import { ruleLabel, StatementRecord } from './record.ts';
import { sqlAction } from './to-action.ts';

const NO_PREPARED: ReadonlyMap<string, SqlStatement> = new Map();

/**
 * The SET statement equivalent to one parameter. `name` is already a valid parameter name
 * (startup.ts); each dotted part is quoted so that no keyword can change the statement's shape.
 */
export function setStatement(name: string, value: string): string {
  const quoted = name.split('.').map((part) => `"${part}"`).join('.');
  return `SET ${quoted} = '${value.replace(/'/g, "''")}'`;
}

/** Why a statement's effect cannot be taken at startup, or undefined when it can. */
function guardReason(action: SqlAction, name: string): string | undefined {
  const [stmt, ...more] = action.statements;
  if (stmt === undefined || more.length > 0 || stmt.setting?.name !== name) return 'its value does not read as one SET statement';
  if (stmt.effect === 'privilege') return `it changes the session's role or privileges (${stmt.command}, effect privilege); the gateway logs in as the connection's own user`;
  if (stmt.effect === 'admin') return `it turns server guards off (effect admin)`;
  return undefined;
}

export interface StartupDecisionContext {
  readonly gate: Gate;
  readonly identity: Identity;
  readonly ref: SessionRef;
  readonly recording: SessionRecording;
}

/**
 * Decides every parameter, in order; returns the refusal of the first one not allowed (the
 * login then ends with it as a FATAL), or undefined when all may go upstream. Each decision
 * is audited by the gate; a refused one is recorded as a denied statement, the allowed ones
 * as one `startup` event.
 */
export function decideStartup(ctx: StartupDecisionContext, settings: ReadonlyMap<string, string>): GatewayError | undefined {
  const allowed: { name: string; value: string; rule: string | null }[] = [];
  for (const [name, value] of settings) {
    const text = setStatement(name, value);
    const action = sqlAction(text, [], undefined, NO_PREPARED);
    let refusal: GatewayError | undefined;
    const decision = ctx.gate.decide(ctx.identity, ctx.ref, action, (d: Decision) => {
      const guard = guardReason(action, name);
      if (guard !== undefined) refusal = new GatewayError('PCS_PG_STARTUP_PARAM_REFUSED', { name, reason: guard });
      else if (d.verdict === 'review') refusal = new GatewayError('PCS_PG_STARTUP_PARAM_REFUSED', { name, reason: `a rule sends SET ${name} for review, which a login cannot wait for; connect without it and SET it in the session` });
      return refusal;
    });
    if (decision.verdict !== 'allow') {
      refusal ??= new GatewayError('PCS_PG_STARTUP_PARAM_REFUSED', { name, reason: refusalFields(decision).message });
      const record = new StatementRecord(text, null, decision, false);
      record.sqlstate = '42501';
      const { kind, data } = record.toEvent();
      ctx.recording.event(kind, { ...data, startup: true });
      return refusal;
    }
    allowed.push({ name, value, rule: ruleLabel(decision) });
  }
  if (allowed.length > 0) ctx.recording.event('startup', { parameters: allowed });
  return undefined;
}
