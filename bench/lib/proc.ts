// Processes for the benchmarks: run a program to completion, start a long-lived one that is
// stopped whatever happens (see cleanup.ts), free ports, waiting for a port, and installing
// a missing tool from Debian.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup, track } from './cleanup.ts';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit, in seconds. */
  readonly seconds: number;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Killed (SIGKILL) after this long; the result then has code null. */
  readonly timeoutMs?: number;
  /** Where stdout goes: captured (default), or an open file descriptor (e.g. of /dev/null). */
  readonly stdoutFd?: number;
  readonly input?: string;
}

/** Runs a program to completion; never throws on a non-zero exit (127 when it is missing). */
export function run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const stdio: StdioOptions = [opts.input === undefined ? 'ignore' : 'pipe', opts.stdoutFd ?? 'pipe', 'pipe'];
    const child = spawn(program, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio });
    const untrack = track(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-64 * 1024)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10 * 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      untrack();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') resolve({ code: 127, stdout, stderr: String(err), seconds: 0 });
      else reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      untrack();
      resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a program and throws with its output when it fails. */
export async function runOk(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(program, args, opts);
  if (r.code !== 0) throw new Error(`${program} ${args.join(' ')} exited ${String(r.code)}:\n${(r.stderr + r.stdout).slice(-4000)}`);
  return r;
}

export interface Service {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The last 8 KiB of stderr (and stdout when piped). */
  output(): string;
  /** Sends `signal` (SIGTERM by default), waits up to `graceMs`, then SIGKILL. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Starts a long-lived process that the cleanup stops even on Ctrl-C or a failure. */
export function startService(program: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; stopSignal?: NodeJS.Signals } = {}): Service {
  const child = spawn(program, args, { env: { ...process.env, ...opts.env }, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] });
  const untrack = track(child);
  let output = '';
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-8192));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => void (output += `\n${String(err)}`));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals = opts.stopSignal ?? 'SIGTERM', graceMs = 10_000): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      untrack();
    })());
  const unregister = onCleanup(() => stop());
  void exited.then(unregister);
  return { child, pid: child.pid ?? -1, output: () => output, stop };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True once something accepts connections on 127.0.0.1:port; false after `timeoutMs` or when `alive()` turns false. */
export async function waitForPort(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && alive()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

export async function commandExists(command: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${command}`])).code === 0;
}

let aptUpdated = false;

/**
 * Makes sure each command exists, installing its Debian package when it is missing (root
 * only; `apt-get update` once if the first install fails). Returns the commands still missing.
 */
export async function ensureCommands(needs: Readonly<Record<string, string>>, log: (line: string) => void): Promise<string[]> {
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(needs)) {
    if (await commandExists(command)) continue;
    if (process.getuid?.() !== 0) {
      log(`${command} is missing (apt-get install -y ${pkg}); not root, so not installing it`);
      missing.push(command);
      continue;
    }
    log(`${command} is missing: apt-get install -y ${pkg}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    let r = await run('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env });
    if (r.code !== 0 && !aptUpdated) {
      aptUpdated = true;
      await run('apt-get', ['update'], { env });
      r = await run('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env });
    }
    if (r.code !== 0 || !(await commandExists(command))) {
      log(`could not install ${pkg}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
      missing.push(command);
    }
  }
  return missing;
}
