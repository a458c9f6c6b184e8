// Credential statements keep their string literals out of the record (SqlAction.redacted) and
// out of `portcullis policy test` output, read with the MySQL lexer.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { mysqlDialectFor } from '../../../src/sql/mysql/dialect.ts';
import { shownMysqlAction, WITHHELD } from '../../../src/sql/mysql/redact.ts';

const dialect = mysqlDialectFor({ version: 101119, mariadb: true });

describe('MySQL credential redaction', () => {
  before(() => dialect.load());
  const cases: readonly (readonly [string, string])[] = [
    ["CREATE USER 'bob'@'%' IDENTIFIED BY 's3cret'", "CREATE USER '***'@'%' IDENTIFIED BY '***'"],
    ["ALTER USER bob IDENTIFIED BY \"s3cret\"", "ALTER USER bob IDENTIFIED BY '***'"],
    ["SET PASSWORD FOR bob = PASSWORD('s3cret')", "SET PASSWORD FOR bob = PASSWORD('***')"],
    ["GRANT ALL ON *.* TO bob IDENTIFIED BY 's3cret'", "GRANT ALL ON *.* TO bob IDENTIFIED BY '***'"],
    ["CHANGE MASTER TO MASTER_HOST = 'h', MASTER_PASSWORD = 's3cret'", "CHANGE MASTER TO MASTER_HOST = '***', MASTER_PASSWORD = '***'"],
    ["SELECT 1; /*!40101 CREATE USER x IDENTIFIED BY 's3cret' */; SELECT 'kept'", "SELECT 1; /*!40101 CREATE USER x IDENTIFIED BY '***' */; SELECT 'kept'"],
    ["PREPARE s FROM 'CREATE USER x IDENTIFIED BY ''s3cret'''", 'PREPARE s FROM \'***\''],
    ["CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 's3cret')", "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER '***', PASSWORD '***')"],
    ["SELECT 'a\\'', PASSWORD('s3cret')", "SELECT '***', PASSWORD('***')"],
  ];
  for (const [text, redacted] of cases) {
    it(text, () => {
      const action = dialect.analyze(text);
      assert.equal(action.redacted, redacted);
      assert.ok(action.statements.some((s) => s.credential === true));
      const shown = shownMysqlAction(action, { version: 101119, mariadb: true });
      assert.ok(!JSON.stringify(shown).includes('s3cret'), JSON.stringify(shown));
    });
  }
  it('withholds an account statement it cannot read', () => {
    const action = dialect.analyze("SELECT 1; CREATE USER x IDENTIFIED BY 's3cret");
    assert.equal(action.redacted, `SELECT 1; ${WITHHELD}`);
  });
  it('leaves other statements alone', () => {
    assert.equal(dialect.analyze("SELECT password FROM users WHERE name = 'bob'").redacted, undefined);
  });
});
