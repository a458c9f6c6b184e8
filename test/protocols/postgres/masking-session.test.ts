// Masking in a PostgreSQL session, beyond single statements: the relation catalog follows
// DDL made in the session, writes that would copy a masked column into an unmasked place are
// refused, server messages and notifications that could quote masked values are rewritten,
// unknown lineage can deny, COPY options the gateway cannot rewrite are refused, and portals
// executed without a Describe are still masked.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { parserStats } from '../../../src/sql/postgres/parse.ts';
import { FrameCollector, rawSession } from './raw.ts';
import { adminSql, createDatabase, dropDatabase, eventually, psql, recordedEvents, startPgGateway, type PgGateway } from './support.ts';

const EMAIL = 'qv9.maria@example.com';
const SSN = '078-05-1120';

const MASKS = `
      - { column: public.people.email, with: partial }
      - { column: "*.*.ssn", with: redact, deny_in_predicates: true }
      - { detector: email, with: redact }`;

function config(db: string, extra = '', masks = MASKS): string {
  return `
connections:
  - { name: app-db, type: postgres, upstream: { host: 127.0.0.1, port: 5432, database: ${db}, user: postgres, tls: disable } }
policies:
  - name: writers
    subjects: { groups: [writers] }
    connections: ["*"]
    masks:${masks}
    rules:
      - { then: allow }
${extra}`;
}

