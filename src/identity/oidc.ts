// Verifies JWTs from one configured OIDC issuer against its published keys. jose does the
// cryptography and the key cache: an unknown `kid` refetches the JWKS at most once per
// cooldown, so a burst of forged kids cannot turn the gateway into a flood on the IdP.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { GatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { OidcIssuerConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Backoff } from './backoff.ts';
import { claimList, safeText } from './claims.ts';
import { headerAlg, IdpUnreachableError, toAuthError } from './jose-errors.ts';
import { JwksUriResolver } from './oidc-discovery.ts';
import { checkedUrl } from './urls.ts';

/** JWKS request timeout; with discovery's, bounds the wait on a black-holed IdP to ~6 s. */
const JWKS_TIMEOUT_MS = 3000;

type RemoteJwks = ReturnType<typeof createRemoteJWKSet>;

/** Errors from the key lookup that are about the token, not about reaching the IdP. */
const isTokenFault = (err: unknown): boolean =>
  err instanceof errors.JWKSNoMatchingKey ||
  err instanceof errors.JWKSMultipleMatchingKeys ||
  err instanceof errors.JOSEAlgNotAllowed ||
  err instanceof errors.JOSENotSupported;

export class OidcVerifier {
  readonly issuer: string;
  readonly #cfg: OidcIssuerConfig;
  readonly #logger: Logger;
  readonly #discovery: JwksUriResolver | undefined;
  readonly #backoff = new Backoff();
  #jwksUri: URL | undefined;
  #jwks: RemoteJwks | undefined;

  /** Checks the configured URLs but does no I/O: discovery happens on the first token. */
  constructor(cfg: OidcIssuerConfig, opts: { logger: Logger }) {
    if (cfg.algorithms.some((a) => a === ('none' as string) || a.startsWith('HS'))) {
      throw new GatewayError('PCS_CONFIG_INVALID', { problems: `identity.oidc ${cfg.issuer}: algorithms must be asymmetric (no none, no HS*)` });
    }
    this.issuer = cfg.issuer;
    this.#cfg = cfg;
    this.#logger = opts.logger;
    const issuerUrl = checkedUrl(cfg.issuer, `identity.oidc issuer ${cfg.issuer}`);
    if (cfg.jwks_uri !== undefined) this.#jwksUri = checkedUrl(cfg.jwks_uri, `identity.oidc ${cfg.issuer} jwks_uri`);
    else this.#discovery = new JwksUriResolver(issuerUrl, opts.logger);
  }

  async verify(token: string): Promise<Identity> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#getKey, {
        issuer: this.#cfg.issuer,
        audience: this.#cfg.audience,
        algorithms: [...this.#cfg.algorithms],
        clockTolerance: this.#cfg.clock_tolerance,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw toAuthError(err, { issuer: this.issuer, alg: headerAlg(token) });
    }
    const subject = payload[this.#cfg.subject_claim];
    if (typeof subject !== 'string' || subject.length === 0) {
      throw new GatewayError('PCS_AUTH_TOKEN_INVALID', { reason: `missing subject claim ${safeText(this.#cfg.subject_claim, 40)}` });
    }
    return {
      subject,
      groups: claimList(payload[this.#cfg.groups_claim]),
      // Gateway roles from the IdP only when the operator named the claim for it.
      roles: this.#cfg.roles_claim === undefined ? [] : claimList(payload[this.#cfg.roles_claim]),
      issuer: this.issuer,
      method: 'oidc',
      ...(typeof payload.jti === 'string' ? { tokenId: payload.jti } : {}),
      ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp } : {}),
    };
  }

  // jose calls this only after the header passed the algorithm allow-list, so tokens with a
  // refused alg (none, HS256) never cause network I/O.
  readonly #getKey: JWTVerifyGetKey = async (header, input) => {
    const jwks = await this.#remoteJwks();
    if (this.#backoff.waiting && jwks.jwks() === undefined) throw new IdpUnreachableError(this.issuer);
    try {
      const key = await jwks(header, input);
      this.#backoff.succeeded();
      return key;
    } catch (err) {
      if (isTokenFault(err)) throw err;
      this.#backoff.failed();
      this.#logger.warn({ issuer: this.issuer, err: err instanceof Error ? err.message : String(err) }, 'JWKS fetch failed');
      throw new IdpUnreachableError(this.issuer, { cause: err });
    }
  };

  async #remoteJwks(): Promise<RemoteJwks> {
    if (this.#jwks) return this.#jwks;
    // Exactly one of the two is set by the constructor.
    this.#jwksUri ??= await this.#discovery?.resolve();
    if (!this.#jwksUri) throw new TypeError('OidcVerifier has neither jwks_uri nor discovery');
    this.#jwks ??= createRemoteJWKSet(this.#jwksUri, {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cooldownDuration: this.#cfg.jwks_cooldown * 1000,
    });
    return this.#jwks;
  }
}
