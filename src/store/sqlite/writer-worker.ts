// The store's writer thread (started by writer-thread.ts through writer-worker.mjs). It owns a
// second better-sqlite3 connection to the store file (WAL: the main thread's connection keeps
// reading beside it) and carries out the audit log's and the recorder's write requests one
// after another, in the order they were posted, answering each once its transaction has
// committed (or failed). The write code is the one the main connection uses without a thread
// (hot-writes.ts); the audit chain's rules are loaded from the module the audit log names.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';
import type SQLiteModule from 'better-sqlite3';
import { GatewayError } from '../../core/errors.ts';
import type { AuditChainRules, CheckedEvent } from '../repositories/audit.ts';
import type { SerialisedOp } from '../repositories/recordings.ts';
import { configureSqlite } from './connection.ts';
import { SqliteChain, SqliteRecordingWrites } from './hot-writes.ts';
import type { WireError, WriterReply } from './writer-thread.ts';

/** The requests this thread answers: the format is private to the SQLite store. */
export type WriterMessage =
  | { id: number; op: 'audit.open'; chain: number; keyId: string; privateKey: KeyObject; checkpointEvery: number; rules: string }
  | { id: number; op: 'audit.append'; chain: number; events: CheckedEvent[] }
  | { id: number; op: 'audit.checkpoint'; chain: number }
  | { id: number; op: 'recorder.write'; ops: SerialisedOp[] }
  | { id: number; op: 'close' };

const port = parentPort;
if (!port) throw new Error('writer-worker.ts runs as a worker thread only');
const { file } = workerData as { file: string };

// Loaded with require(): no Kysely in this thread, and the native module's CommonJS entry.
const require = createRequire(import.meta.url);
const SQLite = require('better-sqlite3') as typeof SQLiteModule;

const sqlite = configureSqlite(new SQLite(file));
const recordings = new SqliteRecordingWrites(sqlite);
const chains = new Map<number, SqliteChain>();

function chain(id: number): SqliteChain {
  const found = chains.get(id);
  if (!found) throw new Error(`audit chain ${id} was not opened in the writer thread`);
  return found;
}

async function run(message: WriterMessage): Promise<unknown> {
  switch (message.op) {
    case 'audit.open': {
      const { auditChainRules } = (await import(message.rules)) as { auditChainRules: AuditChainRules };
      chains.set(message.chain, new SqliteChain(sqlite, auditChainRules, { keyId: message.keyId, privateKey: message.privateKey }, message.checkpointEvery));
      return undefined;
    }
    case 'audit.append':
      return chain(message.chain).append(message.events);
    case 'audit.checkpoint':
      return chain(message.chain).checkpoint();
    case 'recorder.write':
      recordings.write(message.ops);
      return undefined;
    case 'close':
      sqlite.close();
      return undefined;
    default:
      throw new Error(`unknown writer request ${JSON.stringify((message as { op: unknown }).op)}`);
  }
}

function wireError(err: unknown): WireError {
  if (err instanceof GatewayError) return { message: err.message, code: err.code, params: err.params };
  const code = (err as { code?: unknown } | null)?.code;
  return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
}

// One request at a time, in arrival order: the chain head read by one batch is the one the
// previous batch committed, and a close runs after everything posted before it.
let tail: Promise<void> = Promise.resolve();
port.on('message', (message: WriterMessage) => {
  tail = tail.then(async () => {
    let reply: WriterReply;
    try {
      reply = { id: message.id, ok: true, result: await run(message) };
    } catch (err) {
      reply = { id: message.id, ok: false, error: wireError(err) };
    }
    // Setup messages (id 0) are not answered; a failed one fails the requests that need it.
    if (message.id !== 0) port.postMessage(reply);
    // After the answer to close: nothing else keeps this thread alive, so it exits.
    if (message.op === 'close') port.close();
  });
});
