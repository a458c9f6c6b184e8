// The durability rule for MySQL under kill -9 (test/support/kill9.ts): four mariadb CLI
// writers insert one row per statement, two of them in transaction blocks of two rows
// acknowledged by COMMIT, and the gateway is killed with SIGKILL three times mid-load. A
// writer prints a row's id only once the server answered the statement that makes it durable
// (the INSERT, or the COMMIT), so what it printed was acknowledged; every such row must be in
// the database and have its audited decision in the store the gateway left behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { killUnderLoad, storeLeftBehind, writerSetup } from '../../support/kill9.ts';
import { freePort } from '../../support/ports.ts';
import { tempDir } from '../../support/tmp.ts';
import { adminSql, createDatabase, dropDatabase, MY_HOST, MY_PORT } from './support.ts';

const KILLS = 3;
/** Statements queued per writer and round: more than a round can run. */
const QUEUED = 20_000;

describe('mysql: no acknowledged write is lost to kill -9', () => {
  let db: string;
  let dir: string;
  let cfg: string;
  let port: number;
  let token: string;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE ${db}.t (id int PRIMARY KEY, writer int) ENGINE=InnoDB`);
    dir = tempDir('pcs-kill9-my-');
    port = await freePort();
    ({ config: cfg, token } = await writerSetup(dir, `{ name: my-db, type: mysql, upstream: { host: ${MY_HOST}, port: ${MY_PORT}, database: ${db}, user: root, tls: disable } }`, `{ api: "127.0.0.1:0", mysql: "127.0.0.1:${port}" }`));
  });

  after(async () => {
    if (db) await dropDatabase(db);
  });

  it(`keeps the record of every acknowledged INSERT across ${KILLS} kills`, { timeout: 180_000 }, async (t) => {
    const acked: number[] = [];
    let next = 1;
    /** One CLI session fed a script; resolves when it ends (the gateway died, or it ran out). */
    const writer = (w: number) => (): Promise<void> => {
      const lines: string[] = [];
      for (let i = 0; i < QUEUED; i++) {
        if (w < 2) {
          const id = next++;
          lines.push(`INSERT INTO t VALUES (${id}, ${w});`, `SELECT ${id};`);
        } else {
          const [a, b] = [next++, next++];
          lines.push('BEGIN;', `INSERT INTO t VALUES (${a}, ${w});`, `INSERT INTO t VALUES (${b}, ${w});`, 'COMMIT;', `SELECT ${a};`, `SELECT ${b};`);
        }
      }
      const child = spawn('mariadb', ['-h', '127.0.0.1', '-P', String(port), '-u', 'agent', '-D', 'my-db', '-N', '-B', '--skip-ssl', '--unbuffered', '--connect-timeout=10'], { env: { ...process.env, MYSQL_PWD: token }, stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stdin.on('error', () => undefined);
      child.stdin.end(lines.join('\n'));
      return new Promise((resolve) => {
        child.on('close', () => {
          for (const line of out.split('\n')) if (line.trim() !== '') acked.push(Number(line));
          resolve();
        });
      });
    };
    await killUnderLoad({
      config: cfg,
      kills: KILLS,
      ready: async () => {
        const probe = spawn('mariadb', ['-h', '127.0.0.1', '-P', String(port), '-u', 'agent', '-D', 'my-db', '--skip-ssl', '-e', 'SELECT 1'], { env: { ...process.env, MYSQL_PWD: token }, stdio: 'ignore' });
        const code = await new Promise<number | null>((r) => probe.on('close', r));
        if (code !== 0) throw new Error('not yet');
      },
      writers: [0, 1, 2, 3].map(writer),
    });
    assert.ok(acked.length > 100, `only ${acked.length} acknowledged statements: the load was too light to mean anything`);

    const inDb = new Set((await adminSql(`SELECT id FROM ${db}.t`)).split('\n').filter(Boolean).map(Number));
    const audited = storeLeftBehind(dir).decisions.map((a) => a.text).filter((x): x is string => typeof x === 'string');
    const lost = acked.filter((id) => !audited.some((a) => a.startsWith(`INSERT INTO t VALUES (${id}, `)));
    t.diagnostic(`${acked.length} acknowledged INSERTs over ${KILLS} kills, ${lost.length} without a record`);
    assert.deepEqual(acked.filter((id) => !inDb.has(id)), [], 'every acknowledged row is in the database');
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged statements have no record`);
  });
});
