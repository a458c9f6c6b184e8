// What a review is, and the pure rules around it: the fingerprint of an action (what an
// approval is for), the reason an agent gave, who may vote, and when votes make a decision.
import { createHash } from 'node:crypto';
import type { Approvers } from '../core/decision.ts';
import type { Identity } from '../core/identity.ts';
import { canonicalJson } from '../util/canonical-json.ts';

export type ReviewKind = 'action' | 'access';
/** pending -> approved | denied | expired; an approved access request ends (`ended`) when its time is up. */
export type ReviewStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'ended';

export interface ReviewedAction {
  /** sql, http, ssh, mcp */
  readonly kind: string;
  /** The statement, request line or command, exactly as sent. */
  readonly text: string;
  readonly params: readonly (string | null)[] | null;
}

export interface Vote {
  readonly voter: string;
  readonly vote: 'approve' | 'deny';
  readonly groups: readonly string[];
  readonly comment: string | null;
  readonly at: number;
}

export interface Review {
  readonly id: string;
  readonly kind: ReviewKind;
  status: ReviewStatus;
  readonly subject: string;
  readonly connection: string;
  /** Action reviews: what runs once approved. */
  readonly action: ReviewedAction | null;
  readonly fingerprint: string;
  /** The rule that asked for review (`policy#index (name)`), or the policy asked for. */
  readonly rule: string | null;
  readonly reason: string | null;
  readonly approvers: Approvers;
  readonly mode: 'hold' | 'defer' | null;
  /** Access requests: the just-in-time policy and for how long. */
  readonly policy: string | null;
  readonly durationSeconds: number | null;
  /** Action reviews: how many runs and how long an approval lasts. */
  readonly uses: number;
  readonly validForSeconds: number;
  readonly session: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  comment: string | null;
  usesLeft: number;
  grantUntil: number | null;
  readonly votes: Vote[];
}

/**
 * What an approval is for: the identity, the connection and the action with its parameters.
 * Any other statement, parameter or caller has another fingerprint, so an approval cannot be
 * reused for something else.
 */
export function fingerprint(subject: string, connection: string, action: ReviewedAction): string {
  return createHash('sha256').update(canonicalJson({ subject, connection, kind: action.kind, text: action.text, params: action.params ?? null })).digest('hex');
}

const REASON_COMMENT = /^\s*\/\*\s*reason\s*:\s*([\s\S]*?)\s*\*\//i;

/** The agent's reason, from a leading `/* reason: ... *\/` comment; capped, one line. */
export function reasonFromText(text: string): string | null {
  const m = REASON_COMMENT.exec(text);
  const reason = m?.[1]?.replace(/\s+/g, ' ').trim();
  return reason ? reason.slice(0, 500) : null;
}

export type VoteRefusal = 'self' | 'agent' | 'not-approver' | 'already-voted';

/** Why this identity may not vote on this review, or undefined when it may. */
export function voteRefusal(review: Review, voter: Identity, agentGroups: readonly string[]): VoteRefusal | undefined {
  if (voter.subject === review.subject) return 'self';
  if (voter.roles.includes('agent') || voter.groups.some((g) => agentGroups.includes(g))) return 'agent';
  if (!voter.groups.some((g) => review.approvers.groups.includes(g))) return 'not-approver';
  if (review.votes.some((v) => v.voter === voter.subject)) return 'already-voted';
  return undefined;
}

/** Enough approvals: at least `min` distinct approvers and, with `allGroups`, one from each group. */
export function approvalsSuffice(approvers: Approvers, votes: readonly Vote[]): boolean {
  const yes = votes.filter((v) => v.vote === 'approve');
  if (yes.length < approvers.min) return false;
  if (!approvers.allGroups) return true;
  return approvers.groups.every((g) => yes.some((v) => v.groups.includes(g)));
}

/** An approved action review that can still run: uses left and within its window. */
export function grantUsable(review: Review, now: number): boolean {
  return review.status === 'approved' && review.usesLeft > 0 && review.grantUntil !== null && now < review.grantUntil;
}

/** The review as the API and notifications show it. */
export function reviewView(review: Review, url: string): Record<string, unknown> {
  return {
    id: review.id,
    kind: review.kind,
    status: review.status,
    subject: review.subject,
    connection: review.connection,
    action: review.action,
    fingerprint: review.fingerprint,
    rule: review.rule,
    reason: review.reason,
    mode: review.mode,
    policy: review.policy,
    duration_seconds: review.durationSeconds,
    approvers: { groups: review.approvers.groups, min: review.approvers.min, all_groups: review.approvers.allGroups },
    uses: review.uses,
    uses_left: review.usesLeft,
    valid_for_seconds: review.validForSeconds,
    session: review.session,
    created_at: review.createdAt,
    expires_at: review.expiresAt,
    decided_at: review.decidedAt,
    decided_by: review.decidedBy,
    comment: review.comment,
    grant_until: review.grantUntil,
    votes: review.votes,
    url,
  };
}
