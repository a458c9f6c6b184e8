// The real OpenSSH clients (ssh, scp, sftp) driven against the SSH gateway in tests: the
// identity token answered through SSH_ASKPASS (never on the command line), host keys not
// checked, and the process's output collected. One place for what every SSH test needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.ts';

export interface ClientRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The same output as bytes (binary output, or text compared byte for byte). */
  readonly stdoutBytes: Buffer;
  readonly stderrBytes: Buffer;
}

export interface ClientProcess {
  readonly child: ChildProcess;
  /** Settles when the client exits (killed after `timeoutMs`). */
  readonly done: Promise<ClientRun>;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  stdoutBytes(): Buffer;
}

export type Tool = 'ssh' | 'scp' | 'sftp';

/** Options every test client uses: no known-hosts bookkeeping, errors only. */
export const QUIET_OPTIONS: readonly string[] = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];

/** Log in with the token (keyboard-interactive or password), never with a key; one attempt. */
export const TOKEN_OPTIONS: readonly string[] = ['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive,password', '-o', 'NumberOfPasswordPrompts=1'];

/** `-p` for ssh, `-P` for scp and sftp. */
export function portOption(tool: Tool, port: number): string[] {
  return [tool === 'ssh' ? '-p' : '-P', String(port)];
}

let askpass: string | undefined;

/** The environment that makes the client read `token` from SSH_ASKPASS (a file per call, 0600). */
export function tokenEnv(token: string): NodeJS.ProcessEnv {
  if (askpass === undefined) {
    askpass = join(tempDir('pcs-askpass-'), 'askpass.sh');
    writeFileSync(askpass, '#!/bin/sh\ncat "$PCS_TOKEN_FILE"\n');
    chmodSync(askpass, 0o700);
  }
  const file = join(tempDir('pcs-askpass-'), 'token');
  writeFileSync(file, token, { mode: 0o600 });
  return { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', PCS_TOKEN_FILE: file };
}

/**
 * Starts `tool` with `args`. `input`: written to stdin, which is then closed unless
 * `keepStdin` (the caller writes and ends it).
 */
export function startClient(tool: Tool, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string; keepStdin?: boolean; timeoutMs?: number } = {}): ClientProcess {
  const child = spawn(tool, [...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const stdoutBytes = (): Buffer => Buffer.concat(out);
  const stderrBytes = (): Buffer => Buffer.concat(err);
  if (opts.input !== undefined) child.stdin.write(opts.input);
  if (opts.keepStdin !== true) child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const done = new Promise<ClientRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const [outBytes, errBytes] = [stdoutBytes(), stderrBytes()];
      resolve({ code, stdout: outBytes.toString(), stderr: errBytes.toString(), stdoutBytes: outBytes, stderrBytes: errBytes });
    });
  });
  return { child, done, stdout: () => stdoutBytes().toString(), stderr: () => stderrBytes().toString(), stdoutBytes };
}

/** `tool` against the gateway on `port`, logged in with `token`; the destination is in `args`. */
export function withToken(tool: Tool, port: number, token: string, args: readonly string[], opts: { input?: string; keepStdin?: boolean; timeoutMs?: number } = {}): ClientProcess {
  return startClient(tool, [...portOption(tool, port), ...QUIET_OPTIONS, ...TOKEN_OPTIONS, ...args], { ...opts, env: tokenEnv(token) });
}
