// A real OpenSSH server for tests: throwaway host and client keys, a minimal sshd_config in a
// temp dir, and `/usr/sbin/sshd -D` as a child process on a free 127.0.0.1 port. Key auth only.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './tmp.ts';
import { freePort } from './ports.ts';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;                 // the local user tests log in as (the current user: root here)
  readonly hostKeyLine: string;          // "ssh-ed25519 AAAA..." of the server's host key (for pinning tests)
  readonly clientKeyFile: string;        // an ed25519 private key file (OpenSSH format, no passphrase) authorised for `user`
  readonly clientPrivateKey: string;     // its content
  readonly password: string | undefined; // undefined: password auth off (root has no known password; keys only)
  readonly dir: string;                  // a temp dir the server's user can write (for sftp/scp tests), 0755
  readonly log: () => string;            // the sshd log so far (sshd -E file)
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

// Servers not yet stopped, killed synchronously if the test process exits without stop().
const live = new Map<ChildProcess, number>();
process.on('exit', () => {
  for (const [child, port] of live) killServer(child, port);
});

/** `port`: listen there (a server replacing another one, e.g. with a new host key); otherwise a free port. */
export async function startSshd(opts: { hostKeyType?: 'ed25519' | 'rsa'; port?: number } = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install openssh-server (.ci/run does)`);
  // Debian's sshd, run as root, refuses to start without its privilege-separation chroot dir
  // (normally created by the systemd unit).
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const conf = tempDir('pcs-sshd-');
  const dir = tempDir('pcs-sshd-files-');
  chmodSync(dir, 0o755); // mkdtemp makes 0700

  const hostKeyFile = join(conf, `ssh_host_${opts.hostKeyType ?? 'ed25519'}_key`);
  const clientKeyFile = join(conf, 'client_ed25519');
  await Promise.all([
    // 2048-bit RSA: generated in a fraction of the time of the 3072-bit default.
    keygen(hostKeyFile, opts.hostKeyType === 'rsa' ? ['-t', 'rsa', '-b', '2048'] : ['-t', 'ed25519']),
    keygen(clientKeyFile, ['-t', 'ed25519']),
  ]);
  const authorizedKeys = join(conf, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${clientKeyFile}.pub`), { mode: 0o600 });
  const hostKeyLine = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const logFile = join(conf, 'sshd.log');
  const configFile = join(conf, 'sshd_config');

  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    await writeConfig(configFile, [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyFile}`,
      `PidFile ${join(conf, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      // StrictModes checks every directory up to / when the key file is outside the user's
      // home, and /tmp is world-writable (sticky), so it would reject our authorized_keys.
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      'AllowTcpForwarding yes',
      'LogLevel VERBOSE',
      'PrintMotd no',
      // Default 10:30:100 randomly drops concurrent unauthenticated connections past 10.
      'MaxStartups 100',
    ]);
    const logFd = openSync(logFile, 'a');
    const logStart = fstatSync(logFd).size; // this attempt's part of the log
    // -E sends the log to the file from before the config is read; stdout/stderr go there
    // too so nothing holds a pipe open. unref(): a test that forgets stop() must not keep its
    // process alive (the 'exit' handler then kills sshd).
    const child = spawn(SSHD, ['-D', '-E', logFile, '-f', configFile], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.unref();
    child.on('error', () => { /* exit status and the log tell */ });
    live.set(child, port);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => live.delete(child));
    // sshd ends log lines with \r\n when logging to stderr/-E; plain \n is easier to match.
    const rawLog = (): string => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } };
    const log = (): string => rawLog().replace(/\r\n/g, '\n');

    const ready = await waitForBanner(port, child);
    if (ready === 'ok') {
      let stopping: Promise<void> | undefined;
      return {
        host: '127.0.0.1',
        port,
        user: userInfo().username,
        hostKeyLine,
        clientKeyFile,
        clientPrivateKey: readFileSync(clientKeyFile, 'utf8'),
        password: undefined,
        dir,
        log,
        stop: () => (stopping ??= stopServer(child, port, exited)),
      };
    }
    const lostPortRace = ready === 'exited' && rawLog().slice(logStart).includes('Address already in use');
    if (lostPortRace && attempt < PORT_ATTEMPTS) continue;
    await stopServer(child, port, exited);
    throw new Error(`sshd did not come up on 127.0.0.1:${port} (${ready}); log ${logFile}:\n${log()}`);
  }
}

function run(cmd: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, output: `${stdout}${stderr}${err !== null && typeof err.code !== 'number' ? err.message : ''}` });
    });
  });
}

