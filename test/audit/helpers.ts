// Shared set-up for the audit tests, and an attacker's toolkit: a second, raw better-sqlite3
// connection on the same file, plus an independent implementation of the documented hash format
// (node:crypto + canonicalize only, nothing from src/audit) to re-hash a chain after an edit.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import canonicalizeModule from 'canonicalize';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import type { AuditTable } from '../../src/store/schema.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { tempDir } from '../support/tmp.ts';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string;

/** A row of `audit` as an attacker with raw SQLite access sees it. */
export type RawAuditRow = AuditTable;

export interface Fixture {
  readonly dir: string;
  readonly dbFile: string;
  readonly keyFile: string;
  readonly store: Store;
  log: AuditLog;
}

/** The timer checkpoint is off unless asked for: tests of the count rule stay deterministic. */
export async function openFixture(checkpointEvery = 100, checkpointEveryMs = 0): Promise<Fixture> {
  const dir = tempDir('pcs-audit-');
  const dbFile = join(dir, 'p.db');
  const keyFile = join(dir, 'keys', 'audit-signing-key.pem');
  const store = await openStore(`sqlite:${dbFile}`);
  const log = await AuditLog.open({ store, signingKeyFile: keyFile, checkpointEvery, checkpointEveryMs, logger: createLogger('silent') });
  return { dir, dbFile, keyFile, store, log };
}

export async function appendMany(log: AuditLog, count: number, from = 1): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await log.append({ type: 'policy.decision', actor: `agent-${i % 3}`, data: { n: i, decision: i % 5 === 0 ? 'deny' : 'allow', connection: 'orders-db' } });
  }
}

/** The documented format, re-implemented: SHA-256 hex of RFC 8785 JSON of the six fields. */
export function independentHash(row: Omit<RawAuditRow, 'hash'>): string {
  const hashed = canonicalize({ seq: row.seq, at: row.at, type: row.type, actor: row.actor, data: JSON.parse(row.data) as unknown, prev_hash: row.prev_hash });
  return createHash('sha256').update(hashed, 'utf8').digest('hex');
}

/** What an attacker with write access to the database file does it with. */
export function attacker(dbFile: string): SQLite.Database {
  const db = new SQLite(dbFile);
  db.pragma('busy_timeout = 5000');
  return db;
}

export function rawRows(db: SQLite.Database): RawAuditRow[] {
  return db.prepare('SELECT seq, at, type, actor, data, prev_hash, hash FROM audit ORDER BY seq').all() as RawAuditRow[];
}

/** Recompute prev_hash and hash of every record from `fromSeq` on, so the links are consistent. */
export function rehashFrom(db: SQLite.Database, fromSeq: number): void {
  const update = db.prepare('UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?');
  const rows = rawRows(db);
  let prevHash = rows.find((r) => r.seq === fromSeq - 1)?.hash ?? '0'.repeat(64);
  db.transaction(() => {
    for (const row of rows) {
      if (row.seq < fromSeq) continue;
      const hash = independentHash({ ...row, prev_hash: prevHash });
      update.run(prevHash, hash, row.seq);
      prevHash = hash;
    }
  })();
}
