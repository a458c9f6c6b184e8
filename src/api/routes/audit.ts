import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { loadPublicKey } from '../../audit/signing-key.ts';
import { verifyAudit } from '../../audit/verify.ts';
import { auditKeyFile } from '../../runtime/services.ts';
import { authenticateRequest, requireRole } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const listQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  type: z.string().optional(),
});

export function auditRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { services } = ctx;
  app.get('/api/v1/audit', async (req) => {
    requireRole(await authenticateRequest(req, services.authenticator, ctx.metrics), 'admin');
    const q = parseBody(listQuery, req.query);
    const records = await services.audit.list({ ...(q.after !== undefined ? { after: q.after } : {}), limit: q.limit, ...(q.type ? { type: q.type } : {}) });
    return { records, next_after: records.length === q.limit ? records[records.length - 1]?.seq : null };
  });

  app.get('/api/v1/audit/verify', async (req) => {
    requireRole(await authenticateRequest(req, services.authenticator, ctx.metrics), 'admin');
    return verifyAudit(services.store, loadPublicKey(auditKeyFile(services.config)).publicKey);
  });
}
