// What every adapter does with a `review` verdict, whatever its wire: run the action under
// an approval of exactly it, or create a review and then either refuse at once naming it
// (`defer`) or wait for its decision (`hold`). Adapters only translate the outcome into
// their protocol (an ErrorResponse, a 202, a held statement).
import type { Decision } from '../core/decision.ts';
import { GatewayError } from '../core/errors.ts';
import { DEFAULT_REVIEW } from '../policy/compile.ts';
import type { Review, ReviewedAction } from '../reviews/review.ts';
import type { ReviewService } from '../reviews/service.ts';

export interface ReviewRequest {
  readonly subject: string;
  readonly connection: string;
  readonly action: ReviewedAction;
  readonly decision: Decision;
  readonly session: string | null;
  readonly reason: string | null;
}

export type ReviewStart =
  /** An approval covered it: run now (the review's id, for the recording). */
  | { readonly kind: 'approved'; readonly review: string }
  /** `defer`: refuse now with this error; the review waits for an approver. */
  | { readonly kind: 'deferred'; readonly review: Review; readonly error: GatewayError }
  /** `hold`: tell the agent where it waits (`notice`), then wait for `decided`. */
  | { readonly kind: 'held'; readonly review: Review; readonly notice: string; readonly hint: string; readonly timeoutSeconds: number };

/** The first step: one store round trip, to take a use of an approval or to create a review. */
export function approvalFor(reviews: ReviewService, req: ReviewRequest): ReviewStart | Promise<ReviewStart> {
  const used = reviews.consume(req.subject, req.connection, req.action, req.session);
  if (used === undefined) return requestReview(reviews, req);
  return used.then((id) => (id !== undefined ? { kind: 'approved', review: id } : requestReview(reviews, req)));
}

function requestReview(reviews: ReviewService, req: ReviewRequest): Promise<ReviewStart> {
  const spec = req.decision.review ?? DEFAULT_REVIEW;
  return reviews.requestAction({ subject: req.subject, connection: req.connection, action: req.action, rule: ruleLabel(req.decision), review: spec, reason: req.reason, session: req.session }).then((review): ReviewStart => {
    const url = reviews.urlOf(review.id);
    const approvers = spec.approvers.groups.join(', ');
    if (spec.mode === 'defer') return { kind: 'deferred', review, error: new GatewayError('PCS_REVIEW_PENDING', { id: review.id, approvers, url }) };
    return { kind: 'held', review, notice: `review ${review.id} created; waiting up to ${spec.timeoutSeconds} s for approval at ${url}`, hint: `an approver (${approvers}) runs: portcullis reviews approve ${review.id}`, timeoutSeconds: spec.timeoutSeconds };
  });
}

/**
 * After a held review is decided: the approval's id to run under (one use consumed), or the
 * error to refuse with (denied, expired, or an approval already used up by a retry).
 */
export async function afterDecision(reviews: ReviewService, req: ReviewRequest, decided: Review): Promise<{ run: string } | { error: GatewayError }> {
  if (decided.status === 'approved') {
    const used = await reviews.consume(req.subject, req.connection, req.action, req.session);
    if (used !== undefined) return { run: used };
  }
  if (decided.status === 'denied') return { error: new GatewayError('PCS_REVIEW_DENIED', { id: decided.id, by: decided.decidedBy ?? 'an approver', comment: decided.comment ? `: ${decided.comment}` : '' }) };
  return { error: new GatewayError('PCS_REVIEW_EXPIRED', { id: decided.id, seconds: Math.round((decided.expiresAt - decided.createdAt) / 1000) }) };
}

export function ruleLabel(decision: Decision): string | null {
  const rule = decision.rule;
  if (rule === undefined) return null;
  return rule.name === undefined ? `${rule.policy}#${rule.index}` : `${rule.policy}#${rule.index} (${rule.name})`;
}
