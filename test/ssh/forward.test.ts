// Port forwarding through the SSH gateway with the real OpenSSH client and a real sshd:
// -W/-L to a destination a rule allows (relayed from the upstream host) and to one it does
// not (refused); -R on an address a rule allows (connections the upstream host accepts come
// back to the agent) and on one it does not (refused, ExitOnForwardFailure).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { withToken, type ClientProcess } from '../support/ssh-client.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';
import { freePort } from '../support/ports.ts';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}


/** Sends `text` to 127.0.0.1:port and resolves with what came back before the other side ended. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.write(text);
  });
}

describe('SSH gateway: port forwarding by destination', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;
  let echo: Server;
  let echoPort: number;
  let otherPort: number;
  let remotePort: number;
  const children: ChildProcess[] = [];

  /** Stdin stays open: the caller ends it (or kills the client). */
  const ssh = (token: string, args: string[], input = ''): ClientProcess => {
    const run = withToken('ssh', port, token, [...args, 'build-box@127.0.0.1'], { input, keepStdin: true });
    children.push(run.child);
    return run;
  };

  before(async () => {
    sshd = await startSshd();
    echo = createServer((s) => s.pipe(s));
    echoPort = await listen(echo);
    otherPort = await freePort();
    remotePort = await freePort();
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: [build-box]
    rules:
      - { name: echo-service, match: { ssh: { op: [forward], direction: [local], destination: ["127.0.0.1:${echoPort}"] } }, then: allow }
      - { name: callback, match: { ssh: { direction: [remote], destination: ["127.0.0.1:${remotePort}"] } }, then: allow }
      - { then: deny, reason: not on this host }
`,
    ));
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await t?.stop();
    await sshd?.stop();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('relays -W to an allowed destination and refuses another', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const allowed = ssh(token, ['-W', `127.0.0.1:${echoPort}`], 'through the host\n');
    // The echo server answers over the forward; then stdin ends and so does the forward.
    let echoed = '';
    allowed.child.stdout?.on('data', (d: Buffer) => {
      echoed += d.toString();
      if (echoed === 'through the host\n') allowed.child.stdin?.end();
    });
    const r = await allowed.done;
    assert.equal(r.stdout, 'through the host\n', r.stderr);
    const refused = await ssh(token, ['-W', `127.0.0.1:${otherPort}`]).done;
    assert.equal(refused.code, 255);
  });

  it('listens on the upstream host for an allowed -R and brings its connections back to the agent', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const forward = ssh(token, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${remotePort}:127.0.0.1:${echoPort}`]);
    // The upstream sshd listens once the request went through: connect (on the "host") until it does.
    let answer = '';
    for (let i = 0; i < 250 && answer === ''; i++) {
      answer = await exchange(remotePort, 'called back\n').catch(() => '');
      if (answer === '') await sleep(40);
    }
    assert.equal(answer, 'called back\n');
    forward.child.kill('SIGTERM');
    await forward.done;
  });

  it('refuses -R on an address no rule allows, and records both refusals', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const r = await ssh(token, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${otherPort}:127.0.0.1:${echoPort}`]).done;
    assert.equal(r.code, 255);
    assert.match(r.stderr, /remote port forwarding failed/);
    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).execute();
    const denied = rows.filter((row) => row.kind === 'denied').map((row) => JSON.parse(row.data) as { op: string; direction?: string; port?: number });
    assert.ok(denied.some((d) => d.op === 'forward' && d.direction === 'remote' && d.port === otherPort));
    assert.ok(denied.some((d) => d.op === 'forward' && d.direction === 'local' && d.port === otherPort));
    const allowed = rows.filter((row) => row.kind === 'forward').map((row) => JSON.parse(row.data) as { direction: string; port: number });
    assert.ok(allowed.some((d) => d.direction === 'remote' && d.port === remotePort));
  });
});
