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

  void it('mysql: analysed SQL, what it does not understand unknown', async () => {
    const action = await actionFor('legacy-db', "select * from t; /*! delete from u */; call p(); create user 'a' identified by 'pw'");
    assert.equal(action.kind === 'sql' ? action.dialect : '', 'mysql');
    assert.deepEqual(action.kind === 'sql' ? action.statements.map((s) => [s.command, s.effect]) : [], [['select', 'read'], ['delete', 'write'], ['call', 'unknown'], ['create_user', 'privilege']]);
    assert.equal(action.kind === 'sql' ? action.redacted : '', "select * from t; /*! delete from u */; call p(); create user '***' identified by '***'");
  });

  void it('http: request line, query and optional JSON body', async () => {
    assert.deepEqual(await actionFor('billing-api', 'post /customers/7?a=1&b=2&a=3 HTTP/1.1\n{"name": "x"}'), {
      kind: 'http',
      method: 'POST',
      path: '/customers/7',
      query: { a: ['1', '3'], b: '2' },
      headers: {},
      body: { name: 'x' },
    });
    assert.deepEqual(await actionFor('billing-api', 'GET /'), { kind: 'http', method: 'GET', path: '/', query: {}, headers: {} });
    await rejects('billing-api', 'GET customers', /must be a path starting with \//);
    // Read as the gateway reads it: a dot segment is refused by default (it names the path a
    // normalising connection would decide on), an encoded slash on every connection.
    await rejects('billing-api', 'GET /invoices/../customers/7', /non_canonical_paths: normalise; it would then decide on \/customers\/7/);
    await rejects('billing-api', 'GET /invoices%2F..%2Fcustomers', /on every connection .*encoded slash/);
    await rejects('billing-api', 'fetch me /x please', /METHOD \/path/);
    await rejects('billing-api', 'POST /x\n{not json', /not JSON/);
  });

  void it('ssh: shell, sftp, forward, and exec for anything else', async () => {
    assert.deepEqual(await actionFor('web-1', 'shell'), { kind: 'ssh', op: 'shell' });
    assert.deepEqual(await actionFor('web-1', 'sftp write /srv/app/my file.txt'), { kind: 'ssh', op: 'sftp', sftp: { op: 'write', path: '/srv/app/my file.txt' } });
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
    await rejects('web-1', 'sftp read', /sftp <op> <path>/);
    await rejects('web-1', 'forward db.internal', /forward \[local\|remote\] <host>:<port>/);
    await rejects('web-1', 'forward db:0', /forward \[local\|remote\] <host>:<port>/);
    await rejects('web-1', 'forward remote db:70000', /forward \[local\|remote\] <host>:<port>/);
  });

  void it('ssh sftp: the operations of file_op, paths normalised as the gateway does', async () => {
    const sftp = async (text: string): Promise<unknown> => ((await actionFor('web-1', text)) as { sftp?: unknown }).sftp;
    assert.deepEqual(await sftp('sftp read //srv/./app/../etc/x/'), { op: 'read', path: '/srv/etc/x' });
    assert.deepEqual(await sftp('sftp stat /../..'), { op: 'stat', path: '/' });
    assert.deepEqual(await sftp('sftp list ~/logs/../x'), { op: 'list', path: '~/x' });
    assert.deepEqual(await sftp('sftp write /srv/up/**'), { op: 'write', path: '/srv/up/**' });
    assert.deepEqual(await sftp('sftp write /**'), { op: 'write', path: '/**' });
    for (const bad of ['sftp get /etc/hosts', 'sftp put /x', 'sftp read relative/path', 'sftp read ~/../etc']) await rejects('web-1', bad, /sftp <op> <path>/);
  });

  void it('ssh: a legacy scp line is an sftp read or write of its path; other scp forms stay exec', async () => {
    const scp = (command: string, op: string, path: string): unknown => ({ kind: 'ssh', op: 'sftp', command, sftp: { op, path } });
    const cases: Array<[string, unknown]> = [
      ['scp -t /srv/up/a.txt', scp('scp -t /srv/up/a.txt', 'write', '/srv/up/a.txt')],
      ['scp -f /var/log/syslog', scp('scp -f /var/log/syslog', 'read', '/var/log/syslog')],
      ['scp -v -r -p -t /srv/up', scp('scp -v -r -p -t /srv/up', 'write', '/srv/up/**')],
      ['scp -d -t /srv/up/', scp('scp -d -t /srv/up/', 'write', '/srv/up/**')],
      ['scp -r -f /', scp('scp -r -f /', 'read', '/**')],
      ['scp -t -- -odd', scp('scp -t -- -odd', 'write', '~/-odd')],
      ['scp -t notes/../a.txt', scp('scp -t notes/../a.txt', 'write', '~/a.txt')],
      ['scp -t .', scp('scp -t .', 'write', '~')],
      ['scp -f ~/x.txt', scp('scp -f ~/x.txt', 'read', '~/x.txt')],
      ["scp -f '~/x.txt'", scp("scp -f '~/x.txt'", 'read', '~/~/x.txt')],
      ["scp -f '/srv/a b'", scp("scp -f '/srv/a b'", 'read', '/srv/a b')],
    ];
    for (const [line, expected] of cases) assert.deepEqual(await actionFor('web-1', line), expected, line);
    // Anything else that runs scp is an exec line, judged by the exec rules.
    for (const line of ['scp -t ../etc/x', 'scp -f *.log', 'scp -f $HOME/x', 'scp -f ~root/x', 'scp -t /a /b', 'scp -x -t /a', 'scp -r -r -t /a', 'scp -d -f /a', 'scp -t', 'scp -t /a; rm -rf /', 'sudo scp -t /a', 'scp -t /a > /tmp/log', 'X=1 scp -t /a', '/usr/bin/scp -t /a']) {
      const action = await actionFor('web-1', line);
      assert.equal(action.kind === 'ssh' ? action.op : action.kind, 'exec', line);
    }
  });

  void it('empty input is invalid for every kind', async () => {
    for (const name of ['prod-db', 'legacy-db', 'billing-api', 'web-1']) await rejects(name, '  \n', /nothing to test/);
  });
});
