// Shared fixtures of the recorder tests: a fresh SQLite store, a logger whose lines the test
// can read, and a store whose writes can be made to fail on demand.
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { pino } from 'pino';
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
  const store = await openStore('sqlite:' + join(tempDir('pcs-rec-'), 'p.db'));
  return mode === 'writer thread' ? store : { ...store, writer: undefined };
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
 * The same store, except that while `failing` is set every transaction fails the way a full
 * disk or a lost database connection does. Also counts transactions (batches). In-thread
 * writes are failed and counted on the store's connection; the writer thread's, which runs on
 * its own connection, are failed by triggers in the database and counted as requests to it.
 */
export function flakyStore(store: Store): { store: Store; state: { failing: boolean; transactions: number } } {
  let failing = false;
  const state = {
    transactions: 0,
    get failing(): boolean {
      return failing;
    },
    set failing(on: boolean) {
      if (store.writer && store.file && on !== failing) setFailTriggers(store.file, on);
      failing = on;
    },
  };
  const db = new Proxy(store.db, {
    get(target, prop) {
      if (prop === 'transaction') {
        state.transactions++;
        if (failing) return () => ({ execute: () => Promise.reject(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })) });
      }
      const value: unknown = Reflect.get(target, prop);
      // Kysely keeps its state in #private fields: call its methods on the real instance.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const writer = store.writer && new Proxy(store.writer, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (prop === 'request') {
        return (message: { op: string }) => {
          if (message.op === 'recorder.write') state.transactions++;
          return target.request(message);
        };
      }
      // WriterThread keeps its state in #private fields too.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: { ...store, db, writer, close: () => store.close() }, state };
}

/** Wait (without timers of fixed length) until `cond` holds, polling on the event loop. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
