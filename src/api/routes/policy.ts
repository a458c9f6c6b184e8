import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { testPolicy } from '../../runtime/policy-test.ts';
import { authenticateRequest, requireRole } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const testBody = z.strictObject({
  subject: z.string().min(1),
  groups: z.array(z.string()).default([]),
  connection: z.string().min(1),
  input: z.string().min(1),
});

export function policyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  // Explain a decision without running anything (the API twin of `portcullis policy test`).
  app.post('/api/v1/policy/test', async (req) => {
    requireRole(await authenticateRequest(req, ctx.services.authenticator, ctx.metrics), 'admin');
    const body = parseBody(testBody, req.body);
    const { action, decision, explanation } = await testPolicy(ctx.services.config, ctx.services.policies, body, ctx.services.config.identity.admin_groups);
    return explanation.length > 0 ? { action, decision, explanation } : { action, decision };
  });
}
