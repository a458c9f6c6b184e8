// Session recordings in the SQLite store. Batches are written in the writer thread when the
// store has a file, on the main connection otherwise, with the same prepared statements
// (hot-writes.ts); reads go through Kysely on the main connection.
import type SQLite from 'better-sqlite3';
import type { Kysely, Selectable } from 'kysely';
import type { Logger } from '../../telemetry/logger.ts';
import type { RecordingRepository, RecordingWriter, SerialisedOp, SessionFilter, StoredEvent, StoredSession } from '../repositories/recordings.ts';
import type { Database, SessionTable } from '../schema.ts';
import { SqliteRecordingWrites } from './hot-writes.ts';
import type { WriterThread } from './writer-thread.ts';

// bigint columns come back as numbers from SQLite and as strings from PostgreSQL.
const toSession = (row: Selectable<SessionTable>): StoredSession => ({
  id: row.id,
  connection: row.connection,
  protocol: row.protocol,
  subject: row.subject,
  clientAddr: row.client_addr,
  startedAt: Number(row.started_at),
  endedAt: row.ended_at === null ? null : Number(row.ended_at),
  status: row.status,
  bytesIn: Number(row.bytes_in),
  bytesOut: Number(row.bytes_out),
  statements: Number(row.statements),
  dropped: Number(row.dropped),
  summary: row.summary,
});

export class SqliteRecordings implements RecordingRepository {
  readonly #db: Kysely<Database>;
  readonly #sqlite: SQLite.Database;
  readonly #writer: WriterThread | undefined;
  #inThread: SqliteRecordingWrites | undefined;

  constructor(db: Kysely<Database>, sqlite: SQLite.Database, writer: WriterThread | undefined) {
    this.#db = db;
    this.#sqlite = sqlite;
    this.#writer = writer;
  }

  openWriter(logger: Logger): RecordingWriter {
    const thread = this.#writer;
    if (thread) {
      thread.acquire(logger);
      return {
        write: async (ops: readonly SerialisedOp[]) => {
          await thread.request({ op: 'recorder.write', ops });
        },
        // Everything was answered: the writer thread may go (it ends when the audit log is done with it too).
        close: () => thread.release(),
      };
    }
    const writes = (this.#inThread ??= new SqliteRecordingWrites(this.#sqlite));
    return {
      write: (ops: readonly SerialisedOp[]) => {
        try {
          writes.write(ops);
          return Promise.resolve();
        } catch (err) {
          return Promise.reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
      close: () => Promise.resolve(),
    };
  }

  async terminateOrphans(summary: string): Promise<number> {
    const result = await this.#db
      .updateTable('sessions')
      .set((eb) => ({
        status: 'terminated',
        ended_at: eb.fn.coalesce(eb.selectFrom('session_events').select((s) => s.fn.max('session_events.at').as('last')).whereRef('session_events.session_id', '=', 'sessions.id'), eb.ref('sessions.started_at')),
        summary,
      }))
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listSessions(filter: SessionFilter): Promise<StoredSession[]> {
    let q = this.#db.selectFrom('sessions').selectAll();
    if (filter.connection !== undefined) q = q.where('connection', '=', filter.connection);
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    if (filter.active === true) q = q.where('ended_at', 'is', null);
    if (filter.active === false) q = q.where('ended_at', 'is not', null);
    if (filter.before !== undefined) {
      const cursor = await this.#db.selectFrom('sessions').select(['started_at', 'id']).where('id', '=', filter.before).executeTakeFirst();
      // An unknown cursor is a page past the end, not the first page again.
      if (!cursor) return [];
      const { started_at: at, id } = cursor;
      q = q.where((eb) => eb.or([eb('started_at', '<', at), eb.and([eb('started_at', '=', at), eb('id', '<', id)])]));
    }
    const rows = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toSession);
  }

  async getSession(id: string): Promise<StoredSession | undefined> {
    const row = await this.#db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toSession(row);
  }

  async events(sessionId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.#db.selectFrom('session_events').select(['seq', 'at', 'kind', 'data']).where('session_id', '=', sessionId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    return rows.map((e) => ({ seq: Number(e.seq), at: Number(e.at), kind: e.kind, data: e.data }));
  }

  async countEvents(sessionIds: readonly string[], kinds: readonly string[]): Promise<Map<string, number>> {
    if (sessionIds.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('session_events')
      .select((eb) => ['session_id', eb.fn.countAll<number>().as('n')])
      .where('session_id', 'in', sessionIds)
      .where('kind', 'in', kinds)
      .groupBy('session_id')
      .execute();
    return new Map(rows.map((r) => [r.session_id, Number(r.n)]));
  }
}
