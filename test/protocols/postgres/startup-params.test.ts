// Run-time parameters of the startup packet (`options` with -c/--, statement_timeout,
// search_path, application_name...) travel upstream, each decided as its SET: guards refused,
// policy obeyed, the server's own error for a bad value, all audited. And a client that sends
// Terminate instead of a password is let go quietly.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { storeDb } from '../../support/store-db.ts';
import { FrameCollector } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, eventually, PG_HOST, PG_PORT, psql, recordedEvents, startPgGateway, type PgGateway } from './support.ts';

interface PgError {
  code?: string;
  severity?: string;
  message: string;
}

function config(database: string): string {
  return `
connections:
  - { name: app-db, type: postgres, upstream: { host: ${PG_HOST}, port: ${PG_PORT}, database: ${database}, user: postgres, tls: disable } }
policies:
  - name: dba-all
    subjects: { groups: [dba] }
    connections: ["*"]
    rules:
      - { then: allow }
  - name: no-settings
    subjects: { groups: [fixed] }
    connections: ["*"]
    rules:
      - { match: { sql: { command: [set] } }, then: deny, reason: this group keeps the server's settings }
      - { then: allow }
  - name: settings-reviewed
    subjects: { groups: [careful] }
    connections: ["*"]
    rules:
      - { match: { sql: { command: [set] } }, then: review, review: { mode: defer, approvers: { groups: [dba] } } }
      - { then: allow }
  - name: reasoned
    subjects: { groups: [reasoned] }
    connections: ["*"]
    rules:
      - { match: { sql: { command: [truncate] } }, then: review, review: { mode: defer, approvers: { groups: [dba] } } }
      - { then: allow }
  - name: agents-read-only
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { match: { sql: { touches: ["app.vault"] } }, then: deny, reason: app.vault is off limits }
      - { match: { sql: { effect: [read] } }, then: allow }
      - { then: deny, reason: agents may only read }
`;
}

/** The raw frames a startup packet gets, up to the first authentication request or error. */
async function rawStartup(port: number, params: Record<string, string>): Promise<{ frames: FrameCollector; socket: ReturnType<typeof connect> }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const frames = new FrameCollector(socket);
  socket.write(serialize.startup({ user: 'agent', database: 'app-db', ...params }));
  return { frames, socket };
}

/** The message and SQLSTATE of an ErrorResponse body. */
function errorOf(body: Buffer): { code: string; message: string } {
  const fields = new Map<string, string>();
  for (let i = 0; i < body.length && body[i] !== 0; ) {
    const end = body.indexOf(0, i + 1);
    fields.set(String.fromCharCode(body[i] as number), body.toString('utf8', i + 1, end));
    i = end + 1;
  }
  return { code: fields.get('C') ?? '', message: fields.get('M') ?? '' };
}

