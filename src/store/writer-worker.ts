// The store's writer thread (started by writer-thread.ts through writer-worker.mjs). It owns a
// second better-sqlite3 connection to the store file (WAL: the main thread's connection keeps
// reading beside it) and carries out the audit log's and the recorder's write requests one
// after another, in the order they were posted, answering each once its transaction has
// committed (or failed). The write code itself is the one the in-thread paths use.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';
import type SQLiteModule from 'better-sqlite3';
import type * as KyselyModule from 'kysely';
import { appendChecked, checkpointHead, type Signer } from '../audit/chain-writer.ts';
import type { CheckedEvent } from '../audit/event-guard.ts';
import { GatewayError } from '../core/errors.ts';
import type { SerialisedOp } from '../recorder/writer.ts';
import { SqliteHotWrites } from './sqlite-writes.ts';
import type { Database } from './schema.ts';
import { configureSqlite } from './sqlite.ts';
import type { WireError, WriterReply } from './writer-thread.ts';

type Message =
  | { id: number; op: 'audit.open'; chain: number; keyId: string; privateKey: KeyObject; checkpointEvery: number }
  | { id: number; op: 'audit.append'; chain: number; events: CheckedEvent[] }
  | { id: number; op: 'audit.checkpoint'; chain: number }
  | { id: number; op: 'recorder.write'; ops: SerialisedOp[] }
  | { id: number; op: 'close' };

interface Chain {
  readonly signer: Signer;
  readonly checkpointEvery: number;
}

const port = parentPort;
if (!port) throw new Error('writer-worker.ts runs as a worker thread only');
const { file } = workerData as { file: string };

// Kysely's CommonJS build, loaded with require(): its ESM build is some 280 files, each of which
// would go through tsx's loader hooks in this thread (about 0.7 s of start-up instead of 0.2 s).
// Only this thread's own Kysely instance is used here, so which build it is does not matter.
const require = createRequire(import.meta.url);
const { Kysely, SqliteDialect } = require('kysely') as typeof KyselyModule;
const SQLite = require('better-sqlite3') as typeof SQLiteModule;

const sqlite = configureSqlite(new SQLite(file));
const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
// The hot writes skip Kysely (see sqlite-writes.ts); the rest goes through it.
const hot = new SqliteHotWrites(sqlite);
const chains = new Map<number, Chain>();

function chain(id: number): Chain {
  const found = chains.get(id);
  if (!found) throw new Error(`audit chain ${id} was not opened in the writer thread`);
  return found;
}

async function run(message: Message): Promise<unknown> {
  switch (message.op) {
    case 'audit.open':
      chains.set(message.chain, { signer: { keyId: message.keyId, privateKey: message.privateKey }, checkpointEvery: message.checkpointEvery });
      return undefined;
    case 'audit.append': {
      const { signer, checkpointEvery } = chain(message.chain);
      return appendChecked(db, message.events, signer, checkpointEvery, undefined, async (prepared) => hot.appendAudit(prepared, signer, checkpointEvery));
    }
    case 'audit.checkpoint':
      return checkpointHead(db, chain(message.chain).signer);
    case 'recorder.write':
      hot.writeRecording(message.ops);
      return undefined;
    case 'close':
      await db.destroy();
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
port.on('message', (message: Message) => {
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
