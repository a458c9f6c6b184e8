// The SSH gateway with the real OpenSSH client against a real sshd: the identity token as the
// password, the user name naming the connection, exec allowed and relayed (stdin, stdout,
// stderr, exit status), denied with exit 126 (also when a denied command hides behind an
// allowed one), shells denied as a whole, the upstream host key pinned, and a recording.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { withToken, type ClientRun } from '../support/ssh-client.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { Client: SshClient } = ssh2;

describe('SSH gateway with OpenSSH', () => {
  let sshd: TestSshd;
  let flip: TestSshd;
  let t: TestGateway;
  let port: number;

  /** Runs the real ssh client; the token is answered through SSH_ASKPASS, never a flag. */
  const ssh = (token: string, user: string, command: string | null, input = ''): Promise<ClientRun> => withToken('ssh', port, token, [`${user}@127.0.0.1`, ...(command === null ? ['-T'] : [command])], { input }).done;

  before(async () => {
    sshd = await startSshd();
    // A host whose key will change: no host_key configured, so its first key is pinned.
    flip = await startSshd();
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
  - ${sshConnectionYaml('flip-box', flip)}
  - ${sshConnectionYaml('wrong-key-box', sshd, { extra: 'host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"' })}
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: tools, match: { ssh: { op: [exec], program: [echo, cat, ls, uname, sh] } }, then: allow }
      - { then: deny, reason: not on this host }
`,
    ));
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
    await flip?.stop();
  });

  it('runs an allowed command on the upstream, with stdin, stdout and the exit status', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const r = await ssh(token, 'build-box', 'cat', 'piped through\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'piped through\n');
    // A compound line whose every command is allowed runs as a whole.
    const compound = await ssh(token, 'build-box', "echo one; echo two | cat && sh -c 'echo three'");
    assert.equal(compound.stdout, 'one\ntwo\nthree\n', compound.stderr);
    const failing = await ssh(token, 'build-box', 'ls /no/such/dir');
    assert.equal(failing.code, 2);
    assert.match(failing.stderr, /No such file/);
    assert.ok(sshd.log().includes('Accepted publickey'), 'the upstream saw the gateway key');
  });

  it('refuses a denied command with exit 126, also behind an allowed one', async () => {
    const token = await t.token('agent-bot', ['agents']);
    for (const command of ['rm -rf /tmp/x', 'ls; rm -rf /tmp/x', 'ls && curl http://example.com', 'sh -c "rm -rf /tmp/x"', 'echo $(rm -rf /tmp/x)', 'echo `id`', 'ls | sh', 'cat /etc/hostname > /tmp/copied', '$CMD /tmp/x']) {
      const r = await ssh(token, 'agent-bot+build-box', command);
      assert.equal(r.code, 126, command);
      assert.match(r.stderr, /portcullis: denied/, command);
    }
  });

  it('refuses a bad token and an unknown connection at login', async () => {
    const bad = await ssh('not-a-token', 'build-box', 'echo hi');
    assert.equal(bad.code, 255);
    const token = await t.token('agent-bot', ['agents']);
    const unknown = await ssh(token, 'no-such-box', 'echo hi');
    assert.equal(unknown.code, 255);
  });

  it('refuses an upstream whose host key is not the configured one', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const r = await ssh(token, 'wrong-key-box', 'echo hi');
    assert.equal(r.code, 126);
    assert.match(r.stderr, /host key of connection wrong-key-box changed/);
  });

  it('pins an upstream host key on first use and refuses the host once its key changed', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const first = await ssh(token, 'flip-box', 'echo pinned');
    assert.equal(first.code, 0, first.stderr);
    const pins = JSON.parse(readFileSync(join(t.dir, 'ssh_known_hosts.json'), 'utf8')) as Record<string, string>;
    assert.equal(pins['flip-box'], flip.hostKeyLine);
    // An agent connection that stays open across the change (ssh2 as the client: one
    // connection, two commands), its upstream connection opened by the first command.
    const agent = new SshClient();
    await new Promise<void>((resolve, reject) => {
      agent.once('ready', () => resolve()).once('error', reject);
      agent.connect({ host: '127.0.0.1', port, username: 'flip-box', password: token });
    });
    const exec = (command: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        agent.exec(command, (err, stream) => {
          if (err) return reject(err);
          let stdout = '';
          let stderr = '';
          let code: number | null = null;
          stream.on('data', (d: Buffer) => (stdout += d.toString()));
          stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          stream.on('exit', (c: number | null) => (code = c));
          stream.on('close', () => resolve({ code, stdout, stderr }));
        });
      });
    assert.equal((await exec('echo before')).stdout, 'before\n');
    // Another server (another host key) takes the host's address: nothing runs, the agent is told why.
    await flip.stop();
    flip = await startSshd({ port: flip.port });
    const after = await ssh(token, 'flip-box', 'echo should-not-run');
    assert.equal(after.code, 126);
    assert.match(after.stderr, /host key of connection flip-box changed/);
    assert.match(after.stderr, /PCS_SSH_HOST_KEY_CHANGED/);
    assert.equal(after.stdout, '');
    // The open agent connection lost its upstream: the next command connects again (and is refused the same way).
    const again = await exec('echo should-not-run');
    agent.end();
    assert.equal(again.code, 126);
    assert.match(again.stderr, /PCS_SSH_HOST_KEY_CHANGED/);
  });

  it('records commands with their exit status', async () => {
    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).execute();
    const exec = rows.filter((r) => r.kind === 'exec').map((r) => JSON.parse(r.data) as { command: string; exit: number });
    assert.ok(exec.some((e) => e.command === 'ls /no/such/dir' && e.exit === 2));
    const denied = rows.filter((r) => r.kind === 'denied').map((r) => JSON.parse(r.data) as { command?: string; exit: number });
    assert.ok(denied.some((e) => e.command === 'ls; rm -rf /tmp/x' && e.exit === 126));
  });
});
