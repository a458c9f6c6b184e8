// Reviews of one action and just-in-time access requests: created by the data path or the
// API, decided by approvers through the API, kept in the store (they survive restarts), every
// step audited and notified. The data path asks two questions: is this access running
// (answered from memory, synchronously), and is there an approval for this exact action
// (answered from memory when there is none; a use of one is taken in the store, atomically,
// so that replicas sharing the store never run an approval more often than it allows).
// Everything that writes is asynchronous.
import { randomBytes } from 'node:crypto';
import type { AuditEventType, AuditSink } from '../core/audit-event.ts';
import type { Approvers, ReviewSpec } from '../core/decision.ts';
import { GatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { ReviewNotice } from '../notify/event.ts';
import type { NotifyEvent } from '../notify/config.ts';
import type { AccessGrants } from '../policy/decide.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { ReviewRepository, StoredReview, StoredVote } from '../store/repositories/reviews.ts';
import type { Store } from '../store/store.ts';
import { approvalsSuffice, fingerprint, grantUsable, voteRefusal, type Review, type ReviewedAction, type ReviewStatus, type Vote } from './review.ts';

export interface ReviewNotifier {
  notify(notice: ReviewNotice): void;
}

export interface ReviewServiceOptions {
  /** Only its reviews repository is used. */
  readonly store: Pick<Store, 'reviews'>;
  readonly audit: AuditSink;
  readonly notifier: ReviewNotifier;
  readonly logger: Logger;
  readonly agentGroups: readonly string[];
  /** Base URL approvers use (the admin API); set later when the API's port is known. */
  readonly baseUrl?: string;
  /** How often pending reviews are checked for expiry. */
  readonly sweepMs?: number;
}

export interface ActionRequest {
  readonly subject: string;
  readonly connection: string;
  readonly action: ReviewedAction;
  readonly rule: string | null;
  readonly review: ReviewSpec;
  readonly reason: string | null;
  readonly session: string | null;
}

export interface AccessRequest {
  readonly subject: string;
  readonly connection: string;
  readonly policy: string;
  readonly approvers: Approvers;
  readonly durationSeconds: number;
  readonly timeoutSeconds: number;
  readonly reason: string | null;
}

const key = (...parts: string[]): string => parts.join('\0');

export class ReviewService implements AccessGrants {
  readonly #store: ReviewRepository;
  readonly #audit: AuditSink;
  readonly #notifier: ReviewNotifier;
  readonly #logger: Logger;
  readonly #agentGroups: readonly string[];
  #baseUrl: string;
  /** Pending reviews, and approved ones whose grant still runs: what the hot path looks at. */
  readonly #live = new Map<string, Review>();
  /** Approved action reviews by subject, connection and fingerprint. */
  readonly #grants = new Map<string, Review[]>();
  /** Approved access requests by subject and policy. */
  readonly #access = new Map<string, Review[]>();
  readonly #waiters = new Map<string, Set<(review: Review) => void>>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  private constructor(opts: ReviewServiceOptions) {
    this.#store = opts.store.reviews;
    this.#audit = opts.audit;
    this.#notifier = opts.notifier;
    this.#logger = opts.logger;
    this.#agentGroups = opts.agentGroups;
    this.#baseUrl = opts.baseUrl ?? 'http://127.0.0.1:8700';
    this.#timer = setInterval(() => this.#sweep(), opts.sweepMs ?? 500);
    this.#timer.unref();
  }

  /** Loads what is pending or granted; reviews that expired while the gateway was down are marked so. */
  static async open(opts: ReviewServiceOptions): Promise<ReviewService> {
    const service = new ReviewService(opts);
    for (const { review, votes } of await opts.store.reviews.live(Date.now())) service.#index(fromRow(review, votes));
    service.#sweep();
    return service;
  }

  set baseUrl(url: string) {
    this.#baseUrl = url.replace(/\/+$/, '');
  }

  urlOf(id: string): string {
    return `${this.#baseUrl}/api/v1/reviews/${id}`;
  }

  // ---- the data path ----

  /**
   * Uses one run of an approval of exactly this action by this subject on this connection;
   * audited. Undefined at once when this gateway knows no usable approval (no promise, no
   * store round trip); otherwise the use is taken in the store, and the promise resolves with
   * the review's id, or with undefined when the store had none left (another replica took the
   * last one, or the store failed: fail closed). Never rejects.
   */
  consume(subject: string, connection: string, action: ReviewedAction, session: string | null): Promise<string | undefined> | undefined {
    const list = this.#grants.get(key(subject, connection, fingerprint(subject, connection, action)));
    if (list === undefined) return undefined;
    const now = Date.now();
    const usable = list.filter((r) => grantUsable(r, now));
    if (usable.length === 0) return undefined;
    return this.#takeUse(usable, session);
  }

  active(subject: string, policy: string, connection: string): boolean {
    const list = this.#access.get(key(subject, policy));
    if (list === undefined) return false;
    const now = Date.now();
    return list.some((r) => r.connection === connection && r.status === 'approved' && r.grantUntil !== null && now < r.grantUntil);
  }

  // ---- creating ----

  async requestAction(req: ActionRequest): Promise<Review> {
    const now = Date.now();
    const review = newReview({
      kind: 'action',
      subject: req.subject,
      connection: req.connection,
      action: req.action,
      fingerprint: fingerprint(req.subject, req.connection, req.action),
      rule: req.rule,
      reason: req.reason,
      approvers: req.review.approvers,
      mode: req.review.mode,
      policy: null,
      durationSeconds: null,
      uses: req.review.uses,
      validForSeconds: req.review.validForSeconds,
      session: req.session,
      createdAt: now,
      expiresAt: now + req.review.timeoutSeconds * 1000,
    });
    await this.#insert(review);
    this.#index(review);
    this.#record('review.created', review.subject, { review: review.id, connection: review.connection, action: review.action, fingerprint: review.fingerprint, rule: review.rule, reason: review.reason, mode: review.mode, expires_at: review.expiresAt, session: review.session });
    this.#notify('review.created', review);
    return review;
  }

  async requestAccess(req: AccessRequest): Promise<Review> {
    const now = Date.now();
    const review = newReview({
      kind: 'access',
      subject: req.subject,
      connection: req.connection,
      action: null,
      fingerprint: '',
      rule: null,
      reason: req.reason,
      approvers: req.approvers,
      mode: null,
      policy: req.policy,
      durationSeconds: req.durationSeconds,
      uses: 0,
      validForSeconds: 0,
      session: null,
      createdAt: now,
      expiresAt: now + req.timeoutSeconds * 1000,
    });
    await this.#insert(review);
    this.#index(review);
    this.#record('access.requested', review.subject, { review: review.id, connection: review.connection, policy: review.policy, duration_seconds: review.durationSeconds, reason: review.reason, expires_at: review.expiresAt });
    this.#notify('access.requested', review);
    return review;
  }

  // ---- deciding ----

  /** One approver's vote; the review is decided when votes suffice (or at the first denial). */
  async vote(id: string, voter: Identity, vote: 'approve' | 'deny', comment: string | null): Promise<Review> {
    const review = this.#live.get(id) ?? (await this.get(id));
    if (review === undefined) throw new GatewayError('PCS_REVIEW_NOT_FOUND', { id });
    const now = Date.now();
    if (review.status === 'pending' && now >= review.expiresAt) this.#expire(review, now);
    if (review.status !== 'pending') throw new GatewayError('PCS_REVIEW_CLOSED', { id, status: review.status });
    const refusal = voteRefusal(review, voter, this.#agentGroups);
    if (refusal === 'self') throw new GatewayError('PCS_REVIEW_SELF_APPROVAL', { id });
    if (refusal === 'agent') throw new GatewayError('PCS_REVIEW_AGENT_APPROVER');
    if (refusal === 'not-approver') throw new GatewayError('PCS_REVIEW_NOT_APPROVER', { id, groups: review.approvers.groups.join(', ') });
    if (refusal === 'already-voted') throw new GatewayError('PCS_REVIEW_ALREADY_VOTED', { id });
    const v: Vote = { voter: voter.subject, vote, groups: [...voter.groups], comment, at: now };
    await this.#store.addVote({ reviewId: id, voter: v.voter, vote, groups: JSON.stringify(v.groups), comment, at: now });
    // Awaiting the insert let other votes through: the review may have been decided meanwhile.
    if (review.status !== 'pending') throw new GatewayError('PCS_REVIEW_CLOSED', { id, status: review.status });
    review.votes.push(v);
    this.#record('review.vote', voter.subject, { review: id, vote, comment, approvals: review.votes.filter((x) => x.vote === 'approve').length, needed: review.approvers.min });
    if (vote === 'deny') await this.#decide(review, 'denied', voter.subject, comment, now);
    else if (approvalsSuffice(review.approvers, review.votes)) await this.#decide(review, 'approved', voter.subject, comment, now);
    return review;
  }

  /**
   * Resolves when the review leaves `pending` (approved, denied, expired), or with undefined
   * when `signal` aborts first (the agent went away): its waiter is removed then, so a session
   * that ends leaves nothing behind. The review itself stays.
   */
  wait(id: string, signal?: AbortSignal): Promise<Review | undefined> {
    const review = this.#live.get(id);
    if (review !== undefined && review.status !== 'pending') return Promise.resolve(review);
    if (signal?.aborted === true) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let set = this.#waiters.get(id);
      if (set === undefined) this.#waiters.set(id, (set = new Set()));
      const waiters = set;
      const onAbort = (): void => {
        waiters.delete(waiter);
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        resolve(undefined);
      };
      const waiter = (decided: Review): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(decided);
      };
      waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reviews with an agent waiting on them in this process (for tests and metrics). */
  waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  // ---- reading ----

  async get(id: string): Promise<Review | undefined> {
    const live = this.#live.get(id);
    if (live !== undefined) return live;
    const found = await this.#store.get(id);
    return found === undefined ? undefined : fromRow(found.review, found.votes);
  }

  async list(filter: { status?: ReviewStatus; kind?: 'action' | 'access'; subject?: string; limit?: number }): Promise<Review[]> {
    const rows = await this.#store.list({
      limit: Math.min(filter.limit ?? 100, 1000),
      ...(filter.status !== undefined ? { status: filter.status } : {}),
      ...(filter.kind !== undefined ? { kind: filter.kind } : {}),
      ...(filter.subject !== undefined ? { subject: filter.subject } : {}),
    });
    // Live objects are the truth for what this gateway changed without a read back.
    return rows.map(({ review, votes }) => this.#live.get(review.id) ?? fromRow(review, votes));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  // ---- internals ----

  /** The first of `usable` the store still has a use of; what the store has none of leaves memory. */
  async #takeUse(usable: readonly Review[], session: string | null): Promise<string | undefined> {
    for (const review of usable) {
      let left: number | undefined;
      try {
        left = await this.#store.consumeUse(review.id, Date.now());
      } catch (err) {
        this.#logger.error({ err, review: review.id }, 'could not take a use of an approval; refusing to run it');
        return undefined;
      }
      if (left === undefined) {
        // Used up (by another replica, or by a concurrent call here) or over: the store knows best.
        this.#unindex(review);
        continue;
      }
      review.usesLeft = left;
      this.#record('review.used', review.subject, { review: review.id, session, uses_left: left });
      if (left === 0) this.#unindex(review);
      return review.id;
    }
    return undefined;
  }

  async #decide(review: Review, status: 'approved' | 'denied', by: string, comment: string | null, now: number): Promise<void> {
    review.status = status;
    review.decidedAt = now;
    review.decidedBy = by;
    review.comment = comment;
    if (status === 'approved') {
      review.usesLeft = review.kind === 'action' ? review.uses : 0;
      review.grantUntil = now + (review.kind === 'action' ? review.validForSeconds : (review.durationSeconds ?? 0)) * 1000;
    }
    await this.#store.decide(review.id, { status, decidedAt: now, decidedBy: by, comment, usesLeft: review.usesLeft, grantUntil: review.grantUntil });
    const type = review.kind === 'action' ? (`review.${status}` as const) : (`access.${status}` as const);
    this.#record(type, by, { review: review.id, subject: review.subject, connection: review.connection, comment, ...(review.grantUntil !== null ? { grant_until: review.grantUntil } : {}), ...(review.policy !== null ? { policy: review.policy } : {}) });
    this.#notify(type, review, by, comment);
    if (status === 'denied') this.#unindex(review);
    else this.#index(review);
    this.#wake(review);
  }

  #expire(review: Review, now: number): void {
    review.status = 'expired';
    review.decidedAt = now;
    this.#write(this.#store.expire(review.id, now));
    const type = review.kind === 'action' ? 'review.expired' : 'access.expired';
    this.#record(type, 'portcullis', { review: review.id, subject: review.subject, connection: review.connection, pending_since: review.createdAt });
    this.#notify(type, review);
    this.#unindex(review);
    this.#wake(review);
  }

  /** Pending reviews past their time expire; grants past theirs leave memory (access: `ended`). */
  #sweep(): void {
    if (this.#closed) return;
    const now = Date.now();
    for (const review of [...this.#live.values()]) {
      if (review.status === 'pending' && now >= review.expiresAt) this.#expire(review, now);
      else if (review.status === 'approved' && review.grantUntil !== null && now >= review.grantUntil) {
        this.#unindex(review);
        if (review.kind === 'access') {
          review.status = 'ended';
          this.#write(this.#store.end(review.id));
          this.#record('access.ended', 'portcullis', { review: review.id, subject: review.subject, connection: review.connection, policy: review.policy });
        }
      }
    }
  }

  #index(review: Review): void {
    this.#live.set(review.id, review);
    if (review.status !== 'approved') return;
    const map = review.kind === 'action' ? this.#grants : this.#access;
    const k = review.kind === 'action' ? key(review.subject, review.connection, review.fingerprint) : key(review.subject, review.policy ?? '');
    const list = map.get(k);
    if (list === undefined) map.set(k, [review]);
    else if (!list.includes(review)) list.push(review);
  }

  #unindex(review: Review): void {
    this.#live.delete(review.id);
    const map = review.kind === 'action' ? this.#grants : this.#access;
    const k = review.kind === 'action' ? key(review.subject, review.connection, review.fingerprint) : key(review.subject, review.policy ?? '');
    const list = map.get(k)?.filter((r) => r !== review);
    if (list === undefined || list.length === 0) map.delete(k);
    else map.set(k, list);
  }

  #wake(review: Review): void {
    const set = this.#waiters.get(review.id);
    if (set === undefined) return;
    this.#waiters.delete(review.id);
    for (const resolve of set) resolve(review);
  }

  async #insert(review: Review): Promise<void> {
    await this.#store.insert({
      id: review.id,
      kind: review.kind,
      status: review.status,
      subject: review.subject,
      connection: review.connection,
      action: JSON.stringify(review.action),
      fingerprint: review.fingerprint,
      rule: review.rule ?? '',
      reason: review.reason,
      createdAt: review.createdAt,
      expiresAt: review.expiresAt,
      decidedAt: null,
      decidedBy: null,
      comment: null,
      details: JSON.stringify({ approvers: review.approvers, mode: review.mode, policy: review.policy, duration_seconds: review.durationSeconds, uses: review.uses, valid_for_seconds: review.validForSeconds, session: review.session }),
      usesLeft: 0,
      grantUntil: null,
    });
  }

  #notify(type: NotifyEvent, review: Review, actor?: string, comment?: string | null): void {
    this.#notifier.notify({
      type,
      at: Date.now(),
      review: {
        id: review.id,
        kind: review.kind,
        status: review.status,
        subject: review.subject,
        connection: review.connection,
        ...(review.action !== null ? { action: review.action } : {}),
        ...(review.policy !== null ? { policy: review.policy } : {}),
        ...(review.durationSeconds !== null ? { duration_seconds: review.durationSeconds } : {}),
        rule: review.rule,
        reason: review.reason,
        created_at: review.createdAt,
        expires_at: review.expiresAt,
        approvers: { groups: review.approvers.groups, min: review.approvers.min, all_groups: review.approvers.allGroups },
        url: this.urlOf(review.id),
      },
      ...(actor !== undefined ? { actor } : {}),
      ...(comment !== undefined ? { comment } : {}),
    });
  }

  #record(type: AuditEventType, actor: string, data: Record<string, unknown>): void {
    this.#audit.append({ type, actor, data }).catch((err: unknown) => this.#logger.error({ err, type }, 'audit append failed'));
  }

  #write(p: Promise<unknown>): void {
    p.catch((err: unknown) => this.#logger.error({ err }, 'review store update failed'));
  }
}

