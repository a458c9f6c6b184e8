// The sshd test harness (test/support/sshd.ts) against the real OpenSSH client tools: a key
// login runs a command, scp and sftp move files in `dir`, the advertised host key is the one
// the server presents, servers run side by side, and stop() frees the port and drops sessions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSshd, type TestSshd } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';

interface Run { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; onStdout?: (s: string) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); opts.onStdout?.(stdout); });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(opts.input ?? '');
  });
}

// Non-interactive, no known_hosts writes, only our key (not an agent's), no banner noise.
function clientOpts(s: TestSshd, key = s.clientKeyFile): string[] {
  return ['-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR'];
}
const ssh = (s: TestSshd, command: string, opts?: Parameters<typeof run>[2]): Promise<Run> =>
  run('ssh', [...clientOpts(s), '-p', String(s.port), `${s.user}@${s.host}`, command], opts);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// A SIGKILLed orphan may linger as a zombie where PID 1 does not reap; that counts as gone.
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

describe('test sshd harness', () => {
  let sshd: TestSshd;
  before(async () => { sshd = await startSshd(); });
  after(() => sshd.stop());

  it('describes itself', () => {
    assert.equal(sshd.host, '127.0.0.1');
    assert.match(sshd.hostKeyLine, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
    assert.match(sshd.clientPrivateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    assert.equal(readFileSync(sshd.clientKeyFile, 'utf8'), sshd.clientPrivateKey);
    assert.equal(sshd.password, undefined);
    assert.match(sshd.log(), /Server listening on 127\.0\.0\.1 port \d+/);
  });

  it('runs a command over ssh with the client key and passes its exit status', async () => {
    const r = await ssh(sshd, 'echo hello; exit 3');
    assert.equal(r.stdout, 'hello\n', r.stderr);
    assert.equal(r.code, 3);
    assert.match(sshd.log(), new RegExp(`Accepted publickey for ${sshd.user} from 127\\.0\\.0\\.1`));
  });

  it('refuses a key that is not authorised', async () => {
    const other = join(tempDir('pcs-sshd-other-'), 'id');
    assert.equal((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])).code, 0);
    const r = await run('ssh', [...clientOpts(sshd, other), '-p', String(sshd.port), `${sshd.user}@127.0.0.1`, 'true']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  // scp defaults to the SFTP protocol since OpenSSH 9.0; -O is the legacy scp/rcp protocol
  // (runs `scp -t`/`-f` on the server), which a gateway sees as a plain exec.
  for (const mode of [[], ['-O']]) {
    it(`copies a file into dir and back with scp ${mode.join(' ') || '(sftp protocol)'}`, async () => {
      const local = tempDir('pcs-scp-');
      const content = `scp round trip ${mode.join('')} ${Date.now()}\n`;
      writeFileSync(join(local, 'up.txt'), content);
      const remote = `${sshd.dir}/scp${mode.join('')}.txt`;
      const scp = (from: string, to: string): Promise<Run> => run('scp', [...mode, ...clientOpts(sshd), '-P', String(sshd.port), from, to]);
      const up = await scp(join(local, 'up.txt'), `${sshd.user}@127.0.0.1:${remote}`);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(readFileSync(remote, 'utf8'), content); // same machine: check the server side directly
      const down = await scp(`${sshd.user}@127.0.0.1:${remote}`, join(local, 'down.txt'));
      assert.equal(down.code, 0, down.stderr);
      assert.equal(readFileSync(join(local, 'down.txt'), 'utf8'), content);
    });
  }

  it('runs an sftp batch (put, ls, rm) in dir', async () => {
    const local = join(tempDir('pcs-sftp-'), 'batch.txt');
    writeFileSync(local, 'sftp batch\n');
    const batch = [`cd ${sshd.dir}`, `put ${local} sftp.txt`, 'ls -l sftp.txt', 'rm sftp.txt', 'ls'].join('\n');
    const r = await run('sftp', [...clientOpts(sshd), '-P', String(sshd.port), '-b', '-', `${sshd.user}@127.0.0.1`], { input: batch });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /-rw\S+\s.*\bsftp\.txt\b/);
    assert.equal(existsSync(join(sshd.dir, 'sftp.txt')), false);
    assert.match(sshd.log(), /Starting session: subsystem 'sftp'/);
  });

  it('advertises the host key the server presents (ssh-keyscan) and it pins', async () => {
    const r = await run('ssh-keyscan', ['-p', String(sshd.port), '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    const keys = r.stdout.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(keys, [`[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}`]);

    const knownHosts = join(tempDir('pcs-known-'), 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n`);
    const pinned = await run('ssh', ['-i', sshd.clientKeyFile, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
      '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
      '-p', String(sshd.port), `${sshd.user}@127.0.0.1`, 'echo pinned']);
    assert.equal(pinned.stdout, 'pinned\n', pinned.stderr);
  });

  it('runs a second server (RSA host key) alongside on another port', async () => {
    const rsa = await startSshd({ hostKeyType: 'rsa' });
    try {
      assert.notEqual(rsa.port, sshd.port);
      assert.match(rsa.hostKeyLine, /^ssh-rsa AAAA/);
      const [a, b] = await Promise.all([ssh(sshd, 'echo a'), ssh(rsa, 'echo b')]);
      assert.equal(a.stdout, 'a\n', a.stderr);
      assert.equal(b.stdout, 'b\n', b.stderr);
      const scan = await run('ssh-keyscan', ['-t', 'rsa', '-p', String(rsa.port), '127.0.0.1']);
      assert.equal(scan.stdout.trim(), `[127.0.0.1]:${rsa.port} ${rsa.hostKeyLine}`);
    } finally {
      await rsa.stop();
    }
  });

  it('stop() frees the port and drops live sessions', async () => {
    const s = await startSshd();
    assert.equal(await canListen(s.port), false);
    // A session with a background job: the job outlives its shell, reparented out of sshd's tree.
    let sleepPid = 0;
    let started!: () => void;
    const isUp = new Promise<void>((resolve) => (started = resolve));
    const session = ssh(s, 'sleep 300 & echo $!; wait', {
      onStdout: (out) => { if (out.includes('\n')) { sleepPid = Number(out.trim()); started(); } },
    });
    await isUp;
    assert.ok(running(sleepPid));

    const t0 = Date.now();
    await s.stop();
    const r = await session;
    assert.ok(Date.now() - t0 < 10_000, 'the client noticed the server going away');
    assert.notEqual(r.code, 0);
    assert.equal(running(sleepPid), false);
    assert.equal(await canListen(s.port), true);
    const refused = await ssh(s, 'true');
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Connection refused/);
    await s.stop(); // idempotent
  });
});
