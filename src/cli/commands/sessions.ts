import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { GatewayError } from '../../core/errors.ts';
import { formatCast, readCast, type Cast } from '../../recorder/asciicast.ts';
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

/** A parser for a numeric option: `min` or more (more than `min` when `exclusive`), integer if asked. */
function numberOption(flag: string, min: number, opts: { exclusive?: boolean; integer?: boolean } = {}): (value: string) => number {
  const expected = `${opts.integer ? 'an integer' : 'a number'} ${opts.exclusive ? 'greater than' : 'of at least'} ${min}`;
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (opts.exclusive && n === min) || (opts.integer && !Number.isInteger(n))) {
      throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `${flag} ${value}: expected ${expected}` });
    }
    return n;
  };
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/** Plays the output events with their timing: pauses divided by `speed`, each at most `maxWait` seconds (before the division); speed 0: no pauses. */
async function play(cast: Cast, speed: number, maxWait: number): Promise<void> {
  let previous = 0;
  for (const [t, code, data] of cast.events) {
    if (code !== 'o') continue;
    const pause = speed > 0 ? Math.min(t - previous, maxWait) / speed : 0;
    previous = t;
    if (pause > 0) await sleep(pause * 1000);
    await write(data);
  }
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

  sessions
    .command('replay')
    .description("play the terminal output of a session's shells with their timing, or write them as an asciicast v2 file")
    .argument('<id>', 'session id, as printed by `sessions list`')
    .option('--speed <x>', 'playback speed (2: twice as fast; 0: everything at once)', numberOption('--speed', 0), 1)
    .option('--max-wait <s>', 'longest pause between two outputs, in seconds (before --speed)', numberOption('--max-wait', 0, { exclusive: true }), 2)
    .option('--no-timing', 'print everything at once (as --speed 0)')
    .option('--shell <n>', 'only the Nth shell of the session (default: all, in order)', numberOption('--shell', 1, { integer: true }))
    .option('-o, --cast <file>', 'write the asciicast v2 file instead of playing it ("-": standard output)')
    .option(...configOption)
    .action(async (id: string, opts: { speed: number; maxWait: number; timing: boolean; shell?: number; cast?: string; config?: string }) => {
      await withStore(opts.config, async (store) => {
        const found = await readCast(store, id, opts.shell !== undefined ? { shell: opts.shell } : {});
        if (!found) throw new GatewayError('PCS_API_NOT_FOUND', { what: `session ${id}` });
        if (!found.cast) throw new GatewayError('PCS_API_NOT_FOUND', { what: opts.shell !== undefined ? `shell ${opts.shell} in session ${id}` : `shell recording in session ${id}` });
        if (opts.cast === '-') return write(formatCast(found.cast));
        if (opts.cast !== undefined) return writeFileSync(opts.cast, formatCast(found.cast));
        await play(found.cast, opts.timing ? opts.speed : 0, opts.maxWait);
      });
    });
}
