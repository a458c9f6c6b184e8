// Reviews of one action and just-in-time access requests: created by the data path or the
// API, decided by approvers through the API, kept in the store (they survive restarts), every
// step audited and notified. The data path asks two synchronous questions on its hot path
// (is there an approval for this exact action? is this access running?), answered from
// memory; everything that writes is asynchronous.
import { randomBytes } from 'node:crypto';
import type { AuditEventType, AuditSink } from '../core/audit-event.ts';
import type { Approvers, ReviewSpec } from '../core/decision.ts';
import { GatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { ReviewNotice } from '../notify/event.ts';
import type { NotifyEvent } from '../notify/config.ts';
import type { AccessGrants } from '../policy/decide.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Selectable } from 'kysely';
import type { ReviewTable, ReviewVoteTable } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import { approvalsSuffice, fingerprint, grantUsable, voteRefusal, type Review, type ReviewedAction, type ReviewStatus, type Vote } from './review.ts';

export interface ReviewNotifier {
  notify(notice: ReviewNotice): void;
}

export interface ReviewServiceOptions {
  readonly store: Store;
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
  readonly #store: Store;
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
    this.#store = opts.store;
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
    const rows = await opts.store.db.selectFrom('reviews').selectAll().where((eb) => eb.or([eb('status', '=', 'pending'), eb.and([eb('status', '=', 'approved'), eb('grant_until', '>', Date.now())])])).execute();
    const votes = rows.length === 0 ? [] : await opts.store.db.selectFrom('review_votes').selectAll().where('review_id', 'in', rows.map((r) => r.id)).execute();
    for (const row of rows) {
      const review = fromRow(row, votes.filter((v) => v.review_id === row.id));
      service.#index(review);
    }
    service.#sweep();
    return service;
  }

  set baseUrl(url: string) {
    this.#baseUrl = url.replace(/\/+$/, '');
  }

  urlOf(id: string): string {
    return `${this.#baseUrl}/api/v1/reviews/${id}`;
  }

  // ---- the data path (synchronous) ----

  /**
   * Uses one run of an approval of exactly this action by this subject on this connection,
   * if there is one; audited. Returns the review's id, or undefined.
   */
  consume(subject: string, connection: string, action: ReviewedAction, session: string | null): string | undefined {
    const list = this.#grants.get(key(subject, connection, fingerprint(subject, connection, action)));
    if (list === undefined) return undefined;
    const now = Date.now();
    const review = list.find((r) => grantUsable(r, now));
    if (review === undefined) return undefined;
    review.usesLeft--;
    this.#write(this.#store.db.updateTable('reviews').set({ uses_left: review.usesLeft }).where('id', '=', review.id).execute());
    this.#record('review.used', review.subject, { review: review.id, session, uses_left: review.usesLeft });
    if (review.usesLeft === 0) this.#unindex(review);
    return review.id;
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
    await this.#store.db.insertInto('review_votes').values({ review_id: id, voter: v.voter, vote, groups: JSON.stringify(v.groups), comment, at: now }).execute();
    // Awaiting the insert let other votes through: the review may have been decided meanwhile.
    if (review.status !== 'pending') throw new GatewayError('PCS_REVIEW_CLOSED', { id, status: review.status });
    review.votes.push(v);
    this.#record('review.vote', voter.subject, { review: id, vote, comment, approvals: review.votes.filter((x) => x.vote === 'approve').length, needed: review.approvers.min });
    if (vote === 'deny') await this.#decide(review, 'denied', voter.subject, comment, now);
    else if (approvalsSuffice(review.approvers, review.votes)) await this.#decide(review, 'approved', voter.subject, comment, now);
    return review;
  }

  /** Resolves when the review leaves `pending` (approved, denied, expired). */
  wait(id: string): Promise<Review> {
    const review = this.#live.get(id);
    if (review !== undefined && review.status !== 'pending') return Promise.resolve(review);
    return new Promise((resolve) => {
      let set = this.#waiters.get(id);
      if (set === undefined) this.#waiters.set(id, (set = new Set()));
      set.add(resolve);
    });
  }

  /** Stop waiting (the session ended); the review itself stays. */
  forget(id: string, resolve: (review: Review) => void): void {
    this.#waiters.get(id)?.delete(resolve);
  }

  // ---- reading ----

  async get(id: string): Promise<Review | undefined> {
    const live = this.#live.get(id);
    if (live !== undefined) return live;
    const row = await this.#store.db.selectFrom('reviews').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    const votes = await this.#store.db.selectFrom('review_votes').selectAll().where('review_id', '=', id).execute();
    return fromRow(row, votes);
  }

  async list(filter: { status?: ReviewStatus; kind?: 'action' | 'access'; subject?: string; limit?: number }): Promise<Review[]> {
    let q = this.#store.db.selectFrom('reviews').selectAll().orderBy('created_at', 'desc').limit(Math.min(filter.limit ?? 100, 1000));
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    const rows = await q.execute();
    const votes = rows.length === 0 ? [] : await this.#store.db.selectFrom('review_votes').selectAll().where('review_id', 'in', rows.map((r) => r.id)).execute();
    // Live objects are the truth for what the data path changes without a read back.
    return rows.map((row) => this.#live.get(row.id) ?? fromRow(row, votes.filter((v) => v.review_id === row.id)));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  // ---- internals ----

  async #decide(review: Review, status: 'approved' | 'denied', by: string, comment: string | null, now: number): Promise<void> {
    review.status = status;
    review.decidedAt = now;
    review.decidedBy = by;
    review.comment = comment;
    if (status === 'approved') {
      review.usesLeft = review.kind === 'action' ? review.uses : 0;
      review.grantUntil = now + (review.kind === 'action' ? review.validForSeconds : (review.durationSeconds ?? 0)) * 1000;
    }
    await this.#store.db.updateTable('reviews').set({ status, decided_at: now, decided_by: by, comment, uses_left: review.usesLeft, grant_until: review.grantUntil }).where('id', '=', review.id).execute();
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
    this.#write(this.#store.db.updateTable('reviews').set({ status: 'expired', decided_at: now }).where('id', '=', review.id).where('status', '=', 'pending').execute());
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
          this.#write(this.#store.db.updateTable('reviews').set({ status: 'ended' }).where('id', '=', review.id).execute());
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
    await this.#store.db
      .insertInto('reviews')
      .values({
        id: review.id,
        kind: review.kind,
        status: review.status,
        subject: review.subject,
        connection: review.connection,
        action: JSON.stringify(review.action),
        fingerprint: review.fingerprint,
        rule: review.rule ?? '',
        reason: review.reason,
        created_at: review.createdAt,
        expires_at: review.expiresAt,
        details: JSON.stringify({ approvers: review.approvers, mode: review.mode, policy: review.policy, duration_seconds: review.durationSeconds, uses: review.uses, valid_for_seconds: review.validForSeconds, session: review.session }),
        uses_left: 0,
        grant_until: null,
      })
      .execute();
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

type ReviewRow = Selectable<ReviewTable>;
type VoteRow = Selectable<ReviewVoteTable>;


function fromRow(row: ReviewRow, votes: readonly VoteRow[]): Review {
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
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    decidedAt: row.decided_at === null ? null : Number(row.decided_at),
    decidedBy: row.decided_by,
    comment: row.comment,
    usesLeft: row.uses_left,
    grantUntil: row.grant_until === null ? null : Number(row.grant_until),
    votes: votes.map((v) => ({ voter: v.voter, vote: v.vote === 'deny' ? 'deny' : 'approve', groups: JSON.parse(v.groups) as string[], comment: v.comment, at: Number(v.at) })),
  };
}
