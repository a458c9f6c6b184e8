// Settings shared by every SQLite connection of the store: the main one (store.ts) and the
// writer thread's (writer-worker.ts), which must not pull in the rest of the store to start fast.
import type SQLite from 'better-sqlite3';

/** The pragmas every connection of the store uses: the main one and the writer thread's. */
export function configureSqlite(sqlite: SQLite.Database): SQLite.Database {
  // WAL lets readers (the admin API) run beside the writer (recordings, audit).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  // Two connections of this process write (the writer thread, and rare writes such as token
  // issuance on the main one), and other processes may too: wait for the lock, do not fail.
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}
