// Logins by registered public key with the real OpenSSH client through the gateway to a real
// sshd: a registered key runs commands as its subject (recorded and audited so); unregistered,
// revoked and expired keys are refused (exit 255); a key whose subject lacks the policy's groups
// logs in but is denied by policy; RSA keys sign with SHA-2; a client whose key is refused falls
// back to its token; and the `portcullis ssh-key` add/list/revoke round trip.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../src/audit/record.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { startSshTestGateway, type TestGateway } from '../support/gateway.ts';
import { QUIET_OPTIONS, portOption, startClient, tokenEnv, type ClientRun } from '../support/ssh-client.ts';
import { keygen, type KeyPair } from '../support/ssh-keygen.ts';
import { sshConnectionYaml, startSshd, type TestSshd } from '../support/sshd.ts';
import { storeDb } from '../support/store-db.ts';

/** `env` (the process's by default) without the developer's agent or gateway settings. */
function cleanEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean = { ...env };
  for (const name of ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'PORTCULLIS_TOKEN', 'PORTCULLIS_API']) delete clean[name];
  return clean;
}

describe('SSH gateway: logins by registered public key', () => {
  let sshd: TestSshd;
  let t: TestGateway;
  let port: number;
  let admin: string;

  /** The real ssh client with one key and public-key authentication only (or `methods`); `env` is cleaned of agent settings. */
  const ssh = (key: KeyPair, user: string, command: string, opts: { methods?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ClientRun> => {
    const args = [...portOption('ssh', port), '-i', key.file, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', `PreferredAuthentications=${opts.methods ?? 'publickey'}`, ...QUIET_OPTIONS, ...(opts.methods === undefined ? ['-o', 'BatchMode=yes'] : ['-o', 'NumberOfPasswordPrompts=1']), `${user}@127.0.0.1`, command];
    return startClient('ssh', args, { env: cleanEnv(opts.env) }).done;
  };

  const cli = (args: string[], input = ''): Promise<CliResult> => runCli(args, { input, env: { ...cleanEnv(), PORTCULLIS_TOKEN: admin, PORTCULLIS_API: t.url } });

  /** The first audit record of `type` that `pred` accepts, waited for (the gate appends in the background). */
  const audited = async (type: string, pred: (r: AuditRecord) => boolean): Promise<AuditRecord | undefined> => {
    for (let i = 0; ; i++) {
      const found = (await t.gw.services.audit.list({ limit: 10_000 })).find((r) => r.type === type && pred(r));
      if (found !== undefined || i >= 100) return found;
      await sleep(20);
    }
  };

  const register = (key: KeyPair, subject: string, groups: string[], expiresInSeconds?: number) =>
    t.gw.services.sshKeys.add({ subject, groups, publicKey: key.pub, createdBy: 'test', ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}) });

  before(async () => {
    sshd = await startSshd();
    ({ t, port } = await startSshTestGateway(
      `
connections:
  - ${sshConnectionYaml('build-box', sshd)}
policies:
  - name: agents
    subjects: { groups: [agents] }
    connections: [build-box]
    rules:
      - { name: tools, match: { ssh: { op: [exec], program: [echo, cat, uname] } }, then: allow }
      - { then: deny, reason: not on this host }
`,
    ));
    admin = await t.token('alice', ['admins']);
  });

  after(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('runs a command for a registered key as its subject, recorded and audited so', async () => {
    const key = await keygen('ed25519');
    const reg = await register(key, 'ci-agent', ['agents']);
    const r = await ssh(key, 'build-box', 'echo via key');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'via key\n');

    const login = await audited('auth.login', (l) => l.data.key_id === reg.id);
    assert.ok(login, 'auth.login of the key');
    assert.equal(login.actor, 'ci-agent');
    assert.equal(login.data.method, 'ssh-key');
    assert.equal(login.data.fingerprint, key.fingerprint);
    assert.equal(login.data.token_id, null);

    await t.gw.recorder.flush();
    const sessions = await storeDb(t.gw.services.store).selectFrom('sessions').select(['id', 'subject', 'protocol']).where('subject', '=', 'ci-agent').execute();
    assert.equal(sessions.length, 1);
    const events = await storeDb(t.gw.services.store).selectFrom('session_events').select(['kind', 'data']).where('session_id', '=', sessions[0]?.id ?? '').execute();
    assert.ok(events.some((e) => e.kind === 'exec' && (JSON.parse(e.data) as { command: string }).command === 'echo via key'));
  });

  it('signs with SHA-2 for an RSA key', async () => {
    const key = await keygen('rsa', { extra: ['-b', '2048'] });
    await register(key, 'rsa-agent', ['agents']);
    const r = await ssh(key, 'rsa-agent+build-box', 'uname -s');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Linux\n');
  });

  it('refuses a key nobody registered (offered keys are not audited one by one)', async () => {
    const key = await keygen('ed25519');
    const r = await ssh(key, 'build-box', 'echo no');
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey,password,keyboard-interactive\)/);
    assert.equal(await audited('auth.failed', (f) => f.data.fingerprint === key.fingerprint), undefined);
  });

  it('refuses a revoked key at the next login', async () => {
    const key = await keygen('ed25519');
    const reg = await register(key, 'soon-revoked', ['agents']);
    assert.equal((await ssh(key, 'build-box', 'echo before')).code, 0);
    await t.gw.services.sshKeys.revoke(reg.id, 'alice');
    const r = await ssh(key, 'build-box', 'echo after');
    assert.equal(r.code, 255);
    assert.equal(r.stdout, '');
    assert.ok(await audited('auth.failed', (f) => f.data.key_id === reg.id && f.data.code === 'PCS_AUTH_KEY_REVOKED'));
  });

  it('refuses a key whose registration expired', async () => {
    const key = await keygen('ed25519');
    const reg = await register(key, 'short-lived', ['agents'], 1);
    await sleep(Math.max(0, (reg.expiresAt ?? 0) - Date.now()) + 50);
    const r = await ssh(key, 'build-box', 'echo late');
    assert.equal(r.code, 255);
    assert.ok(await audited('auth.failed', (f) => f.data.key_id === reg.id && f.data.code === 'PCS_AUTH_KEY_EXPIRED'));
  });

  it("denies by policy what the key's subject is not allowed (groups from the registration)", async () => {
    const key = await keygen('ed25519');
    await register(key, 'outsider', ['contractors']);
    const r = await ssh(key, 'build-box', 'echo hi');
    assert.equal(r.code, 126);
    assert.match(r.stderr, /portcullis: denied/);
  });

  it('falls back to the identity token when the key is refused', async () => {
    const key = await keygen('ed25519');
    const token = await t.token('token-agent', ['agents']);
    const r = await ssh(key, 'build-box', 'echo via token', { methods: 'publickey,keyboard-interactive', env: tokenEnv(token) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'via token\n');
  });

  it('portcullis ssh-key add, list and revoke: the round trip through the API', async () => {
    const key = await keygen('ed25519', { comment: 'cli-test' });
    const add = await cli(['ssh-key', 'add', '--subject', 'cli-agent', '--group', 'agents', '--expires', '30d'], key.pub);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`^added key_[0-9a-f]{12} ${key.fingerprint.replace(/[+/]/g, '\\$&')} \\(ssh-ed25519\\) for cli-agent \\[agents\\], expires 20`));
    // A private key sent by mistake (here from --key-file) is refused.
    const [list, priv] = await Promise.all([cli(['ssh-key', 'list', '--subject', 'cli-agent']), cli(['ssh-key', 'add', '--subject', 'cli-agent', '--key-file', key.file])]);
    assert.equal(priv.code, 1);
    assert.match(priv.stderr, /^portcullis: PCS_SSH_KEY_PRIVATE: /);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+FINGERPRINT\s+TYPE\s+SUBJECT\s+GROUPS\s+STATUS\s+EXPIRES\s+COMMENT\n/);
    assert.ok(list.stdout.includes(key.fingerprint));
    assert.match(list.stdout, /cli-agent\s+agents\s+active\s+in 29d\s+cli-test/);

    assert.equal((await ssh(key, 'build-box', 'echo cli')).stdout, 'cli\n');

    const revoke = await cli(['ssh-key', 'revoke', key.fingerprint]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /^revoked key_[0-9a-f]{12} SHA256:\S+ of cli-agent\n$/);
    assert.equal((await ssh(key, 'build-box', 'echo cli')).code, 255);

    const [live, all] = await Promise.all([cli(['ssh-key', 'list', '--subject', 'cli-agent']), cli(['ssh-key', 'list', '--subject', 'cli-agent', '--all', '--json'])]);
    assert.equal(live.stdout, 'no ssh keys\n');
    const json = JSON.parse(all.stdout) as { fingerprint: string; status: string; revoked_by: string }[];
    assert.deepEqual(json.map((k) => [k.fingerprint, k.status, k.revoked_by]), [[key.fingerprint, 'revoked', 'alice']]);
  });
});
