import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import { formatCast, readCast } from '../../recorder/asciicast.ts';
import { DEFAULT_EVENT_LIMIT, DEFAULT_LIST_LIMIT, MAX_EVENT_LIMIT, MAX_LIST_LIMIT, getSession, listSessions } from '../../recorder/reader.ts';
import { authenticateRequest, requireRole } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
  before: z.string().min(1).optional(),
  connection: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  active: z.enum(['true', 'false']).optional(),
});

const showQuery = z.object({
  after_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_EVENT_LIMIT).default(DEFAULT_EVENT_LIMIT),
});

const castQuery = z.object({
  shell: z.coerce.number().int().min(1).optional(),
});

/** Recorded sessions can hold statement text and parameters: admin only. */
export function sessionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { services } = ctx;

  app.get('/api/v1/sessions', async (req) => {
    requireRole(await authenticateRequest(req, services.authenticator, ctx.metrics), 'admin');
    const q = parseBody(listQuery, req.query);
    const sessions = await listSessions(services.store, {
      limit: q.limit,
      ...(q.before !== undefined ? { before: q.before } : {}),
      ...(q.connection !== undefined ? { connection: q.connection } : {}),
      ...(q.subject !== undefined ? { subject: q.subject } : {}),
      ...(q.active !== undefined ? { active: q.active === 'true' } : {}),
    });
    return { sessions, next_before: sessions.length === q.limit ? (sessions[sessions.length - 1]?.id ?? null) : null };
  });

  app.get('/api/v1/sessions/:id', async (req) => {
    requireRole(await authenticateRequest(req, services.authenticator, ctx.metrics), 'admin');
    const { id } = req.params as { id: string };
    const q = parseBody(showQuery, req.query);
    const found = await getSession(services.store, id, { afterSeq: q.after_seq, limit: q.limit });
    if (!found) throw new GatewayError('PCS_API_NOT_FOUND', { what: `session ${id}` });
    const { session, events } = found;
    return { session, events, next_after_seq: events.length === q.limit ? (events[events.length - 1]?.seq ?? null) : null };
  });

  /** A session's shells as an asciicast v2 file (all of them in order, or `?shell=N`). */
  app.get('/api/v1/sessions/:id/cast', async (req, reply) => {
    requireRole(await authenticateRequest(req, services.authenticator, ctx.metrics), 'admin');
    const { id } = req.params as { id: string };
    const q = parseBody(castQuery, req.query);
    const found = await readCast(services.store, id, q.shell !== undefined ? { shell: q.shell } : {});
    if (!found) throw new GatewayError('PCS_API_NOT_FOUND', { what: `session ${id}` });
    if (!found.cast) throw new GatewayError('PCS_API_NOT_FOUND', { what: q.shell !== undefined ? `shell ${q.shell} in session ${id}` : `shell recording in session ${id}` });
    reply.type('application/x-asciicast');
    return formatCast(found.cast);
  });
}
