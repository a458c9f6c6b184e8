// The SQLite store's own handles, for tests that look at (or tamper with) rows directly:
// callers in src/ only ever see the repositories.
import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';

export function sqliteStore(store: Store): SqliteStore {
  if (!(store instanceof SqliteStore)) throw new Error(`expected a SQLite store, got ${store.kind}`);
  return store;
}

export function storeDb(store: Store): Kysely<Database> {
  return sqliteStore(store).db;
}
