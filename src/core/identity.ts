// Who is asking. Built only by the identity verifiers (src/identity), read by everything else.

/** How the subject proved itself: a token (local, OIDC, SAML-exchanged) or a registered SSH public key. */
export type AuthMethod = 'local' | 'oidc' | 'saml' | 'ssh-key';

export interface Identity {
  /** Stable subject name: `ci-agent`, `alice@example.com`. */
  readonly subject: string;
  readonly groups: readonly string[];
  /** Gateway roles: `admin` opens the admin API; `agent` marks an identity that may never approve. */
  readonly roles: readonly string[];
  /** The `iss` of the token that proved it; for a registered SSH key, the local issuer's name. */
  readonly issuer: string;
  readonly method: AuthMethod;
  /** Token id (jti) when the token has one; gateway tokens always do. */
  readonly tokenId?: string;
  /** Seconds since the epoch (a token's `exp`, a registered key's expiry). */
  readonly expiresAt?: number;
}

export function hasRole(identity: Identity, role: string): boolean {
  return identity.roles.includes(role);
}
