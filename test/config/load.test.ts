import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfig } from '../../src/config/load.ts';
import { scrubSecrets } from '../../src/config/secrets.ts';
import { DB_PASSWORD } from '../support/secrets.ts';
import { tempDir } from '../support/tmp.ts';

function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'test.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.path}: ${p.message}${p.line ? ` @${p.line}` : ''}`);
  }
  return [];
}

describe('configuration loading', () => {
  it('accepts the embedded example and fills defaults', () => {
    const { config } = loadConfig(DEFAULT_CONFIG_PATH);
    assert.equal(config.listen.api, '127.0.0.1:8700');
    assert.ok(config.store.startsWith('sqlite:/'), 'relative store path made absolute');
    assert.equal(config.connections[0]?.name, 'demo');
    assert.equal(config.connections[0]?.type === 'postgres' && config.connections[0].upstream.port, 15433);
    assert.equal(config.embedded_postgres?.listen, '127.0.0.1:15433');
    assert.ok(isAbsolute(config.embedded_postgres?.data_dir ?? '') && config.embedded_postgres?.data_dir.endsWith('demo-pg'), 'relative demo data_dir made absolute');
    assert.equal(config.shutdown.grace, 10);
  });

  it('lists every problem by its path and line, in file order', () => {
    const problems = problemsOf(`listen: { api: nope }
connections:
  - { name: a, type: postgress, upstream: { host: x } }
  - { name: a, type: postgres, upstream: { host: x, database: d, user: u, tls: maybe } }
policies:
  - name: p
    subjects: { groups: [g] }
    connections: [a, missing]
    rules:
      - { then: allow }
      - { then: maybe }
      - { match: { sql: { effect: [reads] } }, then: deny }
`);
    assert.deepEqual(problems, [
      'listen.api: expected host:port such as 127.0.0.1:8700 @1',
      'connections[0].type: expected postgres | mysql | ssh | http @3',
      'connections[1].upstream.tls: expected disable | prefer | require | verify-full @4',
      'connections[1].name: duplicate connection name a (first at connections[0]) @4',
      'policies[0].connections[1]: no connection named missing @8',
      'policies[0].rules[1].then: expected allow | deny | review @11',
      'policies[0].rules[2].match.sql.effect[0]: expected read | write | ddl | privilege | admin | unknown @12',
    ]);
  });

  it('names unknown keys and missing required keys', () => {
    const problems = problemsOf(`connections:
  - name: a
    type: postgres
    upstream: { host: x, user: u, pasword: oops }
policies:
  - { name: p, subjects: { groups: [g] }, connections: [a], rules: [{ then: allow }], colour: red }
`);
    assert.ok(problems.includes('connections[0].upstream.database: expected string (missing) @4'), problems.join('\n'));
    assert.ok(problems.includes('connections[0].upstream: unknown key pasword (allowed here: host, port, database, user, password, tls, ca) @4'), problems.join('\n'));
    assert.ok(problems.includes('policies[0]: unknown key colour (allowed here: name, description, mode, subjects, connections, rules, masks, reveal_credentials, access) @6'), problems.join('\n'));
  });

  it('reports YAML syntax errors with a line, not a stack trace', () => {
    const problems = problemsOf('listen:\n  api: [unclosed\n');
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^: YAML: .+@\d+$/);
  });

  it('resolves ${env:...} and ${file:...} secret references and remembers where they were', () => {
    const dir = tempDir();
    const secretFile = join(dir, 'db.secret');
    writeFileSync(secretFile, DB_PASSWORD + '\n');
    const yaml = `connections:
  - { name: a, type: postgres, upstream: { host: h, database: d, user: u, password: "\${env:PCS_DB_PW}" } }
  - { name: b, type: postgres, upstream: { host: h, database: d, user: u, password: "\${file:${secretFile}}" } }
`;
    const loaded = parseConfig(yaml, 'x.yaml', { PCS_DB_PW: DB_PASSWORD });
    const [a, b] = loaded.config.connections;
    assert.equal(a?.type === 'postgres' && a.upstream.password, DB_PASSWORD);
    assert.equal(b?.type === 'postgres' && b.upstream.password, DB_PASSWORD, 'trailing newline of the file is dropped');
    assert.deepEqual([...loaded.secretPaths].sort(), ['connections[0].upstream.password', 'connections[1].upstream.password']);
    // Resolved secrets are registered with the log scrubber.
    assert.equal(scrubSecrets(`connecting with ${DB_PASSWORD}`), 'connecting with [REDACTED]');
  });

  it('reports unresolvable references without echoing anything secret', () => {
    const problems = problemsOf(`connections:
  - { name: a, type: postgres, upstream: { host: h, database: d, user: u, password: "\${env:NOT_SET_ANYWHERE}" } }
  - { name: b, type: postgres, upstream: { host: h, database: d, user: u, password: "\${file:/nonexistent/pw}" } }
`);
    assert.deepEqual(problems, [
      'connections[0].upstream.password: environment variable NOT_SET_ANYWHERE is not set @2',
      'connections[1].upstream.password: cannot read secret file /nonexistent/pw (ENOENT) @3',
    ]);
  });

  it('rejects HS* and none as OIDC algorithms', () => {
    const problems = problemsOf(`identity:
  oidc:
    - { issuer: "https://idp.example.com", audience: portcullis, algorithms: [RS256, HS256, none] }
`);
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? '', /^identity\.oidc\[0\]\.algorithms\[1\]: expected RS256 \| .*EdDSA @3$/);
    assert.match(problems[1] ?? '', /^identity\.oidc\[0\]\.algorithms\[2\]: /);
  });

  it('fails clearly on an unreadable file', () => {
    assert.throws(() => loadConfig('/nonexistent/portcullis.yaml'), { code: 'PCS_CONFIG_UNREADABLE', message: /ENOENT/ });
  });
});

describe('identity settings', () => {
  it('refuse OIDC metadata over plain http except on loopback', () => {
    const problems = problemsOf(`identity:
  oidc:
    - { issuer: "http://idp.example.com", audience: portcullis }
    - { issuer: "http://127.0.0.1:9000", audience: portcullis, jwks_uri: "http://keys.example.com/jwks" }
`);
    assert.deepEqual(problems, [
      'identity.oidc[0].issuer: must use https (plain http is allowed only for loopback hosts) @3',
      'identity.oidc[1].jwks_uri: must use https (plain http is allowed only for loopback hosts) @4',
    ]);
  });
});

describe('embedded demo database settings', () => {
  it('listen only on loopback, with defaults for the rest', () => {
    const problems = problemsOf(`embedded_postgres:
  listen: 0.0.0.0:15433
`);
    assert.deepEqual(problems, ['embedded_postgres.listen: must be a loopback address (127.0.0.1, ::1 or localhost): the demo database accepts anyone without a password @2']);
    assert.deepEqual(problemsOf('embedded_postgres: { listen: "192.168.1.10:15433" }').length, 1);
    for (const listen of ['127.0.0.1:0', 'localhost:15433', '[::1]:15433']) assert.deepEqual(problemsOf(`embedded_postgres: { listen: "${listen}" }`), [], listen);
    const { config } = parseConfig('embedded_postgres: {}', 'test.yaml', {});
    assert.equal(config.embedded_postgres?.listen, '127.0.0.1:15433');
    assert.equal(config.embedded_postgres?.queue_timeout, 5);
    assert.ok(isAbsolute(config.embedded_postgres?.data_dir ?? ''), 'data_dir made absolute');
    assert.equal(parseConfig('{}', 'test.yaml', {}).config.embedded_postgres, undefined);
  });
});