describe('postgres masking across a session', () => {
  let db: string;
  let gw: PgGateway;
  let writer: string;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE people (id int primary key, name text, email text unique, ssn text); INSERT INTO people VALUES (1, 'Maria', '${EMAIL}', '${SSN}'); CREATE TABLE notes (id serial primary key, body text);`, db);
    gw = await startPgGateway(config(db));
    writer = await gw.t.token('writer-bot', ['writers']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  const clean = (out: string): void => {
    assert.ok(!out.includes(EMAIL) && !out.includes('qv9.maria'), `email leaked: ${out}`);
    assert.ok(!out.includes(SSN) && !out.includes('0780511'), `ssn leaked: ${out}`);
  };

  it('sees a view created earlier in the same session through its definition', async () => {
    const r = await psql(gw, writer, ['-At', '-c', 'CREATE VIEW public.v_people AS SELECT id, ssn AS tax_id FROM people', '-c', 'SELECT tax_id FROM v_people']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').at(-1), '****');
    clean(r.stdout + r.stderr);
  });

  it('refuses writes that copy a masked column where no mask covers it', async () => {
    for (const sql of [
      'CREATE TABLE copy1 AS SELECT email FROM people',
      'INSERT INTO notes (body) SELECT ssn FROM people',
      'UPDATE notes SET body = (SELECT email FROM people LIMIT 1)',
      'SELECT upper(email) AS e INTO copy2 FROM people',
      "COPY (SELECT ssn FROM people) TO '/tmp/portcullis-should-not-exist'",
    ]) {
      const r = await psql(gw, writer, ['-c', sql]);
      assert.notEqual(r.code, 0, sql);
      assert.match(r.stderr, /PCS_MASK_WRITE_REFUSED/, sql);
    }
    // Into a column a mask covers (`*.*.ssn`), the copy stays protected: allowed.
    const ok = await psql(gw, writer, ['-At', '-c', 'CREATE TABLE copy3 AS SELECT ssn FROM people', '-c', 'SELECT ssn FROM copy3']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').at(-1), '****');
    assert.equal(await adminSql('SELECT count(*) FROM notes', db), '0');
  });

  it('withholds values the server quotes in errors', async () => {
    const dup = await psql(gw, writer, ['-c', `INSERT INTO people VALUES (2, 'Dup', (SELECT email FROM people WHERE id = 1), 'x')`]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /duplicate key/);
    clean(dup.stderr);
    const cast = await psql(gw, writer, ['-c', 'SELECT ssn::int FROM people']);
    assert.match(cast.stderr, /invalid input syntax for type integer: "\*\*\*\*"/);
    clean(cast.stderr);
    const raise = await psql(gw, writer, ['-c', `DO $$ DECLARE s text; BEGIN SELECT ssn INTO s FROM people LIMIT 1; RAISE NOTICE 'value %', s; END $$`]);
    clean(raise.stdout + raise.stderr);
    // Names are withheld too when the statement reads masked data (the server quotes values
    // as names: ssn::regclass), and left alone when it does not.
    const regclass = await psql(gw, writer, ['-c', 'SELECT ssn::regclass FROM people']);
    assert.match(regclass.stderr, /relation "\*\*\*\*" does not exist/);
    clean(regclass.stderr);
    const typo = await psql(gw, writer, ['-c', 'SELECT emial FROM people']);
    assert.match(typo.stderr, /column "\*\*\*\*" does not exist/);
    const elsewhere = await psql(gw, writer, ['-c', "SELECT 'abc'::int FROM notes"]);
    assert.match(elsewhere.stderr, /invalid input syntax for type integer: "abc"/);
  });

  it('withholds notification payloads once column masks apply', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'w', password: writer });
    await c.connect();
    try {
      const got: string[] = [];
      c.on('notification', (n) => got.push(n.payload ?? ''));
      await c.query('LISTEN leak');
      await c.query('SELECT name FROM people');
      // pg_notify carries its argument past every result column: a masked one is refused...
      await assert.rejects(c.query("SELECT pg_notify('leak', email) FROM people"), /PCS_MASK_WRITE_REFUSED/);
      // ...and any payload (another session's too) is withheld from a masked session.
      await c.query("SELECT pg_notify('leak', 'plain text')");
      await eventually(async () => got.length > 0);
      assert.match(got[0] ?? '', /withheld/);
    } finally {
      await c.end();
    }
  });

  it('masks a named statement executed again without a Describe, in binary too', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'w', password: writer });
    await c.connect();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await c.query({ name: 'people_by_id', text: 'SELECT email, ssn, name FROM people WHERE id = $1', values: [1] });
        assert.deepEqual(r.rows[0], { email: 'q***@example.com', ssn: '****', name: 'Maria' });
      }
      const b = await c.query({ text: 'SELECT email, ssn, id FROM people WHERE id = $1', values: [1], binary: true } as pg.QueryConfig);
      clean(JSON.stringify(b.rows, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v)));
    } finally {
      await c.end();
    }
  });

  it('describes a portal itself when the client executes without a Describe', async () => {
    const socket = await rawSession(gw.port, writer);
    const frames = new FrameCollector(socket);
    socket.write(
      Buffer.concat([
        serialize.parse({ name: 'nodesc', text: 'SELECT id, email, ssn FROM people', types: [] }),
        serialize.bind({ statement: 'nodesc', portal: '', values: [], binary: false }),
        serialize.execute({ portal: '' }),
        serialize.sync(),
      ]),
    );
    const seen = await frames.until((types) => types.includes('Z'));
    // The gateway's own Describe is answered to the gateway: the client sees what it asked for.
    assert.deepEqual(seen.map((f) => f.type), ['1', '2', 'D', 'C', 'Z']);
    const row = seen[2]?.body.toString('latin1') ?? '';
    clean(row);
    assert.match(row, /q\*\*\*@example\.com/);
    socket.end(serialize.end());
  });

  it('answers a Bind to a statement nobody prepared with the server\'s own 26000, without forwarding it', async () => {
    const socket = await rawSession(gw.port, writer);
    const frames = new FrameCollector(socket);
    socket.write(Buffer.concat([serialize.bind({ statement: 'never_prepared', portal: '', values: [], binary: false }), serialize.execute({ portal: '' }), serialize.sync()]));
    const seen = await frames.until((types) => types.includes('Z'));
    assert.deepEqual(seen.map((f) => f.type), ['E', 'Z']);
    const error = seen[0]?.body.toString('utf8') ?? '';
    assert.match(error, /C26000\0/);
    assert.match(error, /Mprepared statement "never_prepared" does not exist\0/);
    // The session goes on: the stand-in kept the server in step.
    socket.write(serialize.query('SELECT 1'));
    const after = await frames.until((types) => types.filter((t) => t === 'Z').length === 2);
    assert.ok(after.some((f) => f.type === 'D'));
    socket.end(serialize.end());
  });

  it('scans unmasked text with detectors and records what was masked, by which rule', async () => {
    const r = await psql(gw, writer, ['-At', '-c', "SELECT name || ' <' || 'someone.else@example.net' || '>' FROM people"]);
    assert.equal(r.stdout.trim(), 'Maria <****>');
    await eventually(async () => (await recordedEvents(gw, 'statement')).some((e) => e.data.text === 'SELECT email, ssn, name FROM people WHERE id = $1' && e.data.masking !== undefined));
    const events = await recordedEvents(gw, 'statement');
    const event = events.find((e) => e.data.text === 'SELECT email, ssn, name FROM people WHERE id = $1');
    const masking = event?.data.masking as { columns: { name: string; rule: string; with: string }[]; rows_changed: number };
    assert.deepEqual(masking.columns.map((c) => [c.name, c.rule, c.with]).slice(0, 2), [['email', 'writers.masks[0]', 'partial'], ['ssn', 'writers.masks[1]', 'redact']]);
    assert.ok(masking.rows_changed >= 1);
    clean(JSON.stringify(events));
  });

  it('refuses a COPY whose format it cannot rewrite', async () => {
    const r = await psql(gw, writer, ['-c', "COPY people TO STDOUT WITH (FORMAT text, HEADER)"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PCS_MASK_COPY_UNSUPPORTED/);
  });
});

describe('postgres masking with unknown_lineage: deny', () => {
  let db: string;
  let gw: PgGateway;
  let writer: string;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE people (id int primary key, email text, ssn text); CREATE FUNCTION mystery() RETURNS text LANGUAGE sql STABLE AS 'SELECT ssn FROM people LIMIT 1';`, db);
    gw = await startPgGateway(config(db, 'masking: { unknown_lineage: deny }'));
    writer = await gw.t.token('writer-bot', ['writers']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('denies a statement with an output it cannot trace, and runs traceable ones', async () => {
    const r = await psql(gw, writer, ['-c', 'SELECT mystery()']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PCS_MASK_LINEAGE_UNKNOWN/);
    const ok = await psql(gw, writer, ['-At', '-c', 'SELECT count(*) FROM people']);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

describe('postgres masking: repeated statements (result descriptions remembered)', () => {
  let db: string;
  let gw: PgGateway;
  let writer: string;

  before(async () => {
    db = await createDatabase();
    await adminSql(`CREATE TABLE people (id int primary key, name text, ssn text); INSERT INTO people VALUES (1, 'Maria', '${SSN}');`, db);
    // Column masks only, no detector: results without a masked column need no work at all,
    // which is what the gateway remembers per statement.
    gw = await startPgGateway(config(db, '', '\n      - { column: "*.*.ssn", with: redact }'));
    writer = await gw.t.token('writer-bot', ['writers']);
  });

  after(async () => {
    await gw?.stop();
    if (db) await dropDatabase(db);
  });

  it('parses each new statement text once, for policy and masking together', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'w', password: writer });
    await c.connect();
    try {
      const probe = `parse_probe_${Date.now()}`;
      const parses = async (sql: string): Promise<number> => {
        const before = parserStats.statements;
        await c.query(sql);
        return parserStats.statements - before;
      };
      // A comment is kept by literal normalisation: a text no cache has seen.
      assert.equal(await parses(`SELECT name, ssn FROM people WHERE id = 1 /* ${probe} */`), 1);
      assert.equal(await parses(`SELECT name, ssn FROM people WHERE id = 2 /* ${probe} */`), 0);
      assert.equal(await parses(`INSERT INTO people (id, name, ssn) SELECT id + 100, name, ssn FROM people WHERE id = 1 /* ${probe} */`), 1);
      assert.equal(await parses(`UPDATE people SET name = 'Maria' WHERE id = 0 /* ${probe} */; SELECT ssn FROM people /* ${probe} */`), 1);
    } finally {
      await c.end();
    }
  });

  it('masks a repeated statement every time, and again once a view under the same description changes', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, database: 'app-db', user: 'w', password: writer });
    await c.connect();
    try {
      const value = async (sql: string): Promise<unknown> => (await c.query({ text: sql, rowMode: 'array' })).rows[0]?.[0];
      // Different literals, one statement template: masked each time.
      for (let i = 0; i < 3; i++) assert.equal(await value(`SELECT ssn FROM people WHERE id < ${i + 2}`), '****');
      await c.query('CREATE VIEW v AS SELECT name AS x FROM people');
      for (let i = 0; i < 2; i++) assert.equal(await value('SELECT x FROM v'), 'Maria');
      // Same view, same column, same type: the same RowDescription bytes, now over ssn.
      await c.query('CREATE OR REPLACE VIEW v AS SELECT ssn AS x FROM people');
      assert.equal(await value('SELECT x FROM v'), '****');
    } finally {
      await c.end();
    }
  });
});
