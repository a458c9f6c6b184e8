// The SSH gateway's edges with the real OpenSSH client: an upstream that is down, a command
// held for review (the agent sees the review on stderr and waits; it runs once approved), a
// deferred command (refused at once, naming the review), and stdio forwarding (-W) refused.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { withToken, type ClientProcess } from '../support/ssh-client.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('SSH gateway: upstream down, reviews, forwarding', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;

  const start = (token: string, user: string, args: string[]): ClientProcess => withToken('ssh', port, token, [`${user}@127.0.0.1`, ...args], { timeoutMs: 60_000 });

  const api = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${t.gw.api.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    sshd = await startSshd();
    const down = await closedPort();
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
  - ${sshConnectionYaml('down-box', sshd, { port: down })}
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: tools, match: { ssh: { op: [exec], program: [echo] } }, then: allow }
      - { name: held-touch, match: { ssh: { op: [exec], program: [touch] } }, then: review, review: { mode: hold, timeout: 30s, approvers: { groups: [ops] } } }
      - { name: deferred-mkdir, match: { ssh: { op: [exec], program: [mkdir] } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [ops] } } }
      - { then: deny, reason: not on this host }
`,
    ));
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('refuses a command with a clear message when the upstream host is down', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const r = await start(token, 'down-box', ['echo hi']).done;
    assert.equal(r.code, 126);
    assert.match(r.stderr, /portcullis: .*down-box.*\(PCS_SSH_UPSTREAM_UNREACHABLE\)/);
    assert.equal(r.stdout, '');
  });

  it('holds a command for review, names the review on stderr, and runs it once approved', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const ops = await t.token('olga', ['ops']);
    const target = join(sshd.dir, 'approved-file');
    const run = start(token, 'build-box', [`touch ${target}`]);
    let id: string | undefined;
    while (id === undefined) {
      id = /review (r-[0-9a-f]+)/.exec(run.stderr())?.[1];
      if (id === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(existsSync(target), false, 'nothing ran before the approval');
    const approved = await api(ops, 'POST', `/api/v1/reviews/${id}/approve`, { comment: 'fine' });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(target));
  });

  it('defers a command: refused at once naming the review, runs on a retry after approval', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const ops = await t.token('olga', ['ops']);
    const target = join(sshd.dir, 'deferred-dir');
    const first = await start(token, 'build-box', [`mkdir ${target}`]).done;
    assert.equal(first.code, 126);
    const id = /(r-[0-9a-f]+)/.exec(first.stderr)?.[1];
    assert.ok(id, first.stderr);
    assert.equal(existsSync(target), false);
    assert.equal((await api(ops, 'POST', `/api/v1/reviews/${id}/approve`)).status, 200);
    const retry = await start(token, 'build-box', [`mkdir ${target}`]).done;
    assert.equal(retry.code, 0, retry.stderr);
    assert.ok(existsSync(target));
  });

  it('refuses stdio forwarding (-W) without a rule for the destination, and records it', async () => {
    const token = await t.token('agent-bot', ['agents']);
    const r = await start(token, 'build-box', ['-W', `127.0.0.1:${sshd.port}`]).done;
    assert.equal(r.code, 255);
    assert.match(r.stderr, /stdio forwarding failed|administratively prohibited|open failed/);
    await t.gw.recorder.flush();
    const rows = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).where('kind', '=', 'denied').execute();
    assert.ok(rows.some((row) => (JSON.parse(row.data) as { op: string; port: number }).op === 'forward'));
  });
});
