// The MySQL/MariaDB analysis over a corpus: command, effect and relations per statement, for
// ordinary SQL and for texts built to make the gateway read something other than what the
// server executes (executable comments, version gates, comment and quote rules, sql_mode).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { mysqlDialect, mysqlDialectFor } from '../../../src/sql/mysql/dialect.ts';
import { CASES, type Expected } from './corpus.ts';

const MARIADB = mysqlDialectFor({ version: 101119, mariadb: true });
const MYSQL8 = mysqlDialectFor({ version: 80036, mariadb: false });

function shape(dialect: typeof MARIADB, text: string, sqlMode?: string): Expected[] {
  const action = dialect.analyze(text, { searchPath: ['app'], ...(sqlMode !== undefined ? { sqlMode } : {}) });
  return action.statements.map((s) => {
    const relations = s.relations.map((r) => `${r.name}:${r.access === 'read' ? 'r' : 'w'}`).sort();
    return relations.length === 0 ? [s.command, s.effect] : [s.command, s.effect, relations];
  });
}

function expected(e: readonly Expected[]): Expected[] {
  return e.map(([c, eff, rel]) => (rel === undefined || rel.length === 0 ? [c, eff] : [c, eff, [...rel].sort()]));
}

describe('MySQL analysis corpus (MariaDB 10.11.19)', () => {
  before(() => MARIADB.load());
  it(`has at least 100 statements (${CASES.length})`, () => assert.ok(CASES.length >= 100));
  for (const [text, want] of CASES) {
    it(JSON.stringify(text), () => assert.deepEqual(shape(MARIADB, text), expected(want)));
  }
  it('gives every unknown statement a reason', () => {
    for (const [text] of CASES) {
      for (const s of MARIADB.analyze(text, { searchPath: ['app'] }).statements) if (s.effect === 'unknown') assert.ok(s.error !== undefined || s.functions.length > 0, text);
    }
  });
});

describe('MySQL analysis per server', () => {
  before(() => MYSQL8.load());
  it('does not run a version gate above the server version (MySQL 8.0.36)', () => {
    assert.deepEqual(shape(MYSQL8, '/*!99999 DROP TABLE t */ SELECT 1'), [['select', 'read']]);
    assert.deepEqual(shape(MYSQL8, '/*!80036 DROP TABLE t */'), [['drop', 'ddl', ['app.t:w']]]);
  });
  it('reads /*M! ... */ as a comment on MySQL and as SQL on MariaDB', () => {
    assert.deepEqual(shape(MYSQL8, '/*M! DROP TABLE t */ SELECT 1'), [['select', 'read']]);
    // MariaDB reads `DROP TABLE t SELECT 1`: not a statement the grammar knows.
    assert.deepEqual(shape(MARIADB, '/*M! DROP TABLE t */ SELECT 1'), [['drop', 'unknown']]);
  });
  it('reads six-digit version gates only on MariaDB', () => {
    assert.deepEqual(shape(MYSQL8, '/*!100000 DROP TABLE t */ SELECT 1'), [['unknown', 'unknown']]);
    assert.deepEqual(shape(MARIADB, '/*!100000 DROP TABLE t */'), [['drop', 'ddl', ['app.t:w']]]);
    assert.deepEqual(shape(MARIADB, '/*!1011199 + 1 */ SELECT 1'), [['unknown', 'unknown']]);
  });
  it('fails closed on what depends on a server it does not know', () => {
    assert.deepEqual(shape(mysqlDialect, '/*!80000 DROP TABLE t */ SELECT 1'), [['unknown', 'unknown']]);
    assert.deepEqual(shape(mysqlDialect, '/*M! DROP TABLE t */ SELECT 1'), [['unknown', 'unknown']]);
    assert.deepEqual(shape(mysqlDialect, '/*!50700 DROP TABLE t */ SELECT 1'), [['unknown', 'unknown']]);
    assert.deepEqual(shape(mysqlDialectFor({ mariadb: true }), '/*!50700 DROP TABLE t */ SELECT 1'), [['select', 'read']]);
    assert.deepEqual(shape(mysqlDialectFor({ mariadb: false }), '/*!50600 DROP TABLE t */'), [['drop', 'ddl', ['app.t:w']]]);
    assert.deepEqual(shape(mysqlDialectFor({ mariadb: false }), '/*!50700 DROP TABLE t */'), [['unknown', 'unknown']]);
    // Every supported server runs gates up to 5.7.
    assert.deepEqual(shape(mysqlDialect, '/*!40101 DELETE FROM t */'), [['delete', 'write', ['app.t:w']]]);
    assert.match(mysqlDialect.analyze('/*!80000 DROP TABLE t */').statements[0]?.error ?? '', /server is not known/);
  });
});

