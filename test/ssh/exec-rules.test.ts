// Exact SSH exec rules through the gateway with the real OpenSSH client and sshd: a `..`
// escape out of an allowed folder, extra arguments riding along, and a launcher option are
// refused (exit 126, nothing runs), while the same commands inside the rule run.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { withToken, type ClientRun } from '../support/ssh-client.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';

describe('SSH exec rules: args_all, argv and launchers with OpenSSH', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;
  let token: string;
  let app: string;
  let secret: string;

  const ssh = (command: string): Promise<ClientRun> => withToken('ssh', port, token, ['build-box@127.0.0.1', command]).done;

  before(async () => {
    sshd = await startSshd();
    app = join(sshd.dir, 'app');
    secret = join(sshd.dir, 'secret');
    mkdirSync(app);
    mkdirSync(secret);
    writeFileSync(join(app, 'README'), 'inside the app\n');
    writeFileSync(join(secret, 'key.txt'), 'the secret key\n');
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: read-app, match: { ssh: { program: [cat, head, git], args_all: ["${app}/**", log, "--oneline", "core.*"] } }, then: allow }
      - { name: echo-one, match: { ssh: { argv: [echo, "hello*"] } }, then: allow }
      - { then: deny, reason: not allowed here }
`,
    ));
    token = await t.token('agent-bot', ['agents']);
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('runs a command whose every path is inside the folder', async () => {
    const r = await ssh(`cat ${app}/README`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'inside the app\n');
    const dots = await ssh(`head -n1 ${app}/./README`);
    assert.equal(dots.stdout, 'inside the app\n', dots.stderr);
  });

  it('refuses a .. escape out of the folder, and nothing runs', async () => {
    for (const line of [`cat ${app}/../secret/key.txt`, `cat ${app}//../secret/key.txt`, `cat ${app}/.*/secret/key.txt`]) {
      const r = await ssh(line);
      assert.equal(r.code, 126, line);
      assert.match(r.stderr, /portcullis: denied: not allowed here/, line);
      assert.ok(!r.stdout.includes('secret key'), line);
    }
  });

  it('refuses extra arguments riding along with an allowed one', async () => {
    const r = await ssh(`cat ${app}/README ${secret}/key.txt`);
    assert.equal(r.code, 126);
    assert.ok(!r.stdout.includes('secret key'));
    const more = await ssh('echo hello world');
    assert.equal(more.code, 126, 'argv is exactly two words');
    const exact = await ssh('echo hello');
    assert.equal(exact.stdout, 'hello\n', exact.stderr);
  });

  it('refuses a launcher option of an allowed program, though its arguments pass', async () => {
    const marker = join(sshd.dir, 'launched');
    // With a terminal git would start core.pager; the gateway refuses either way.
    const r = await withToken('ssh', port, token, ['-tt', 'build-box@127.0.0.1', `git -c core.pager=touch log --oneline`]).done;
    assert.equal(r.code, 126, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /portcullis: denied: not allowed here/);
    assert.equal(existsSync(marker), false);
    const plain = await ssh(`git -C ${app} log --oneline`);
    assert.notEqual(plain.code, 126, 'no launch, every argument allowed: it runs (and git says this is no repository)');
  });
});
