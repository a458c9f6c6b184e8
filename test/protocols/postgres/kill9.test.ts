// The durability rule under kill -9 (test/support/kill9.ts): four writers insert one row per
// statement (two with literal values, two with bound parameters), two more insert two rows per
// transaction block (acknowledged by COMMIT), one COPYs to a file inside blocks it rolls back
// (the file is written outside the transaction), and the gateway is killed with SIGKILL three
// times mid-load. Every INSERT a writer saw acknowledged must be in the database and in the
// store the gateway left behind: in the audit log (its decision, with the text) or in the
// session recording (with its parameters).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { killUnderLoad, storeLeftBehind, writerSetup } from '../../support/kill9.ts';
import { freePort } from '../../support/ports.ts';
import { tempDir } from '../../support/tmp.ts';
import { adminSql, createDatabase, dropDatabase } from './support.ts';

const KILLS = 3;

describe('postgres: no acknowledged write is lost to kill -9', () => {
  let db: string;
  let dir: string;
  let cfg: string;
  let port: number;
  let token: string;

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE TABLE t (id int PRIMARY KEY, writer int)', db);
    dir = tempDir('pcs-kill9-');
    port = await freePort();
    ({ config: cfg, token } = await writerSetup(dir, `{ name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }`, `{ api: "127.0.0.1:0", postgres: "127.0.0.1:${port}" }`));
  });

  after(async () => {
    if (db) await dropDatabase(db);
  });

  it(`keeps the record of every acknowledged INSERT across ${KILLS} kills`, { timeout: 180_000 }, async (t) => {
    const acked: { id: number; extended: boolean }[] = [];
    // Writer 6: COPY to a file inside a block that is rolled back. The file is written at once
    // (an `admin` effect, outside the transaction): its answer must wait for its record anyway.
    const copied: number[] = [];
    // The server writes the files as its own user: a folder it can reach (not below the test run's private one).
    const files = mkdtempSync(join(tmpdir(), 'pcs-kill9-copy-'));
    chmodSync(files, 0o777);
    t.after(() => rmSync(files, { recursive: true, force: true }));
    let next = 1;
    const client = (): pg.Client => {
      const c = new pg.Client({ host: '127.0.0.1', port, database: 'app-db', user: 'agent', password: token });
      c.on('error', () => undefined);
      return c;
    };
    const writer = (w: number) => async (stopped: () => boolean): Promise<void> => {
      const c = client();
      const extended = w % 2 === 1;
      const insert = async (id: number): Promise<void> => {
        if (extended) await c.query('INSERT INTO t VALUES ($1, $2)', [id, w]);
        else await c.query(`INSERT INTO t VALUES (${id}, ${w})`);
      };
      await c.connect();
      while (!stopped()) {
        if (w === 6) {
          const id = next++;
          await c.query('BEGIN');
          await c.query(`COPY (SELECT ${id}) TO '${join(files, `${id}.txt`)}'`);
          copied.push(id);
          await c.query('ROLLBACK');
          continue;
        }
        if (w < 4) {
          const id = next++;
          await insert(id);
          acked.push({ id, extended });
          continue;
        }
        // Writers 4 and 5: two INSERTs in a transaction block, acknowledged by COMMIT.
        const ids = [next++, next++];
        await c.query('BEGIN');
        for (const id of ids) await insert(id);
        await c.query('COMMIT');
        for (const id of ids) acked.push({ id, extended });
      }
    };
    await killUnderLoad({
      config: cfg,
      kills: KILLS,
      ready: async () => {
        const probe = client();
        await probe.connect();
        await probe.end();
      },
      writers: [0, 1, 2, 3, 4, 5, 6].map(writer),
    });
    assert.ok(acked.length > 100, `only ${acked.length} acknowledged statements: the load was too light to mean anything`);

    const inDb = new Set((await adminSql('SELECT id FROM t', db)).split('\n').filter(Boolean).map(Number));
    const left = storeLeftBehind(dir);
    const audited = left.decisions.map((a) => a.text).filter((x): x is string => typeof x === 'string');
    const statements = left.events('statement');
    const recordedTexts = statements.map((d) => d.text).filter((x): x is string => typeof x === 'string');
    const recordedParams = new Set(statements.map((d) => (d.params as (string | null)[] | null)?.[0]).filter((x): x is string => typeof x === 'string'));

    const lost = acked.filter(({ id, extended }) => {
      if (extended) return !recordedParams.has(String(id));
      const text = `INSERT INTO t VALUES (${id}, `;
      return !audited.some((a) => a.startsWith(text)) && !recordedTexts.some((r) => r.startsWith(text));
    });
    const copiedLost = copied.filter((id) => !audited.some((a) => a.startsWith(`COPY (SELECT ${id}) TO `)));
    t.diagnostic(`${acked.length} acknowledged INSERTs over ${KILLS} kills, ${lost.length} without a record; ${copied.length} COPYs in rolled-back blocks, ${copiedLost.length} without a record`);
    assert.ok(copied.length > 10, `only ${copied.length} acknowledged COPYs`);
    assert.deepEqual(copied.filter((id) => !existsSync(join(files, `${id}.txt`))), [], 'every acknowledged COPY wrote its file');
    assert.deepEqual(copiedLost.slice(0, 20), [], `${copiedLost.length} of ${copied.length} acknowledged COPYs have no record`);
    assert.deepEqual(acked.filter(({ id }) => !inDb.has(id)), [], 'every acknowledged row is in the database');
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged statements have no record`);
  });
});