describe('MySQL table name case', () => {
  it('lower-cases names for a server that compares them case-insensitively', () => {
    const folding = mysqlDialectFor({ version: 101119, mariadb: true, lowerCaseTableNames: 1 });
    assert.deepEqual(shape(folding, 'SELECT * FROM SECRETS JOIN Shop.Orders'), [['select', 'read', ['app.secrets:r', 'shop.orders:r']]]);
    assert.deepEqual(shape(MARIADB, 'SELECT * FROM SECRETS JOIN Shop.Orders'), [['select', 'read', ['Shop.Orders:r', 'app.SECRETS:r']]]);
  });
});

describe('MySQL analysis under sql_mode', () => {
  it('reads "..." as an identifier with ANSI_QUOTES', () => {
    assert.deepEqual(shape(MARIADB, 'SELECT "a;DROP TABLE t;--" FROM u', 'ANSI_QUOTES'), [['select', 'read', ['app.u:r']]]);
    assert.deepEqual(shape(MARIADB, 'SELECT * FROM "secret"', 'ANSI_QUOTES'), [['select', 'read', ['app.secret:r']]]);
    assert.deepEqual(shape(MARIADB, 'SELECT "secret" FROM u'), [['select', 'read', ['app.u:r']]]);
    assert.deepEqual(shape(MARIADB, 'SELECT * FROM "secret"', 'REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY,ANSI'), [['select', 'read', ['app.secret:r']]]);
  });
  it('reads a backslash as a plain character with NO_BACKSLASH_ESCAPES', () => {
    const text = "SELECT 'a\\';DROP TABLE t;--'";
    assert.deepEqual(shape(MARIADB, text), [['select', 'read']]);
    assert.deepEqual(shape(MARIADB, text, 'NO_BACKSLASH_ESCAPES'), [['select', 'read'], ['drop', 'ddl', ['app.t:w']], ['unknown', 'unknown']]);
  });
  it('reads the statements after SET sql_mode in the new mode', () => {
    const text = "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\';DROP TABLE t;--'";
    assert.deepEqual(shape(MARIADB, text), [['set', 'read'], ['select', 'read'], ['drop', 'ddl', ['app.t:w']], ['unknown', 'unknown']]);
    assert.deepEqual(MARIADB.analyze(text).statements[0]?.setting, { name: 'sql_mode', value: 'NO_BACKSLASH_ESCAPES' });
    assert.deepEqual(shape(MARIADB, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'); SELECT 1"), [['set', 'unknown'], ['select', 'read']]);
    assert.deepEqual(shape(MARIADB, 'SET sql_mode = DEFAULT; SELECT 1'), [['set', 'read'], ['unknown', 'unknown']]);
  });
  it('does not follow MariaDB ORACLE mode', () => {
    assert.deepEqual(shape(MARIADB, 'SELECT 1', 'PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ORACLE'), [['unknown', 'unknown']]);
  });
});

describe('MySQL prepared statements', () => {
  it('resolves EXECUTE to what PREPARE prepared', () => {
    const prep = MARIADB.analyze("PREPARE s FROM 'UPDATE t SET a = 1'", { searchPath: ['app'] }).statements[0];
    assert.equal(prep?.prepared?.name, 's');
    const exec = MARIADB.analyze('EXECUTE S', { searchPath: ['app'] }).statements[0];
    assert.ok(exec !== undefined && prep !== undefined);
    assert.equal(exec.executes, 's');
    const resolved = MARIADB.resolveExecute(exec, (name) => (name === 's' ? prep : undefined));
    assert.equal(resolved.effect, 'write');
    assert.equal(resolved.error, undefined);
    assert.deepEqual(resolved.relations, [{ name: 'app.t', access: 'write' }]);
    assert.equal(MARIADB.resolveExecute(exec, () => undefined).effect, 'unknown');
  });
  it('keeps EXECUTE unknown when the text came from a variable', () => {
    const prep = MARIADB.analyze('PREPARE s FROM @sql').statements[0];
    const exec = MARIADB.analyze('EXECUTE s').statements[0];
    assert.ok(prep !== undefined && exec !== undefined);
    assert.equal(prep.effect, 'unknown');
    assert.equal(MARIADB.resolveExecute(exec, () => prep).effect, 'unknown');
  });
});
