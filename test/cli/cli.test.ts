import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import SQLite from 'better-sqlite3';
import { Recorder } from '../../src/recorder/recorder.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { openStore } from '../../src/store/store.ts';
import { BIN, runCli } from '../support/cli.ts';
import { READ_ONLY_AGENTS, writeTestConfig } from '../support/gateway.ts';
import { DB_PASSWORD } from '../support/secrets.ts';
import { tempDir } from '../support/tmp.ts';

const EXTRA = READ_ONLY_AGENTS;

describe('portcullis CLI', () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = tempDir('pcs-cli-');
    config = writeTestConfig(dir, EXTRA);
  });

  it('has --help for every command', async () => {
    for (const args of [[], ['start'], ['config'], ['config', 'check'], ['config', 'schema'], ['token'], ['token', 'issue'], ['token', 'revoke'], ['token', 'list'], ['credential', 'set'], ['credential', 'list'], ['credential', 'delete'], ['policy', 'test'], ['audit', 'verify'], ['sessions'], ['sessions', 'list'], ['sessions', 'show']]) {
      const res = await runCli([...args, '--help']);
      assert.equal(res.code, 0, `${args.join(' ')} --help: ${res.stderr}`);
      assert.match(res.stdout, /^Usage: portcullis/m, args.join(' '));
    }
  });

  it('config check lists every problem and never prints a stack trace', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'listen: { api: nope }\npolicies:\n  - { name: p, subjects: { groups: [a] }, connections: [x], rules: [{ then: maybe }] }\n');
    const res = await runCli(['config', 'check', bad]);
    assert.equal(res.code, 3);
    assert.match(res.stderr, /listen\.api: expected host:port/);
    assert.match(res.stderr, /policies\[0\]\.rules\[0\]\.then: expected allow \| deny \| review \(line 3\)/);
    assert.match(res.stderr, /policies\[0\]\.connections\[0\]: no connection named x/);
    assert.doesNotMatch(res.stderr, /^\s+at /m);
    const good = await runCli(['config', 'check', config]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /ok \(1 connections, 1 policies/);
    const embedded = await runCli(['config', 'check']);
    assert.equal(embedded.code, 0, embedded.stderr);
  });

  it('config schema prints the JSON Schema', async () => {
    const res = await runCli(['config', 'schema']);
    assert.equal(res.code, 0);
    const schema = JSON.parse(res.stdout) as { properties: Record<string, unknown> };
    assert.ok('policies' in schema.properties);
  });

  it('issues a token, lists it and revokes it', async () => {
    const issued = await runCli(['token', 'issue', '--subject', 'ci-agent', '--group', 'agents', '--ttl', '15m', '--json', '--config', config]);
    assert.equal(issued.code, 0, issued.stderr);
    const { token, jti, expires_at } = JSON.parse(issued.stdout) as { token: string; jti: string; expires_at: number };
    assert.equal(token.split('.').length, 3);
    assert.ok(Math.abs(expires_at - (Date.now() / 1000 + 900)) < 60);
    const bare = await runCli(['token', 'issue', '--subject', 'x', '--config', config]);
    assert.match(bare.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const list = await runCli(['token', 'list', '--subject', 'ci-agent', '--config', config]);
    assert.match(list.stdout, new RegExp(`^${jti} {2}ci-agent {2}\\[agents\\] {2}expires`, 'm'));
    assert.ok(!list.stdout.includes(token));
    const revoked = await runCli(['token', 'revoke', jti, '--config', config]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const again = await runCli(['token', 'revoke', 'tok_unknown', '--config', config]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /PCS_API_NOT_FOUND/);
    const badTtl = await runCli(['token', 'issue', '--subject', 'x', '--ttl', 'soon', '--config', config]);
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /--ttl soon: expected a duration/);
  });

  it('credential set reads the secret from stdin and never prints it', async () => {
    const set = await runCli(['credential', 'set', 'app-db', '--config', config], { input: DB_PASSWORD + '\n' });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /stored password for app-db/);
    const list = await runCli(['credential', 'list', '--config', config]);
    assert.match(list.stdout, /^app-db {2}password {2}set by cli:/m);
    const unknown = await runCli(['credential', 'set', 'nope', '--config', config], { input: DB_PASSWORD });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /PCS_CONNECTION_UNKNOWN/);
    const empty = await runCli(['credential', 'set', 'app-db', '--config', config], { input: '' });
    assert.equal(empty.code, 1);
    for (const r of [set, list, unknown, empty]) assert.ok(!(r.stdout + r.stderr).includes(DB_PASSWORD));
  });

  it('policy test prints the decision and the rule that made it', async () => {
    const allow = await runCli(['policy', 'test', '--as', 'ci-agent', '--group', 'agents', '--connection', 'app-db', 'SELECT * FROM orders', '--config', config]);
    assert.equal(allow.code, 0, allow.stderr);
    assert.match(allow.stdout, /^decision: allow$/m);
    assert.match(allow.stdout, /^rule: +agents-read-only rule 0$/m);
    const deny = await runCli(['policy', 'test', '--as', 'ci-agent', '--group', 'agents', '--connection', 'app-db', 'DELETE FROM orders', '--config', config]);
    assert.match(deny.stdout, /^decision: deny$/m);
    assert.match(deny.stdout, /^reason: +agents may only read$/m);
    const nobody = await runCli(['policy', 'test', '--as', 'stranger', '--connection', 'app-db', 'SELECT 1', '--config', config]);
    assert.match(nobody.stdout, /^decision: deny$/m);
    assert.match(nobody.stdout, /^rule: +none \(default deny\)$/m);
  });

  it('policy test explains an SSH line: the path as normalised, the failed check of each rule, the launch found', async () => {
    const ssh = join(dir, 'ssh-rules.yaml');
    writeFileSync(
      ssh,
      `connections:
  - { name: web-1, type: ssh, upstream: { host: web-1, user: deploy } }
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: ["*"]
    rules:
      - { name: read-app, match: { ssh: { program: [cat, git], args_all: ["/app/**"] } }, then: allow }
      - { name: rest, then: deny }
`,
    );
    const weak = join(dir, 'ssh-weak.yaml');
    writeFileSync(
      weak,
      `connections:
  - { name: web-1, type: ssh, upstream: { host: web-1, user: deploy } }
policies:
  - { name: weak, subjects: { groups: [agents] }, connections: ["*"], rules: [{ match: { ssh: { program: [cat], args: ["/app/*"] } }, then: allow }] }
`,
    );
    const checked = await runCli(['config', 'check', weak]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stderr, /warning: policies\[0\]\.rules\[0\]\.match\.ssh\.args: args allows a line when some argument matches/);
    const clean = await runCli(['config', 'check', ssh]);
    assert.equal(clean.stderr, '');
    const escape = await runCli(['policy', 'test', '--as', 'bot', '-g', 'agents', '--connection', 'web-1', 'cat /app/../etc/shadow', '--config', ssh]);
    assert.equal(escape.code, 0, escape.stderr);
    assert.match(escape.stdout, /^decision: deny$/m);
    assert.match(escape.stdout, /^ {4}argument 1 \/app\/\.\.\/etc\/shadow: as a path \/etc\/shadow$/m);
    assert.match(escape.stdout, /^ {2}agents rule 0 \(read-app\) allow: no, args_all: argument 1 of cat, \/app\/\.\.\/etc\/shadow \(as a path: \/etc\/shadow\), matches none$/m);
    const launcher = await runCli(['policy', 'test', '--as', 'bot', '-g', 'agents', '--connection', 'web-1', 'git -c core.pager=sh log /app', '--config', ssh]);
    assert.match(launcher.stdout, /launches: git -c core\.pager/);
    assert.match(launcher.stdout, /read-app\) allow: no, git can run another program \(git -c core\.pager\)/);
    const json = await runCli(['policy', 'test', '--json', '--as', 'bot', '-g', 'agents', '--connection', 'web-1', 'cat /app/x', '--config', ssh]);
    const parsed = JSON.parse(json.stdout) as { decision: { verdict: string }; explanation: string[] };
    assert.equal(parsed.decision.verdict, 'allow');
    assert.ok(parsed.explanation.includes('agents rule 0 (read-app) allow: matches'), parsed.explanation.join('\n'));
  });

  it('audit verify passes on an intact chain and names the first altered record', async () => {
    const ok = await runCli(['audit', 'verify', '--config', config]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^audit chain intact: \d+ records/);
    const db = new SQLite(join(dir, 'portcullis.db'));
    db.prepare("UPDATE audit SET actor = 'mallory' WHERE seq = 2").run();
    db.close();
    const broken = await runCli(['audit', 'verify', '--config', config]);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /^audit chain BROKEN at record 2: /);
  });

  it('sessions list and show print what the recorder stored', async (t) => {
    const store = await openStore('sqlite:' + join(dir, 'portcullis.db'));
    const recorder = Recorder.open({ store, logger: createLogger('silent') });
    const done = recorder.start({ connection: 'app-db', protocol: 'postgres', subject: 'ci-agent', clientAddr: '127.0.0.1:50123' });
    done.event('statement', { text: 'SELECT *\n  FROM orders\n WHERE id = $1', params: ['42'], verdict: 'allow', rule: { policy: 'agents-read-only', index: 0 }, rows: 1, duration_ms: 3 });
    done.event('denied', { text: 'DELETE FROM orders', params: null, verdict: 'deny', rule: 'agents-read-only#1', reason: 'agents may only read', rows: null, sqlstate: '42501' });
    done.end('closed', { bytesIn: 2048, bytesOut: 300 });
    // Still open, as in a running gateway: the CLI reads the store beside the writer.
    const live = recorder.start({ connection: 'app-db', protocol: 'postgres', subject: 'other-agent', clientAddr: null });
    await recorder.flush();
    t.after(async () => {
      await recorder.close();
      await store.close();
    });

    const list = await runCli(['sessions', 'list', '--config', config]);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0] ?? '', /^ID +SUBJECT +CONNECTION +PROTOCOL +CLIENT +STARTED +DURATION +STMTS +IN +OUT +STATUS$/);
    assert.match(lines.find((l) => l.startsWith(live.id)) ?? '', new RegExp(`^${live.id} +other-agent +app-db +postgres +- +\\S+Z +active +0 +0 B +0 B +active$`));
    assert.match(lines.find((l) => l.startsWith(done.id)) ?? '', new RegExp(`^${done.id} +ci-agent +app-db +postgres +127\\.0\\.0\\.1:50123 +\\S+Z +\\d+ms +2 +2\\.0 KiB +300 B +closed$`));
    const active = await runCli(['sessions', 'list', '--active', '--json', '--config', config]);
    assert.deepEqual((JSON.parse(active.stdout) as Array<{ id: string }>).map((s) => s.id), [live.id]);
    const bySubject = await runCli(['sessions', 'list', '--subject', 'nobody', '--config', config]);
    assert.equal(bySubject.stdout, 'no sessions recorded\n');

    const show = await runCli(['sessions', 'show', done.id, '--config', config]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^session +${done.id}$`, 'm'));
    assert.match(show.stdout, /^totals +2 statements, 2\.0 KiB in, 300 B out$/m);
    assert.match(show.stdout, /^ +\+\d+\.\d{3}s {2}statement {2}allow {2}agents-read-only rule 0 {2}rows 1 {2}3ms\n {16}SELECT \*\n {18}FROM orders\n {17}WHERE id = \$1\n {16}params: \["42"\]$/m);
    assert.match(show.stdout, /denied {5}deny {2}agents-read-only#1 {2}sqlstate 42501\n {16}reason: agents may only read\n {16}DELETE FROM orders$/m);
    const json = await runCli(['sessions', 'show', done.id, '--json', '--config', config]);
    const parsed = JSON.parse(json.stdout) as { session: { id: string }; events: Array<{ seq: number }> };
    assert.equal(parsed.session.id, done.id);
    assert.deepEqual(parsed.events.map((e) => e.seq), [1, 2]);
    const missing = await runCli(['sessions', 'show', 's_doesnotexist0000', '--config', config]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /PCS_API_NOT_FOUND: no such resource: session s_doesnotexist0000/);
  });

  it('start serves until SIGTERM, then shuts down gracefully with a final checkpoint', async () => {
    const d = tempDir('pcs-start-');
    const cfg = writeTestConfig(d, EXTRA);
    const child = spawn(process.execPath, [BIN, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${out} ${err}`)), 20000);
      child.stdout.on('data', () => {
        const m = /admin API: +(http:\/\/\S+)/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    assert.match(out, /token issue --subject/);
    assert.equal((await fetch(url + '/healthz')).status, 200);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, err);
    const logLines = err.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
    assert.ok(logLines.some((l) => l.msg === 'stopped'), err);
    const db = new SQLite(join(d, 'portcullis.db'), { readonly: true });
    const last = db.prepare('SELECT seq, type FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; type: string };
    const cp = db.prepare('SELECT max(seq) AS seq FROM audit_checkpoints').get() as { seq: number };
    db.close();
    assert.equal(last.type, 'gateway.stopped');
    assert.equal(Number(cp.seq), Number(last.seq), 'final checkpoint signs the last record');
  });
});
