// Which statements carry credentials, and what of them is kept: every string literal of such a
// statement goes (found by the server's lexer, whatever its quoting), names and numbers stay,
// and the other statements of the same text are untouched.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyzePostgres, loadSqlAnalyzer } from '../../../src/sql/postgres/analyze.ts';

before(() => loadSqlAnalyzer());

const CASES: ReadonlyArray<readonly [string, string]> = [
  ["ALTER ROLE bob PASSWORD 'sécret' VALID UNTIL '2030-01-01'", "ALTER ROLE bob PASSWORD '***' VALID UNTIL '***'"],
  ["create user alice with encrypted password E'it\\'s' connection limit 2", "create user alice with encrypted password '***' connection limit 2"],
  // \password sends the SCRAM verifier it computed.
  ["ALTER USER bob PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVkS2V5:c2VydmVyS2V5'", "ALTER USER bob PASSWORD '***'"],
  ['create user mapping for bob server s options (user $u$remote$u$, password $$p;w$$)', "create user mapping for bob server s options (user '***', password '***')"],
  ["ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (SET password U&'p\\0061ss')", "ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (SET password '***')"],
  ["CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (password 'x')", "CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (password '***')"],
  ["CREATE SUBSCRIPTION sub CONNECTION 'host=h password=q' PUBLICATION p", "CREATE SUBSCRIPTION sub CONNECTION '***' PUBLICATION p"],
  ["alter subscription sub connection 'password=q'", "alter subscription sub connection '***'"],
  ["select public.dblink_connect('c', 'host=h password=q')", "select public.dblink_connect('***', '***')"],
  ["select * from dblink('password=q', 'select 1') as t(x int)", "select * from dblink('***', '***') as t(x int)"],
  // Only the statement that carries a credential loses its literals.
  ["select 'keep'; ALTER ROLE r PASSWORD 'x'; select 'keep too'", "select 'keep'; ALTER ROLE r PASSWORD '***'; select 'keep too'"],
];

describe('statements carrying credentials', () => {
  for (const [text, redacted] of CASES) {
    it(text, () => {
      const action = analyzePostgres(text);
      assert.equal(action.redacted, redacted);
      assert.equal(action.text, text, 'the text forwarded is untouched');
      assert.ok(action.statements.some((s) => s.credential === true));
    });
  }

  it('leaves other statements alone, literals and all', () => {
    for (const text of ["select 'a', pg_read_file('x')", "ALTER ROLE r SET search_path = 'x'", "ALTER ROLE r RENAME TO s", 'select 1', "insert into t values ('password')"]) {
      const action = analyzePostgres(text);
      assert.equal(action.redacted, undefined, text);
    }
  });

  it('is redacted again for each text that shares a cache entry', () => {
    assert.equal(analyzePostgres("select dblink_connect('one')").redacted, "select dblink_connect('***')");
    assert.equal(analyzePostgres("select dblink_connect('two')").redacted, "select dblink_connect('***')");
  });
});

// DO blocks, function bodies and text that does not parse: the tree cannot vouch for them, so
// their words decide. A body's code is kept without its literals; a nested dollar quote, which
// may be the password itself, goes whole; a bare word after PASSWORD in unparsed text goes too.
const BY_WORDS: ReadonlyArray<readonly [string, string]> = [
  ["DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''s3cret'''; END $$", "DO $$ BEGIN EXECUTE '***'; END $$"],
  ["DO $b$ DECLARE pw text := 'hunter2'; BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', 'app', pw); END $b$", "DO $b$ DECLARE pw text := '***'; BEGIN EXECUTE format('***', '***', pw); END $b$"],
  ["DO $$ BEGIN ALTER ROLE app PASSWORD $p$in-dollars$p$; END $$", "DO $$ BEGIN ALTER ROLE app PASSWORD '***'; END $$"],
  ["CREATE OR REPLACE FUNCTION rotate() RETURNS void LANGUAGE sql AS $f$ ALTER ROLE app PASSWORD 'inbody' $f$", "CREATE OR REPLACE FUNCTION rotate() RETURNS void LANGUAGE sql AS $f$ ALTER ROLE app PASSWORD '***' $f$"],
  ["CREATE PROCEDURE p() LANGUAGE plpgsql AS 'BEGIN PERFORM dblink_connect(''password=x''); END'", "CREATE PROCEDURE p() LANGUAGE plpgsql AS '***'"],
  ["ALTER ROLE app PASSWORD 'x1' VALID UNTIL 'infinity' garbage", "ALTER ROLE app PASSWORD '***' VALID UNTIL '***' garbage"],
  ['ALTER ROLE app PASSWORD hunter2 garbage(', 'ALTER ROLE app PASSWORD *** garbage('],
  ["CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'pw'", "CREATE USER MAPPING FOR app SERVER s OPTIONS (user '***', password '***'"],
];

describe('statements whose words say they may carry credentials', () => {
  for (const [text, redacted] of BY_WORDS) {
    it(text, () => {
      const action = analyzePostgres(text);
      assert.equal(action.redacted, redacted);
      assert.equal(action.text, text, 'the text forwarded is untouched');
    });
  }

  it('leaves DO blocks and unparsed text without such words alone', () => {
    for (const text of ["DO $$ BEGIN RAISE NOTICE 'hello'; END $$", "selec 'typo'", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$"]) {
      assert.equal(analyzePostgres(text).redacted, undefined, text);
    }
  });
});
