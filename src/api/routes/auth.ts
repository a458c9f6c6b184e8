// Token endpoint: a signed SAML assertion from a configured IdP is exchanged for a short-lived
// gateway token (the RFC 7522 profile: grant_type saml2-bearer, `assertion` = base64url
// SAMLResponse). OAuth-style errors, since OAuth clients call it.
import type { FastifyInstance } from 'fastify';
import { isGatewayError } from '../../core/errors.ts';
import { authenticateRequest } from '../auth.ts';
import type { ApiContext } from '../context.ts';

export const SAML2_BEARER = 'urn:ietf:params:oauth:grant-type:saml2-bearer';

export function authRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post('/api/v1/auth/token', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.grant_type !== SAML2_BEARER) {
      return reply.code(400).send({ error: 'unsupported_grant_type', error_description: `grant_type must be ${SAML2_BEARER}` });
    }
    if (typeof body.assertion !== 'string' || body.assertion.length === 0) {
      return reply.code(400).send({ error: 'invalid_request', error_description: 'assertion is required' });
    }
    // RFC 7522 uses base64url; accept plain base64 as IdPs post it.
    const b64 = body.assertion.replace(/-/g, '+').replace(/_/g, '/');
    try {
      const out = await ctx.services.saml.exchange(b64);
      ctx.metrics.authentications.inc({ result: 'ok', method: 'saml' });
      return reply.header('cache-control', 'no-store').send({ access_token: out.access_token, token_type: out.token_type, expires_in: out.expires_in });
    } catch (err) {
      ctx.metrics.authentications.inc({ result: isGatewayError(err) ? err.code : 'error', method: 'saml' });
      if (isGatewayError(err) && err.status < 500) return reply.code(400).send({ error: 'invalid_grant', error_description: err.message, code: err.code });
      throw err;
    }
  });

  app.get('/api/v1/whoami', async (req) => {
    const id = await authenticateRequest(req, ctx.services.authenticator, ctx.metrics);
    return { subject: id.subject, groups: id.groups, roles: id.roles, issuer: id.issuer, method: id.method, expires_at: id.expiresAt ?? null };
  });
}
