// `portcullis reviews`: approvers list, read and decide reviews through the admin API, as
// themselves (PORTCULLIS_TOKEN). The gateway decides who may vote; this only shows its answer.
import { Option, type Command } from 'commander';
import { GatewayError } from '../../core/errors.ts';
import { apiClient, apiOption, type ApiClient } from '../api-client.ts';
import { configOption } from '../context.ts';

/** A review as the API returns it (src/reviews/review.ts reviewView); times in ms since the epoch. */
export interface ReviewJson {
  id: string;
  kind: 'action' | 'access';
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'ended';
  subject: string;
  connection: string;
  action: { kind: string; text: string; params: (string | null)[] | null } | null;
  fingerprint: string;
  rule: string | null;
  reason: string | null;
  mode: 'hold' | 'defer' | null;
  policy: string | null;
  duration_seconds: number | null;
  approvers: { groups: string[]; min: number; all_groups: boolean };
  uses: number;
  uses_left: number;
  valid_for_seconds: number;
  session: string | null;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_by: string | null;
  comment: string | null;
  grant_until: number | null;
  votes: { voter: string; vote: 'approve' | 'deny'; groups: string[]; comment: string | null; at: number }[];
  url: string;
}

export const STATUSES = ['pending', 'approved', 'denied', 'expired', 'ended'] as const;
export const KINDS = ['action', 'access'] as const;

