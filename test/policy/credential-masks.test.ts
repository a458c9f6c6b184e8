// Built-in credential masks in decisions: carried on PostgreSQL (and MySQL) connections after
// the policy's own masks, never on HTTP or SSH; `reveal_credentials` lifts exactly the named
// columns; across policies a mask stays unless every policy that let a statement through
// revealed it. The schema refuses names that are not built-in credential columns, and
// `config check` warns when agents are let see them.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { configWarnings } from '../../src/config/warnings.ts';
import { CREDENTIAL_COLUMNS } from '../../src/core/credential-columns.ts';
import { decide, type ConnectionRef } from '../../src/policy/decide.ts';
import { loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
import { actionFor, identity, policiesFrom } from './support.ts';

const PROD: ConnectionRef = { name: 'prod-db', type: 'postgres' };
const LEGACY: ConnectionRef = { name: 'legacy-db', type: 'mysql' };
const API: ConnectionRef = { name: 'billing-api', type: 'http' };
const PG_COLUMNS = CREDENTIAL_COLUMNS.postgres.columns.map((c) => c.column);

before(() => loadSqlAnalyzer());

const builtinColumns = (masks: readonly { builtin?: true; column?: string }[]): string[] => masks.filter((m) => m.builtin === true).map((m) => m.column as string);

void describe('built-in credential masks in decisions', () => {
  const policies = policiesFrom(`
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    masks:
      - { column: public.customers.email, with: partial }
    rules:
      - { then: allow }
  - name: dba
    subjects: { groups: [dba] }
    connections: ["*"]
    reveal_credentials: [pg_catalog.pg_authid.rolpassword, pg_catalog.pg_shadow.passwd]
    rules:
      - { match: { sql: { command: [select] } }, then: allow }
  - name: dba-maintenance
    subjects: { groups: [dba] }
    connections: ["*"]
    rules:
      - { then: allow }
`);
  const agent = identity('agent-bot', ['agents']);
  const dba = identity('dba-human', ['dba']);

  void it('every PostgreSQL decision carries them after the policy masks, redact and refused in predicates', async () => {
    const d = decide(policies, agent, PROD, await actionFor('prod-db', 'select 1'));
    assert.equal(d.verdict, 'allow');
    assert.equal(d.masks[0]?.column, 'public.customers.email');
    assert.deepEqual(builtinColumns(d.masks), PG_COLUMNS);
    for (const m of d.masks.slice(1)) {
      assert.equal(m.with, 'redact');
      assert.equal(m.denyInPredicates, true);
      assert.equal(m.source, `builtin:${m.column}`);
    }
    // The same frozen array every time: mask plans are cached by its identity.
    assert.equal(decide(policies, agent, PROD, await actionFor('prod-db', 'select 2')).masks, d.masks);
  });

  void it('MySQL decisions carry the MySQL list; HTTP decisions none', async () => {
    const my = decide(policies, agent, LEGACY, await actionFor('legacy-db', 'select 1'));
    assert.deepEqual(builtinColumns(my.masks), ['mysql.user.authentication_string', 'mysql.user.Password', 'mysql.global_priv.Priv', 'mysql.slave_master_info.User_password', 'mysql.servers.Password']);
    const http = decide(policies, agent, API, await actionFor('billing-api', 'GET /invoices'));
    assert.equal(http.verdict, 'allow');
    assert.deepEqual(builtinColumns(http.masks), []);
  });

  void it('reveal_credentials lifts exactly the columns it names', async () => {
    const d = decide(policies, dba, PROD, await actionFor('prod-db', 'select rolpassword from pg_authid'));
    assert.deepEqual(d.rule, { policy: 'dba', index: 0 });
    assert.deepEqual(builtinColumns(d.masks), PG_COLUMNS.filter((c) => c !== 'pg_catalog.pg_authid.rolpassword' && c !== 'pg_catalog.pg_shadow.passwd'));
  });

  void it('across statements let through by several policies, a mask stays unless all of them reveal it', async () => {
    // The select is the dba policy's (reveals), the checkpoint dba-maintenance's (does not).
    const d = decide(policies, dba, PROD, await actionFor('prod-db', 'select rolpassword from pg_authid; checkpoint'));
    assert.equal(d.verdict, 'allow');
    assert.deepEqual(builtinColumns(d.masks).sort(), [...PG_COLUMNS].sort());
  });
});

void describe('reveal_credentials in the configuration', () => {
  const problemsOf = (yaml: string): string[] => {
    try {
      parseConfig(yaml, 'test.yaml', {});
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.map((p) => `${p.path}: ${p.message}${p.line ? ` @${p.line}` : ''}`);
    }
    return [];
  };
  const policy = (reveal: string, groups = '[dba]'): string => `
policies:
  - name: dba
    subjects: { groups: ${groups} }
    connections: ["*"]
    reveal_credentials: ${reveal}
    rules: [{ then: allow }]
`;

  void it('names exact built-in columns: anything else is refused with the list', () => {
    assert.deepEqual(problemsOf(policy('[pg_catalog.pg_authid.rolpassword]')), []);
    for (const wrong of ['pg_authid.rolpassword', 'pg_catalog.*.*', 'public.users.password']) {
      const problems = problemsOf(policy(`["${wrong}"]`));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0] ?? '', new RegExp(`^policies\\[0\\]\\.reveal_credentials\\[0\\]: "${wrong.replace(/[.*]/g, '\\$&')}" is not a built-in credential column \\(exact names, no globs\\); built-in credential columns: pg_catalog\\.pg_authid\\.rolpassword, `));
      assert.match(problems[0] ?? '', /mysql\.user\.authentication_string/);
    }
  });

  void it('config check warns when agents are let see credential material', () => {
    const quiet = parseConfig(policy('[pg_catalog.pg_authid.rolpassword]'), 'test.yaml', {}).config;
    assert.deepEqual(configWarnings(quiet), []);
    const loud = parseConfig(policy('[pg_catalog.pg_authid.rolpassword]', '[dba, agents]'), 'test.yaml', {}).config;
    assert.deepEqual(configWarnings(loud), [{ path: 'policies[0].reveal_credentials', message: 'reveals pg_catalog.pg_authid.rolpassword to agent group agents: keep credential material to a policy for human operators' }]);
  });
});