describe('postgres startup parameters', () => {
  let db: string;
  let gw: PgGateway;
  let agent: string;
  let dba: string;

  const client = (opts: pg.ClientConfig, password = agent): pg.Client => new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'agent', password, ...opts });

  /** The values SHOW gives for these parameters, in a session opened with `opts`. */
  async function shown(opts: pg.ClientConfig, names: readonly string[], password = agent): Promise<string[]> {
    const c = client(opts, password);
    await c.connect();
    try {
      const out: string[] = [];
      for (const name of names) out.push(String((await c.query(`SHOW ${name}`)).rows[0]?.[name.replace(/"/g, '')]));
      return out;
    } finally {
      await c.end();
    }
  }

  async function refused(opts: pg.ClientConfig, password = agent): Promise<PgError> {
    const c = client(opts, password);
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (err) {
      return err as PgError;
    }
    await c.end();
    throw new Error('the connection was not refused');
  }

  before(async () => {
    db = await createDatabase();
    await adminSql('CREATE SCHEMA app; CREATE TABLE app.vault (secret text); CREATE TABLE app.widgets (id int); INSERT INTO app.widgets VALUES (1), (2);', db);
    gw = await startPgGateway(config(db));
    agent = await gw.t.token('agent-bot', ['agents']);
    dba = await gw.t.token('dana', ['dba']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('passes node-postgres options, statement_timeout, idle_in_transaction_session_timeout and application_name upstream', async () => {
    const values = await shown(
      { options: '-c search_path=app,public --lock-timeout=2s', statement_timeout: 1234, idle_in_transaction_session_timeout: 5678, application_name: 'pcs-startup-test' },
      ['search_path', 'statement_timeout', 'idle_in_transaction_session_timeout', 'application_name', 'lock_timeout'],
    );
    assert.deepEqual(values, ['app,public', '1234ms', '5678ms', 'pcs-startup-test', '2s']);
  });

  it('decides statements with the search_path given at startup', async () => {
    const c = client({ options: '-c search_path=app,public' });
    await c.connect();
    try {
      // Unqualified names resolve in app: widgets is app.widgets, vault is the denied app.vault.
      assert.deepEqual((await c.query('select id from widgets order by id')).rows, [{ id: 1 }, { id: 2 }]);
      await assert.rejects(c.query('select * from vault'), (err: PgError) => err.code === '42501' && /app\.vault is off limits/.test(err.message));
    } finally {
      await c.end();
    }
  });

  it('reads backslash-escaped spaces in options as PostgreSQL does', async () => {
    assert.deepEqual(await shown({ options: '-c application_name=my\\ agent\\ app -cstatement_timeout=9s' }, ['application_name', 'statement_timeout']), ['my agent app', '9s']);
  });

  it('passes PGOPTIONS of psql upstream', async () => {
    process.env.PGOPTIONS = '-c statement_timeout=4321 --search-path=app';
    try {
      const r = await psql(gw, agent, ['-Atc', 'SHOW statement_timeout', '-c', 'SHOW search_path', '-c', 'select count(*) from widgets']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['4321ms', 'app', '2']);
    } finally {
      delete process.env.PGOPTIONS;
    }
  });

  it('refuses role and session_authorization with FATAL 42501, whatever the policy', async () => {
    const role = await refused({ options: '-c role=postgres' }, dba);
    assert.equal(role.code, '42501');
    assert.equal(role.severity, 'FATAL');
    assert.match(role.message, /startup parameter role is refused: it changes the session's role or privileges \(set_role/);
    const auth = await refused({ options: '--session-authorization=postgres' }, dba);
    assert.equal(auth.code, '42501');
    assert.match(auth.message, /startup parameter session_authorization is refused/);
    // As a field of the packet itself, too.
    const { frames, socket } = await rawStartup(gw.port, { session_authorization: 'postgres' });
    await frames.until((t) => t.includes('R'));
    socket.write(serialize.password(dba));
    const got = await frames.until((t) => t.includes('E'));
    socket.destroy();
    const err = errorOf(got.find((f) => f.type === 'E')?.body ?? Buffer.alloc(0));
    assert.equal(err.code, '42501');
    assert.match(err.message, /session_authorization is refused/);
    // Guards that are not a role: row security off, replication role.
    assert.match((await refused({ options: '-c row_security=off' }, dba)).message, /row_security is refused/);
    assert.match((await refused({ options: '-c session_replication_role=replica' }, dba)).message, /session_replication_role is refused: it turns server guards off/);
  });

  it('refuses a parameter whose SET policy denies, with the policy\'s reason', async () => {
    // app.tenant_id is an unknown setting (row-level security reads such ones): agents may only read.
    const custom = await refused({ options: '-c app.tenant_id=7' });
    assert.equal(custom.code, '42501');
    assert.match(custom.message, /startup parameter app\.tenant_id is refused: denied by policy agents-read-only, rule 2: agents may only read/);
    // dba may set it.
    assert.deepEqual(await shown({ options: '-c app.tenant_id=7' }, ['"app.tenant_id"'], dba), ['7']);
    // A group that may SET nothing cannot even ask for application_name.
    const fixed = await gw.t.token('fixie', ['fixed']);
    const denied = await refused({ application_name: 'mine' }, fixed);
    assert.equal(denied.code, '42501');
    assert.match(denied.message, /startup parameter \w+ is refused: .*this group keeps the server's settings/);
    // A review cannot be waited for inside a login.
    const careful = await gw.t.token('carl', ['careful']);
    assert.match((await refused({ statement_timeout: 10 }, careful)).message, /is refused: a rule sends SET \w+ for review/);
  });

  it('refuses bad options syntax with PostgreSQL\'s own message and SQLSTATE (42601)', async () => {
    const noValue = await refused({ options: '-c statement_timeout' });
    assert.equal(noValue.code, '42601');
    assert.equal(noValue.severity, 'FATAL');
    assert.match(noValue.message, /-c statement_timeout requires a value/);
    assert.match((await refused({ options: 'stray' })).message, /invalid command-line argument for server process: stray/);
    assert.match((await refused({ options: '-B 100' })).message, /switch -B is not accepted through the gateway: use -c name=value/);
    assert.match((await refused({ options: '-c user=postgres' })).message, /startup parameter user is refused: it is a field of the startup packet/);
  });

  it('relays the server\'s own FATAL for a value it does not take', async () => {
    const bad = await refused({ options: '-c statement_timeout=abc' });
    assert.equal(bad.code, '22023');
    assert.equal(bad.severity, 'FATAL');
    assert.equal(bad.message, 'invalid value for parameter "statement_timeout": "abc"');
    const unknown = await refused({ options: '-c no_such_parameter=1' }, dba);
    assert.equal(unknown.code, '42704');
    assert.equal(unknown.message, 'unrecognized configuration parameter "no_such_parameter"');
  });

  it('refuses a replication connection', async () => {
    const { frames, socket } = await rawStartup(gw.port, { replication: 'database' });
    const got = await frames.until((t) => t.includes('E'));
    socket.destroy();
    const err = errorOf(got.find((f) => f.type === 'E')?.body ?? Buffer.alloc(0));
    assert.equal(err.code, '0A000');
    assert.match(err.message, /does not proxy replication/);
  });

  it('closes quietly when the client sends Terminate instead of a password', async () => {
    const { frames, socket } = await rawStartup(gw.port, {});
    await frames.until((t) => t.includes('R'));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.end(serialize.end());
    await closed;
    const types = (await frames.until(() => true)).map((f) => f.type);
    assert.deepEqual(types, ['R'], 'no ErrorResponse after Terminate');
    const log = readFileSync(join(gw.t.dir, 'gateway.log'), 'utf8');
    assert.match(log, /client ended the login with Terminate/);
    const problems = log.split('\n').filter((l) => l.includes('"level":50') || /protocol violation|handshake failed/.test(l));
    assert.deepEqual(problems, []);
  });

  it('takes portcullis.reason given at startup as the reason reviews show', async () => {
    const reasoned = await gw.t.token('rita', ['reasoned']);
    const c = client({ options: '-c portcullis.reason=nightly\\ cleanup' }, reasoned);
    await c.connect();
    try {
      await assert.rejects(c.query('truncate app.widgets'), (err: PgError) => err.code === '42501' && /review/.test(err.message));
    } finally {
      await c.end();
    }
    const rows = await storeDb(gw.t.gw.services.store).selectFrom('reviews').select(['reason']).execute();
    assert.ok(rows.some((r) => r.reason === 'nightly cleanup'), JSON.stringify(rows));
  });

  it('audits and records each parameter\'s decision', async () => {
    const store = storeDb(gw.t.gw.services.store);
    const decisions = async (): Promise<{ verdict: string; code?: string; action: { text: string } }[]> =>
      (await store.selectFrom('audit').select('data').where('type', '=', 'policy.decision').execute()).map((r) => JSON.parse(r.data) as { verdict: string; code?: string; action: { text: string } });
    await eventually(async () => (await decisions()).some((d) => d.action.text === `SET "statement_timeout" = '1234'`));
    const all = await decisions();
    assert.equal(all.find((d) => d.action.text === `SET "statement_timeout" = '1234'`)?.verdict, 'allow');
    const role = all.find((d) => d.action.text === `SET "role" = 'postgres'`);
    assert.equal(role?.verdict, 'deny');
    assert.equal(role?.code, 'PCS_PG_STARTUP_PARAM_REFUSED');
    assert.equal(all.find((d) => d.action.text === `SET "app"."tenant_id" = '7'` && d.verdict === 'deny')?.verdict, 'deny');
    const startup = await recordedEvents(gw, 'startup');
    assert.ok(startup.some((e) => JSON.stringify(e.data.parameters).includes('"name":"idle_in_transaction_session_timeout","value":"5678"')));
    const denied = await recordedEvents(gw, 'denied');
    assert.ok(denied.some((e) => e.data.startup === true && e.data.text === `SET "role" = 'postgres'` && e.data.sqlstate === '42501'));
  });
});
