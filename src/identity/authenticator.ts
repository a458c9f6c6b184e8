// The one entry point listeners call with a bearer token. It reads the unverified `iss` only
// to pick the verifier that will check everything, then adds the roles that come from the
// gateway's own configuration (admin_groups, agent issuers) whatever issuer proved the identity.
import { decodeJwt } from 'jose';
import type { AuditSink } from '../core/audit-event.ts';
import { GatewayError, isGatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { IdentityConfig, OidcIssuerConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { safeText, unique } from './claims.ts';
import type { LocalIssuer } from './local-issuer.ts';
import { OidcVerifier } from './oidc.ts';

/** Where a token was presented (protocol, connection, client address...), for the audit record of a failure. */
export type AuthContext = Readonly<Record<string, string | null>>;

export interface Authenticator {
  /** Verify a token; a failure is audited (`auth.failed`, never the token) with `context`. */
  authenticate(token: string, context?: AuthContext): Promise<Identity>;
}

/** Larger than any sane JWT; bigger inputs are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

interface OidcEntry {
  readonly verifier: OidcVerifier;
  readonly cfg: OidcIssuerConfig;
}

function unverifiedIssuer(token: string): string {
  if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('PCS_AUTH_TOKEN_MALFORMED');
  let iss: unknown;
  try {
    ({ iss } = decodeJwt(token));
  } catch (err) {
    throw new GatewayError('PCS_AUTH_TOKEN_MALFORMED', {}, { cause: err });
  }
  if (typeof iss !== 'string' || iss.length === 0) throw new GatewayError('PCS_AUTH_TOKEN_INVALID', { reason: 'the token has no iss claim' });
  return iss;
}

/**
 * `admin` for members of admin_groups; `agent` for identities from an issuer marked as agents,
 * unless they are admins (an admin group is the configuration saying otherwise).
 */
function withGatewayRoles(identity: Identity, adminGroups: ReadonlySet<string>, agentIssuer: boolean): Identity {
  const isAdmin = identity.groups.some((g) => adminGroups.has(g));
  const roles = [...identity.roles];
  if (isAdmin) roles.push('admin');
  if (agentIssuer && !roles.includes('admin')) roles.push('agent');
  return { ...identity, roles: unique(roles) };
}

class IssuerDispatch implements Authenticator {
  readonly #local: LocalIssuer | undefined;
  readonly #oidc: ReadonlyMap<string, OidcEntry>;
  readonly #adminGroups: ReadonlySet<string>;
  readonly #logger: Logger;
  readonly #audit: AuditSink | undefined;

  constructor(opts: { config: IdentityConfig; localIssuer?: LocalIssuer; logger: Logger; audit?: AuditSink }) {
    this.#local = opts.localIssuer;
    this.#logger = opts.logger;
    this.#audit = opts.audit;
    this.#adminGroups = new Set(opts.config.admin_groups);
    const oidc = new Map<string, OidcEntry>();
    for (const cfg of opts.config.oidc) {
      if (oidc.has(cfg.issuer) || cfg.issuer === opts.localIssuer?.issuer) {
        throw new GatewayError('PCS_CONFIG_INVALID', { problems: `identity: issuer ${cfg.issuer} is configured twice` });
      }
      oidc.set(cfg.issuer, { verifier: new OidcVerifier(cfg, { logger: opts.logger }), cfg });
    }
    this.#oidc = oidc;
  }

  async authenticate(token: string, context: AuthContext = {}): Promise<Identity> {
    let issuer: string | undefined;
    try {
      if (!token) throw new GatewayError('PCS_AUTH_TOKEN_MISSING');
      issuer = unverifiedIssuer(token);
      if (this.#local && issuer === this.#local.issuer) return withGatewayRoles(await this.#local.verify(token), this.#adminGroups, false);
      const entry = this.#oidc.get(issuer);
      if (!entry) throw new GatewayError('PCS_AUTH_ISSUER_UNKNOWN', { issuer: safeText(issuer) });
      return withGatewayRoles(await entry.verifier.verify(token), this.#adminGroups, entry.cfg.agent);
    } catch (err) {
      if (isGatewayError(err)) await this.#auditFailure(err, issuer, context);
      throw err;
    }
  }

  async #auditFailure(err: GatewayError, issuer: string | undefined, context: AuthContext): Promise<void> {
    if (!this.#audit) return;
    const data: Record<string, string | null> = { ...context, code: err.code };
    if (issuer !== undefined) data.issuer = safeText(issuer);
    if (typeof err.params.reason === 'string') data.reason = err.params.reason;
    try {
      await this.#audit.append({ type: 'auth.failed', actor: 'anonymous', data });
    } catch (auditErr) {
      // The client gets the authentication error either way; the audit fault is ours to log.
      this.#logger.error({ err: auditErr instanceof Error ? auditErr.message : String(auditErr) }, 'cannot audit auth.failed');
    }
  }
}

/** Builds the verifiers from configuration. No network I/O here: OIDC discovery is lazy. */
export function createAuthenticator(opts: { config: IdentityConfig; localIssuer?: LocalIssuer; logger: Logger; audit?: AuditSink }): Authenticator {
  return new IssuerDispatch(opts);
}
