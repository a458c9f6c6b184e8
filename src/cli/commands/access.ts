// `portcullis access`: ask for just-in-time access to a connection as yourself
// (PORTCULLIS_TOKEN), optionally wait for the decision, and list your own requests.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { duration } from '../../config/schema.ts';
import { apiClient, apiOption, fail } from '../api-client.ts';
import { CliExit, EXIT, configOption } from '../context.ts';
import { approversText, getReview, isoTime, relative, seconds, table, type ReviewJson } from './reviews.ts';

const POLL_MS = 1000;

interface ApiOpts {
  api?: string;
  config?: string;
}

/** The final word on a request that left `pending`; granted when it was approved. */
function outcome(r: ReviewJson): { text: string; granted: boolean } {
  // `ended` is an approval whose time already ran out (a very short --for, a slow poll).
  if (r.status === 'approved' || r.status === 'ended') {
    const until = r.grant_until !== null ? ` until ${isoTime(r.grant_until)} (${r.status === 'ended' ? 'already ended' : relative(r.grant_until)})` : '';
    return { text: `${r.id} approved by ${r.decided_by ?? '?'}: access to ${r.connection} under ${r.policy ?? '?'}${until}${r.comment ? `: ${JSON.stringify(r.comment)}` : ''}\n`, granted: true };
  }
  if (r.status === 'denied') return { text: `${r.id} denied by ${r.decided_by ?? '?'}${r.comment ? `: ${JSON.stringify(r.comment)}` : ''}\n`, granted: false };
  return { text: `${r.id} ${r.status} without a decision\n`, granted: false };
}

function formatAccessList(list: readonly ReviewJson[], now = Date.now()): string {
  const rows = list.map((r) => [
    r.id,
    r.status,
    r.connection,
    r.policy ?? '-',
    r.duration_seconds !== null ? seconds(r.duration_seconds) : '-',
    relative(r.created_at, now),
    r.status === 'pending' ? `expires ${relative(r.expires_at, now)}` : r.status === 'approved' && r.grant_until !== null ? `until ${isoTime(r.grant_until)}` : '-',
    r.decided_by ?? '-',
    r.reason ?? '',
  ]);
  return table(['ID', 'STATUS', 'CONNECTION', 'POLICY', 'FOR', 'CREATED', 'WHEN', 'DECIDED BY', 'REASON'], rows);
}

export function accessCommand(program: Command): void {
  const access = program.command('access').description('just-in-time access to a connection, approved by a human (uses $PORTCULLIS_TOKEN)');

  access
    .command('request')
    .description('ask for access to a connection under a just-in-time policy; approvers are notified')
    .argument('<connection>', 'connection name')
    .requiredOption('--for <duration>', 'how long, e.g. 30m (at most the policy\'s max_duration)')
    .option('-p, --policy <name>', 'the just-in-time policy (needed when more than one applies)')
    .option('-r, --reason <text>', 'why, shown to the approvers')
    .option('-w, --wait', 'wait for the decision; exit 0 when approved, 1 otherwise')
    .option(...apiOption)
    .option(...configOption)
    .action(async (connection: string, opts: ApiOpts & { for: string; policy?: string; reason?: string; wait?: boolean }) => {
      // Checked here so a typo is a usage error, not a round trip.
      if (!duration.safeParse(opts.for).success) fail(EXIT.usage, `--for ${opts.for}: expected a duration such as 30m or 1h`);
      const client = apiClient(opts);
      const review = await client.post<ReviewJson>('/api/v1/access', {
        connection,
        duration: opts.for,
        ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      });
      process.stdout.write(
        [
          `${review.id}: ${review.subject} asks for access to ${review.connection} under ${review.policy ?? '?'} for ${seconds(review.duration_seconds ?? 0)}${review.reason ? ` (${review.reason})` : ''}`,
          `pending: needs approval by ${approversText(review)}, expires ${relative(review.expires_at)} (${isoTime(review.expires_at)})`,
          `an approver runs: portcullis reviews approve ${review.id} [--comment TEXT]`,
          `             or: POST ${review.url}/approve`,
        ].join('\n') + '\n',
      );
      if (!opts.wait) return;
      process.stderr.write(`waiting for a decision on ${review.id} (Ctrl-C stops waiting; the request stays)\n`);
      let current = review;
      while (current.status === 'pending') {
        await sleep(POLL_MS);
        current = await getReview(client, review.id);
      }
      const { text, granted } = outcome(current);
      process.stdout.write(text);
      if (!granted) throw new CliExit(EXIT.failure);
    });

  access
    .command('list')
    .description('your own access requests, newest first')
    .option('--json', 'print JSON')
    .option(...apiOption)
    .option(...configOption)
    .action(async (opts: ApiOpts & { json?: boolean }) => {
      const client = apiClient(opts);
      const me = await client.get<{ subject: string }>('/api/v1/whoami');
      const { reviews: list } = await client.get<{ reviews: ReviewJson[] }>(`/api/v1/reviews?${new URLSearchParams({ kind: 'access', subject: me.subject, limit: '1000' })}`);
      if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      else if (list.length === 0) process.stdout.write(`no access requests by ${me.subject}\n`);
      else process.stdout.write(formatAccessList(list));
    });
}