// ---- formatting (pure, so the tests can call it without spawning the CLI) ----

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A span as one or two units: 45s, 3m, 1h05m, 2d. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)}h${m ? String(m).padStart(2, '0') + 'm' : ''}`;
  }
  return `${Math.floor(s / 86400)}d`;
}

/** "3m ago" or "in 9m" relative to now. */
export function relative(ms: number, now = Date.now()): string {
  return ms <= now ? `${span(now - ms)} ago` : `in ${span(ms - now)}`;
}

/** Seconds as a duration the config would accept (30m, 1h, 90s). */
export function seconds(s: number): string {
  if (s % 86400 === 0 && s > 0) return `${s / 86400}d`;
  if (s % 3600 === 0 && s > 0) return `${s / 3600}h`;
  if (s % 60 === 0 && s > 0) return `${s / 60}m`;
  return `${s}s`;
}

export function oneLine(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : flat.slice(0, max - 1) + '…';
}

export function approvalCount(r: ReviewJson): number {
  return r.votes.filter((v) => v.vote === 'approve').length;
}

/** Who decides: "1 of dba", "2 of dba, security (one from each)". */
export function approversText(r: ReviewJson): string {
  return `${r.approvers.min} of ${r.approvers.groups.join(', ')}${r.approvers.all_groups ? ' (one from each)' : ''}`;
}

/** When it stops: a pending review expires; an approved one's grant ends. */
function expiresText(r: ReviewJson, now: number): string {
  if (r.status === 'pending') return relative(r.expires_at, now);
  if (r.status === 'approved' && r.grant_until !== null && r.grant_until > now) return `grant ${relative(r.grant_until, now)}`;
  return '-';
}

export function table(header: readonly string[], rows: readonly string[][]): string {
  const all = [[...header], ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

export function formatReviewList(reviews: readonly ReviewJson[], now = Date.now()): string {
  const rows = reviews.map((r) => [
    r.id,
    r.kind,
    r.status,
    r.subject,
    r.connection,
    r.rule ?? r.policy ?? '-',
    relative(r.created_at, now),
    expiresText(r, now),
    `${approvalCount(r)}/${r.approvers.min}`,
    // Connection and policy have columns of their own; an access row says for how long and why.
    oneLine(r.action !== null ? r.action.text : `access${r.duration_seconds !== null ? ` for ${seconds(r.duration_seconds)}` : ''}${r.reason ? `: ${r.reason}` : ''}`),
  ]);
  return table(['ID', 'KIND', 'STATUS', 'SUBJECT', 'CONNECTION', 'RULE/POLICY', 'CREATED', 'EXPIRES', 'APPROVALS', 'ACTION'], rows);
}

const INDENT = '    ';

export function formatReview(r: ReviewJson, now = Date.now()): string {
  const line = (label: string, value: string): string => `${label.padEnd(12)}${value}`;
  const out = [line('review', `${r.id} (${r.kind})`)];
  let status: string = r.status;
  if (r.status === 'pending') status += `, expires ${relative(r.expires_at, now)} (${isoTime(r.expires_at)})`;
  else if (r.status === 'expired') status += ` at ${isoTime(r.decided_at ?? r.expires_at)} without a decision`;
  out.push(line('status', status));
  out.push(line('subject', r.subject));
  out.push(line('connection', r.connection));
  if (r.rule !== null) out.push(line('rule', r.rule));
  if (r.policy !== null) out.push(line('policy', r.policy));
  if (r.duration_seconds !== null) out.push(line('duration', seconds(r.duration_seconds)));
  if (r.mode !== null) out.push(line('mode', r.mode));
  out.push(line('reason', r.reason ?? '-'));
  out.push(line('approvers', approversText(r)));
  out.push(line('approvals', `${approvalCount(r)} of ${r.approvers.min}`));
  out.push(line('created', `${isoTime(r.created_at)} (${relative(r.created_at, now)})`));
  if (r.decided_at !== null && r.status !== 'expired') {
    out.push(line('decided', `${isoTime(r.decided_at)}${r.decided_by ? ` by ${r.decided_by}` : ''}${r.comment ? `: ${JSON.stringify(r.comment)}` : ''}`));
  }
  if (r.grant_until !== null) out.push(line('grant until', `${isoTime(r.grant_until)} (${relative(r.grant_until, now)})`));
  if (r.kind === 'action') out.push(line('uses', `${r.uses} within ${seconds(r.valid_for_seconds)} of approval${r.status === 'approved' ? `, ${r.uses_left} left` : ''}`));
  if (r.session !== null) out.push(line('session', r.session));
  if (r.fingerprint) out.push(line('fingerprint', r.fingerprint));
  out.push(line('url', r.url));
  if (r.votes.length === 0) out.push(line('votes', 'none yet'));
  else {
    out.push('votes');
    for (const v of r.votes) out.push(`${INDENT}${isoTime(v.at)}  ${v.vote.padEnd(7)}  ${v.voter} [${v.groups.join(', ')}]${v.comment ? `: ${JSON.stringify(v.comment)}` : ''}`);
  }
  if (r.action !== null) {
    out.push(`action (${r.action.kind})`);
    for (const l of r.action.text.split('\n')) out.push(INDENT + l);
    if (r.action.params !== null) out.push(`params      ${JSON.stringify(r.action.params)}`);
  }
  return out.join('\n') + '\n';
}

/** The answer to a vote: decided, or how far along. */
export function formatVoteResult(r: ReviewJson, vote: 'approve' | 'deny'): string {
  const count = `${approvalCount(r)} of ${r.approvers.min}`;
  if (r.status === 'approved') return `${r.id} approved by ${r.decided_by ?? '?'} (${count})\n`;
  if (r.status === 'denied') return `${r.id} denied by ${r.decided_by ?? '?'}${r.comment ? `: ${JSON.stringify(r.comment)}` : ''}\n`;
  if (r.status === 'pending') {
    // Enough approvals in number but not from every group: say which is missing.
    const missing = r.approvers.all_groups ? r.approvers.groups.filter((g) => !r.votes.some((v) => v.vote === 'approve' && v.groups.includes(g))) : [];
    return `${r.id}: ${count} approvals, still pending${missing.length ? ` (needs one from ${missing.join(', ')})` : ''}\n`;
  }
  return `${r.id}: your ${vote} was recorded; the review is ${r.status}\n`;
}

// ---- the commands ----

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `--limit ${value}: expected an integer from 1 to 1000` });
  return n;
}

export async function getReview(client: ApiClient, id: string): Promise<ReviewJson> {
  return client.get<ReviewJson>(`/api/v1/reviews/${encodeURIComponent(id)}`);
}

interface ApiOpts {
  api?: string;
  config?: string;
}

export function reviewsCommand(program: Command): void {
  const reviews = program.command('reviews').description('reviews and access requests waiting for a human (uses $PORTCULLIS_TOKEN)');

  reviews
    .command('list')
    .description('list the reviews you may see (yours, those you may decide; all for admins), newest first')
    .addOption(new Option('--status <status>', 'only reviews in this state').choices(STATUSES))
    .addOption(new Option('--kind <kind>', 'only statement reviews (action) or access requests (access)').choices(KINDS))
    .option('-s, --subject <name>', 'only reviews asked for by this subject')
    .option('-n, --limit <n>', 'at most this many (max 1000)', positiveInt, 100)
    .option('--json', 'print JSON')
    .option(...apiOption)
    .option(...configOption)
    .action(async (opts: ApiOpts & { status?: string; kind?: string; subject?: string; limit: number; json?: boolean }) => {
      const client = apiClient(opts);
      const q = new URLSearchParams({ limit: String(opts.limit) });
      if (opts.status !== undefined) q.set('status', opts.status);
      if (opts.kind !== undefined) q.set('kind', opts.kind);
      if (opts.subject !== undefined) q.set('subject', opts.subject);
      const { reviews: list } = await client.get<{ reviews: ReviewJson[] }>(`/api/v1/reviews?${q}`);
      if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      else if (list.length === 0) process.stdout.write('no reviews\n');
      else process.stdout.write(formatReviewList(list));
    });

  reviews
    .command('show')
    .description('print a review: every field, the votes, the full action text and parameters')
    .argument('<id>', 'review id, as printed by `reviews list` (r-...)')
    .option('--json', 'print JSON')
    .option(...apiOption)
    .option(...configOption)
    .action(async (id: string, opts: ApiOpts & { json?: boolean }) => {
      const review = await getReview(apiClient(opts), id);
      process.stdout.write(opts.json ? JSON.stringify(review, null, 2) + '\n' : formatReview(review));
    });

  for (const vote of ['approve', 'deny'] as const) {
    reviews
      .command(vote)
      .description(vote === 'approve' ? 'approve a review (never your own; agents cannot)' : 'deny a review; one denial decides it')
      .argument('<id>', 'review id (r-...)')
      .option('-m, --comment <text>', 'why, kept with the vote and in the audit log')
      .option(...apiOption)
      .option(...configOption)
      .action(async (id: string, opts: ApiOpts & { comment?: string }) => {
        const client = apiClient(opts);
        const review = await client.post<ReviewJson>(`/api/v1/reviews/${encodeURIComponent(id)}/${vote}`, opts.comment !== undefined ? { comment: opts.comment } : {});
        process.stdout.write(formatVoteResult(review, vote));
      });
  }
}
