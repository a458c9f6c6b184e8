// Row types of the store, shared by the SQLite backend and (later) PostgreSQL. Timestamps are
// milliseconds since the epoch (integers), JSON is stored as text, binary as base64 text: the
// same representation on both databases, so callers never branch on the backend.
import type { Generated } from 'kysely';

export interface MetaTable {
  key: string;
  value: string;
}

export interface ConnectionTable {
  name: string;
  type: string;
  /** The connection's configuration as JSON, secrets removed. */
  config: string;
  /** sha256 of `config`: a change is audited. */
  config_hash: string;
  updated_at: number;
}

export interface CredentialTable {
  connection: string;
  /** password | private_key | token | ... */
  kind: string;
  /** Vault envelope (JSON: key id, iv, tag, ciphertext; base64). */
  sealed: string;
  updated_at: number;
  updated_by: string;
}

export interface TokenTable {
  jti: string;
  subject: string;
  groups: string;
  roles: string;
  issued_at: number;
  expires_at: number;
  issued_by: string;
  description: string | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface SessionTable {
  id: string;
  connection: string;
  protocol: string;
  subject: string;
  client_addr: string | null;
  started_at: number;
  ended_at: number | null;
  /** active | closed | error | terminated */
  status: string;
  /** Totals the adapter reports when the session ends (0 while it runs). */
  bytes_in: Generated<number>;
  bytes_out: Generated<number>;
  statements: Generated<number>;
  /** Events the recorder could not keep (queue overflow, failed writes). */
  dropped: Generated<number>;
  /** The adapter's end summary, JSON. */
  summary: string | null;
}

export interface SessionEventTable {
  id: Generated<number>;
  session_id: string;
  seq: number;
  at: number;
  kind: string;
  data: string;
}

export interface ReviewTable {
  id: string;
  status: string;
  subject: string;
  connection: string;
  action: string;
  fingerprint: string;
  rule: string;
  reason: string | null;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_by: string | null;
  comment: string | null;
  /** action | access */
  kind: Generated<string>;
  /** JSON: approvers, mode, policy and duration asked for, session, parameters. */
  details: Generated<string>;
  /** An approved action's remaining uses. */
  uses_left: Generated<number>;
  /** Until when an approval holds (an action's window, an access request's end). */
  grant_until: number | null;
}

export interface ReviewVoteTable {
  review_id: string;
  voter: string;
  /** approve | deny */
  vote: string;
  /** The voter's groups at the time, JSON. */
  groups: string;
  comment: string | null;
  at: number;
}

export interface SshKeyTable {
  /** `key_` and 12 hex digits. */
  id: string;
  /** `SHA256:` and the unpadded base64 of the key blob's SHA-256, as OpenSSH prints it. */
  fingerprint: string;
  /** ssh-ed25519 | ecdsa-sha2-nistp256 | ecdsa-sha2-nistp384 | ecdsa-sha2-nistp521 | ssh-rsa */
  key_type: string;
  /** The public key blob (SSH wire format), base64. */
  public_key: string;
  subject: string;
  /** The groups of the identity a login with this key gets, JSON. */
  groups: string;
  comment: string | null;
  created_at: number;
  created_by: string;
  /** Null: no expiry. */
  expires_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface RelayTable {
  /** Several rows may share a name; at most one is not revoked. */
  name: string;
  /** SHA-256 (hex) of the one-time enrolment secret; null once spent. */
  secret_hash: string | null;
  /** Ed25519 public key, SPKI DER base64; null until enrolled. */
  public_key: string | null;
  created_at: number;
  created_by: string;
  enrolled_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface AuditTable {
  seq: number;
  at: number;
  type: string;
  actor: string;
  data: string;
  prev_hash: string;
  hash: string;
}

export interface AuditCheckpointTable {
  seq: number;
  at: number;
  hash: string;
  key_id: string;
  signature: string;
}

export interface Database {
  meta: MetaTable;
  connections: ConnectionTable;
  credentials: CredentialTable;
  tokens: TokenTable;
  sessions: SessionTable;
  session_events: SessionEventTable;
  reviews: ReviewTable;
  review_votes: ReviewVoteTable;
  ssh_keys: SshKeyTable;
  relays: RelayTable;
  audit: AuditTable;
  audit_checkpoints: AuditCheckpointTable;
}
