// The admin API: REST + JSON over fastify, authenticated by the same tokens every listener
// accepts. Health, readiness and metrics are open; everything under /api/v1 needs a token.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { GatewayError, isGatewayError } from '../core/errors.ts';
import type { ApiContext } from './context.ts';
import { sendProblem } from './problem.ts';
import { healthRoutes } from './routes/health.ts';
import { authRoutes } from './routes/auth.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { connectionRoutes } from './routes/connections.ts';
import { auditRoutes } from './routes/audit.ts';
import { policyRoutes } from './routes/policy.ts';
import { reviewRoutes } from './routes/reviews.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { sshKeyRoutes } from './routes/ssh-keys.ts';

/** Bodies are small JSON documents; SAML responses are the largest thing posted. */
const BODY_LIMIT = 512 * 1024;

export function buildApi(ctx: ApiContext): FastifyInstance {
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below, instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    // Draining: requests still arriving on kept-alive connections get a clear 503.
    if (ctx.isShuttingDown() && !req.url.startsWith('/healthz') && !req.url.startsWith('/readyz')) {
      reply.header('connection', 'close');
      return sendProblem(reply, req, new GatewayError('PCS_API_SHUTTING_DOWN'));
    }
  });

  const observe = ctx.onAnswer;
  if (observe !== undefined) {
    app.addHook('onSend', async (req, reply, payload) => {
      if (typeof payload === 'string' || Buffer.isBuffer(payload)) observe({ method: req.method, url: req.url, status: reply.statusCode, body: payload.toString() });
      return payload;
    });
  }

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    ctx.metrics.apiRequests.inc({ route, status: String(reply.statusCode) });
    req.log.info({ method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime), subject: req.identity?.subject }, 'api request');
  });

  app.setErrorHandler((err, req, reply) => {
    if (isGatewayError(err)) return sendProblem(reply, req, err);
    // fastify's own client errors (bad JSON, body too large) carry a 4xx statusCode.
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).type('application/problem+json').send({ type: 'urn:portcullis:error:PCS_API_BAD_REQUEST', title: 'PCS_API_BAD_REQUEST', status, detail: `bad request: ${err instanceof Error ? err.message : 'malformed request'}`, code: 'PCS_API_BAD_REQUEST', request_id: req.id });
    }
    req.log.error({ err }, 'unhandled error in admin API');
    return sendProblem(reply, req, err);
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).type('application/problem+json').send({ type: 'urn:portcullis:error:PCS_API_NOT_FOUND', title: 'PCS_API_NOT_FOUND', status: 404, detail: `no such resource: ${req.method} ${req.url.split('?')[0]}`, code: 'PCS_API_NOT_FOUND', request_id: req.id }));

  healthRoutes(app, ctx);
  authRoutes(app, ctx);
  tokenRoutes(app, ctx);
  connectionRoutes(app, ctx);
  auditRoutes(app, ctx);
  policyRoutes(app, ctx);
  sessionRoutes(app, ctx);
  reviewRoutes(app, ctx);
  sshKeyRoutes(app, ctx);
  return app;
}
