// One translation from jose's errors to the gateway's stable codes, shared by the local issuer
// and the OIDC verifier so the same fault reads the same whichever issuer signed the token.
import { decodeProtectedHeader, errors } from 'jose';
import { GatewayError } from '../core/errors.ts';
import { safeText } from './claims.ts';

/** Thrown by a key resolver when the IdP cannot be reached; mapped to PCS_AUTH_IDP_UNREACHABLE. */
export class IdpUnreachableError extends Error {
  constructor(readonly issuer: string, options?: { cause?: unknown }) {
    super(`identity provider ${issuer} unreachable`, options);
    this.name = 'IdpUnreachableError';
  }
}

const invalid = (reason: string, cause: unknown): GatewayError => new GatewayError('PCS_AUTH_TOKEN_INVALID', { reason }, { cause });

const CLAIM_REASONS: Readonly<Record<string, string>> = {
  iss: 'wrong issuer',
  aud: 'wrong audience',
  sub: 'missing or invalid subject',
  jti: 'missing or invalid token id',
};

/**
 * Map anything thrown while verifying a JWT to a GatewayError. `alg` is the token's header
 * algorithm (already decoded by the caller) so the message can name a refused algorithm.
 * Unknown errors are returned unchanged: they are bugs, reported as PCS_INTERNAL upstream.
 */
export function toAuthError(err: unknown, ctx: { issuer: string; alg?: string }): unknown {
  if (err instanceof GatewayError) return err;
  if (err instanceof IdpUnreachableError) return new GatewayError('PCS_AUTH_IDP_UNREACHABLE', { issuer: ctx.issuer }, { cause: err });
  if (err instanceof errors.JWTExpired) return new GatewayError('PCS_AUTH_TOKEN_EXPIRED', {}, { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' && err.reason === 'check_failed') return new GatewayError('PCS_AUTH_TOKEN_NOT_YET_VALID', {}, { cause: err });
    const claim = safeText(err.claim, 40);
    return invalid(CLAIM_REASONS[err.claim] ?? (err.reason === 'missing' ? `missing ${claim} claim` : `invalid ${claim} claim`), err);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid(`algorithm ${safeText(ctx.alg ?? 'unknown', 20)} is not allowed`, err);
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('signature verification failed', err);
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('no matching key (unknown kid)', err);
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalid('several keys match the token header', err);
  if (err instanceof errors.JOSENotSupported) return invalid('unsupported algorithm or key type', err);
  // The IdP answered, but not with a usable key set, or not in time: the token cannot be checked.
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid) {
    return new GatewayError('PCS_AUTH_IDP_UNREACHABLE', { issuer: ctx.issuer }, { cause: err });
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return new GatewayError('PCS_AUTH_TOKEN_MALFORMED', {}, { cause: err });
  return err;
}

/** The header's alg, for error messages; undefined when the header does not decode. */
export function headerAlg(token: string): string | undefined {
  try {
    const { alg } = decodeProtectedHeader(token);
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
}
