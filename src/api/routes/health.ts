import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';

export function healthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  // Liveness: the process answers.
  app.get('/healthz', () => ({ status: 'ok' }));

  // Readiness: the store answers and the gateway is not draining.
  app.get('/readyz', async (_req, reply) => {
    if (ctx.isShuttingDown()) return reply.code(503).send({ status: 'shutting_down' });
    try {
      await ctx.services.store.ping();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'store_unavailable' });
    }
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  // Public keys of the local issuer, so other services can verify gateway tokens.
  app.get('/.well-known/jwks.json', () => ctx.services.localIssuer.publicJwks());
}
