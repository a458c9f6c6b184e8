import type { Command } from 'commander';
import { GatewayError } from '../../core/errors.ts';
import { MAX_EVENT_LIMIT, getSession, listSessions, type SessionEvent } from '../../recorder/reader.ts';
import { openStore, type Store } from '../../store/store.ts';
import { configOption, loadOrExit } from '../context.ts';
import { formatEvent, formatHeader, formatList } from '../session-format.ts';

/** Reading recordings needs only the store: no master key, so an auditor can run it. */
async function withStore<T>(configFile: string | undefined, fn: (store: Store) => Promise<T>): Promise<T> {
  const { config } = loadOrExit(configFile);
  const store = await openStore(config.store);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `--limit ${value}: expected a positive integer` });
  return n;
}

export function sessionsCommand(program: Command): void {
  const sessions = program.command('sessions').description('recorded agent sessions');

  sessions
    .command('list')
    .description('list recorded sessions, newest first')
    .option('-n, --limit <n>', 'at most this many sessions (max 1000)', positiveInt, 50)
    .option('--connection <name>', 'only sessions on this connection')
    .option('-s, --subject <name>', 'only sessions of this subject')
    .option('--active', 'only sessions still open')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(async (opts: { limit: number; connection?: string; subject?: string; active?: boolean; json?: boolean; config?: string }) => {
      await withStore(opts.config, async (store) => {
        const list = await listSessions(store, {
          limit: opts.limit,
          ...(opts.connection !== undefined ? { connection: opts.connection } : {}),
          ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
          ...(opts.active ? { active: true } : {}),
        });
        if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else if (list.length === 0) process.stdout.write('no sessions recorded\n');
        else process.stdout.write(formatList(list));
      });
    });

  sessions
    .command('show')
    .description('print a session and every event it recorded')
    .argument('<id>', 'session id, as printed by `sessions list`')
    .option('--json', 'print JSON ({session, events})')
    .option(...configOption)
    .action(async (id: string, opts: { json?: boolean; config?: string }) => {
      await withStore(opts.config, async (store) => {
        const first = await getSession(store, id, { limit: MAX_EVENT_LIMIT });
        if (!first) throw new GatewayError('PCS_API_NOT_FOUND', { what: `session ${id}` });
        // Read every page: a long session has more events than one page holds.
        const events: SessionEvent[] = [...first.events];
        for (let page = first.events; page.length === MAX_EVENT_LIMIT; ) {
          page = (await getSession(store, id, { afterSeq: page[page.length - 1]?.seq ?? 0, limit: MAX_EVENT_LIMIT }))?.events ?? [];
          events.push(...page);
        }
        if (opts.json) return void process.stdout.write(JSON.stringify({ session: first.session, events }, null, 2) + '\n');
        process.stdout.write(formatHeader(first.session) + '\n');
        if (events.length === 0) process.stdout.write('no events recorded\n');
        for (const e of events) process.stdout.write(formatEvent(e, first.session.startedAt));
      });
    });
}
