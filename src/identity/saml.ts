// SAML to gateway token (the idea of RFC 7522): an agent or its operator posts a SAMLResponse
// from a configured IdP and gets a short-lived gateway token. node-saml checks signatures,
// conditions and audience; this module picks the IdP, blocks replays and maps the identity.
//
// Replays are remembered in process memory. Behind several replicas the same response could be
// exchanged once per replica; the short token_ttl bounds what that buys an attacker.
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import type { AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { SamlIdpConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { safeText } from './claims.ts';
import type { LocalIssuer } from './local-issuer.ts';
import { assertionFacts, attributeValues, responseIssuer } from './saml-assertion.ts';
import { ReplayCache } from './saml-replay.ts';

export interface SamlTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  identity: Identity;
}

/** A SAMLResponse is a few KB; anything far larger is refused before decoding. */
const MAX_RESPONSE_BASE64 = 512 * 1024;

// node-saml messages that are safe and useful to show the client; anything else (parser
// internals, which may quote the document) becomes a generic reason.
const CLIENT_SAFE_PREFIXES = [
  'Invalid signature',
  'Invalid document signature',
  'SAML assertion',
  'Missing SAML assertion',
  'SAML provider returned',
  'No valid subject confirmation',
  'Cannot obtain assertion',
  'Unable to process multiple conditions',
];

const rejected = (reason: string, cause?: unknown): GatewayError => new GatewayError('PCS_AUTH_SAML_INVALID', { reason }, { cause });

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  return CLIENT_SAFE_PREFIXES.some((p) => message.startsWith(p)) ? safeText(message) : 'the SAML response could not be validated';
}

interface Idp {
  readonly cfg: SamlIdpConfig;
  readonly saml: SAML;
}

function buildIdp(cfg: SamlIdpConfig): Idp {
  const saml = new SAML({
    idpCert: cfg.idp_cert,
    idpIssuer: cfg.idp_issuer,
    issuer: cfg.audience,
    audience: cfg.audience,
    // Never used to build anything here (we only consume responses), but node-saml requires it.
    callbackUrl: `urn:portcullis:saml:${cfg.name}`,
    // With both flags false node-saml still demands a valid signature over the whole response
    // or over the assertion, which is what IdPs differ on; an unsigned response is refused.
    wantAssertionsSigned: false,
    wantAuthnResponseSigned: false,
    acceptedClockSkewMs: cfg.clock_tolerance * 1000,
    // IdP-initiated: there is no AuthnRequest whose id could be matched.
    validateInResponseTo: ValidateInResponseTo.never,
  });
  return { cfg, saml };
}

export class SamlExchange {
  readonly #idps: ReadonlyMap<string, Idp>;
  readonly #localIssuer: LocalIssuer;
  readonly #audit: AuditSink;
  readonly #logger: Logger;
  readonly #replays = new ReplayCache();

  constructor(opts: { idps: readonly SamlIdpConfig[]; localIssuer: LocalIssuer; audit: AuditSink; logger: Logger }) {
    const idps = new Map<string, Idp>();
    for (const cfg of opts.idps) {
      if (idps.has(cfg.idp_issuer)) throw new GatewayError('PCS_CONFIG_INVALID', { problems: `identity.saml: idp_issuer ${cfg.idp_issuer} is configured twice` });
      idps.set(cfg.idp_issuer, buildIdp(cfg));
    }
    this.#idps = idps;
    this.#localIssuer = opts.localIssuer;
    this.#audit = opts.audit;
    this.#logger = opts.logger;
  }

  async exchange(samlResponseBase64: string): Promise<SamlTokenResponse> {
    let idp: Idp | undefined;
    try {
      idp = await this.#pickIdp(samlResponseBase64);
      const profile = await this.#validate(idp, samlResponseBase64);
      return await this.#issue(idp.cfg, profile);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'PCS_AUTH_SAML_INVALID') await this.#auditFailure(err, idp?.cfg.name);
      throw err;
    }
  }

