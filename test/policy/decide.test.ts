import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Action, SftpOp, SqlAction, SqlStatement } from '../../src/core/action.ts';
import { decide, type ConnectionRef } from '../../src/policy/decide.ts';
import { httpActionFromText } from '../../src/policy/action-from-text.ts';
import { loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import type { CompiledPolicies } from '../../src/policy/compile.ts';
import type { Identity } from '../../src/core/identity.ts';
import { actionFor, identity, policiesFrom } from './support.ts';
import { credentialMasks } from '../../src/policy/mask-rules.ts';

/** What every decision on a PostgreSQL connection carries after the policy's own masks. */
const PG_BUILTIN = credentialMasks('postgres', []);

const PROD: ConnectionRef = { name: 'prod-db', type: 'postgres' };
const STAGING: ConnectionRef = { name: 'staging-db', type: 'postgres' };
const API: ConnectionRef = { name: 'billing-api', type: 'http' };
const WEB: ConnectionRef = { name: 'web-1', type: 'ssh' };
const agent = identity('ci-agent', ['agents']);

async function verdictOf(policies: CompiledPolicies, who: Identity, conn: ConnectionRef, text: string): Promise<string> {
  return decide(policies, who, conn, await actionFor(conn.name, text)).verdict;
}

before(() => loadSqlAnalyzer());

void describe('decide: policy selection and order', () => {
  const policies = policiesFrom(`
  - name: agents-read-only
    subjects: { groups: [agents] }
    connections: ["*-db"]
    rules:
      - match: { sql: { effect: [read], tables: ["public.*"] } }
        then: allow
      - name: no-writes
        match: { sql: { effect: [write] } }
        then: deny
        reason: agents do not write
  - name: everyone
    subjects: { users: ["*"] }
    connections: [prod-db]
    rules:
      - match: { sql: { effect: [write] } }
        then: allow
      - match: { sql: { effect: [ddl] } }
        then: review
  - name: alice
    subjects: { users: ["alice@*"] }
    connections: [staging-db]
    rules:
      - then: allow
`);

  void it('first matching rule wins, across policies in file order', async () => {
    const d = decide(policies, agent, PROD, await actionFor('prod-db', 'select * from orders'));
    assert.equal(d.verdict, 'allow');
    assert.deepEqual(d.rule, { policy: 'agents-read-only', index: 0 });
    assert.equal(d.reason, 'rule 0 of agents-read-only allows read (select)');
    // The deny of the first policy comes before the allow of the second.
    const w = decide(policies, agent, PROD, await actionFor('prod-db', 'delete from orders'));
    assert.equal(w.verdict, 'deny');
    assert.deepEqual(w.rule, { policy: 'agents-read-only', index: 1, name: 'no-writes' });
    assert.equal(w.reason, 'agents do not write');
    assert.deepEqual(w.masks, []);
  });

  void it('a later policy decides what earlier ones do not match', async () => {
    const d = decide(policies, agent, PROD, await actionFor('prod-db', 'create table t (id int)'));
    assert.equal(d.verdict, 'review');
    assert.deepEqual(d.rule, { policy: 'everyone', index: 1 });
    assert.equal(d.reason, 'rule 1 of everyone sends for review ddl (create)');
  });

  void it('no match at all denies, naming subject and connection', async () => {
    const d = decide(policies, agent, STAGING, await actionFor('staging-db', 'create table t (id int)'));
    assert.equal(d.verdict, 'deny');
    assert.equal(d.rule, undefined);
    assert.equal(d.reason, 'no policy rule matches ddl (create) for ci-agent on staging-db');
  });

  void it('matches subjects by user glob or by any group glob, and connections by glob', async () => {
    assert.equal(await verdictOf(policies, identity('alice@example.com'), STAGING, 'drop table x'), 'allow');
    assert.equal(await verdictOf(policies, identity('bob@example.com'), STAGING, 'select 1'), 'deny');
    assert.equal(await verdictOf(policies, identity('bob', ['devs', 'agents']), STAGING, 'select 1'), 'allow');
    const select = await actionFor('prod-db', 'select 1');
    assert.equal(decide(policies, identity('bob', ['agents']), { name: 'prod-db', type: 'postgres' }, select).verdict, 'allow');
    assert.equal(decide(policies, identity('bob', ['agents']), { name: 'prod-dbx', type: 'postgres' }, select).verdict, 'deny');
  });

  void it('a rule with tables only matches when every relation matches', async () => {
    // pg_catalog.pg_authid is not public.*: the read-only rule does not cover it.
    assert.equal(await verdictOf(policies, agent, STAGING, 'select * from orders join pg_authid on true'), 'deny');
    assert.equal(await verdictOf(policies, agent, STAGING, 'select * from orders o join public.items i using (id)'), 'allow');
  });
});

void describe('decide: rule matching', () => {
  const policies = policiesFrom(`
  - name: mixed
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - name: no-file-reads
        match: { sql: { functions: [pg_read_file, "dblink*"] } }
        then: deny
      - match: { sql: { touches: ["secrets.*"] } }
        then: deny
      - match: { sql: { command: [select], tables: ["public.*"] } }
        then: allow
      - match: { http: { method: [get], path: ["/customers/:id", "/reports/**", "/files/*.csv"] } }
        then: allow
      - match: { http: { method: [DELETE] } }
        then: deny
      - match: { ssh: { op: [exec], program: [ls, "git"] } }
        then: allow
      - match: { ssh: { op: [sftp, forward] } }
        then: deny
      - match: { mcp: { tool: ["read_*"] } }
        then: allow
      - match: { sql: { effect: [unknown] } }
        then: review
`);
  const who = identity('x');

  void it('functions: a glob without a dot matches the unqualified name of a qualified function', async () => {
    for (const sql of ['select pg_read_file(\'/etc/passwd\')', 'select pg_catalog.PG_READ_FILE(\'/etc/passwd\')', 'select * from dblink_exec(\'x\')']) {
      const d = decide(policies, who, PROD, await actionFor('prod-db', sql));
      assert.equal(d.verdict, 'deny', sql);
      assert.equal(d.rule?.name, 'no-file-reads');
    }
    // A user-defined function without a catalog is opaque: unknown, reviewed by the last rule.
    assert.equal(await verdictOf(policies, who, PROD, 'select public.read_file_safe()'), 'review');
  });

  void it('touches: at least one relation', async () => {
    assert.equal(await verdictOf(policies, who, PROD, 'select * from public.a join secrets.keys on true'), 'deny');
    assert.equal(await verdictOf(policies, who, PROD, 'select * from public.a'), 'allow');
  });

  void it('http: method case-insensitive, :param, ** and * path patterns', async () => {
    const cases: Array<[string, string]> = [
      ['GET /customers/42', 'allow'],
      ['get /customers/42/', 'allow'],
      ['GET /customers/42/orders', 'deny'],
      ['GET /customers/', 'deny'],
      ['GET /reports', 'allow'],
      ['GET /reports/2024/q1/summary', 'allow'],
      ['GET /reportsx', 'deny'],
      ['GET /files/a.csv', 'allow'],
      ['GET /files/a.csv.exe', 'deny'],
      ['GET /files/x/a.csv', 'deny'],
      ['POST /customers/42', 'deny'],
      ['DELETE /reports/1', 'deny'],
    ];
    for (const [text, verdict] of cases) assert.equal(await verdictOf(policies, who, API, text), verdict, text);
    // A dot segment is refused by the gateway unless the connection normalises paths; then the resolved path is decided.
    const normalised = httpActionFromText('GET /public/../customers/1', { non_canonical_paths: 'normalise', case_insensitive_paths: false });
    assert.equal(normalised.path, '/customers/1');
    assert.equal(decide(policies, who, API, normalised).verdict, 'allow');
  });

  void it('ssh: op and program (every command of the line; what is not understood never matches a program rule)', async () => {
    assert.equal(await verdictOf(policies, who, WEB, 'ls -la /var/log'), 'allow');
    assert.equal(await verdictOf(policies, who, WEB, 'git status'), 'allow');
    assert.equal(await verdictOf(policies, who, WEB, 'ls; rm -rf /'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, 'ls $(rm -rf /)'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, 'PATH=/tmp ls'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, '/bin/ls'), 'allow');
    assert.equal(await verdictOf(policies, who, WEB, '/tmp/ls'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, 'ls | git status'), 'allow');
    assert.equal(await verdictOf(policies, who, WEB, '$CMD'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, 'shell'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, 'sftp read /etc/passwd'), 'deny');
  });

  void it('mcp: tool glob; a rule of another kind never matches', () => {
    const read: Action = { kind: 'mcp', tool: 'read_file', arguments: {} };
    const write: Action = { kind: 'mcp', tool: 'write_file', arguments: {} };
    assert.equal(decide(policies, who, PROD, read).verdict, 'allow');
    assert.equal(decide(policies, who, PROD, write).verdict, 'deny');
  });

  void it('a match naming two protocols never matches (keys are ANDed)', () => {
    const p = policiesFrom(`
  - name: both
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { sql: {}, http: {} }
        then: allow
`);
    assert.equal(decide(p, who, API, { kind: 'http', method: 'GET', path: '/', query: {}, headers: {} }).verdict, 'deny');
  });
});

void describe('decide: sftp operations (file_op, path)', () => {
  const policies = policiesFrom(`
  - name: files
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - name: no-keys
        match: { ssh: { path: ["**/.ssh/**", "/etc/shadow"] } }
        then: deny
      - name: uploads
        match: { ssh: { op: [sftp], file_op: [write, mkdir, rename], path: ["/srv/up/**"] } }
        then: allow
      - name: logs
        match: { ssh: { file_op: [read, list, stat], path: ["/var/log/*.log", "/var/log", "~/**"] } }
        then: allow
      - name: removals
        match: { ssh: { file_op: [remove] } }
        then: review
      - match: { ssh: { op: [exec], program: [ls] } }
        then: allow
`);
  const who = identity('x');
  const sftp = (op: SftpOp, path: string, home?: string): Action => ({ kind: 'ssh', op: 'sftp', sftp: home === undefined ? { op, path } : { op, path, home } });
  const verdict = (action: Action): string => decide(policies, who, WEB, action).verdict;

  void it('file_op and path: * stays inside one segment, ** spans any number of them', () => {
    const cases: Array<[SftpOp, string, string]> = [
      ['write', '/srv/up', 'allow'],
      ['write', '/srv/up/a/b/c.bin', 'allow'],
      ['mkdir', '/srv/up/new', 'allow'],
      ['write', '/srv/upload/x', 'deny'],
      ['read', '/srv/up/a', 'deny'],
      ['read', '/var/log/syslog.log', 'allow'],
      ['read', '/var/log/app/x.log', 'deny'],
      ['list', '/var/log', 'allow'],
      ['write', '/var/log/syslog.log', 'deny'],
      ['write', '/srv/up/.ssh/authorized_keys', 'deny'],
      ['read', '/etc/shadow', 'deny'],
      ['remove', '/srv/up/a', 'review'],
    ];
    for (const [op, path, expected] of cases) assert.equal(verdict(sftp(op, path)), expected, `${op} ${path}`);
    assert.equal(decide(policies, who, WEB, sftp('write', '/root/.ssh/authorized_keys')).rule?.name, 'no-keys');
  });

  void it('~ globs match below the home directory the adapter learned', () => {
    assert.equal(verdict(sftp('read', '/home/deploy/notes.txt', '/home/deploy')), 'allow');
    assert.equal(verdict(sftp('stat', '/home/deploy', '/home/deploy')), 'allow');
    assert.equal(verdict(sftp('read', '/home/deployer/x', '/home/deploy')), 'deny');
    assert.equal(verdict(sftp('read', '/home/deploy/notes.txt')), 'deny', 'home not known');
    assert.equal(verdict(sftp('read', '~/notes.txt')), 'allow', 'a legacy scp path');
  });

  void it('the subsystem opens when a rule could allow some operation; a deny naming files does not close it', () => {
    assert.equal(verdict({ kind: 'ssh', op: 'sftp' }), 'allow');
    const onlyDenies = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - { match: { ssh: { file_op: [remove] } }, then: deny }
      - { match: { ssh: { op: [exec] } }, then: allow }
`);
    assert.equal(decide(onlyDenies, who, WEB, { kind: 'ssh', op: 'sftp' }).verdict, 'deny');
    const denyFirst = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - { match: { ssh: { file_op: [remove] } }, then: deny }
      - { match: { ssh: { op: [sftp] } }, then: allow }
`);
    const d = decide(denyFirst, who, WEB, { kind: 'ssh', op: 'sftp' });
    assert.equal(d.verdict, 'allow');
    assert.equal(d.rule?.index, 1);
    assert.equal(decide(denyFirst, who, WEB, sftp('remove', '/x')).verdict, 'deny');
    assert.equal(decide(denyFirst, who, WEB, sftp('read', '/x')).verdict, 'allow');
  });

  void it('a whole tree (scp -r) is allowed only when a glob covers all of it, and denied when a glob could match inside it', () => {
    // Any tree could hold a .ssh folder: `**/.ssh/**` denies them all.
    assert.equal(decide(policies, who, WEB, sftp('write', '/srv/up/dir/**')).rule?.name, 'no-keys');
    const trees = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - { match: { ssh: { file_op: [write], path: ["/srv/up/**"] } }, then: allow }
      - { match: { ssh: { file_op: [read], path: ["/var/log/*.log", "~/**"] } }, then: allow }
`);
    const tree = (op: SftpOp, path: string): string => decide(trees, who, WEB, sftp(op, path)).verdict;
    assert.equal(tree('write', '/srv/up/dir/**'), 'allow');
    assert.equal(tree('write', '/srv/up/**'), 'allow');
    assert.equal(tree('write', '/srv/**'), 'deny', '/srv/up/** covers only part of /srv');
    assert.equal(tree('read', '/var/log/**'), 'deny', '/var/log/*.log does not cover subfolders');
    assert.equal(tree('read', '~/**'), 'allow');
    assert.equal(tree('read', '~/x/**'), 'allow');
    const denyInside = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - { match: { ssh: { path: ["/srv/up/private/**"] } }, then: deny }
      - { match: { ssh: { path: ["/srv/**"] } }, then: allow }
`);
    assert.equal(decide(denyInside, who, WEB, sftp('write', '/srv/up/**')).verdict, 'deny');
    assert.equal(decide(denyInside, who, WEB, sftp('write', '/srv/other/**')).verdict, 'allow');
    assert.equal(decide(denyInside, who, WEB, sftp('write', '/srv/up/private/x')).verdict, 'deny');
  });

  void it('legacy scp lines are decided as sftp reads and writes; exec rules no longer see them', async () => {
    assert.equal(await verdictOf(policies, who, WEB, 'scp -t /srv/up/a.bin'), 'allow');
    assert.equal(await verdictOf(policies, who, WEB, 'scp -r -p -t /srv/up/dir'), 'deny', 'a tree, which could hold .ssh/');
    assert.equal(await verdictOf(policies, who, WEB, 'scp -f /srv/up/a.bin'), 'deny');
    assert.equal(await verdictOf(policies, who, WEB, 'scp -f /var/log/syslog.log'), 'allow');
    assert.equal(await verdictOf(policies, who, WEB, 'scp -f notes.txt'), 'allow', '~/notes.txt');
    assert.equal(await verdictOf(policies, who, WEB, 'scp -t ../etc/x'), 'deny', 'climbs out of the home directory: an exec line not understood');
    assert.equal(await verdictOf(policies, who, WEB, 'ls /srv'), 'allow');
  });

  void it('legacy scp without a home directory: deny globs still catch a path written the other way', async () => {
    const p = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - { match: { ssh: { path: ["/home/deploy/.ssh/**"] } }, then: deny }
      - { match: { ssh: { path: ["~/.aws/**"] } }, then: deny }
      - { match: { ssh: { path: ["/srv/private/**"] } }, then: deny }
      - { match: { ssh: { path: ["~/**", "/home/**", "/srv/**"] } }, then: allow }
`);
    const v = async (line: string): Promise<string> => decide(p, who, WEB, await actionFor('web-1', line)).verdict;
    assert.equal(await v('scp -t .ssh/authorized_keys'), 'deny', 'an absolute deny glob ending like the ~ path');
    assert.equal(await v('scp -t /home/deploy/.aws/credentials'), 'deny', 'a ~ deny glob ending like the absolute path');
    assert.equal(await v('scp -r -t /home'), 'deny', 'a tree that could hold ~/.aws');
    assert.equal(await v('scp -t notes.txt'), 'allow', '/srv/private/** places nothing for ~/notes.txt');
    assert.equal(await v('scp -t /home/deploy/notes.txt'), 'allow');
    // SFTP knows the home directory: no guessing.
    assert.equal(decide(p, who, WEB, sftp('write', '/home/deploy/.aws/credentials', '/home/deploy')).verdict, 'deny');
    assert.equal(decide(p, who, WEB, sftp('write', '/home/other/.aws/credentials', '/home/deploy')).verdict, 'allow');
  });

  void it('file_op and path cannot name exec, nor sit beside program rules', () => {
    for (const match of ['{ ssh: { op: [exec], file_op: [read] } }', '{ ssh: { program: [ls], path: ["/srv/**"] } }', '{ ssh: { path: ["srv/**"] } }', '{ ssh: { file_op: [get] } }']) {
      assert.throws(
        () =>
          policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - { match: ${match}, then: allow }
`),
        match,
      );
    }
  });
});

