import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { duration } from '../../config/schema.ts';
import { GatewayError } from '../../core/errors.ts';
import { authenticateRequest, requireRole } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const issueBody = z.strictObject({
  subject: z.string().min(1),
  groups: z.array(z.string().min(1)).default([]),
  roles: z.array(z.string().min(1)).default([]),
  ttl: duration.optional(),
  description: z.string().max(500).optional(),
});

export function tokenRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const admin = async (req: Parameters<typeof authenticateRequest>[0]) => {
    const id = await authenticateRequest(req, ctx.services.authenticator, ctx.metrics);
    requireRole(id, 'admin');
    return id;
  };

  app.get('/api/v1/tokens', async (req) => {
    await admin(req);
    const q = req.query as { subject?: string; include_expired?: string };
    const tokens = await ctx.services.localIssuer.list({ ...(q.subject ? { subject: q.subject } : {}), includeExpired: q.include_expired === 'true' });
    return { tokens };
  });

  app.post('/api/v1/tokens', async (req, reply) => {
    const id = await admin(req);
    const body = parseBody(issueBody, req.body);
    const issued = await ctx.services.localIssuer.issue({
      subject: body.subject,
      groups: body.groups,
      roles: body.roles,
      ...(body.ttl !== undefined ? { ttlSeconds: body.ttl } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
      issuedBy: id.subject,
    });
    return reply.code(201).header('cache-control', 'no-store').send({ token: issued.token, jti: issued.jti, expires_at: issued.expiresAt });
  });

  app.delete('/api/v1/tokens/:jti', async (req, reply) => {
    const id = await admin(req);
    const { jti } = req.params as { jti: string };
    if (!(await ctx.services.localIssuer.revoke(jti, id.subject))) throw new GatewayError('PCS_API_NOT_FOUND', { what: `token ${jti}` });
    return reply.code(204).send();
  });
}
