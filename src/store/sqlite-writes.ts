// The two writes of the hot path (audit records, recording events) as prepared better-sqlite3
// statements, for the store's writer thread. Kysely compiles a new multi-row INSERT for every
// batch (its size varies) and SQLite prepares it again; a prepared single-row statement run
// in a loop inside one transaction costs a fraction of that. Same rows, same transactions as
// the Kysely paths in src/audit/chain-writer.ts and src/recorder/writer.ts, which stay for the
// in-memory store and for the PostgreSQL backend to come.
import type SQLite from 'better-sqlite3';
import { chainRows, type ChainHead, type Signer } from '../audit/chain-writer.ts';
import { signCheckpoint } from '../audit/checkpoint.ts';
import type { PreparedEvent } from '../audit/event-guard.ts';
import { GENESIS_HASH } from '../audit/record-hash.ts';
import type { SerialisedOp } from '../recorder/writer.ts';

export class SqliteHotWrites {
  readonly #head: SQLite.Statement<[], { seq: number | bigint; hash: string }>;
  readonly #audit: SQLite.Statement<[number, number, string, string, string, string, string]>;
  readonly #checkpoint: SQLite.Statement<[number, number, string, string, string]>;
  readonly #session: SQLite.Statement<[string, string, string, string, string | null, number]>;
  readonly #event: SQLite.Statement<[string, number, number, string, string]>;
  readonly #end: SQLite.Statement<[number, string, number, number, number, number, string | null, string]>;
  readonly #appendTx: (events: readonly PreparedEvent[], signer: Signer, checkpointEvery: number) => ChainHead;
  readonly #recordTx: (ops: readonly SerialisedOp[]) => void;

  constructor(db: SQLite.Database) {
    this.#head = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    this.#audit = db.prepare('INSERT INTO audit (seq, at, type, actor, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#checkpoint = db.prepare('INSERT INTO audit_checkpoints (seq, at, hash, key_id, signature) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING');
    this.#session = db.prepare("INSERT INTO sessions (id, connection, protocol, subject, client_addr, started_at, ended_at, status) VALUES (?, ?, ?, ?, ?, ?, NULL, 'active') ON CONFLICT (id) DO NOTHING");
    this.#event = db.prepare('INSERT INTO session_events (session_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, seq) DO NOTHING');
    this.#end = db.prepare('UPDATE sessions SET ended_at = ?, status = ?, bytes_in = ?, bytes_out = ?, statements = ?, dropped = ?, summary = ? WHERE id = ?');
    // IMMEDIATE: the chain head is read under the write lock, so another process cannot slip a record in between.
    this.#appendTx = db
      .transaction((events: readonly PreparedEvent[], signer: Signer, checkpointEvery: number): ChainHead => {
        const last = this.#head.get();
        const start: ChainHead = last === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: Number(last.seq), hash: last.hash };
        const { rows, checkpoints, head } = chainRows(start, events, checkpointEvery);
        for (const r of rows) this.#audit.run(r.seq, r.at, r.type, r.actor, r.data, r.prev_hash, r.hash);
        for (const cp of checkpoints) this.#checkpoint.run(cp.seq, Date.now(), cp.hash, signer.keyId, signCheckpoint(cp.seq, cp.hash, signer.privateKey));
        return head;
      })
      .immediate as (events: readonly PreparedEvent[], signer: Signer, checkpointEvery: number) => ChainHead;
    this.#recordTx = db.transaction((ops: readonly SerialisedOp[]): void => {
      // Sessions first and ends last, as writeSerialised does: a batch may hold a session's start, events and end.
      for (const op of ops) if (op.op === 'start') this.#session.run(op.sessionId, op.connection, op.protocol, op.subject, op.clientAddr, op.at);
      for (const op of ops) if (op.op === 'event') this.#event.run(op.sessionId, op.seq, op.at, op.kind, op.data);
      for (const op of ops) if (op.op === 'end') this.#end.run(op.at, op.status, op.bytesIn, op.bytesOut, op.statements, op.dropped, op.summary, op.sessionId);
    }) as (ops: readonly SerialisedOp[]) => void;
  }

  /** Appends audit records in one transaction; returns the new head. */
  appendAudit(events: readonly PreparedEvent[], signer: Signer, checkpointEvery: number): ChainHead {
    return this.#appendTx(events, signer, checkpointEvery);
  }

  /** Writes a recorder batch in one transaction. */
  writeRecording(ops: readonly SerialisedOp[]): void {
    this.#recordTx(ops);
  }
}
