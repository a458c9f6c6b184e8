// Reviews in a Kysely store. Use counts are only ever decremented in the database, one use per
// statement that checks what is left (`WHERE uses_left > 0 ... RETURNING`): two replicas that
// consume the same approval at once get one use each, never the same one twice.
import type { Kysely, Selectable } from 'kysely';
import type { ReviewDecision, ReviewFilter, ReviewRepository, ReviewWithVotes, StoredReview, StoredVote } from '../repositories/reviews.ts';
import type { Database, ReviewTable, ReviewVoteTable } from '../schema.ts';

const toReview = (r: Selectable<ReviewTable>): StoredReview => ({
  id: r.id,
  kind: r.kind,
  status: r.status,
  subject: r.subject,
  connection: r.connection,
  action: r.action,
  fingerprint: r.fingerprint,
  rule: r.rule,
  reason: r.reason,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  decidedAt: r.decided_at === null ? null : Number(r.decided_at),
  decidedBy: r.decided_by,
  comment: r.comment,
  details: r.details,
  usesLeft: Number(r.uses_left),
  grantUntil: r.grant_until === null ? null : Number(r.grant_until),
});

const toVote = (v: Selectable<ReviewVoteTable>): StoredVote => ({ reviewId: v.review_id, voter: v.voter, vote: v.vote, groups: v.groups, comment: v.comment, at: Number(v.at) });

export class KyselyReviews implements ReviewRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async live(now: number): Promise<ReviewWithVotes[]> {
    const rows = await this.db
      .selectFrom('reviews')
      .selectAll()
      .where((eb) => eb.or([eb('status', '=', 'pending'), eb.and([eb('status', '=', 'approved'), eb('grant_until', '>', now)])]))
      .execute();
    return this.#withVotes(rows);
  }

  async get(id: string): Promise<ReviewWithVotes | undefined> {
    const row = await this.db.selectFrom('reviews').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    const votes = await this.db.selectFrom('review_votes').selectAll().where('review_id', '=', id).execute();
    return { review: toReview(row), votes: votes.map(toVote) };
  }

  async list(filter: ReviewFilter): Promise<ReviewWithVotes[]> {
    let q = this.db.selectFrom('reviews').selectAll().orderBy('created_at', 'desc').limit(filter.limit);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    return this.#withVotes(await q.execute());
  }

  async insert(r: StoredReview): Promise<void> {
    await this.db
      .insertInto('reviews')
      .values({
        id: r.id,
        kind: r.kind,
        status: r.status,
        subject: r.subject,
        connection: r.connection,
        action: r.action,
        fingerprint: r.fingerprint,
        rule: r.rule,
        reason: r.reason,
        created_at: r.createdAt,
        expires_at: r.expiresAt,
        decided_at: r.decidedAt,
        decided_by: r.decidedBy,
        comment: r.comment,
        details: r.details,
        uses_left: r.usesLeft,
        grant_until: r.grantUntil,
      })
      .execute();
  }

  async addVote(v: StoredVote): Promise<void> {
    await this.db.insertInto('review_votes').values({ review_id: v.reviewId, voter: v.voter, vote: v.vote, groups: v.groups, comment: v.comment, at: v.at }).execute();
  }

  async decide(id: string, d: ReviewDecision): Promise<void> {
    await this.db
      .updateTable('reviews')
      .set({ status: d.status, decided_at: d.decidedAt, decided_by: d.decidedBy, comment: d.comment, uses_left: d.usesLeft, grant_until: d.grantUntil })
      .where('id', '=', id)
      .execute();
  }

  async expire(id: string, at: number): Promise<void> {
    await this.db.updateTable('reviews').set({ status: 'expired', decided_at: at }).where('id', '=', id).where('status', '=', 'pending').execute();
  }

  async end(id: string): Promise<void> {
    await this.db.updateTable('reviews').set({ status: 'ended' }).where('id', '=', id).execute();
  }

  async consumeUse(id: string, now: number): Promise<number | undefined> {
    const row = await this.db
      .updateTable('reviews')
      .set((eb) => ({ uses_left: eb('uses_left', '-', 1) }))
      .where('id', '=', id)
      .where('status', '=', 'approved')
      .where('uses_left', '>', 0)
      .where('grant_until', '>', now)
      .returning('uses_left')
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.uses_left);
  }

  async #withVotes(rows: readonly Selectable<ReviewTable>[]): Promise<ReviewWithVotes[]> {
    const votes = rows.length === 0 ? [] : await this.db.selectFrom('review_votes').selectAll().where('review_id', 'in', rows.map((r) => r.id)).execute();
    return rows.map((row) => ({ review: toReview(row), votes: votes.filter((v) => v.review_id === row.id).map(toVote) }));
  }
}
