// Shared fixtures of the recorder tests: a fresh SQLite store, a logger whose lines the test
// can read, and a store whose writes can be made to fail on demand.
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../../src/runtime/logger.ts';
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

export async function tempStore(): Promise<Store> {
  return openStore('sqlite:' + join(tempDir('pcs-rec-'), 'p.db'));
}

/**
 * The same store, except that while `failing` is set every transaction fails the way a full
 * disk or a lost database connection does. Also counts transactions (batches).
 */
export function flakyStore(store: Store): { store: Store; state: { failing: boolean; transactions: number } } {
  const state = { failing: false, transactions: 0 };
  const db = new Proxy(store.db, {
    get(target, prop) {
      if (prop === 'transaction') {
        state.transactions++;
        if (state.failing) return () => ({ execute: () => Promise.reject(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })) });
      }
      const value: unknown = Reflect.get(target, prop);
      // Kysely keeps its state in #private fields: call its methods on the real instance.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: { ...store, db, close: () => store.close() }, state };
}

/** Wait (without timers of fixed length) until `cond` holds, polling on the event loop. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
