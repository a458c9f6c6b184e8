// The one door every adapter goes through: authenticate once per session, then decide every
// action. It wraps policy.decide (pure) with what must always happen around a decision: the
// audit record, the metrics. Adapters hold no policy logic; they call the gate.
import type { Action } from '../core/action.ts';
import type { AuditEvent, AuditSink } from '../core/audit-event.ts';
import type { Decision } from '../core/decision.ts';
import { GatewayError, isGatewayError } from '../core/errors.ts';
import { overruled } from '../policy/decision.ts';
import type { Identity } from '../core/identity.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import { keyFingerprint, type KeyLookup, type RegisteredKeys } from '../identity/ssh-keys.ts';
import type { CompiledPolicies } from '../policy/compile.ts';
import { decide, type AccessGrants, type ConnectionRef } from '../policy/decide.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { GateDecision } from './permit.ts';
import type { CounterCell, Metrics } from '../telemetry/metrics.ts';

/**
 * A protocol's own check of an allowed action, run before the decision is audited (masking
 * refuses a predicate on a masked column): a GatewayError turns the decision into a denial.
 */
export type DecisionCheck = (decision: Decision) => GatewayError | undefined;

export interface SessionRef {
  readonly id: string;
  readonly connection: ConnectionRef;
  readonly protocol: string;
  readonly clientAddr?: string;
}

