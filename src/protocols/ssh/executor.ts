// The SSH command executor: a command of an in-process caller (an MCP tool call) runs through
// the exec handler a wire client's `ssh host cmd` runs through (exec.ts: parse, decide, review,
// detector masking, recording), on an in-memory channel that collects stdout and stderr.
import { Duplex, Writable } from 'node:stream';
import { GatewayError } from '../../core/errors.ts';
import type { ExecutorContext } from '../../pipeline/adapter.ts';
import type { CommandExecutor, CommandOptions, CommandRun, CommandSession, Executed, ExecutionScope, Refusal } from '../../pipeline/executor.ts';
import { SshClientSession, type ExecChannel, type SshConnection } from './client.ts';
import { runExec } from './exec.ts';
import type { PinnedHostKeys } from './keys.ts';
import { openUpstream, type UpstreamSecret } from './upstream.ts';

/** Output kept from one stream, up to a limit. */
class Collected {
  readonly #parts: Buffer[] = [];
  #bytes = 0;
  truncated = false;

  constructor(readonly max: number) {}

  add(chunk: Buffer): void {
    const room = this.max - this.#bytes;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.#parts.push(kept);
    this.#bytes += kept.length;
  }

  text(): string {
    return Buffer.concat(this.#parts).toString('utf8');
  }
}

/** The agent's side of one command, in memory: stdin given up front, stdout and stderr collected. */
class MemoryChannel extends Duplex implements ExecChannel {
  readonly stderr: Writable;
  readonly out: Collected;
  readonly err: Collected;
  exitCode: number | null = null;
  exitSignal: string | null = null;
  #stdin: Buffer | undefined;

  constructor(stdin: string | undefined, maxOutput: number) {
    super();
    this.#stdin = stdin === undefined ? undefined : Buffer.from(stdin, 'utf8');
    this.out = new Collected(maxOutput);
    this.err = new Collected(maxOutput);
    const err = this.err;
    this.stderr = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        err.add(chunk);
        callback();
      },
    });
  }

  override _read(): void {
    if (this.#stdin !== undefined && this.#stdin.length > 0) this.push(this.#stdin);
    this.#stdin = undefined;
    this.push(null);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.out.add(chunk);
    callback();
  }

  exit(status: number): void;
  exit(signalName: string, coreDumped?: boolean, msg?: string): void;
  exit(statusOrSignal: number | string): void {
    if (typeof statusOrSignal === 'number') this.exitCode = statusOrSignal;
    else this.exitSignal = statusOrSignal;
  }
}

export class SshCommandExecutor implements CommandExecutor {
  readonly #ctx: ExecutorContext;
  readonly #secrets: ReadonlyMap<string, UpstreamSecret>;
  readonly #pins: PinnedHostKeys;
  readonly #sessions = new Set<SshClientSession>();

  constructor(ctx: ExecutorContext, secrets: ReadonlyMap<string, UpstreamSecret>, pins: PinnedHostKeys) {
    this.#ctx = ctx;
    this.#secrets = secrets;
    this.#pins = pins;
  }

  open(scope: ExecutionScope, name: string): Promise<CommandSession> {
    const connection = this.#ctx.config.connections.find((c): c is SshConnection => c.type === 'ssh' && c.name === name);
    if (connection === undefined) return Promise.reject(new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: name }));
    const ref = { connection: { name, type: 'ssh' }, protocol: scope.protocol, ...(scope.clientAddr !== undefined ? { clientAddr: scope.clientAddr } : {}), id: scope.recording.id };
    const s = new SshClientSession(this.#ctx, scope.identity, connection, scope.recording, ref, () => openUpstream(connection, this.#secrets.get(name), this.#pins, this.#ctx.logger));
    this.#sessions.add(s);
    return Promise.resolve({
      exec: (command, opts) => exec(s, command, opts, scope),
      close: () => {
        this.#sessions.delete(s);
        s.close();
        return Promise.resolve();
      },
    });
  }

  /** Gateway shutdown: the upstream connections go. */
  close(): Promise<void> {
    for (const s of this.#sessions) s.close();
    this.#sessions.clear();
    return Promise.resolve();
  }
}

function exec(s: SshClientSession, command: string, opts: CommandOptions, scope: ExecutionScope): Promise<Executed<CommandRun>> {
  return new Promise((resolve, reject) => {
    const channel = new MemoryChannel(opts.stdin, opts.maxOutput);
    let refusal: Refusal | undefined;
    let failure: { code: string; message: string } | undefined;
    const onAbort = (): void => {
      // The caller went away: a held line stops waiting, a running one loses its channel.
      channel.destroy();
      reject(new GatewayError('PCS_EXECUTOR_CLOSED', { protocol: 'ssh' }));
    };
    if (opts.signal?.aborted === true) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    channel.once('finish', () => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (refusal !== undefined) return resolve({ outcome: 'refused', refusal });
      if (failure !== undefined) return resolve({ outcome: 'failed', error: failure });
      resolve({ outcome: 'done', value: { exitCode: channel.exitSignal === null ? channel.exitCode : null, signal: channel.exitSignal, stdout: channel.out.text(), stderr: channel.err.text(), truncated: channel.out.truncated || channel.err.truncated } });
    });
    runExec(s, channel, command, undefined, {
      refused: (r) => (refusal = r),
      failed: (code, message) => (failure = { code, message }),
      ...(scope.onHeld !== undefined ? { held: scope.onHeld } : {}),
    }).catch((err: unknown) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}
