// Public keys registered for a subject (SSH logins by key). A key is never deleted once its
// registration was audited, only revoked; at most one registration per fingerprint is live.
export interface StoredSshKey {
  /** `key_` and 12 hex digits. */
  readonly id: string;
  /** `SHA256:...` as OpenSSH prints it. */
  readonly fingerprint: string;
  readonly keyType: string;
  /** The key blob (SSH wire format), base64. */
  readonly publicKey: string;
  readonly subject: string;
  /** JSON array of strings. */
  readonly groups: string;
  readonly comment: string | null;
  /** Epoch milliseconds, as are the other times. */
  readonly createdAt: number;
  readonly createdBy: string;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly revokedBy: string | null;
}

export interface SshKeyRepository {
  /** Every registration, oldest first. */
  all(): Promise<StoredSshKey[]>;
  /** False when a live registration of the same fingerprint exists (the store's unique rule). */
  insert(key: StoredSshKey): Promise<boolean>;
  /** Undo an insert whose audit failed. */
  delete(id: string): Promise<void>;
  /** Marks it revoked unless it already is: whether this call flipped it, and the row after. */
  revoke(id: string, at: number, by: string): Promise<{ readonly changed: boolean; readonly key: StoredSshKey | undefined }>;
  get(id: string): Promise<StoredSshKey | undefined>;
  /** Registrations of one fingerprint, newest first. */
  byFingerprint(fingerprint: string): Promise<StoredSshKey[]>;
  /** Newest first, at most `limit`. */
  list(filter: { readonly subject?: string; readonly includeRevoked: boolean; readonly limit: number }): Promise<StoredSshKey[]>;
}
