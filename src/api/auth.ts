// Bearer authentication for the admin API: the same tokens every listener accepts. Routes that
// change or reveal gateway state also need the `admin` role.
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.ts';
import { hasRole, type Identity } from '../core/identity.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { Metrics } from '../telemetry/metrics.ts';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

export function bearerToken(req: FastifyRequest): string {
  const header = req.headers.authorization;
  if (!header) throw new GatewayError('PCS_AUTH_TOKEN_MISSING');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m?.[1]) throw new GatewayError('PCS_AUTH_TOKEN_MALFORMED');
  return m[1];
}

export async function authenticateRequest(req: FastifyRequest, authenticator: Authenticator, metrics: Metrics): Promise<Identity> {
  try {
    const identity = await authenticator.authenticate(bearerToken(req), { protocol: 'api', route: req.routeOptions.url ?? null, client: req.ip });
    metrics.authentications.inc({ result: 'ok', method: identity.method });
    req.identity = identity;
    return identity;
  } catch (err) {
    metrics.authentications.inc({ result: err instanceof GatewayError ? err.code : 'PCS_INTERNAL', method: 'unknown' });
    throw err;
  }
}

export function requireRole(identity: Identity, role: string): void {
  if (!hasRole(identity, role)) throw new GatewayError('PCS_AUTH_FORBIDDEN', { role });
}
