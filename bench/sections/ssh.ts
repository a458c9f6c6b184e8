// SSH: a large download from a real sshd (the test harness's, test/support/sshd.ts) with the
// OpenSSH client, directly, through socat (a plain TCP relay: one SSH connection end to end),
// and through the Portcullis SSH gateway (it ends the agent's SSH connection and opens its own
// to the host: two encryptions, a policy decision, a recording). Once as `ssh host cat file`
// and once with scp (SFTP). Issue 7 asks for at least 0.6x of direct.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSshd } from '../../test/support/sshd.ts';
import { onCleanup, tempDir, track } from '../lib/cleanup.ts';
import { comparisonTable, interleave, type Measurement, type PathSpec } from '../lib/compare.ts';
import { startGatewayProcess } from '../lib/gateway.ts';
import { cpuSeconds } from '../lib/procfs.ts';
import { ensureCommands, freePort, run, startService, waitForPort } from '../lib/proc.ts';
import type { Section } from '../lib/section.ts';
import { fmt } from '../lib/stats.ts';

/** The same cipher and key exchange on every path (OpenSSH's default kex costs ~120 ms of client CPU). */
const CRYPTO = ['-c', 'aes128-gcm@openssh.com', '-o', 'KexAlgorithms=curve25519-sha256'];
/** socat's transfer buffer: its 8 KiB default costs a system call pair per 8 KiB. */
const SOCAT_BUFFER = 128 * 1024;
const COMMON = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'Compression=no', ...CRYPTO];

