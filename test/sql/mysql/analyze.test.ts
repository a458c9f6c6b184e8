// The MySQL/MariaDB analysis over a corpus: command, effect and relations per statement, for
// ordinary SQL and for texts built to make the gateway read something other than what the
// server executes (executable comments, version gates, comment and quote rules, sql_mode).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { SqlEffect } from '../../../src/core/action.ts';
import { mysqlDialect, mysqlDialectFor } from '../../../src/sql/mysql/dialect.ts';

const MARIADB = mysqlDialectFor({ version: 101119, mariadb: true });
const MYSQL8 = mysqlDialectFor({ version: 80036, mariadb: false });

/** One statement: `command effect` and its relations as `db.t:r` / `db.t:w` (any order). */
type Expected = readonly [command: string, effect: SqlEffect, relations?: readonly string[]];

/** Text -> one Expected per statement (MariaDB 10.11.19, current database `app`). */
const CASES: ReadonlyArray<readonly [string, readonly Expected[]]> = [
  // Queries
  ['select 1', [['select', 'read']]],
  ['SELECT c.name, o.total FROM customers c JOIN sales.orders o ON o.customer_id = c.id LEFT JOIN items USING (id)', [['select', 'read', ['app.customers:r', 'sales.orders:r', 'app.items:r']]]],
  ['select * from a where b in (select c from d where exists (select 1 from e)) union select 1 from f', [['select', 'read', ['app.a:r', 'app.d:r', 'app.e:r', 'app.f:r']]]],
  ['select * from t1, (select a from t2) d where d.a = t1.a', [['select', 'read', ['app.t1:r', 'app.t2:r']]]],
  ['with recursive tree as (select id from nodes where parent is null union all select n.id from nodes n join tree t on n.parent = t.id) select * from tree', [['select', 'read', ['app.nodes:r']]]],
  // A non-recursive CTE does not hide the table of the same name inside its own query.
  ['with t as (select * from t) select * from t', [['select', 'read', ['app.t:r']]]],
  // A CTE's name does not hide a table outside the query that defines it.
  ['select * from secret where id in (with secret as (select 1) select * from secret)', [['select', 'read', ['app.secret:r']]]],
  ['select `weird``name`.x from `weird``name`', [['select', 'read', ['app.weird`name:r']]]],
  ['select 1 from dual', [['select', 'read']]],
  ['select sql_calc_found_rows high_priority a from t limit 1, 2', [['select', 'read', ['app.t:r']]]],
  ['select * from t force index (i) where a = 1', [['select', 'read', ['app.t:r']]]],
  ['select json_extract(a, \'$.x\'), a->>\'$.y\', group_concat(b separator \',\') from t', [['select', 'read', ['app.t:r']]]],
  ['select cast(a as char), convert(a using utf8mb4) from t', [['select', 'read', ['app.t:r']]]],
  ['values row(1), row(2)', [['select', 'read']]],
  ['(select a from t) union all (select b from u)', [['select', 'read', ['app.t:r', 'app.u:r']]]],
  // Locking reads
  ['select * from t for update', [['select_for_update', 'write', ['app.t:r']]]],
  ['select * from t for share', [['select_for_update', 'write', ['app.t:r']]]],
  ['select * from t lock in share mode', [['select_for_update', 'write', ['app.t:r']]]],
  ['select * from t where id = 1 for update skip locked', [['select_for_update', 'write', ['app.t:r']]]],
  // Files and variables
  ["SELECT * INTO OUTFILE '/tmp/x' FROM secret", [['select_into_outfile', 'admin', ['app.secret:r']]]],
  ["select a from secret into dumpfile '/var/lib/mysql/x.so'", [['select_into_outfile', 'admin', ['app.secret:r']]]],
  ["select a, b from t into outfile '/tmp/y' fields terminated by ',' enclosed by '\"' lines terminated by '\\n'", [['select_into_outfile', 'admin', ['app.t:r']]]],
  ['select a into @v from t', [['select', 'read', ['app.t:r']]]],
  ['select a, b into @x, @y from t where id = 2', [['select', 'read', ['app.t:r']]]],
  ['select @v := a from t', [['select', 'read', ['app.t:r']]]],
  ["select load_file('/etc/passwd')", [['select', 'admin']]],
  // Functions
  ['select now(), rand(), uuid(), sleep(1), benchmark(1000, md5(\'a\'))', [['select', 'read']]],
  ["select get_lock('a', 1)", [['select', 'write']]],
  ["select release_lock('a')", [['select', 'write']]],
  ['select f(1)', [['select', 'unknown']]],
  ['select app.f(1) from t', [['select', 'unknown', ['app.t:r']]]],
  ['select nextval(s)', [['select', 'write']]],
  ['select next value for s', [['select', 'write']]],
  ['select lastval(s), previous value for s', [['select', 'read']]],
  ["select master_pos_wait('log', 4)", [['select', 'admin']]],
  // DML
  ['insert into t (a) values (1)', [['insert', 'write', ['app.t:w']]]],
  ['insert ignore into t set a = 1', [['insert', 'write', ['app.t:w']]]],
  ['insert into db.t (a) select b from u', [['insert', 'write', ['db.t:w', 'app.u:r']]]],
  ['insert into t values (1) on duplicate key update a = values(a)', [['insert', 'write', ['app.t:w']]]],
  ['replace into t select * from u', [['replace', 'write', ['app.t:w', 'app.u:r']]]],
  ['update t set a = 1 where b = 2', [['update', 'write', ['app.t:w']]]],
  ['update t join u on t.a = u.a set t.b = 1 where u.c = 3', [['update', 'write', ['app.t:w', 'app.u:w']]]],
  ['delete from t where a = 1', [['delete', 'write', ['app.t:w']]]],
  ['delete x from t as x join u on x.a = u.a where u.b = 1', [['delete', 'write', ['app.t:w', 'app.u:r']]]],
  ['truncate table t', [['truncate', 'write', ['app.t:w']]]],
  ['do sleep(1)', [['do', 'read']]],
  ['do release_lock(\'x\')', [['do', 'write']]],
  // DDL
  ['create table t (a int primary key auto_increment, b varchar(10) not null default \'x\') engine=innodb default charset=utf8mb4', [['create', 'ddl', ['app.t:w']]]],
  ['create table t2 as select * from t', [['create', 'ddl', ['app.t2:w', 'app.t:r']]]],
  ['create view v as select * from t', [['create', 'ddl', ['app.v:w', 'app.t:r']]]],
  ['create definer=root@localhost view v as select * from t', [['create', 'privilege', ['app.v:w', 'app.t:r']]]],
  ['create definer=current_user() sql security invoker view v as select 1', [['create', 'ddl', ['app.v:w']]]],
  ['create index i on t (a)', [['create', 'ddl', ['app.t:w']]]],
  ['alter table t add b int', [['alter', 'ddl', ['app.t:w']]]],
  ['drop table t, db.u', [['drop', 'ddl', ['app.t:w', 'db.u:w']]]],
  ['rename table a to b', [['rename', 'ddl', ['app.a:w', 'app.b:w']]]],
  ['create database d', [['create', 'ddl']]],
  ['drop database d', [['drop', 'ddl']]],
  ['create sequence s', [['create', 'ddl', ['app.s:w']]]],
  ['create procedure p() select 1', [['create', 'ddl']]],
  ['create function f() returns int deterministic return 1', [['create', 'ddl']]],
  ["create function sys_exec returns integer soname 'lib_mysqludf_sys.so'", [['create', 'admin']]],
  ['create trigger tr before insert on t for each row set new.a = 1', [['create', 'ddl']]],
  ['create procedure p() begin end', [['create', 'ddl']]],
  // A body with `;` is one statement to the server: split here, it is not understood.
  ['create procedure p() begin select 1; end', [['create', 'unknown'], ['unknown', 'unknown']]],
  ["create table f (a int) engine=federated connection='mysql://u:pw@h/db/t'", [['create', 'admin']]],
  ["create table d (a int) data directory = '/tmp'", [['create', 'admin']]],
  ["create server s foreign data wrapper mysql options (host 'h', password 'p')", [['create', 'admin']]],
  // Privileges
  ["create user 'a'@'%' identified by 'x'", [['create_user', 'privilege']]],
  ["alter user current_user() identified by 'x'", [['alter_user', 'privilege']]],
  ["drop user 'a'@'%'", [['drop_user', 'privilege']]],
  ["rename user a to b", [['rename_user', 'privilege']]],
  ['create role r', [['create_role', 'privilege']]],
  ["grant select on db.* to 'a'@'%'", [['grant', 'privilege']]],
  ["grant all on *.* to bob@localhost identified by 'pw' with grant option", [['grant', 'privilege']]],
  ['revoke select on db.* from bob', [['revoke', 'privilege']]],
  ["set password = 'x'", [['set_password', 'privilege']]],
  ["set password for bob@localhost = password('x')", [['set_password', 'privilege']]],
  ['set role r', [['set_role', 'privilege']]],
  ['set default role r for bob', [['set_role', 'privilege']]],
  // Settings
  ['set @v = 1', [['set', 'read']]],
  ['set @v := (select max(a) from t)', [['set', 'read', ['app.t:r']]]],
  ["set @v = f('x')", [['set', 'unknown']]],
  ['set autocommit = 1, @a = 2', [['set', 'read']]],
  ['set session wait_timeout = 10', [['set', 'read']]],
  ['set @@session.wait_timeout = 10', [['set', 'read']]],
  ['set global max_connections = 10', [['set', 'admin']]],
  ['set @@global.max_connections = 10', [['set', 'admin']]],
  ['set persist max_connections = 10', [['set', 'admin']]],
  ['set sql_log_bin = 0', [['set', 'admin']]],
  ['set names utf8mb4', [['set', 'read']]],
  ['set character set latin1', [['set', 'read']]],
  ['set names gbk', [['set', 'unknown']]],
  ['set transaction isolation level read committed', [['set_transaction', 'read']]],
  ['set statement max_statement_time = 1 for select 1', [['set', 'unknown']]],
  // Prepared statements
  ["prepare s from 'delete from t'", [['prepare', 'write', ['app.t:w']]]],
  ["prepare s from 'select 1; select 2'", [['prepare', 'unknown']]],
  ['prepare s from @q', [['prepare', 'unknown']]],
  ['execute s using @a', [['execute', 'unknown']]],
  ['deallocate prepare s', [['deallocate', 'read']]],
  ['drop prepare s', [['deallocate', 'read']]],
  // Server administration and sessions
  ['kill 5', [['kill', 'admin']]],
  ['kill query 5', [['kill', 'admin']]],
  ['shutdown', [['shutdown', 'admin']]],
  ['flush privileges', [['flush', 'admin']]],
  ['reset master', [['reset', 'admin']]],
  ["install plugin x soname 'x.so'", [['install', 'admin']]],
  ["change master to master_host = 'h', master_password = 'p'", [['change_replication', 'admin']]],
  ['start slave', [['start_replication', 'admin']]],
  ['optimize table t', [['optimize', 'admin', ['app.t:w']]]],
  ['analyze table t, u', [['analyze', 'admin', ['app.t:w', 'app.u:w']]]],
  ['lock tables t read, db.u as x write', [['lock', 'write', ['app.t:w', 'db.u:w']]]],
  ['unlock tables', [['unlock', 'read']]],
  ["load data local infile '/x' into table t", [['load_data_local', 'write', ['app.t:w']]]],
  ["load data infile '/etc/passwd' into table t", [['load_data', 'admin', ['app.t:w']]]],
  ["load data local infile '/x' into table t (a) set b = f(a)", [['load_data_local', 'unknown', ['app.t:w']]]],
  ['handler t open', [['handler', 'read', ['app.t:r']]]],
  ['handler t read first', [['handler', 'read', ['app.t:r']]]],
  ['handler t close', [['handler', 'read']]],
  ['call p(1)', [['call', 'unknown']]],
  ['show tables', [['show', 'read']]],
  ['show full columns from t from db2', [['show', 'read', ['db2.t:r']]]],
  ['show create table secret', [['show', 'read', ['app.secret:r']]]],
  ['show processlist', [['show', 'admin']]],
  ['show binlog events', [['show', 'admin']]],
  ['use other', [['use', 'read']]],
  ['describe t', [['explain', 'read', ['app.t:r']]]],
  ['explain select * from t where f(a)', [['explain', 'read', ['app.t:r']]]],
  ['explain analyze delete from t where a = 1', [['explain', 'write', ['app.t:w']]]],
  ['analyze select * from t', [['analyze', 'read', ['app.t:r']]]],
  ['explain for connection 5', [['explain', 'admin']]],
  // Transactions
  ['begin', [['begin', 'read']]],
  ['start transaction', [['begin', 'read']]],
  ['commit', [['commit', 'read']]],
  ['rollback to savepoint a', [['rollback_to', 'read']]],
  ['begin not atomic select 1; end', [['begin', 'unknown'], ['unknown', 'unknown']]],
  // Client commands are not the server's.
  ['DELIMITER //', [['unknown', 'unknown']]],
  ['xa start \'x\'', [['unknown', 'unknown']]],
  // Lexing: executable comments run on the server.
  ['/*! DELETE FROM t */', [['delete', 'write', ['app.t:w']]]],
  ['select 1 /*!, (select secret from s) */', [['select', 'read', ['app.s:r']]]],
  ['/*!50699 DELETE FROM t */', [['delete', 'write', ['app.t:w']]]],
  // MariaDB never runs a MySQL 5.7+ gate (five digits from 50700), but six digits up to its version.
  ['/*!50700 DELETE FROM t */ SELECT 1', [['select', 'read']]],
  ['/*!99999 DROP TABLE t */ SELECT 1', [['select', 'read']]],
  ['/*!100000 DROP TABLE t */', [['drop', 'ddl', ['app.t:w']]]],
  ['/*M!99999 DROP TABLE t */', [['drop', 'ddl', ['app.t:w']]]],
  ['select 1; /* done */', [['select', 'read']]],
  ['/*!101120 DROP TABLE t */ SELECT 1', [['select', 'read']]],
  ['/*!101119 DROP TABLE t */', [['drop', 'ddl', ['app.t:w']]]],
  ['/*M! DROP TABLE t */', [['drop', 'ddl', ['app.t:w']]]],
  ['/*M!100500 DROP TABLE t */', [['drop', 'ddl', ['app.t:w']]]],
  ['select 1 /* DROP TABLE t */', [['select', 'read']]],
  ['select 1 /*+ no_index(t) */', [['select', 'read']]],
  // A comment inside an executable comment ends differently on MySQL and MariaDB.
  ['select 1 /*! + 1 /* x */ + 1 */', [['unknown', 'unknown']]],
  ['select 1 /*! -- x */', [['unknown', 'unknown']]],
  ['select 1 /*! ; drop table t */', [['unknown', 'unknown']]],
  ['select 1 /*!1234 + 1 */', [['unknown', 'unknown']]],
  ['select * from t /* unterminated', [['unknown', 'unknown']]],
  ['select * from t /*! unterminated', [['unknown', 'unknown']]],
  // `-- ` needs a space or control character; `--x` is minus minus x.
  ['SELECT 1 -- ; DROP TABLE t', [['select', 'read']]],
  ['SELECT 1 --\t; DROP TABLE t', [['select', 'read']]],
  ['SELECT 1 --x; DROP TABLE t', [['select', 'read'], ['drop', 'ddl', ['app.t:w']]]],
  ['SELECT 1 # ; DROP TABLE t\n; DELETE FROM u', [['select', 'read'], ['delete', 'write', ['app.u:w']]]],
  // Quotes
  ["SELECT 'a\\';DROP TABLE t;--'", [['select', 'read']]],
  ["SELECT 'a'';DROP TABLE t;--'", [['select', 'read']]],
  ['SELECT "a\\";DROP TABLE t;--"', [['select', 'read']]],
  ['select `a;b` from t', [['select', 'read', ['app.t:r']]]],
  ["select 'unterminated", [['unknown', 'unknown']]],
  ["SELECT _utf8mb4'x', N'y', X'41', B'01', 0x41, 0b1, _binary'z'", [['select', 'read']]],
  // Multi-statements
  ['select 1; drop table t', [['select', 'read'], ['drop', 'ddl', ['app.t:w']]]],
  ['select 1;', [['select', 'read']]],
  ['select 1; ; select 2', [['select', 'read'], ['unknown', 'unknown'], ['select', 'read']]],
  ['use other; select * from t', [['use', 'read'], ['select', 'read', ['other.t:r']]]],
  ['select 1 /*! ; */', [['unknown', 'unknown']]],
];

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
