// Shared fixtures of the recorder tests: a fresh SQLite store, a logger whose lines the test
// can read, and a store whose writes can be made to fail on demand.
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { pino } from 'pino';
import type { RecordingRepository } from '../../src/store/repositories/recordings.ts';
import type { Logger } from '../../src/telemetry/logger.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { tempDir } from '../support/tmp.ts';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

export const ERROR = 50;
export const WARN = 40;

/**
 * Where the recorder's transactions run: the store's writer thread (any store with a file), or
 * the recorder's own thread (what a store without a file gets; here the same file store with
 * its writer thread hidden, so both paths are tested against the same checks).
 */
export type WriteMode = 'writer thread' | 'in thread';
export const WRITE_MODES: readonly WriteMode[] = ['writer thread', 'in thread'];

export async function tempStore(mode: WriteMode = 'writer thread'): Promise<Store> {
  return openStore('sqlite:' + join(tempDir('pcs-rec-'), 'p.db'), { writerThread: mode === 'writer thread' });
}

/** Triggers that make every write of a recording fail, as a full disk would. */
const FAIL_TRIGGERS = [
  ['fail_session_insert', 'BEFORE INSERT ON sessions'],
  ['fail_session_update', 'BEFORE UPDATE ON sessions'],
  ['fail_event_insert', 'BEFORE INSERT ON session_events'],
] as const;

function setFailTriggers(file: string, on: boolean): void {
  const db = new SQLite(file);
  try {
    db.pragma('busy_timeout = 5000');
    for (const [name, when] of FAIL_TRIGGERS) {
      db.exec(on ? `CREATE TRIGGER IF NOT EXISTS ${name} ${when} BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END` : `DROP TRIGGER IF EXISTS ${name}`);
    }
  } finally {
    db.close();
  }
}

/**
 * The same store, except that while `failing` is set every recording write fails the way a
 * full disk does (triggers in the database: they fail the writer thread's connection and the
 * main one alike). Also counts the transactions (batches) handed to the store's writer.
 */
export function flakyStore(store: Store): { store: Store; state: { failing: boolean; transactions: number } } {
  let failing = false;
  const file = store.file;
  if (file === undefined) throw new Error('flakyStore needs a store with a file');
  const state = {
    transactions: 0,
    get failing(): boolean {
      return failing;
    },
    set failing(on: boolean) {
      if (on !== failing) setFailTriggers(file, on);
      failing = on;
    },
  };
  const real = store.recordings;
  const recordings: RecordingRepository = {
    openWriter(logger) {
      const writer = real.openWriter(logger);
      return {
        write: (ops) => {
          state.transactions++;
          return writer.write(ops);
        },
        close: () => writer.close(),
      };
    },
    terminateOrphans: (summary) => real.terminateOrphans(summary),
    listSessions: (filter) => real.listSessions(filter),
    getSession: (id) => real.getSession(id),
    events: (id, afterSeq, limit) => real.events(id, afterSeq, limit),
    countEvents: (ids, kinds) => real.countEvents(ids, kinds),
  };
  const flaky: Store = {
    kind: store.kind,
    url: store.url,
    file: store.file,
    meta: store.meta,
    connections: store.connections,
    credentials: store.credentials,
    relays: store.relays,
    tokens: store.tokens,
    sshKeys: store.sshKeys,
    reviews: store.reviews,
    audit: store.audit,
    recordings,
    ping: () => store.ping(),
    close: () => store.close(),
  };
  return { store: flaky, state };
}

/** Wait (without timers of fixed length) until `cond` holds, polling on the event loop. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
