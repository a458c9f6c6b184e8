// No secret in the audit log, a recording or an API answer: statements that carry credentials
// (ALTER ROLE ... PASSWORD, CREATE USER MAPPING ... OPTIONS (password ...), a conninfo passed
// as a Bind parameter) go through the gateway with real clients, allowed and denied; then the
// recorded events, the audit table, the gateway's log and the sessions API are searched for
// the test secret's marker. (scripts/run-tests.mjs scans the store file and the log as well.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { adminSql, createDatabase, dropDatabase, psql, recordedEvents, standardConfig, startPgGateway, type PgGateway } from './support.ts';
import { storeDb } from '../../support/store-db.ts';
import { SECRET_MARKER, testSecret } from '../../support/secrets.ts';

describe('postgres: credentials never reach a record', () => {
  let db: string;
  let gw: PgGateway;
  let dba: string;
  let agent: string;
  const role = `pcs_sec_${randomBytes(4).toString('hex')}`;

  before(async () => {
    db = await createDatabase();
    gw = await startPgGateway(standardConfig(db));
    dba = await gw.t.token('dba-user', ['dba']);
    agent = await gw.t.token('agent-1', ['agents']);
  });
  after(async () => {
    await gw.stop();
    await dropDatabase(db);
    await adminSql(`DROP ROLE IF EXISTS ${role}`);
  });

  it('runs the statements, then finds no secret in the recording, the audit log, the log or the API', async () => {
    const create = await psql(gw, dba, ['-c', `CREATE ROLE ${role} LOGIN PASSWORD '${testSecret('create-role')}' CONNECTION LIMIT 3`], { db: 'app-db' });
    assert.equal(create.code, 0, create.stderr);
    const alter = await psql(gw, dba, ['-c', `ALTER ROLE ${role} WITH ENCRYPTED PASSWORD E'${testSecret('alter-role')}'`]);
    assert.equal(alter.code, 0, alter.stderr);
    const mapping = await psql(gw, dba, ['-c', `CREATE FOREIGN DATA WRAPPER pcs_fdw; CREATE SERVER pcs_srv FOREIGN DATA WRAPPER pcs_fdw OPTIONS (host 'localhost'); CREATE USER MAPPING FOR ${role} SERVER pcs_srv OPTIONS (user 'remote', password $$${testSecret('user-mapping')}$$)`]);
    assert.equal(mapping.code, 0, mapping.stderr);
    // Refused, so recorded as denied and audited as a decision.
    const denied = await psql(gw, agent, ['-c', `ALTER ROLE ${role} PASSWORD '${testSecret('denied-alter')}'`]);
    assert.notEqual(denied.code, 0);
    assert.doesNotMatch(denied.stderr, new RegExp(SECRET_MARKER));

    // A conninfo as a Bind parameter of a dblink call (a stand-in function of that name: the extension is not installed).
    await adminSql(`CREATE FUNCTION public.dblink_connect(text) RETURNS text LANGUAGE sql AS $$ SELECT 'OK' $$`, db);
    const client = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'dba-user', password: dba });
    await client.connect();
    assert.equal((await client.query<{ c: string }>('select dblink_connect($1) as c', [`host=x password=${testSecret('bind')}`])).rows[0]?.c, 'OK');
    await client.end();

    const events = await recordedEvents(gw);
    const texts = events.map((e) => e.data.text).filter((t): t is string => typeof t === 'string');
    assert.ok(texts.some((t) => t.startsWith(`CREATE ROLE ${role} LOGIN PASSWORD '***' CONNECTION LIMIT 3`)), texts.join('\n'));
    assert.ok(texts.some((t) => t === `ALTER ROLE ${role} PASSWORD '***'`), 'the denied ALTER ROLE is recorded, redacted');
    const bind = events.find((e) => typeof e.data.text === 'string' && e.data.text.startsWith('select dblink_connect'));
    assert.deepEqual(bind?.data.params, ['***']);
    assert.ok(!JSON.stringify(events).includes(SECRET_MARKER), 'no secret in the recording');

    const audit = await storeDb(gw.t.gw.services.store).selectFrom('audit').selectAll().execute();
    const auditText = JSON.stringify(audit);
    assert.match(auditText, /USER MAPPING FOR \w+ SERVER pcs_srv OPTIONS \(user '\*\*\*', password '\*\*\*'\)/);
    assert.ok(!auditText.includes(SECRET_MARKER), 'no secret in the audit log');

    const admin = await gw.t.token('admin-1', ['admins'], ['admin']);
    for (const path of ['/api/v1/sessions', '/api/v1/audit']) {
      const res = await fetch(`${gw.t.url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
      assert.equal(res.status, 200, path);
      const body = await res.text();
      assert.ok(!body.includes(SECRET_MARKER), `no secret in ${path}`);
      if (path === '/api/v1/sessions') {
        for (const s of (JSON.parse(body) as { sessions: { id: string }[] }).sessions) {
          const one = await (await fetch(`${gw.t.url}/api/v1/sessions/${s.id}`, { headers: { authorization: `Bearer ${admin}` } })).text();
          assert.ok(!one.includes(SECRET_MARKER), `no secret in session ${s.id}`);
        }
      }
    }
    assert.ok(!readFileSync(join(gw.t.dir, 'gateway.log'), 'utf8').includes(SECRET_MARKER), 'no secret in the log');
  });
});
