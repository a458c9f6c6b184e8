import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/core/errors.ts';
import { actionFor } from './support.ts';

async function rejects(connection: string, text: string, reason: RegExp): Promise<void> {
  await assert.rejects(actionFor(connection, text), (err: unknown) => err instanceof GatewayError && err.code === 'PCS_POLICY_INPUT_INVALID' && reason.test(err.message));
}

void describe('actionFromText', () => {
  void it('postgres: analysed SQL', async () => {
    const action = await actionFor('prod-db', 'select * from t; delete from t');
    assert.equal(action.kind, 'sql');
    assert.deepEqual(action.kind === 'sql' ? action.statements.map((s) => s.effect) : [], ['read', 'write']);
  });

  void it('mysql: one statement of effect unknown (fail closed)', async () => {
    assert.deepEqual(await actionFor('legacy-db', 'select 1'), {
      kind: 'sql',
      dialect: 'mysql',
      text: 'select 1',
      statements: [{ command: 'unknown', effect: 'unknown', relations: [], functions: [], text: 'select 1', error: 'MySQL analysis is not available yet' }],
    });
  });

  void it('http: request line, query and optional JSON body', async () => {
    assert.deepEqual(await actionFor('billing-api', 'post /invoices/../customers/7?a=1&b=2&a=3 HTTP/1.1\n{"name": "x"}'), {
      kind: 'http',
      method: 'POST',
      path: '/customers/7',
      query: { a: ['1', '3'], b: '2' },
      headers: {},
      body: { name: 'x' },
    });
    assert.deepEqual(await actionFor('billing-api', 'GET /'), { kind: 'http', method: 'GET', path: '/', query: {}, headers: {} });
    await rejects('billing-api', 'GET customers', /must start with "\/"/);
    await rejects('billing-api', 'fetch me /x please', /METHOD \/path/);
    await rejects('billing-api', 'POST /x\n{not json', /not JSON/);
  });

  void it('ssh: shell, sftp, forward, and exec for anything else', async () => {
    assert.deepEqual(await actionFor('web-1', 'shell'), { kind: 'ssh', op: 'shell' });
    assert.deepEqual(await actionFor('web-1', 'sftp put /srv/app/my file.txt'), { kind: 'ssh', op: 'sftp', sftp: { op: 'put', path: '/srv/app/my file.txt' } });
    assert.deepEqual(await actionFor('web-1', 'forward db.internal:5432'), { kind: 'ssh', op: 'forward', forward: { host: 'db.internal', port: 5432, direction: 'local' } });
    assert.deepEqual(await actionFor('web-1', 'forward [::1]:80'), { kind: 'ssh', op: 'forward', forward: { host: '::1', port: 80, direction: 'local' } });
    assert.deepEqual(await actionFor('web-1', '  systemctl restart app  '), {
      kind: 'ssh',
      op: 'exec',
      command: 'systemctl restart app',
      commands: [{ program: 'systemctl', args: ['restart', 'app'], dynamic: false }],
      uncertain: false,
      redirects: [],
      assignments: [],
    });
    await rejects('web-1', 'sftp get', /sftp <op> <path>/);
    await rejects('web-1', 'forward db.internal', /forward <host>:<port>/);
    await rejects('web-1', 'forward db:70000', /forward <host>:<port>/);
  });

  void it('empty input is invalid for every kind', async () => {
    for (const name of ['prod-db', 'legacy-db', 'billing-api', 'web-1']) await rejects(name, '  \n', /nothing to test/);
  });
});
