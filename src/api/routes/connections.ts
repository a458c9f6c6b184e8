import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import { inlineSecret, publicView } from '../../connections/public-view.ts';
import { CREDENTIAL_KINDS } from '../../vault/credentials.ts';
import { authenticateRequest, requireRole } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const credentialBody = z.strictObject({ secret: z.string().min(1), kind: z.enum(CREDENTIAL_KINDS).default('password') });

export function connectionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { services } = ctx;
  const find = (name: string) => {
    const conn = services.config.connections.find((c) => c.name === name);
    if (!conn) throw new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: name });
    return conn;
  };
  // Secrets never leave: the view strips them, and only whether one exists is reported.
  const describe = async (name: string) => {
    const conn = find(name);
    const vaulted = await services.credentials.has(name);
    return { ...publicView(conn), credential: vaulted ? 'vault' : inlineSecret(conn) !== undefined ? 'config' : 'none' };
  };
  const admin = async (req: Parameters<typeof authenticateRequest>[0]) => {
    const id = await authenticateRequest(req, services.authenticator, ctx.metrics);
    requireRole(id, 'admin');
    return id;
  };

  app.get('/api/v1/connections', async (req) => {
    await admin(req);
    return { connections: await Promise.all(services.config.connections.map((c) => describe(c.name))) };
  });

  app.get('/api/v1/connections/:name', async (req) => {
    await admin(req);
    return describe((req.params as { name: string }).name);
  });

  app.put('/api/v1/connections/:name/credential', async (req, reply) => {
    const id = await admin(req);
    const { name } = req.params as { name: string };
    find(name);
    const body = parseBody(credentialBody, req.body);
    await services.credentials.set(name, body.secret, { kind: body.kind, actor: id.subject });
    return reply.code(204).send();
  });

  app.delete('/api/v1/connections/:name/credential', async (req, reply) => {
    const id = await admin(req);
    const { name } = req.params as { name: string };
    find(name);
    if (!(await services.credentials.delete(name, id.subject))) throw new GatewayError('PCS_API_NOT_FOUND', { what: `credential of ${name}` });
    return reply.code(204).send();
  });
}
