// The one way into persistence. Callers get a Kysely<Database> whose queries run unchanged on
// SQLite (embedded default) and PostgreSQL (a later backend): the store URL picks the dialect.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Dialect } from 'kysely';
import { GatewayError } from '../core/errors.ts';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

/** Open the store named by `url` (`sqlite:PATH`, `sqlite::memory:`) and run pending migrations. */
export async function openStore(url: string): Promise<Store> {
  let dialect: Dialect;
  let kind: Store['kind'];
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    const file = path === ':memory:' ? ':memory:' : path;
    const created = file !== ':memory:' && !existsSync(file);
    if (created) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(file);
    // Sealed credentials and token metadata: readable by the gateway's user only.
    if (created) chmodSync(file, 0o600);
    // WAL lets readers (the admin API) run beside the writer (recordings, audit).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    dialect = new SqliteDialect({ database: sqlite });
    kind = 'sqlite';
  } else {
    throw new GatewayError('PCS_STORE_UNSUPPORTED', { url: url.replace(/\/\/[^@/]*@/, '//***@') });
  }

  const db = new Kysely<Database>({ dialect });
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new GatewayError('PCS_STORE_MIGRATION_FAILED', { migration: failed, cause: error instanceof Error ? error.message : String(error) });
  }
  return { db, kind, close: () => db.destroy() };
}
