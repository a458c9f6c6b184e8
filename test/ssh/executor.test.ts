// The SSH command executor (what an MCP `exec` tool call runs through) against a real sshd,
// with no SSH listener configured: stdin, stdout, stderr and the exit status of an allowed
// line; a denied line (also one hidden behind an allowed one) refused with its PCS code and
// not run; output masked by the policy's detectors; truncation; a deferred review, run after
// approval; an unreachable host as a failure; the upstream connection kept between calls;
// everything recorded into the caller's session.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandRun, CommandSession, ExecutionScope, Executed } from '../../src/pipeline/executor.ts';
import type { SessionRecording } from '../../src/recorder/recorder.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { testSecret } from '../support/secrets.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';

const PASSWORD = testSecret('ssh-executor-password');

function done(r: Executed<CommandRun>): CommandRun {
  assert.equal(r.outcome, 'done', JSON.stringify(r));
  return (r as { value: CommandRun }).value;
}

describe('SSH command executor', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let recording: SessionRecording;
  let scope: ExecutionScope;
  let session: CommandSession;
  const scratch = mkdtempSync(join(tmpdir(), 'pcs-ssh-exec-'));

  before(async () => {
    sshd = await startSshd();
    t = await startTestGateway(`
connections:
  - ${sshConnectionYaml('build-box', sshd)}
  - { name: gone-box, type: ssh, upstream: { host: 127.0.0.1, port: 1, user: nobody, password: x } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    masks:
      - { detector: custom, name: password_assignment, pattern: "password=[^ ]+", with: redact }
    rules:
      - { name: touch-needs-review, match: { ssh: { op: [exec], program: [touch] } }, then: review, review: { mode: defer, timeout: 60s, approvers: { groups: [ops] } } }
      - { name: tools, match: { ssh: { op: [exec], program: [echo, cat, sh, seq] } }, then: allow }
      - { then: deny, reason: not on this host }
`);
    const identity = await t.gw.services.authenticator.authenticate(await t.token('agent-bot', ['agents']), { protocol: 'mcp', connection: 'build-box', client: null });
    recording = t.gw.recorder.start({ connection: 'build-box', protocol: 'mcp', subject: identity.subject, clientAddr: null });
    scope = { identity, recording, protocol: 'mcp' };
    assert.equal(t.gw.listeners.has('ssh'), false);
    const executor = t.gw.executors.command;
    assert.ok(executor, 'a command executor without an SSH listener');
    session = await executor.open(scope, 'build-box');
  });

  after(async () => {
    await session?.close();
    recording?.end('closed');
    await t?.stop();
    await sshd?.stop();
  });

  it('runs an allowed line with stdin, and gives stdout, stderr and the exit status', async () => {
    const r = done(await session.exec('cat; echo to-stderr >&2; cat /no/such/file', { stdin: 'piped in\n', maxOutput: 1 << 20 }));
    assert.equal(r.exitCode, 1);
    assert.equal(r.signal, null);
    assert.equal(r.stdout, 'piped in\n');
    assert.match(r.stderr, /^to-stderr\ncat: \/no\/such\/file: No such file or directory\n$/);
    assert.equal(r.truncated, false);
  });

  it('refuses a denied line, also behind an allowed one, and runs none of it', async () => {
    const marker = join(scratch, 'should-not-exist');
    const r = await session.exec(`echo fine; rm -rf ${marker}; mkdir ${marker}`, { maxOutput: 1024 });
    assert.equal(r.outcome, 'refused', JSON.stringify(r));
    assert.equal(r.outcome === 'refused' && r.refusal.code, 'PCS_POLICY_DENIED');
    assert.match(r.outcome === 'refused' ? r.refusal.message : '', /not on this host/);
    assert.equal(existsSync(marker), false);
  });

  it('masks output by the policy\'s detectors', async () => {
    // In a file on the host: the command line itself (which is recorded as sent) carries no secret.
    const file = join(scratch, 'settings');
    writeFileSync(file, `password=${PASSWORD}\nplain\n`);
    const r = done(await session.exec(`cat ${file}`, { maxOutput: 1024 }));
    assert.ok(!r.stdout.includes(PASSWORD), r.stdout);
    assert.match(r.stdout, /plain\n$/);
  });

  it('keeps maxOutput bytes of each stream and says it truncated', async () => {
    const r = done(await session.exec('seq 1 100000', { maxOutput: 100 }));
    assert.equal(r.stdout.length, 100);
    assert.equal(r.truncated, true);
    assert.equal(r.exitCode, 0);
  });

  it('defers a reviewed line with its review id and runs it after approval', async () => {
    const file = join(scratch, 'touched');
    const first = await session.exec(`touch ${file}`, { maxOutput: 1024 });
    assert.equal(first.outcome === 'refused' && first.refusal.code, 'PCS_REVIEW_PENDING', JSON.stringify(first));
    const id = first.outcome === 'refused' ? first.refusal.reviewId : undefined;
    assert.match(id ?? '', /^r-[0-9a-f]+$/);
    assert.equal(existsSync(file), false);
    const ops = await t.token('olga', ['ops']);
    const res = await fetch(`${t.url}/api/v1/reviews/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${ops}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 200, await res.text());
    assert.equal(done(await session.exec(`touch ${file}`, { maxOutput: 1024 })).exitCode, 0);
    assert.equal(existsSync(file), true);
  });

  it('reports a host that cannot be reached as a failure, and an unknown connection at open', async () => {
    const gone = await t.gw.executors.command!.open(scope, 'gone-box');
    const r = await gone.exec('echo hi', { maxOutput: 1024 });
    assert.equal(r.outcome, 'failed', JSON.stringify(r));
    assert.equal(r.outcome === 'failed' && r.error.code, 'PCS_SSH_UPSTREAM_UNREACHABLE');
    await gone.close();
    await assert.rejects(t.gw.executors.command!.open(scope, 'nope'), /no connection named nope/);
  });

  it('records every line into the caller\'s session, which stays open', async () => {
    await t.gw.recorder.flush();
    const db = storeDb(t.gw.services.store);
    const events = await db.selectFrom('session_events').select(['kind', 'data']).where('session_id', '=', recording.id).orderBy('id').execute();
    const byKind = (kind: string): Record<string, unknown>[] => events.filter((e) => e.kind === kind).map((e) => JSON.parse(e.data) as Record<string, unknown>);
    assert.ok(byKind('exec').some((e) => e.command === 'seq 1 100000' && e.exit === 0));
    assert.ok(byKind('denied').some((e) => typeof e.command === 'string' && e.command.startsWith('echo fine; rm -rf')));
    assert.ok(!JSON.stringify(events).includes(PASSWORD), 'the masked secret is not in the recording');
    const row = await db.selectFrom('sessions').selectAll().where('id', '=', recording.id).executeTakeFirst();
    assert.equal(row?.ended_at ?? null, null);
  });
});
