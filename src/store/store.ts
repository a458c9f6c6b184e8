// The one way into persistence. Callers get a Kysely<Database> whose queries run unchanged on
// SQLite (embedded default) and PostgreSQL (a later backend): the store URL picks the dialect.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Dialect } from 'kysely';
import { GatewayError } from '../core/errors.ts';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';
import { configureSqlite } from './sqlite.ts';
import { WriterThread } from './writer-thread.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly kind: 'sqlite' | 'postgres';
  /** The URL the store was opened with. */
  readonly url: string;
  /** The database file, or undefined when there is none (`sqlite::memory:`). */
  readonly file: string | undefined;
  /**
   * The background writer (a worker thread with its own connection to `file`) that the audit
   * log and the recorder hand their batches to, so the event loop never waits for SQLite;
   * undefined when the store has no file to share. Closed by close().
   */
  readonly writer: WriterThread | undefined;
  close(): Promise<void>;
}

/** Open the store named by `url` (`sqlite:PATH`, `sqlite::memory:`) and run pending migrations. */
export async function openStore(url: string): Promise<Store> {
  let dialect: Dialect;
  let kind: Store['kind'];
  let dbFile: string | undefined;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    const file = path === ':memory:' ? ':memory:' : path;
    const created = file !== ':memory:' && !existsSync(file);
    if (created) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(file);
    // Sealed credentials and token metadata: readable by the gateway's user only (before WAL
    // mode creates the -wal and -shm files, which SQLite gives the database file's mode).
    if (created) chmodSync(file, 0o600);
    configureSqlite(sqlite);
    if (file !== ':memory:') dbFile = resolve(file);
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
  const writer = dbFile === undefined ? undefined : new WriterThread(dbFile);
  return {
    db,
    kind,
    url,
    file: dbFile,
    writer,
    async close() {
      // The writer first: it finishes what it was handed, then the main connection goes.
      await writer?.close();
      await db.destroy();
    },
  };
}
