// Gateway tokens: short-lived EdDSA JWTs for agents that have no IdP of their own (issued by an
// admin) and for SAML users (issued by the exchange). Every token is also a row in `tokens`,
// so it can be listed and revoked; a token whose row is missing is not accepted.
import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { AuthMethod, Identity } from '../core/identity.ts';
import type { LocalIssuerConfig } from '../config/schema.ts';
import type { StoredToken, TokenRepository } from '../store/repositories/tokens.ts';
import type { Store } from '../store/store.ts';
import type { Vault } from '../vault/vault.ts';
import { claimList } from './claims.ts';
import { headerAlg, toAuthError } from './jose-errors.ts';
import { LOCAL_ALG, loadSigningKey, type SigningKey } from './local-key.ts';

export interface IssuedToken {
  token: string;
  jti: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** A row of `tokens` as the API shows it; times are epoch milliseconds as stored. */
export interface TokenRecord {
  jti: string;
  subject: string;
  groups: string[];
  roles: string[];
  issuedAt: number;
  expiresAt: number;
  issuedBy: string;
  description: string | null;
  revokedAt: number | null;
  revokedBy: string | null;
}

export interface IssueRequest {
  subject: string;
  groups: readonly string[];
  roles?: readonly string[];
  ttlSeconds?: number;
  description?: string;
  /** Who asked: an admin subject, `cli:<user>`, `saml:<idp>`. */
  issuedBy: string;
  /** How the subject proved itself; only `local` and `saml` tokens come from here. */
  method?: AuthMethod;
}

/** The claim that says how the subject authenticated before the token was issued. */
export const METHOD_CLAIM = 'auth_method';
/** Leeway for exp/nbf: replicas' clocks drift a little. */
const CLOCK_TOLERANCE_S = 30;

const toRecord = (r: StoredToken): TokenRecord => ({ ...r, groups: claimList(JSON.parse(r.groups)), roles: claimList(JSON.parse(r.roles)) });

function methodOf(payload: JWTPayload): AuthMethod {
  return payload[METHOD_CLAIM] === 'saml' ? 'saml' : 'local';
}

export class LocalIssuer {
  readonly issuer: string;
  readonly #tokens: TokenRepository;
  readonly #config: LocalIssuerConfig;
  readonly #audit: AuditSink;
  readonly #key: SigningKey;

  private constructor(tokens: TokenRepository, config: LocalIssuerConfig, audit: AuditSink, key: SigningKey) {
    this.issuer = config.issuer;
    this.#tokens = tokens;
    this.#config = config;
    this.#audit = audit;
    this.#key = key;
  }

  /** Only the store's tokens and meta (the sealed signing key) repositories are used. */
  static async open(opts: { store: Pick<Store, 'tokens' | 'meta'>; vault: Vault; config: LocalIssuerConfig; audit: AuditSink }): Promise<LocalIssuer> {
    const key = await loadSigningKey(opts.store.meta, opts.vault);
    return new LocalIssuer(opts.store.tokens, opts.config, opts.audit, key);
  }

  /**
   * Sign and record a token. A ttl above `max_ttl` is refused rather than silently capped: the
   * caller asked for something policy does not allow and should learn it, not discover it later.
   */
  async issue(req: IssueRequest): Promise<IssuedToken> {
    const ttl = req.ttlSeconds ?? this.#config.default_ttl;
    if (!req.subject) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: 'a token needs a subject' });
    if (!Number.isFinite(ttl) || ttl <= 0) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: 'ttl must be a positive number of seconds' });
    if (ttl > this.#config.max_ttl) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `ttl ${ttl}s exceeds the maximum of ${this.#config.max_ttl}s (identity.local_issuer.max_ttl)` });
    const method = req.method ?? 'local';
    if (method === 'oidc') throw new GatewayError('PCS_API_BAD_REQUEST', { reason: 'the local issuer does not issue oidc tokens' });

    const groups = [...req.groups];
    const roles = [...(req.roles ?? [])];
    const jti = `tok_${randomBytes(16).toString('base64url')}`;
    const nowMs = Date.now();
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + Math.ceil(ttl);
    const token = await new SignJWT({ groups, roles, [METHOD_CLAIM]: method })
      .setProtectedHeader({ alg: LOCAL_ALG, kid: this.#key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.#config.audience)
      .setSubject(req.subject)
      .setJti(jti)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .sign(this.#key.privateKey);

    await this.#tokens.insert({
      jti,
      subject: req.subject,
      groups: JSON.stringify(groups),
      roles: JSON.stringify(roles),
      issuedAt: nowMs,
      expiresAt: exp * 1000,
      issuedBy: req.issuedBy,
      description: req.description ?? null,
      revokedAt: null,
      revokedBy: null,
    });
    try {
      await this.#audit.append({
        type: 'token.issued',
        actor: req.issuedBy,
        data: { jti, subject: req.subject, groups, roles, method, expires_at: exp },
      });
    } catch (err) {
      // An unaudited token must not exist: drop it before reporting the failure.
      await this.#tokens.delete(jti);
      throw err;
    }
    return { token, jti, expiresAt: exp };
  }

  async verify(token: string): Promise<Identity> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#key.publicKey, {
        issuer: this.issuer,
        audience: this.#config.audience,
        algorithms: [LOCAL_ALG],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
      }));
    } catch (err) {
      throw toAuthError(err, { issuer: this.issuer, alg: headerAlg(token) });
    }
    const jti = String(payload.jti);
    const row = await this.#tokens.get(jti);
    // A validly signed token without a row was never issued by this store (or was purged).
    if (!row || row.subject !== payload.sub) throw new GatewayError('PCS_AUTH_TOKEN_INVALID', { reason: 'unknown token id' });
    if (row.revokedAt !== null) throw new GatewayError('PCS_AUTH_TOKEN_REVOKED', { jti });
    return {
      subject: row.subject,
      groups: claimList(payload.groups),
      roles: claimList(payload.roles),
      issuer: this.issuer,
      method: methodOf(payload),
      tokenId: jti,
      expiresAt: payload.exp,
    };
  }

  /** Revoke by token id. Returns false for an unknown id; revoking twice is a no-op. */
  async revoke(jti: string, by: string): Promise<boolean> {
    const row = await this.#tokens.get(jti);
    if (!row) return false;
    if (row.revokedAt !== null) return true;
    // Only the caller that actually flipped the row audits it (two concurrent revokes: one event).
    if (await this.#tokens.revoke(jti, Date.now(), by)) await this.#audit.append({ type: 'token.revoked', actor: by, data: { jti, subject: row.subject } });
    return true;
  }

  async list(opts: { subject?: string; includeExpired?: boolean } = {}): Promise<TokenRecord[]> {
    const rows = await this.#tokens.list({ ...(opts.subject !== undefined ? { subject: opts.subject } : {}), ...(opts.includeExpired ? {} : { expiringAfter: Date.now() }) });
    return rows.map(toRecord);
  }

  publicJwks(): { keys: JWK[] } {
    return { keys: [{ ...this.#key.publicJwk }] };
  }
}
