// The durability rule under kill -9: the gateway runs as its own process, four writers insert
// one row per statement (two with literal values, two with bound parameters), two more insert
// two rows per transaction block (acknowledged by COMMIT), and the
// gateway is killed with SIGKILL three times mid-load. Every INSERT a writer saw acknowledged
// must be in the database and in the store the gateway left behind: in the audit log (its
// decision, with the text) or in the session recording (with its parameters).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { BIN, runCli } from '../../support/cli.ts';
import { writeTestConfig } from '../../support/gateway.ts';
import { tempDir } from '../../support/tmp.ts';
import { adminSql, createDatabase, dropDatabase } from './support.ts';

const KILLS = 3;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

describe('postgres: no acknowledged write is lost to kill -9', () => {
  let db: string;
  let dir: string;
  let cfg: string;
  let port: number;
  let token: string;
  let child: ChildProcess | undefined;

  const startGateway = async (): Promise<ChildProcess> => {
    const c = spawn(process.execPath, [BIN, 'start', '--config', cfg], { stdio: ['ignore', 'ignore', 'ignore'] });
    const until = Date.now() + 30_000;
    for (;;) {
      const probe = new pg.Client({ host: '127.0.0.1', port, database: 'app-db', user: 'agent', password: token });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.end();
        return c;
      } catch {
        if (Date.now() > until) throw new Error('the gateway did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE t (id int PRIMARY KEY, writer int)', db);
    dir = tempDir('pcs-kill9-');
    port = await freePort();
    cfg = writeTestConfig(
      dir,
      `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }
policies:
  - name: writers
    subjects: { groups: [writers] }
    connections: ["*"]
    rules:
      - { then: allow }
`,
      `{ api: "127.0.0.1:0", postgres: "127.0.0.1:${port}" }`,
    );
    const issued = await runCli(['token', 'issue', '--subject', 'writer-bot', '--group', 'writers', '--ttl', '1h', '--config', cfg]);
    assert.equal(issued.code, 0, issued.stderr);
    token = issued.stdout.trim();
  });

  after(async () => {
    child?.kill('SIGKILL');
    if (db) await dropDatabase(db);
  });

  it(`keeps the record of every acknowledged INSERT across ${KILLS} kills`, { timeout: 180_000 }, async (t) => {
    const acked: { id: number; extended: boolean }[] = [];
    let next = 1;
    for (let round = 0; round < KILLS; round++) {
      child = await startGateway();
      const running = child;
      let stop = false;
      const writers = [0, 1, 2, 3, 4, 5].map(async (w) => {
        const c = new pg.Client({ host: '127.0.0.1', port, database: 'app-db', user: 'agent', password: token });
        c.on('error', () => undefined);
        const insert = async (id: number, extended: boolean): Promise<void> => {
          if (extended) await c.query('INSERT INTO t VALUES ($1, $2)', [id, w]);
          else await c.query(`INSERT INTO t VALUES (${id}, ${w})`);
        };
        try {
          await c.connect();
          while (!stop) {
            const extended = w % 2 === 1;
            if (w < 4) {
              const id = next++;
              await insert(id, extended);
              acked.push({ id, extended });
              continue;
            }
            // Writers 4 and 5: two INSERTs in a transaction block, acknowledged by COMMIT.
            const ids = [next++, next++];
            await c.query('BEGIN');
            for (const id of ids) await insert(id, extended);
            await c.query('COMMIT');
            for (const id of ids) acked.push({ id, extended });
          }
        } catch {
          // The gateway died under this writer: what it did not see acknowledged does not count.
        }
      });
      await new Promise((r) => setTimeout(r, 700 + round * 300));
      running.kill('SIGKILL');
      stop = true;
      await new Promise((r) => running.once('exit', r));
      await Promise.all(writers);
    }
    child = undefined;
    assert.ok(acked.length > 100, `only ${acked.length} acknowledged statements: the load was too light to mean anything`);

    const inDb = new Set((await adminSql('SELECT id FROM t', db)).split('\n').filter(Boolean).map(Number));
    const store = new SQLite(join(dir, 'portcullis.db'), { readonly: true });
    const audited = new Set<string>();
    for (const row of store.prepare("SELECT data FROM audit WHERE type = 'policy.decision'").all() as { data: string }[]) {
      const text = (JSON.parse(row.data) as { action?: { text?: string } }).action?.text;
      if (text !== undefined) audited.add(text);
    }
    const recordedTexts = new Set<string>();
    const recordedParams = new Set<string>();
    for (const row of store.prepare("SELECT data FROM session_events WHERE kind = 'statement'").all() as { data: string }[]) {
      const d = JSON.parse(row.data) as { text?: string; params?: (string | null)[] | null };
      if (d.text !== undefined) recordedTexts.add(d.text);
      if (d.params?.[0] != null) recordedParams.add(d.params[0]);
    }
    store.close();

    const lost = acked.filter(({ id, extended }) => {
      if (extended) return !recordedParams.has(String(id));
      const text = `INSERT INTO t VALUES (${id}, `;
      return ![...audited].some((a) => a.startsWith(text)) && ![...recordedTexts].some((r) => r.startsWith(text));
    });
    t.diagnostic(`${acked.length} acknowledged INSERTs over ${KILLS} kills, ${lost.length} without a record`);
    assert.deepEqual(acked.filter(({ id }) => !inDb.has(id)), [], 'every acknowledged row is in the database');
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged statements have no record`);
  });
});