void describe('decide: statements not understood fail closed', () => {
  const readOnly = policiesFrom(`
  - name: read-only
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { sql: { effect: [read], tables: ["public.*"] } }
        then: allow
      - match: { sql: { tables: ["public.*"] } }
        then: allow
`);
  const who = identity('x');

  void it('a syntax error, EXECUTE or MySQL text matches no constrained rule', async () => {
    for (const [conn, text] of [['prod-db', 'selec 1'], ['prod-db', 'execute p(1)'], ['legacy-db', 'call p()']] as const) {
      const d = decide(readOnly, who, { name: conn, type: 'postgres' }, await actionFor(conn, text));
      assert.equal(d.verdict, 'deny', text);
      assert.match(d.reason, /^no policy rule matches unknown \(/);
    }
  });

  void it('an unconstrained rule or one listing unknown takes it', async () => {
    const p = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    rules:
      - match: { sql: { effect: [unknown] } }
        then: review
      - match: { sql: {} }
        then: allow
`);
    assert.equal(await verdictOf(p, who, PROD, 'selec 1'), 'review');
    assert.equal(await verdictOf(p, who, PROD, 'select 1'), 'allow');
  });

  void it('an empty query only matches unconstrained rules', () => {
    const empty: SqlAction = { kind: 'sql', dialect: 'postgres', text: '', statements: [] };
    const d = decide(readOnly, who, PROD, empty);
    assert.equal(d.verdict, 'deny');
    assert.equal(d.reason, 'no policy rule matches an empty query for x on prod-db');
  });
});

void describe('decide: multi-statement SQL', () => {
  const policies = policiesFrom(`
  - name: p
    subjects: { users: ["*"] }
    connections: ["*"]
    masks:
      - { column: "public.customers.email", with: partial }
    rules:
      - match: { sql: { effect: [read] } }
        then: allow
      - match: { sql: { effect: [write] } }
        then: review
        review: { mode: defer, timeout: 15m, approvers: { groups: [dba, security], min: 2, all_groups: true } }
      - match: { sql: { effect: [privilege] } }
        then: allow
  - name: q
    subjects: { users: ["*"] }
    connections: ["*"]
    masks:
      - { detector: email, with: redact }
    rules:
      - match: { sql: { effect: [admin] } }
        then: allow
`);
  const who = identity('x');

  void it('the most restrictive statement decides, and is named', async () => {
    const d = decide(policies, who, PROD, await actionFor('prod-db', 'begin; select 1; update t set x = 1; commit'));
    assert.equal(d.verdict, 'review');
    assert.deepEqual(d.rule, { policy: 'p', index: 1 });
    assert.equal(d.reason, 'statement 3 of 4: rule 1 of p sends for review write (update)');
    assert.deepEqual(d.review, { mode: 'defer', timeoutSeconds: 900, approvers: { groups: ['dba', 'security'], min: 2, allGroups: true }, uses: 1, validForSeconds: 3600 });
    assert.deepEqual(d.masks, [{ column: 'public.customers.email', with: 'partial', denyInPredicates: false, source: 'p.masks[0]' }, ...PG_BUILTIN]);

    const denied = decide(policies, who, PROD, await actionFor('prod-db', 'select 1; update t set x = 1; drop table t; select 2'));
    assert.equal(denied.verdict, 'deny');
    assert.equal(denied.rule, undefined);
    assert.equal(denied.reason, 'statement 3 of 4: no policy rule matches ddl (drop) for x on prod-db');
    assert.deepEqual(denied.masks, []);
    assert.equal(denied.review, undefined);
  });

  void it('a statement that does not parse makes the whole string fail closed', async () => {
    const d = decide(policies, who, PROD, await actionFor('prod-db', 'select 1; selec 2'));
    assert.equal(d.verdict, 'deny');
  });

  void it('masks of every policy that allowed a statement apply', async () => {
    const d = decide(policies, who, PROD, await actionFor('prod-db', 'checkpoint; select * from customers'));
    assert.equal(d.verdict, 'allow');
    assert.deepEqual(d.masks, [
      { detector: 'email', with: 'redact', denyInPredicates: false, source: 'q.masks[0]' },
      ...PG_BUILTIN,
      { column: 'public.customers.email', with: 'partial', denyInPredicates: false, source: 'p.masks[0]' },
    ]);
  });

  void it('a statement list built by hand is judged the same way', () => {
    const st = (effect: SqlStatement['effect']): SqlStatement => ({ command: 'x', effect, relations: [], functions: [], text: '' });
    const action: SqlAction = { kind: 'sql', dialect: 'postgres', text: '', statements: [st('read'), st('privilege')] };
    assert.equal(decide(policies, who, PROD, action).verdict, 'allow');
  });
});

void describe('decide: review defaults and masks', () => {
  const policies = policiesFrom(`
  - name: reviewed
    subjects: { users: ["*"] }
    connections: ["*"]
    masks:
      - { column: "*.*.ssn", with: hash, deny_in_predicates: true }
    rules:
      - then: review
`);

  void it('a review rule without settings holds for 120 s for one admin; masks are carried', async () => {
    const d = decide(policies, identity('x'), PROD, await actionFor('prod-db', 'select ssn from people'));
    assert.equal(d.verdict, 'review');
    assert.deepEqual(d.review, { mode: 'hold', timeoutSeconds: 120, approvers: { groups: ['admins'], min: 1, allGroups: false }, uses: 1, validForSeconds: 3600 });
    assert.deepEqual(d.masks, [{ column: '*.*.ssn', with: 'hash', denyInPredicates: true, source: 'reviewed.masks[0]' }, ...PG_BUILTIN]);
    assert.deepEqual(d.shadow, []);
  });
});

void describe('decide: shadow policies', () => {
  const policies = policiesFrom(`
  - name: new-rules
    mode: shadow
    subjects: { groups: [agents] }
    connections: ["*"]
    masks:
      - { detector: card, with: redact }
    rules:
      - match: { sql: { effect: [ddl] } }
        then: deny
        reason: no DDL from agents
      - match: { sql: { effect: [read] } }
        then: allow
  - name: current
    subjects: { groups: [agents] }
    connections: [prod-db]
    rules:
      - match: { sql: { effect: [read, ddl] } }
        then: allow
`);

  void it('never ends the search; its verdict is recorded next to the enforced one', async () => {
    const d = decide(policies, agent, PROD, await actionFor('prod-db', 'create table t (id int)'));
    assert.equal(d.verdict, 'allow');
    assert.deepEqual(d.rule, { policy: 'current', index: 0 });
    assert.deepEqual(d.shadow, [{ policy: 'new-rules', verdict: 'deny', rule: { policy: 'new-rules', index: 0 }, reason: 'no DDL from agents' }]);
  });

  void it('records no-match as deny without changing the verdict', async () => {
    const d = decide(policies, agent, PROD, await actionFor('prod-db', 'insert into t values (1)'));
    assert.equal(d.verdict, 'deny');
    assert.deepEqual(d.shadow, [{ policy: 'new-rules', verdict: 'deny', reason: 'no rule of shadow policy new-rules matches write (insert)' }]);
  });

  void it('when no enforcing rule matches but a shadow rule does: allow, saying what it would have decided', async () => {
    const d = decide(policies, agent, STAGING, await actionFor('staging-db', 'create table t (id int)'));
    assert.equal(d.verdict, 'allow');
    assert.equal(d.rule, undefined);
    assert.equal(d.reason, 'allowed because no enforcing rule matches; shadow policy new-rules would have decided deny (no DDL from agents)');
    assert.equal(d.shadow[0]?.verdict, 'deny');
    assert.deepEqual(d.masks, [{ detector: 'card', with: 'redact', denyInPredicates: false, source: 'new-rules.masks[0]' }, ...PG_BUILTIN]);
  });

  void it('when nothing matches in any policy: deny', async () => {
    const d = decide(policies, agent, STAGING, await actionFor('staging-db', 'delete from t'));
    assert.equal(d.verdict, 'deny');
    assert.equal(d.shadow.length, 1);
  });

  void it('does not apply to subjects it does not name', async () => {
    const d = decide(policies, identity('human', ['devs']), PROD, await actionFor('prod-db', 'select 1'));
    assert.deepEqual(d.shadow, []);
    assert.equal(d.verdict, 'deny');
  });
});
