// Public keys registered for subjects (SSH logins by key): admins add, list and revoke them.
// The running gateway's key index follows at once, since the same service answers logins.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { duration } from '../../config/schema.ts';
import { sshKeyView } from '../../identity/ssh-keys.ts';
import { authenticateRequest, requireRole } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const addBody = z.strictObject({
  subject: z.string().min(1).max(256),
  groups: z.array(z.string().min(1).max(256)).max(100).default([]),
  /** One .pub line (or an RFC 4716 block). */
  public_key: z.string().min(1).max(16 * 1024),
  expires_in: duration.refine((s) => s > 0, 'expected a positive duration such as 30d').optional(),
  comment: z.string().max(500).optional(),
});

const listQuery = z.object({
  subject: z.string().min(1).optional(),
  include_revoked: z.enum(['true', 'false']).optional(),
});

export function sshKeyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const keys = ctx.services.sshKeys;
  const admin = async (req: Parameters<typeof authenticateRequest>[0]) => {
    const id = await authenticateRequest(req, ctx.services.authenticator, ctx.metrics);
    requireRole(id, 'admin');
    return id;
  };

  app.get('/api/v1/ssh-keys', async (req) => {
    await admin(req);
    const q = parseBody(listQuery, req.query);
    const now = Date.now();
    const found = await keys.list({ ...(q.subject !== undefined ? { subject: q.subject } : {}), includeRevoked: q.include_revoked === 'true' });
    return { ssh_keys: found.map((k) => sshKeyView(k, now)) };
  });

  app.post('/api/v1/ssh-keys', async (req, reply) => {
    const id = await admin(req);
    const body = parseBody(addBody, req.body);
    const key = await keys.add({
      subject: body.subject,
      groups: body.groups,
      publicKey: body.public_key,
      ...(body.expires_in !== undefined ? { expiresInSeconds: body.expires_in } : {}),
      ...(body.comment !== undefined ? { comment: body.comment } : {}),
      createdBy: id.subject,
    });
    return reply.code(201).send(sshKeyView(key));
  });

  /** By id (`key_...`) or fingerprint (`SHA256:...`, URL-encoded); answers with the revoked key. */
  app.delete('/api/v1/ssh-keys/:id', async (req) => {
    const id = await admin(req);
    const { id: which } = req.params as { id: string };
    return sshKeyView(await keys.revoke(which, id.subject));
  });
}