function newReview(fields: Omit<Review, 'id' | 'status' | 'decidedAt' | 'decidedBy' | 'comment' | 'usesLeft' | 'grantUntil' | 'votes'>): Review {
  return { ...fields, id: `r-${randomBytes(5).toString('hex')}`, status: 'pending', decidedAt: null, decidedBy: null, comment: null, usesLeft: 0, grantUntil: null, votes: [] };
}

function fromRow(row: StoredReview, votes: readonly StoredVote[]): Review {
  const d = JSON.parse(row.details) as { approvers?: Approvers; mode?: 'hold' | 'defer' | null; policy?: string | null; duration_seconds?: number | null; uses?: number; valid_for_seconds?: number; session?: string | null };
  return {
    id: row.id,
    kind: row.kind === 'access' ? 'access' : 'action',
    status: row.status as ReviewStatus,
    subject: row.subject,
    connection: row.connection,
    action: JSON.parse(row.action) as ReviewedAction | null,
    fingerprint: row.fingerprint,
    rule: row.rule === '' ? null : row.rule,
    reason: row.reason,
    approvers: d.approvers ?? { groups: [], min: 1, allGroups: false },
    mode: d.mode ?? null,
    policy: d.policy ?? null,
    durationSeconds: d.duration_seconds ?? null,
    uses: d.uses ?? 1,
    validForSeconds: d.valid_for_seconds ?? 0,
    session: d.session ?? null,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    decidedAt: row.decidedAt,
    decidedBy: row.decidedBy,
    comment: row.comment,
    usesLeft: row.usesLeft,
    grantUntil: row.grantUntil,
    votes: votes.map((v) => ({ voter: v.voter, vote: v.vote === 'deny' ? 'deny' : 'approve', groups: JSON.parse(v.groups) as string[], comment: v.comment, at: v.at })),
  };
}
