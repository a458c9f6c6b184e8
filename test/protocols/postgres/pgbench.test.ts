// pgbench through the gateway: initialisation (DDL and COPY, allowed for the dba group),
// then short runs in the three query modes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDatabase, dropDatabase, runWithToken, standardConfig, startPgGateway, type PgGateway } from './support.ts';

describe('postgres adapter with pgbench', () => {
  let db: string;
  let gw: PgGateway;
  let dba: string;
  const target = (): string[] => ['-h', '127.0.0.1', '-p', String(gw.port), '-U', 'alice'];

  before(async () => {
    db = await createDatabase();
    gw = await startPgGateway(standardConfig(db));
    dba = await gw.t.token('alice', ['dba']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('initialises with pgbench -i', async () => {
    const r = await runWithToken('pgbench', ['-i', '-s', '1', ...target(), 'app-db'], dba);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /done in/);
  });

  for (const mode of ['simple', 'extended', 'prepared']) {
    it(`runs pgbench -M ${mode}`, async () => {
      const r = await runWithToken('pgbench', ['-T', '3', '-c', '4', '-M', mode, ...target(), 'app-db'], dba);
      assert.equal(r.code, 0, r.stderr);
      const processed = /number of transactions actually processed: (\d+)/.exec(r.stdout);
      assert.ok(processed && Number(processed[1]) > 0, r.stdout);
      assert.match(r.stdout, /number of failed transactions: 0/);
    });
  }
});
