// Interactive shells through the SSH gateway, with the real OpenSSH client forcing a PTY
// (`ssh -tt`, commands written to its stdin as each previous one answers) against a real
// sshd: the shell runs, typed lines are recorded with what the policy would have said (and a
// line typed at a no-echo prompt without its text), the asciicast v2 file served by the API
// parses, and `portcullis sessions replay` prints exactly what the client received. A shell
// the policy does not allow is refused with exit 126.
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { QUIET_OPTIONS, TOKEN_OPTIONS, portOption, startClient, tokenEnv } from '../support/ssh-client.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';

/** Typed at the no-echo prompt: must appear nowhere in the recording or the audit log. */
const TYPED_SECRET = 'hunter2-typed';
const WAIT_MS = 20_000;

interface Terminal {
  /** Writes typed text, as a terminal would send it. */
  type(text: string): void;
  /** Resolves once the output (after what earlier waits consumed) contains `text`. */
  waitFor(text: string): Promise<void>;
  /** Everything the client printed on stdout, as bytes. */
  stdout(): Buffer;
  readonly closed: Promise<{ code: number | null; stdout: Buffer; stderr: string }>;
}

describe('interactive shells through the SSH gateway', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;

  /** The real ssh client with a forced PTY; the token is answered through SSH_ASKPASS. */
  const terminal = (token: string, user: string): Terminal => {
    const args = ['-tt', ...portOption('ssh', port), ...QUIET_OPTIONS, ...TOKEN_OPTIONS, `${user}@127.0.0.1`];
    const run = startClient('ssh', args, { env: { ...tokenEnv(token), TERM: 'xterm-256color' }, keepStdin: true, timeoutMs: 60_000 });
    const { child, stdoutBytes: stdout } = run;
    let consumed = 0;
    const closed = run.done.then((r) => ({ code: r.code, stdout: r.stdoutBytes, stderr: r.stderr }));
    return {
      type: (text) => void child.stdin?.write(text),
      async waitFor(text) {
        const deadline = Date.now() + WAIT_MS;
        for (;;) {
          const seen = stdout().toString('utf8');
          const at = seen.indexOf(text, consumed);
          if (at >= 0) {
            consumed = at + text.length;
            return;
          }
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${JSON.stringify(text)} in the shell's output: ${JSON.stringify(seen.slice(consumed))}; stderr: ${run.stderr()}`);
          await sleep(20);
        }
      },
      stdout,
      closed,
    };
  };

  before(async () => {
    sshd = await startSshd();
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: shells, match: { ssh: { op: [shell] } }, then: allow }
      - { name: tools, match: { ssh: { op: [exec], program: [echo, pwd] } }, then: allow }
      - { then: deny, reason: not on this host }
  - name: visitors
    subjects: { groups: [visitors] }
    connections: ["*"]
    rules:
      - { match: { ssh: { op: [exec], program: [echo] } }, then: allow }
      - { then: deny, reason: visitors run single commands only }
`,
    ));
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('runs a shell, records typed lines with verdicts, and replays exactly what the client saw', async () => {
    const token = await t.token('shell-agent', ['agents']);
    const term = terminal(token, 'build-box');
    // Each line is typed once the previous one answered, as a person (or an agent) would.
    term.type('echo ready-$((1+1))\r');
    await term.waitFor('ready-2');
    term.type('echo hello-$((6*7))\r');
    await term.waitFor('hello-42');
    term.type('pwd\r');
    await term.waitFor(`${userInfo().homedir}\r\n`);
    term.type('uname -s\r');
    await term.waitFor('Linux\r\n');
    // A no-echo prompt (what sudo and `read -s` do); the prompt text is split so that the echo
    // of the typed line does not already contain it.
    term.type("stty -echo; printf 'sec%s: ' ret; read v; stty echo; echo got-${#v}\r");
    await term.waitFor('secret: ');
    term.type(`${TYPED_SECRET}\r`);
    await term.waitFor(`got-${TYPED_SECRET.length}`);
    term.type('exit\r');
    const r = await term.closed;
    assert.equal(r.code, 0, r.stderr);
    const received = r.stdout.toString('utf8');
    assert.match(received, /hello-42/);
    assert.ok(!received.includes(TYPED_SECRET), 'the terminal did not echo the secret');

    await t.gw.recorder.flush();
    const db = storeDb(t.gw.services.store);
    const typedRows = await db.selectFrom('session_events').select(['session_id', 'seq', 'data']).where('kind', '=', 'typed').orderBy('seq').execute();
    const id = typedRows.find((row) => (JSON.parse(row.data) as { line: unknown }).line === 'echo hello-$((6*7))')?.session_id;
    assert.ok(id, 'the typed line is recorded');
    const typed = typedRows.filter((row) => row.session_id === id).map((row) => JSON.parse(row.data) as { shell: number; t: number; line: string | null; edited: boolean; echoed: boolean; policy_verdict?: string; policy_rule?: string | null; policy_reason?: string });
    assert.deepEqual(
      typed.map((l) => [l.line, l.echoed, l.edited]),
      [
        ['echo ready-$((1+1))', true, false],
        ['echo hello-$((6*7))', true, false],
        ['pwd', true, false],
        ['uname -s', true, false],
        ["stty -echo; printf 'sec%s: ' ret; read v; stty echo; echo got-${#v}", true, false],
        [null, false, false],
        ['exit', true, false],
      ],
    );
    const byLine = new Map(typed.map((l) => [l.line, l]));
    assert.deepEqual([byLine.get('echo hello-$((6*7))')?.policy_verdict, byLine.get('echo hello-$((6*7))')?.policy_rule], ['allow', 'agents#1 (tools)']);
    assert.equal(byLine.get('pwd')?.policy_verdict, 'allow');
    // Not allowed as an exec, and still not blocked: the shell was allowed as a whole.
    assert.deepEqual([byLine.get('uname -s')?.policy_verdict, byLine.get('uname -s')?.policy_reason], ['deny', 'not on this host']);
    assert.equal(byLine.get(null)?.policy_verdict, undefined, 'no verdict for a line typed without echo');
    assert.ok(typed.every((l, i) => l.shell === 1 && (i === 0 || l.t >= (typed[i - 1]?.t ?? 0))));

    // The secret is nowhere: not in the recording (input events included), not in the audit log.
    const events = await db.selectFrom('session_events').select(['kind', 'data']).where('session_id', '=', id).orderBy('seq').execute();
    assert.ok(!events.some((e) => e.data.includes(TYPED_SECRET)), 'the recording holds no trace of the secret');
    assert.deepEqual(events.filter((e) => e.kind === 'shell').map((e) => (JSON.parse(e.data) as { phase: string; exit?: number }).phase), ['start', 'end']);
    assert.equal((JSON.parse(events.find((e) => e.kind === 'shell' && e.data.includes('"end"'))?.data ?? '{}') as { exit: number }).exit, 0);
    let audited: string[] = [];
    for (let i = 0; i < 250 && !audited.some((d) => d.includes('uname -s')); i++) {
      await sleep(20);
      audited = (await db.selectFrom('audit').select('data').where('type', '=', 'policy.observed').execute()).map((row) => row.data);
    }
    assert.ok(audited.some((d) => d.includes('"command":"uname -s"') && d.includes(id)), 'typed lines are audited as observed, not enforced');
    const decided = (await db.selectFrom('audit').select('data').where('type', '=', 'policy.decision').execute()).map((row) => row.data);
    assert.ok(!decided.some((d) => d.includes('"command":"uname -s"')), 'never as decisions');
    assert.ok(!(await db.selectFrom('audit').select('data').execute()).some((row) => row.data.includes(TYPED_SECRET)));

    // The asciicast v2 file: a header, then events in time order whose output is what the client got.
    const admin = await t.token('alice', ['admins']);
    const res = await fetch(`${t.url}/api/v1/sessions/${id}/cast`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-asciicast/);
    const asAgent = await fetch(`${t.url}/api/v1/sessions/${id}/cast`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(asAgent.status, 403, 'recordings are for admins');
    const noShell = await fetch(`${t.url}/api/v1/sessions/${id}/cast?shell=2`, { headers: { authorization: `Bearer ${admin}` } });
    assert.deepEqual([noShell.status, ((await noShell.json()) as { code: string }).code], [404, 'PCS_API_NOT_FOUND']);
    const [headerLine, ...eventLines] = (await res.text()).trimEnd().split('\n');
    const header = JSON.parse(headerLine ?? '') as { version: number; width: number; height: number; timestamp: number; title: string; env: Record<string, string> };
    assert.equal(header.version, 2);
    assert.ok(Number.isInteger(header.width) && header.width > 0 && Number.isInteger(header.height) && header.height > 0);
    assert.equal(header.title, `portcullis session ${id}`);
    assert.equal(header.env.TERM, 'xterm-256color');
    assert.ok(Math.abs(header.timestamp * 1000 - Date.now()) < 3_600_000, 'a Unix timestamp in seconds');
    const castEvents = eventLines.map((l) => JSON.parse(l) as [number, string, string]);
    assert.ok(castEvents.every((e, i) => typeof e[0] === 'number' && e[0] >= 0 && (i === 0 || e[0] >= (castEvents[i - 1]?.[0] ?? 0))), 'times never go back');
    assert.equal(castEvents.filter((e) => e[1] === 'o').map((e) => e[2]).join(''), received);
    const input = castEvents.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    assert.ok(input.includes('echo hello-$((6*7))\r') && input.includes('uname -s\r'), 'typed input is recorded');
    assert.ok(!input.includes(TYPED_SECRET));

    // The CLI replays the same bytes.
    const replay = await runCli(['sessions', 'replay', id, '--speed', '0', '--config', t.configFile]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(replay.stdout, received);
    const cast = await runCli(['sessions', 'replay', id, '-o', '-', '--config', t.configFile]);
    assert.equal(cast.stdout.split('\n')[0], headerLine);
    const none = await runCli(['sessions', 'replay', id, '--shell', '2', '--config', t.configFile]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /PCS_API_NOT_FOUND: no such resource: shell 2 in session/);
  });

  it('refuses a shell the policy does not allow, with the reason and exit 126', async () => {
    const token = await t.token('visitor', ['visitors']);
    const term = terminal(token, 'build-box');
    term.type('echo never\r');
    const r = await term.closed;
    assert.equal(r.code, 126);
    assert.match(r.stderr, /portcullis: an interactive shell is not allowed here: visitors run single commands only/);
    assert.ok(!r.stdout.toString().includes('never'));
  });
});
