// Reviews of one action and just-in-time access requests, with one vote per approver. The
// service keeps what the data path needs in memory; the store is the truth that replicas
// share, and the one place where an approval's uses are counted down.
export interface StoredReview {
  readonly id: string;
  /** action | access */
  readonly kind: string;
  /** pending | approved | denied | expired | ended */
  readonly status: string;
  readonly subject: string;
  readonly connection: string;
  /** The reviewed action, JSON (null for an access request). */
  readonly action: string;
  readonly fingerprint: string;
  /** '' when no rule is named. */
  readonly rule: string;
  readonly reason: string | null;
  /** Epoch milliseconds, as are the other times. */
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly decidedAt: number | null;
  readonly decidedBy: string | null;
  readonly comment: string | null;
  /** JSON: approvers, mode, policy and duration asked for, uses, session. */
  readonly details: string;
  readonly usesLeft: number;
  readonly grantUntil: number | null;
}

export interface StoredVote {
  readonly reviewId: string;
  readonly voter: string;
  /** approve | deny */
  readonly vote: string;
  /** The voter's groups at the time, JSON. */
  readonly groups: string;
  readonly comment: string | null;
  readonly at: number;
}

export interface ReviewWithVotes {
  readonly review: StoredReview;
  readonly votes: readonly StoredVote[];
}

export interface ReviewDecision {
  readonly status: 'approved' | 'denied';
  readonly decidedAt: number;
  readonly decidedBy: string;
  readonly comment: string | null;
  readonly usesLeft: number;
  readonly grantUntil: number | null;
}

export interface ReviewFilter {
  readonly status?: string;
  readonly kind?: string;
  readonly subject?: string;
  readonly limit: number;
}

export interface ReviewRepository {
  /** Pending reviews, and approved ones whose grant runs past `now`. */
  live(now: number): Promise<ReviewWithVotes[]>;
  get(id: string): Promise<ReviewWithVotes | undefined>;
  /** Newest first. */
  list(filter: ReviewFilter): Promise<ReviewWithVotes[]>;
  insert(review: StoredReview): Promise<void>;
  addVote(vote: StoredVote): Promise<void>;
  decide(id: string, decision: ReviewDecision): Promise<void>;
  /** Marks a review expired if it is still pending. */
  expire(id: string, at: number): Promise<void>;
  /** An access grant whose time is over. */
  end(id: string): Promise<void>;
  /**
   * Takes one use of an approved action, atomically in the store (replicas share the count):
   * the uses left afterwards, or undefined when none was left or the grant is over by `now`.
   */
  consumeUse(id: string, now: number): Promise<number | undefined>;
}