export class Gate {
  readonly #policies: () => CompiledPolicies;
  /** Running just-in-time access (approved access requests). */
  readonly #grants: AccessGrants | undefined;
  readonly #authenticator: Authenticator;
  /** Public keys registered for subjects (SSH logins by key); none when absent. */
  readonly #keys: RegisteredKeys | undefined;
  readonly #audit: AuditSink;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  /** Decision counters bound per connection name and verdict (a bounded set: configured connections). */
  readonly #decisionCounters = new Map<string, Map<string, CounterCell>>();
  readonly #onAudited = (): void => {
    this.#metrics.auditRecords.value++;
  };

  constructor(opts: { policies: () => CompiledPolicies; authenticator: Authenticator; audit: AuditSink; metrics: Metrics; logger: Logger; grants?: AccessGrants; keys?: RegisteredKeys }) {
    this.#policies = opts.policies;
    this.#grants = opts.grants;
    this.#authenticator = opts.authenticator;
    this.#keys = opts.keys;
    this.#audit = opts.audit;
    this.#metrics = opts.metrics;
    this.#logger = opts.logger;
  }

  /** Verify the token an agent presented when opening a session; audits success and failure. */
  async login(token: string, session: Omit<SessionRef, 'id'> & { id?: string }): Promise<Identity> {
    try {
      // A failure is audited by the authenticator, with this context.
      const identity = await this.#authenticator.authenticate(token, { protocol: session.protocol, connection: session.connection.name, client: session.clientAddr ?? null });
      this.#metrics.authentications.inc({ result: 'ok', method: identity.method });
      this.#record({ type: 'auth.login', actor: identity.subject, data: { connection: session.connection.name, protocol: session.protocol, session: session.id ?? null, client: session.clientAddr ?? null, method: identity.method, token_id: identity.tokenId ?? null } });
      return identity;
    } catch (err) {
      this.#metrics.authentications.inc({ result: isGatewayError(err) ? err.code : 'PCS_INTERNAL', method: 'unknown' });
      throw err;
    }
  }

  /**
   * The question an SSH client asks before it signs (RFC 4252 section 7): would this public key
   * be accepted? True when it is registered, not revoked and not expired. Nothing is proven
   * yet, so nothing is logged in. A registered key refused (revoked, expired) is audited like a
   * failed login; an unknown one only counted: clients offer every key they hold before the
   * token, and a record per offered key would bury the failures that matter.
   */
  acceptsKey(blob: Buffer, session: Omit<SessionRef, 'id'> & { id?: string }): boolean {
    const found = this.#identifyKey(blob);
    if (found.ok) return true;
    if (found.key === undefined) this.#metrics.authentications.inc({ result: found.error.code, method: 'ssh-key' });
    else this.#keyFailed(found.error, found, session);
    return false;
  }

  /**
   * Log in with a registered public key. `verify` is the protocol's check that the client holds
   * the private key (the signature over the session); it returns why it failed, or undefined.
   * It runs only for a live registration. Success and failure are audited as login() does.
   */
  loginWithKey(blob: Buffer, session: Omit<SessionRef, 'id'> & { id?: string }, verify: () => string | undefined): Identity {
    const found = this.#identifyKey(blob);
    if (!found.ok) {
      this.#keyFailed(found.error, found, session);
      throw found.error;
    }
    const refusal = verify();
    if (refusal !== undefined) {
      const error = new GatewayError('PCS_AUTH_KEY_SIGNATURE_INVALID', { fingerprint: found.key.fingerprint, reason: refusal });
      this.#keyFailed(error, { fingerprint: found.key.fingerprint, key: found.key }, session);
      throw error;
    }
    const { identity, key } = found;
    this.#metrics.authentications.inc({ result: 'ok', method: identity.method });
    this.#record({ type: 'auth.login', actor: identity.subject, data: { connection: session.connection.name, protocol: session.protocol, session: session.id ?? null, client: session.clientAddr ?? null, method: identity.method, token_id: null, key_id: key.id, fingerprint: key.fingerprint } });
    return identity;
  }

  #identifyKey(blob: Buffer): KeyLookup {
    if (this.#keys !== undefined) return this.#keys.identify(blob);
    const fingerprint = keyFingerprint(blob);
    return { ok: false, error: new GatewayError('PCS_AUTH_KEY_UNKNOWN', { fingerprint }), fingerprint, key: undefined };
  }

  /** The same record the authenticator writes for a refused token, with the key named by fingerprint. */
  #keyFailed(error: GatewayError, found: Pick<KeyLookup & { ok: false }, 'fingerprint' | 'key'>, session: Omit<SessionRef, 'id'>): void {
    this.#metrics.authentications.inc({ result: error.code, method: 'ssh-key' });
    const data: Record<string, string | null> = { protocol: session.protocol, connection: session.connection.name, client: session.clientAddr ?? null, code: error.code, method: 'ssh-key', fingerprint: found.fingerprint };
    if (found.key !== undefined) {
      data.key_id = found.key.id;
      data.subject = found.key.subject;
    }
    if (typeof error.params.reason === 'string') data.reason = error.params.reason;
    this.#record({ type: 'auth.failed', actor: 'anonymous', data });
  }

  /**
   * What policy would say of an action that is not enforced here: a line typed into a shell
   * that was allowed as a whole. Audited as `policy.observed` (never as a decision, and not
   * counted in the decision metrics), so the log tells what ran from what was only seen.
   */
  observe(identity: Identity, session: SessionRef, action: Action): Decision {
    const decision = decide(this.#policies(), identity, session.connection, action, this.#grants);
    this.#record({
      type: 'policy.observed',
      actor: identity.subject,
      data: { action: summarise(action), connection: session.connection.name, protocol: session.protocol, reason: decision.reason, rule: decision.rule ?? null, session: session.id, verdict: decision.verdict },
    });
    return decision;
  }

  /** Settles once every decision (and login) recorded so far is committed to the audit log; undefined when none waits. */
  durable(): Promise<void> | undefined {
    return this.#audit.barrier?.();
  }

  /**
   * Decide one action. Synchronous on purpose (no promise on the hot path); the audit record
   * is appended in the background and a failure to append is logged, never lost silently.
   * An allowed decision is the Permit forwarding asks for (narrowed by `verdict === 'allow'`).
   */
  decide(identity: Identity, session: SessionRef, action: Action, check?: DecisionCheck): GateDecision {
    let decision = decide(this.#policies(), identity, session.connection, action, this.#grants);
    // A review is checked too: what masking refuses is refused before anyone is asked.
    if (check !== undefined && decision.verdict !== 'deny') {
      const refusal = check(decision);
      if (refusal !== undefined) decision = overruled(decision, refusal.code, refusal.message);
    }
    this.#decisionCounter(decision.verdict, session.connection.name).value++;
    this.#record({
      type: 'policy.decision',
      actor: identity.subject,
      // Keys in sorted order, here and in summarise(): the writer thread then stores the JSON
      // text as it is instead of canonicalising it again (CheckedEvent.canonical).
      data: {
        action: summarise(action),
        code: decision.code,
        connection: session.connection.name,
        protocol: session.protocol,
        reason: decision.reason,
        rule: decision.rule ?? null,
        session: session.id,
        shadow: decision.shadow.length ? decision.shadow.map((s) => ({ policy: s.policy, rule: s.rule ?? null, verdict: s.verdict })) : undefined,
        verdict: decision.verdict,
      },
    });
    // The brand is the proof that this decision was made (and audited) here.
    return decision as GateDecision;
  }

  #decisionCounter(verdict: string, connection: string): CounterCell {
    let byVerdict = this.#decisionCounters.get(connection);
    if (byVerdict === undefined) {
      // Connection names come from the configuration; the bound only guards against a leak.
      if (this.#decisionCounters.size >= 1024) this.#decisionCounters.clear();
      this.#decisionCounters.set(connection, (byVerdict = new Map()));
    }
    let child = byVerdict.get(verdict);
    if (child === undefined) byVerdict.set(verdict, (child = this.#metrics.decisions.cell({ verdict, connection })));
    return child;
  }

  /** Appended in the background: nobody waits for the commit; a failure is logged, never lost silently. */
  #record(event: AuditEvent): void {
    if (this.#audit.record !== undefined) return this.#audit.record(event, this.#onAudited);
    this.#audit.append(event).then(
      this.#onAudited,
      (err: unknown) => this.#logger.error({ err, type: event.type }, 'audit append failed'),
    );
  }
}

/** What of an action goes into the audit record: what was asked, not the data it returned. */
function summarise(action: Action): Record<string, unknown> {
  switch (action.kind) {
    case 'sql':
      // A statement carrying a credential is kept without its string literals.
      return { commands: action.statements.map((s) => s.command), kind: 'sql', text: action.redacted ?? action.text };
    case 'http':
      return { kind: 'http', method: action.method, path: action.path };
    case 'ssh':
      return { command: action.command, forward: action.forward, kind: 'ssh', op: action.op, sftp: action.sftp };
    case 'mcp':
      return { kind: 'mcp', tool: action.tool };
  }
}