async function keygen(file: string, type: readonly string[]): Promise<void> {
  const r = await run('ssh-keygen', ['-q', ...type, '-N', '', '-C', 'portcullis-test', '-f', file]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.output}`);
}

// OpenSSH 9.8+ penalises sources that fail auth or connect without authenticating (our banner
// probes, ssh-keyscan, pinning tests) and then refuses 127.0.0.1 for a while. Older sshd (9.2
// in Debian 12) rejects the option: `sshd -t` tells, and the answer is remembered.
let penaltiesOption: boolean | undefined;

async function writeConfig(file: string, lines: readonly string[]): Promise<void> {
  const write = (withPenalties: boolean): void =>
    writeFileSync(file, [...lines, ...(withPenalties ? ['PerSourcePenalties no'] : [])].join('\n') + '\n', { mode: 0o600 });
  let withPenalties = penaltiesOption ?? true;
  write(withPenalties);
  let check = await run(SSHD, ['-t', '-f', file]);
  if (check.code !== 0 && withPenalties && /PerSourcePenalties/.test(check.output)) {
    withPenalties = false;
    write(false);
    check = await run(SSHD, ['-t', '-f', file]);
  }
  if (check.code !== 0) throw new Error(`sshd -t rejected ${file}:\n${check.output}\n${readFileSync(file, 'utf8')}`);
  penaltiesOption = withPenalties;
}


// Listening is not enough: the banner comes from the forked, re-executed per-connection sshd,
// so seeing it proves the whole accept path works.
async function waitForBanner(port: number, child: ChildProcess): Promise<'ok' | 'exited' | 'timeout'> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return 'exited';
    if (await probeBanner(port, Math.min(2000, deadline - Date.now()))) return 'ok';
    await sleep(50);
  }
  return child.exitCode !== null || child.signalCode !== null ? 'exited' : 'timeout';
}

function probeBanner(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let got = '';
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => { sock.destroy(); resolve(ok); };
    sock.setTimeout(Math.max(timeoutMs, 1), () => done(false));
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\n')) done(got.startsWith('SSH-2.0-'));
    });
  });
}

// Processes to kill besides the listener: its descendants (per-connection sshd and the user's
// shell) and anything left in a session on this server, found by the SSH_CONNECTION that sshd
// puts in the environment ("<client ip> <client port> 127.0.0.1 <port>"); a background job
// whose shell has exited is reparented to init and no longer in the tree.
function sessionProcesses(listener: number, port: number): number[] {
  const parent = new Map<number, number>();
  const pids: number[] = [];
  const suffix = ` 127.0.0.1 ${port}`;
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return []; } // not Linux: listener only
  for (const name of entries) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      // Field 4 of stat, after the parenthesised command name (which may contain spaces).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
      const m = /(?:^|\0)SSH_CONNECTION=([^\0]*)/.exec(env);
      if (m?.[1]?.endsWith(suffix)) pids.push(pid);
    } catch { /* exited meanwhile, or not ours to read */ }
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 1 && hops < 64; p = parent.get(p), hops++) {
      if (p === listener) return true;
    }
    return false;
  };
  for (const pid of parent.keys()) if (isDescendant(pid) && !pids.includes(pid)) pids.push(pid);
  return pids;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

// Synchronous, for the 'exit' handler.
function killServer(child: ChildProcess, port: number): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const sessions = sessionProcesses(child.pid, port);
  child.kill('SIGTERM');
  for (const pid of sessions) signal(pid, 'SIGKILL');
}

// Stops the listener and drops live sessions too (sshd's SIGTERM alone leaves them running),
// so a stopped server is really gone for the client.
async function stopServer(child: ChildProcess, port: number, exited: Promise<void>): Promise<void> {
  child.ref(); // keep the process alive while we wait for the exit
  // Listed first: once the listener is gone its children are reparented out of its tree.
  const sessions = child.pid === undefined ? [] : sessionProcesses(child.pid, port);
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  for (const pid of sessions) signal(pid, 'SIGKILL');
  live.delete(child);
}

/**
 * A `connections:` entry (YAML flow map) for a connection of type ssh to `sshd`, logging in
 * with its authorised key; `extra` is appended inside the upstream map (`host_key: "..."`).
 */
export function sshConnectionYaml(name: string, sshd: TestSshd, opts: { port?: number; extra?: string } = {}): string {
  const extra = opts.extra !== undefined ? `, ${opts.extra}` : '';
  return `{ name: ${name}, type: ssh, upstream: { host: 127.0.0.1, port: ${opts.port ?? sshd.port}, user: ${sshd.user}, private_key: "\${file:${sshd.clientKeyFile}}"${extra} } }`;
}
