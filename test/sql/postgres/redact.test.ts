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
