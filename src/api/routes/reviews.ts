// Reviews and access requests over the API: approvers list, read and decide them; anyone with
// a token can ask for just-in-time access. Who may decide is the review service's rule (never
// the requester, never an agent, only the named approver groups), with the caller's groups
// taken from its token.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { duration } from '../../config/schema.ts';
import { GatewayError } from '../../core/errors.ts';
import { hasRole, type Identity } from '../../core/identity.ts';
import { applicablePolicies } from '../../policy/applicable.ts';
import { reviewView, type Review } from '../../reviews/review.ts';
import { authenticateRequest } from '../auth.ts';
import { parseBody } from '../body.ts';
import type { ApiContext } from '../context.ts';

const listQuery = z.object({
  status: z.enum(['pending', 'approved', 'denied', 'expired', 'ended']).optional(),
  kind: z.enum(['action', 'access']).optional(),
  subject: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const voteBody = z.strictObject({ comment: z.string().max(2000).optional() }).default({});

const accessBody = z.strictObject({
  connection: z.string().min(1),
  /** The just-in-time policy; may be left out when exactly one applies. */
  policy: z.string().min(1).optional(),
  duration,
  reason: z.string().max(2000).optional(),
});

/** Admins see every review; others those they asked for and those they may decide. */
function visible(review: Review, who: Identity): boolean {
  return hasRole(who, 'admin') || review.subject === who.subject || who.groups.some((g) => review.approvers.groups.includes(g));
}

export function reviewRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { services } = ctx;
  const reviews = services.reviews;
  const who = (req: Parameters<typeof authenticateRequest>[0]) => authenticateRequest(req, services.authenticator, ctx.metrics);
  const view = (r: Review) => reviewView(r, reviews.urlOf(r.id));

  app.get('/api/v1/reviews', async (req) => {
    const id = await who(req);
    const q = parseBody(listQuery, req.query);
    // Visibility is decided here, not in SQL: read deep enough that reviews others may not
    // see do not crowd out the caller's own (the table is small; 1000 is the store's cap).
    const admin = hasRole(id, 'admin');
    const found = await reviews.list({ ...(q.status !== undefined ? { status: q.status } : {}), ...(q.kind !== undefined ? { kind: q.kind } : {}), ...(q.subject !== undefined ? { subject: q.subject } : {}), limit: admin ? q.limit : 1000 });
    return { reviews: found.filter((r) => visible(r, id)).slice(0, q.limit).map(view) };
  });

  app.get('/api/v1/reviews/:id', async (req) => {
    const id = await who(req);
    const { id: reviewId } = req.params as { id: string };
    const review = await reviews.get(reviewId);
    if (review === undefined || !visible(review, id)) throw new GatewayError('PCS_REVIEW_NOT_FOUND', { id: reviewId });
    return view(review);
  });

  for (const vote of ['approve', 'deny'] as const) {
    app.post(`/api/v1/reviews/:id/${vote}`, async (req) => {
      const id = await who(req);
      const { id: reviewId } = req.params as { id: string };
      const body = parseBody(voteBody, req.body ?? {});
      return view(await reviews.vote(reviewId, id, vote, body.comment ?? null));
    });
  }

  app.post('/api/v1/access', async (req, reply) => {
    const id = await who(req);
    const body = parseBody(accessBody, req.body);
    // The just-in-time policies whose subjects name the caller on this connection.
    const candidates = applicablePolicies(services.policies, id, body.connection).filter((p) => p.access !== undefined);
    const chosen = body.policy === undefined ? (candidates.length === 1 ? candidates[0] : undefined) : candidates.find((p) => p.name === body.policy);
    if (chosen?.access === undefined) {
      const known = candidates.length > 0 ? `; choose one of: ${candidates.map((p) => p.name).join(', ')}` : '';
      throw new GatewayError('PCS_ACCESS_NO_POLICY', { policy: body.policy ?? '(any)', connection: body.connection, subject: id.subject, known });
    }
    if (body.duration > chosen.access.maxDurationSeconds) throw new GatewayError('PCS_ACCESS_TOO_LONG', { policy: chosen.name, max: chosen.access.maxDurationSeconds });
    const review = await reviews.requestAccess({
      subject: id.subject,
      connection: body.connection,
      policy: chosen.name,
      approvers: chosen.access.approvers,
      durationSeconds: body.duration,
      timeoutSeconds: chosen.access.timeoutSeconds,
      reason: body.reason ?? null,
    });
    return reply.code(201).send(view(review));
  });
}