  async #pickIdp(b64: string): Promise<Idp> {
    if (typeof b64 !== 'string' || b64.length === 0) throw rejected('no SAMLResponse given');
    if (b64.length > MAX_RESPONSE_BASE64) throw rejected('the SAMLResponse is too large');
    if (!/^[A-Za-z0-9+/=\s]+$/.test(b64)) throw rejected('the SAMLResponse is not base64');
    const issuer = await responseIssuer(Buffer.from(b64, 'base64').toString('utf8'));
    if (issuer === undefined) throw rejected('the SAMLResponse is not a SAML response with an Issuer');
    const idp = this.#idps.get(issuer);
    if (!idp) throw rejected(`unknown issuer ${safeText(issuer)}`);
    return idp;
  }

  async #validate(idp: Idp, b64: string): Promise<Profile> {
    let profile: Profile | null;
    try {
      ({ profile } = await idp.saml.validatePostResponseAsync({ SAMLResponse: b64 }));
    } catch (err) {
      this.#logger.debug({ idp: idp.cfg.name, err: reasonOf(err) }, 'SAML response rejected');
      throw rejected(reasonOf(err), err);
    }
    if (!profile) throw rejected('the response carries no assertion');
    // The routing Issuer was read before verification; the signed assertion must agree.
    if (profile.issuer !== idp.cfg.idp_issuer) throw rejected('the assertion Issuer does not match the IdP');

    const facts = assertionFacts(profile.getAssertion?.());
    if (!facts.id) throw rejected('the assertion has no ID');
    // Without an end of validity an assertion could be replayed forever: fail closed.
    if (facts.notOnOrAfter === undefined) throw rejected('the assertion has no NotOnOrAfter');
    const rememberUntil = facts.notOnOrAfter + idp.cfg.clock_tolerance * 1000;
    if (!this.#replays.claim(`${idp.cfg.name}\0${facts.id}`, rememberUntil)) throw rejected('the assertion was already used (replay)');
    return profile;
  }

  async #issue(cfg: SamlIdpConfig, profile: Profile): Promise<SamlTokenResponse> {
    const attributes = (typeof profile.attributes === 'object' && profile.attributes !== null ? profile.attributes : {}) as Record<string, unknown>;
    const subject = cfg.subject_attribute === undefined ? profile.nameID : attributeValues(attributes[cfg.subject_attribute])[0];
    if (typeof subject !== 'string' || subject.trim().length === 0) {
      throw rejected(cfg.subject_attribute === undefined ? 'the assertion has no NameID' : `the assertion has no ${safeText(cfg.subject_attribute, 60)} attribute`);
    }
    const groups = attributeValues(attributes[cfg.groups_attribute]);
    const issued = await this.#localIssuer.issue({
      subject: subject.trim(),
      groups,
      ttlSeconds: cfg.token_ttl,
      issuedBy: `saml:${cfg.name}`,
      description: `SAML exchange from ${cfg.name}`,
      method: 'saml',
    });
    const identity: Identity = {
      subject: subject.trim(),
      groups,
      roles: [],
      issuer: this.#localIssuer.issuer,
      method: 'saml',
      tokenId: issued.jti,
      expiresAt: issued.expiresAt,
    };
    return { access_token: issued.token, token_type: 'Bearer', expires_in: Math.max(0, issued.expiresAt - Math.floor(Date.now() / 1000)), identity };
  }

  async #auditFailure(err: GatewayError, idp: string | undefined): Promise<void> {
    const data: Record<string, string> = { code: err.code, method: 'saml', reason: String(err.params.reason ?? '') };
    if (idp !== undefined) data.idp = idp;
    try {
      await this.#audit.append({ type: 'auth.failed', actor: 'anonymous', data });
    } catch (auditErr) {
      this.#logger.error({ err: auditErr instanceof Error ? auditErr.message : String(auditErr) }, 'cannot audit auth.failed');
    }
  }
}
