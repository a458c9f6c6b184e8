// What the audit log takes. Producers (identity, vault, policy, API) depend on this interface,
// not on the hash-chain implementation in src/audit.

export type AuditEventType =
  | 'gateway.started'
  | 'gateway.stopped'
  | 'config.changed'
  | 'auth.login'
  | 'auth.failed'
  | 'token.issued'
  | 'token.revoked'
  | 'ssh_key.added'
  | 'ssh_key.revoked'
  | 'relay.added'
  | 'relay.enrolled'
  | 'relay.connected'
  | 'relay.disconnected'
  | 'relay.revoked'
  | 'relay.refused'
  | 'credential.set'
  | 'credential.deleted'
  | 'policy.decision'
  | 'policy.observed'
  | 'review.created'
  | 'review.vote'
  | 'review.approved'
  | 'review.denied'
  | 'review.expired'
  | 'review.used'
  | 'review.notified'
  | 'access.requested'
  | 'access.approved'
  | 'access.denied'
  | 'access.expired'
  | 'access.ended'
  | 'session.started'
  | 'session.ended'
  | 'audit.witness_mismatch';

export interface AuditEvent {
  readonly type: AuditEventType;
  /** Who did it: a subject, `system`, or `cli:<os user>`. */
  readonly actor: string;
  /** Event details. Never a secret: producers pass names, ids and fingerprints only. */
  readonly data: Readonly<Record<string, unknown>>;
}

export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
  /**
   * Append without a promise, for the data path (a decision per statement) where nobody waits
   * for the commit: `onCommitted` runs once the record is committed; an event refused or a
   * write that failed is logged by the sink. Sinks without it are given append().
   */
  record?(event: AuditEvent, onCommitted?: () => void): void;
  /** Settles once every event appended so far is committed; undefined when none is waiting. */
  barrier?(): Promise<void> | undefined;
}
