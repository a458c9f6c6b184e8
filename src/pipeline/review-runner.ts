// What every adapter does with a `review` verdict, whatever its wire (PostgreSQL statements,
// HTTP requests, SSH commands and SFTP operations, MCP tool calls): run the action under an
// approval of exactly it, or create a review and then either refuse at once naming it
// (`defer`) or wait for its decision (`hold`). One runner, so that the rules of a review (an
// approval's use is taken once, in the store; a wait ends when the agent goes away) are
// written once. Adapters only translate the outcome into their protocol (an ErrorResponse, a
// 202, an exit status, an SFTP STATUS).
import type { Decision } from '../core/decision.ts';
import { GatewayError } from '../core/errors.ts';
import { DEFAULT_REVIEW } from '../policy/compile.ts';
import type { Review, ReviewedAction } from '../reviews/review.ts';
import type { ReviewService } from '../reviews/service.ts';
import type { Gated, Permit } from './permit.ts';

export interface ReviewRequest {
  readonly subject: string;
  readonly connection: string;
  /** What approvers see and what an approval covers (credential literals already removed). */
  readonly action: ReviewedAction;
  /** The gate's `review` verdict for the action. */
  readonly decision: Gated;
  readonly session: string | null;
  readonly reason: string | null;
}

export interface ReviewHooks {
  /** `hold`: the review exists and the agent waits now; tell it where (`notice`) and who decides (`hint`). */
  readonly held?: (notice: string, hint: string, review: Review) => void;
  /** Aborted when the agent goes away (closed connection, ended session): the wait stops. */
  readonly signal?: AbortSignal;
}

export type ReviewOutcome =
  /** Approved (now or after the wait): forward under this permit; `review` is the approval's id. */
  | { readonly kind: 'run'; readonly permit: Permit; readonly review: string }
  /** `defer`: refused now naming the review; it waits for an approver. */
  | { readonly kind: 'deferred'; readonly review: Review; readonly error: GatewayError }
  /** Held, then denied, expired, or its approval used up by a retry meanwhile: not run. */
  | { readonly kind: 'refused'; readonly review: string; readonly error: GatewayError }
  /** The agent went away while held (`signal`): nothing to answer. */
  | { readonly kind: 'gone'; readonly review: string };

/**
 * Run one review to its end. Rejects only when the store fails (the review cannot be created
 * or an approval's use cannot be taken); every other end is an outcome.
 */
export async function runReview(reviews: ReviewService, req: ReviewRequest, hooks: ReviewHooks = {}): Promise<ReviewOutcome> {
  const approved = await reviews.consume(req.subject, req.connection, req.action, req.session);
  if (approved !== undefined) return run(req, approved);
  const spec = req.decision.review ?? DEFAULT_REVIEW;
  const review = await reviews.requestAction({ subject: req.subject, connection: req.connection, action: req.action, rule: ruleLabel(req.decision), review: spec, reason: req.reason, session: req.session });
  const url = reviews.urlOf(review.id);
  const approvers = spec.approvers.groups.join(', ');
  if (spec.mode === 'defer') return { kind: 'deferred', review, error: new GatewayError('PCS_REVIEW_PENDING', { id: review.id, approvers, url }) };
  if (hooks.signal?.aborted === true) return { kind: 'gone', review: review.id };
  hooks.held?.(`review ${review.id} created; waiting up to ${spec.timeoutSeconds} s for approval at ${url}`, `an approver (${approvers}) runs: portcullis reviews approve ${review.id}`, review);
  const decided = await reviews.wait(review.id, hooks.signal);
  if (decided === undefined) return { kind: 'gone', review: review.id };
  if (decided.status === 'approved') {
    // The approval is used like any other: one use taken in the store, so a retry that raced
    // this wait and took the last use leaves this one refused.
    const used = await reviews.consume(req.subject, req.connection, req.action, req.session);
    if (used !== undefined) return run(req, used);
  }
  if (decided.status === 'denied') return { kind: 'refused', review: decided.id, error: new GatewayError('PCS_REVIEW_DENIED', { id: decided.id, by: decided.decidedBy ?? 'an approver', comment: decided.comment ? `: ${decided.comment}` : '' }) };
  return { kind: 'refused', review: decided.id, error: new GatewayError('PCS_REVIEW_EXPIRED', { id: decided.id, seconds: Math.round((decided.expiresAt - decided.createdAt) / 1000) }) };
}

function run(req: ReviewRequest, review: string): ReviewOutcome {
  // The brand's second source: a decision an approver let through for exactly this action.
  return { kind: 'run', permit: req.decision as Permit, review };
}

export function ruleLabel(decision: Decision): string | null {
  const rule = decision.rule;
  if (rule === undefined) return null;
  return rule.name === undefined ? `${rule.policy}#${rule.index}` : `${rule.policy}#${rule.index} (${rule.name})`;
}