export const sshSection: Section = async (opts) => {
  const missing = await ensureCommands({ ssh: 'openssh-client', scp: 'openssh-client', sshd: 'openssh-server', socat: 'socat' }, opts.log);
  if (missing.some((m) => m !== 'socat')) throw new Error(`${missing.join(', ')} needed (apt-get install -y openssh-client openssh-server)`);

  // startSshd puts its keys and files under PORTCULLIS_TEST_TMP: our temp folder, removed at cleanup.
  process.env.PORTCULLIS_TEST_TMP = tempDir('pcs-bench-ssh-');
  const sshd = await startSshd();
  onCleanup(() => sshd.stop());

  const bytes = opts.smoke ? 2_000_000 : 200_000_000;
  const payload = join(sshd.dir, 'payload.bin');
  const fd = openSync(payload, 'w', 0o644);
  for (let left = bytes; left > 0; left -= 1_000_000) writeSync(fd, randomBytes(Math.min(left, 1_000_000)));
  closeSync(fd);

  const socatPort = missing.includes('socat') ? undefined : await freePort();
  const socat = socatPort === undefined ? undefined : startService('socat', ['-b', String(SOCAT_BUFFER), `TCP-LISTEN:${socatPort},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${sshd.port}`]);
  if (socat !== undefined && !(await waitForPort(socatPort as number, 10_000, () => socat.child.exitCode === null))) throw new Error(`socat did not start: ${socat.output()}`);

  const gw = await startGatewayProcess({
    listen: ['ssh'],
    yaml: `connections:
  - { name: bench-box, type: ssh, upstream: { host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, private_key: "\${file:${sshd.clientKeyFile}}", host_key: "${sshd.hostKeyLine}" } }
policies:
  - name: bench-agent
    subjects: { groups: [agents] }
    connections: [bench-box]
    rules:
      - { match: { ssh: { op: [exec], program: [cat] } }, then: allow }
      - { match: { ssh: { op: [sftp] } }, then: allow }
      - { then: deny }
`,
    tokens: { agent: { subject: 'bench-agent', groups: ['agents'] } },
  });
  const gwPort = gw.ports.get('ssh') as number;

  // The token goes to ssh through SSH_ASKPASS, as an agent would pass it.
  const secrets = tempDir('pcs-bench-askpass-');
  const tokenFile = join(secrets, 'token');
  writeFileSync(tokenFile, gw.tokens.agent as string, { mode: 0o600 });
  const askpass = join(secrets, 'askpass.sh');
  writeFileSync(askpass, '#!/bin/sh\ncat "$PCS_TOKEN_FILE"\n');
  chmodSync(askpass, 0o700);

  interface Target {
    readonly port: number;
    readonly user: string;
    readonly auth: readonly string[];
    readonly env: NodeJS.ProcessEnv;
    readonly cpu: () => number | undefined;
  }
  const keyAuth = ['-i', sshd.clientKeyFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes'];
  const targets: Record<string, Target> = {
    direct: { port: sshd.port, user: sshd.user, auth: keyAuth, env: {}, cpu: () => undefined },
    ...(socat !== undefined ? { socat: { port: socatPort as number, user: sshd.user, auth: keyAuth, env: {}, cpu: () => cpuSeconds(socat.pid, 'reaped') } } : {}),
    portcullis: {
      port: gwPort,
      user: 'bench-box',
      auth: ['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive,password', '-o', 'NumberOfPasswordPrompts=1'],
      env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', PCS_TOKEN_FILE: tokenFile },
      cpu: () => cpuSeconds(gw.pid),
    },
  };
  const paths: PathSpec[] = [
    { key: 'direct', label: 'direct (OpenSSH sshd)', role: 'direct' },
    ...(socat !== undefined ? [{ key: 'socat', label: 'socat (TCP relay)', role: 'peer' as const }] : []),
    { key: 'portcullis', label: 'portcullis', role: 'portcullis' },
  ];

  interface Workload {
    readonly name: string;
    readonly unit: string;
    command(t: Target): [string, string[]];
  }
  const mb = bytes / 1e6;
  const workloads: Workload[] = [
    { name: `${fmt(mb)} MB download, ssh cat`, unit: 'MB/s', command: (t) => ['ssh', [...COMMON, ...t.auth, '-p', String(t.port), `${t.user}@127.0.0.1`, `cat ${payload}`]] },
    { name: `${fmt(mb)} MB download, scp (SFTP)`, unit: 'MB/s', command: (t) => ['scp', [...COMMON, ...t.auth, '-q', '-P', String(t.port), `${t.user}@127.0.0.1:${payload}`, '/dev/null']] },
  ];

  // Checks: every byte arrives on every path. A workload that fails through a proxy is left
  // out of the table with a note (the direct path must work).
  const skipped: string[] = [];
  const measured: Workload[] = [];
  for (const w of workloads) {
    let ok = true;
    for (const p of paths) {
      const t = targets[p.key] as Target;
      const [program, args] = w.command(t);
      const got = w === workloads[0] ? await countStdout(program, args, t.env) : await run(program, args, { env: t.env });
      const bytesSeen = 'bytes' in got ? got.bytes : bytes;
      if (got.code === 0 && bytesSeen === bytes) continue;
      const problem = `${w.name} via ${p.label}: exit ${String(got.code)}, ${fmt(bytesSeen)} of ${fmt(bytes)} bytes: ${got.stderr.trim().split('\n').at(-1) ?? ''}`;
      if (p.role === 'direct') throw new Error(`ssh: ${problem}`);
      skipped.push(`skipped: ${problem}`);
      ok = false;
      break;
    }
    if (ok) measured.push(w);
  }
  if (measured.length === 0) throw new Error(`ssh: no workload works on every path: ${skipped.join('; ')}`);

  const devNull = openSync('/dev/null', 'w');
  onCleanup(() => closeSync(devNull));
  const measure = async (w: Workload, p: PathSpec): Promise<Measurement> => {
    const t = targets[p.key] as Target;
    const [program, args] = w.command(t);
    const cpu0 = t.cpu();
    const r = await run(program, args, { env: t.env, stdoutFd: devNull, timeoutMs: 10 * 60_000 });
    if (p.key === 'socat') await sleep(300); // its per-connection child's CPU counts once socat has reaped it
    const cpu1 = t.cpu();
    if (r.code !== 0) throw new Error(`ssh: ${w.name} via ${p.label} exited ${String(r.code)}: ${r.stderr.slice(-500)}`);
    return { throughput: mb / r.seconds, ...(cpu0 !== undefined && cpu1 !== undefined ? { proxyCpuPerOp: (cpu1 - cpu0) * 1e6 } : {}) };
  };
  if (opts.warmup > 0) {
    opts.log('ssh: warm-up, one transfer per workload and path');
    for (const w of measured) for (const p of paths) await measure(w, p);
  }
  opts.log('ssh: transfers');
  const rows = await interleave(opts.rounds, measured, paths, measure, opts.log);
  return {
    name: 'SSH',
    tables: [comparisonTable(`SSH: one ${fmt(mb)} MB file downloaded per run (wall time, connection and login included), median of ${opts.rounds} interleaved round(s)`, rows, ['target (issue 7): at least 0.6x of direct; proxy CPU/op: per transfer', ...skipped])],
    setup: [
      `client: OpenSSH, ${CRYPTO.join(' ')}, compression off, output to /dev/null; direct and socat log in with a key, Portcullis with the token through SSH_ASKPASS`,
      `direct: sshd from test/support/sshd.ts on 127.0.0.1; socat: ${socat !== undefined ? `socat -b ${SOCAT_BUFFER} TCP-LISTEN:<port>,fork TCP:<sshd>, a plain TCP relay (one SSH connection end to end, no decryption)` : 'not installed: no peer row'}`,
      'portcullis: its own process, log level info, recording and audit on (SQLite store); its own SSH connection to the host with the vaulted key, host key pinned; policy: exec of cat and the sftp subsystem allowed, default deny',
      'proxy CPU/op: user + system CPU of socat (its reaped per-connection children) or of the gateway process per transfer, from /proc',
    ],
  };
};

/** Runs a program and counts the bytes of its stdout. */
function countStdout(program: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; bytes: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const untrack = track(child);
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      untrack();
      resolve({ code, bytes, stderr });
    });
  });
}
