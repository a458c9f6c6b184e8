// Errors leave the API as RFC 9457 problem documents carrying the stable PCS_* code.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, isGatewayError } from '../core/errors.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
}

export function problemFor(err: unknown, requestId: string): Problem {
  const safe = isGatewayError(err) ? err : new GatewayError('PCS_INTERNAL', { requestId });
  return { type: `urn:portcullis:error:${safe.code}`, title: safe.code, status: safe.status, detail: safe.message, code: safe.code, request_id: requestId };
}

export function sendProblem(reply: FastifyReply, req: FastifyRequest, err: unknown): FastifyReply {
  const problem = problemFor(err, req.id);
  return reply.code(problem.status).type('application/problem+json').send(problem);
}
