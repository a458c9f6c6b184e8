// The lexer against the real server: each probe text is sent to MariaDB (127.0.0.1:3306) as
// ONE COM_QUERY with multi-statements (the mariadb CLI with a delimiter that never occurs,
// comments kept, no client commands), in a throwaway database with a table t of one row and a
// table u. What the server did (t dropped? t's row deleted? u written?) must be what the
// analysis says the text does. A text the analysis calls unknown makes no claim (it fails
// closed), but the probes are chosen so that most are understood.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { mysqlDialectFor, mysqlServerFromVersion } from '../../../src/sql/mysql/dialect.ts';
import { rng } from '../../support/rng.ts';
import type { SqlDialect } from '../../../src/sql/dialect.ts';

const HOST = ['-h', '127.0.0.1', '-P', '3306', '-u', 'root'];
const DB = `pcs_lex_${randomBytes(4).toString('hex')}`;

function cli(db: string | undefined, text: string): { ok: boolean; out: string } {
  const args = [...HOST, '-N', '-B', '--comments', '--binary-mode', '--delimiter=@@@@', ...(db === undefined ? [] : [db])];
  const r = spawnSync('mariadb', args, { input: `${text}\n@@@@\n`, encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function reachable(): string | undefined {
  try {
    return execFileSync('mariadb', [...HOST, '-N', '-B', '-e', 'SELECT VERSION()'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

const version = reachable();

/** What the server did to the probe tables. */
interface Outcome {
  readonly dropped: boolean;
  readonly deleted: boolean;
  readonly wroteU: boolean;
}

function observe(): Outcome {
  const t = cli(DB, 'SELECT COUNT(*) FROM t');
  const u = cli(DB, 'SELECT COUNT(*) FROM u');
  return { dropped: !t.ok, deleted: t.ok && t.out.trim() === '0', wroteU: u.ok && u.out.trim() !== '0' };
}

function reset(): void {
  const r = cli(DB, 'DROP TABLE IF EXISTS t, u; CREATE TABLE t (a INT); INSERT INTO t VALUES (1); CREATE TABLE u (a INT)');
  assert.ok(r.ok, r.out);
}

/** What the analysis says the text does to the probe tables, or undefined when it fails closed. */
function predict(dialect: SqlDialect, text: string, sqlMode?: string): Outcome | undefined {
  const action = dialect.analyze(text, { searchPath: [DB], ...(sqlMode !== undefined ? { sqlMode } : {}) });
  if (action.statements.some((s) => s.effect === 'unknown')) return undefined;
  const touches = (command: string, table: string): boolean => action.statements.some((s) => s.command === command && s.relations.some((r) => r.name === `${DB}.${table}` && r.access === 'write'));
  return { dropped: touches('drop', 't'), deleted: touches('delete', 't') || touches('truncate', 't'), wroteU: touches('insert', 'u') };
}

/** Probes: [text, sql_mode or undefined, must the analysis understand it]. */
const PROBES: ReadonlyArray<readonly [string, string | undefined, boolean]> = [
  ['/*! DROP TABLE t */', undefined, true],
  ['/*!50700 DROP TABLE t */', undefined, true],
  ['/*!99999 DROP TABLE t */', undefined, true],
  ['/*!999999 DROP TABLE t */ SELECT 1', undefined, true],
  ['/*!100000 DROP TABLE t */', undefined, true],
  ['/*M! DROP TABLE t */', undefined, true],
  ['/*M!999999 DROP TABLE t */ SELECT 1', undefined, true],
  ['SELECT 1 /* ; DROP TABLE t */', undefined, true],
  ['SELECT 1 /*!99999999 ; DROP TABLE t */', undefined, false],
  ['SELECT 1 -- ; DROP TABLE t', undefined, true],
  ['SELECT 1 --\t; DROP TABLE t', undefined, true],
  ['SELECT 1 --1; DROP TABLE t', undefined, true],
  ['SELECT 1 # ; DROP TABLE t\n; DELETE FROM t', undefined, true],
  ['SELECT 1 #\r; DROP TABLE t', undefined, true],
  ["SELECT 'a\\';DROP TABLE t;--'", undefined, true],
  ["SELECT 'a'';DROP TABLE t;--'", undefined, true],
  ['SELECT "a\\";DROP TABLE t;--"', undefined, true],
  ['SELECT `a;DROP TABLE t;--` FROM (SELECT 1 AS `a;DROP TABLE t;--`) x', undefined, true],
  ["SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP TABLE t; SELECT '1'", undefined, true],
  ["SET sql_mode = 'ANSI_QUOTES'; SELECT \"a\" FROM (SELECT 1 AS \"a\") x; DELETE FROM t", undefined, true],
  ["SELECT 'a\\'; DROP TABLE t; SELECT '1'", 'NO_BACKSLASH_ESCAPES', true],
  ['SELECT 1; DELETE FROM t; INSERT INTO u VALUES (1)', undefined, true],
  ['INSERT INTO u SELECT a FROM t /*! ; DROP TABLE t */', undefined, false],
  ["INSERT INTO u VALUES (1) /*!50700 , (2) */; DELETE /*M!100000 FROM t */", undefined, true],
  ["SELECT _utf8mb4'x;DROP TABLE t', N'y', X'41' ; TRUNCATE t", undefined, true],
  ["PREPARE s FROM 'DELETE FROM t'; EXECUTE s", undefined, false],
];

describe('the lexer against the real MariaDB server', { skip: version === undefined ? 'no MariaDB on 127.0.0.1:3306' : false }, () => {
  let dialect: SqlDialect;
  before(async () => {
    dialect = mysqlDialectFor(mysqlServerFromVersion(version ?? ''));
    await dialect.load();
    const r = cli(undefined, `CREATE DATABASE ${DB}`);
    assert.ok(r.ok, r.out);
  });
  after(() => {
    cli(undefined, `DROP DATABASE IF EXISTS ${DB}`);
  });

  for (const [text, mode, understood] of PROBES) {
    it(JSON.stringify(mode === undefined ? text : `${text} [sql_mode=${mode}]`), () => {
      reset();
      const predicted = predict(dialect, text, mode);
      if (understood) assert.ok(predicted !== undefined, `the analysis should understand ${text}: ${JSON.stringify(dialect.analyze(text, { searchPath: [DB] }).statements.map((s) => s.error))}`);
      cli(DB, mode === undefined ? text : `SET sql_mode = '${mode}'; ${text}`);
      const actual = observe();
      if (predicted !== undefined) assert.deepEqual(predicted, actual, `server did ${JSON.stringify(actual)}`);
    });
  }

  // Random texts that hide destructive statements in comments, strings and executable
  // comments. The server may do less than predicted (an error stops a multi-statement batch),
  // never more: what it did to t and u, the analysis must have seen.
  it('never lets the server do more than the analysis saw (random texts)', () => {
    const next = rng(17);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    const dangers = ['DROP TABLE t', 'DELETE FROM t', 'INSERT INTO u VALUES (1)', 'TRUNCATE t'];
    const gates = ['!', '!50600', '!50700', '!99999', '!100000', '!101119', '!999999', 'M!', 'M!100000', 'M!999999', '', '+'];
    const noise = ["\\'", "''", ';', '\\', '"', '`', '*/', '/*', '-- ', '--', '#', '\n', ' '];
    const wrap = (d: string): string => {
      const n = pick(noise).replace(/\\n/g, '\n');
      switch (Math.floor(next() * 7)) {
        case 0: return `/*${pick(gates)} ${d} */`;
        case 1: return `-- ${n}${d}\n`;
        case 2: return `--${pick(['\t', '\x01', 'x', ''])}${d}\n`;
        case 3: return `#${n}${d}\n`;
        case 4: return `'${n};${d};'`;
        case 5: return `"${n};${d};"`;
        default: return `; ${d}`;
      }
    };
    let understood = 0;
    for (let i = 0; i < 120; i++) {
      const parts = ['SELECT 1'];
      const count = 1 + Math.floor(next() * 3);
      for (let k = 0; k < count; k++) parts.push(next() < 0.3 ? pick(noise).replace(/\\n/g, '\n') : wrap(pick(dangers)));
      const text = parts.join(' ');
      const mode = next() < 0.2 ? pick(['NO_BACKSLASH_ESCAPES', 'ANSI_QUOTES']) : undefined;
      reset();
      const predicted = predict(dialect, text, mode);
      cli(DB, mode === undefined ? text : `SET sql_mode = '${mode}'; ${text}`);
      const actual = observe();
      if (predicted === undefined) continue;
      understood++;
      for (const k of ['dropped', 'deleted', 'wroteU'] as const) assert.ok(!actual[k] || predicted[k], `${JSON.stringify(text)} [${mode ?? 'default'}]: the server ${k} what the analysis did not see`);
    }
    assert.ok(understood >= 40, `only ${understood} of 120 random texts understood`);
  });

  it('reads the server version string', () => {
    const server = mysqlServerFromVersion(version ?? '');
    assert.equal(server.mariadb, true);
    assert.ok((server.version ?? 0) > 100000);
  });
});
