// Gateway tokens issued by the local issuer: one row each, so they can be listed and revoked.
export interface StoredToken {
  readonly jti: string;
  readonly subject: string;
  /** JSON array of strings. */
  readonly groups: string;
  /** JSON array of strings. */
  readonly roles: string;
  /** Epoch milliseconds, as are the other times. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly issuedBy: string;
  readonly description: string | null;
  readonly revokedAt: number | null;
  readonly revokedBy: string | null;
}

export interface TokenRepository {
  insert(token: StoredToken): Promise<void>;
  delete(jti: string): Promise<void>;
  get(jti: string): Promise<StoredToken | undefined>;
  /** Marks the token revoked unless it already is; true only for the caller that flipped it. */
  revoke(jti: string, at: number, by: string): Promise<boolean>;
  /** Newest first; `expiringAfter` leaves out tokens that expired by then. */
  list(filter: { readonly subject?: string; readonly expiringAfter?: number }): Promise<StoredToken[]>;
}
