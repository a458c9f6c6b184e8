// The SQLite store: the embedded default, one file (or `sqlite::memory:`). Repositories share
// the main better-sqlite3 connection (through Kysely for everything but the hot writes); the
// audit log's and the recorder's batches go to a writer thread with its own connection when
// there is a file to share (writer-thread.ts).
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { GatewayError } from '../../core/errors.ts';
import { migrationProvider } from '../migrations.ts';
import type { Database } from '../schema.ts';
import type { Store } from '../store.ts';
import { SqliteAudit } from './audit.ts';
import { configureSqlite } from './connection.ts';
import { SqliteRecordings } from './recordings.ts';
import { KyselyReviews } from './reviews.ts';
import { KyselyConnections, KyselyCredentials, KyselyMeta, KyselyRelays, KyselySshKeys, KyselyTokens } from './simple.ts';
import { WriterThread } from './writer-thread.ts';

export interface SqliteParts {
  readonly url: string;
  readonly sqlite: SQLite.Database;
  readonly db: Kysely<Database>;
  /** The database file, or undefined for `sqlite::memory:`. */
  readonly file: string | undefined;
  /** The background writer; undefined when writes run on the main connection. */
  readonly writer: WriterThread | undefined;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly url: string;
  readonly file: string | undefined;
  /** The store's own handles: for its repositories, and for tests that look at rows directly. */
  readonly sqlite: SQLite.Database;
  readonly db: Kysely<Database>;
  readonly writer: WriterThread | undefined;
  readonly meta: KyselyMeta;
  readonly connections: KyselyConnections;
  readonly credentials: KyselyCredentials;
  readonly tokens: KyselyTokens;
  readonly sshKeys: KyselySshKeys;
  readonly relays: KyselyRelays;
  readonly reviews: KyselyReviews;
  readonly audit: SqliteAudit;
  readonly recordings: SqliteRecordings;

  constructor(parts: SqliteParts) {
    this.url = parts.url;
    this.file = parts.file;
    this.sqlite = parts.sqlite;
    this.db = parts.db;
    this.writer = parts.writer;
    this.meta = new KyselyMeta(parts.db);
    this.connections = new KyselyConnections(parts.db);
    this.credentials = new KyselyCredentials(parts.db);
    this.tokens = new KyselyTokens(parts.db);
    this.sshKeys = new KyselySshKeys(parts.db);
    this.relays = new KyselyRelays(parts.db);
    this.reviews = new KyselyReviews(parts.db);
    this.audit = new SqliteAudit(parts.db, parts.sqlite, parts.writer);
    this.recordings = new SqliteRecordings(parts.db, parts.sqlite, parts.writer);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    // The writer first: it finishes what it was handed, then the main connection goes.
    await this.writer?.close();
    await this.db.destroy();
  }
}

/** Open `sqlite:PATH` or `sqlite::memory:` and run pending migrations. */
export async function openSqliteStore(url: string, writerThread: boolean): Promise<SqliteStore> {
  const path = url.slice('sqlite:'.length);
  const file = path === ':memory:' ? ':memory:' : path;
  const created = file !== ':memory:' && !existsSync(file);
  if (created) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  // Sealed credentials and token metadata: readable by the gateway's user only (before WAL
  // mode creates the -wal and -shm files, which SQLite gives the database file's mode).
  if (created) chmodSync(file, 0o600);
  configureSqlite(sqlite);
  const dbFile = file === ':memory:' ? undefined : resolve(file);

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new GatewayError('PCS_STORE_MIGRATION_FAILED', { migration: failed, cause: error instanceof Error ? error.message : String(error) });
  }
  const writer = dbFile !== undefined && writerThread ? new WriterThread(dbFile) : undefined;
  return new SqliteStore({ url, sqlite, db, file: dbFile, writer });
}
