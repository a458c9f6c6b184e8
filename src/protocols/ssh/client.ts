// One agent's SSH connection to the gateway, as the request handlers see it: who it is, which
// connection it named, its recording, the decision point, and the upstream SSH connection
// (opened on first use, shared by every channel of the agent connection).
import type { Duplex, Writable } from 'node:stream';
import type { Client } from 'ssh2';
import type { ConnectionConfig } from '../../config/schema.ts';
import type { SshAction } from '../../core/action.ts';
import type { GateDecision } from '../../pipeline/permit.ts';
import type { Identity } from '../../core/identity.ts';
import type { ExecutorContext } from '../../pipeline/adapter.ts';
import type { SessionRef } from '../../pipeline/gate.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';

export type SshConnection = Extract<ConnectionConfig, { type: 'ssh' }>;

/** Exit status of a command that did not run (what a shell answers for "cannot execute"). */
export const REFUSED_EXIT = 126;

/**
 * The agent's side of a command: an ssh2 ServerChannel, or an executor's in-memory one. Data
 * read is the command's stdin, data written its stdout.
 */
export interface ExecChannel extends Duplex {
  readonly stderr: Writable;
  exit(status: number): void;
  exit(signalName: string, coreDumped?: boolean, msg?: string): void;
}

/** The PTY a session asked for, passed on to the upstream. */
export interface PtyInfo {
  term: string;
  cols: number;
  rows: number;
}

export class SshClientSession {
  readonly ctx: ExecutorContext;
  readonly identity: Identity;
  readonly connection: SshConnection;
  readonly recording: SessionRecording;
  readonly ref: SessionRef;
  readonly #open: () => Promise<Client>;
  #upstream: Promise<Client> | undefined;

  constructor(ctx: ExecutorContext, identity: Identity, connection: SshConnection, recording: SessionRecording, ref: SessionRef, open: () => Promise<Client>) {
    this.ctx = ctx;
    this.identity = identity;
    this.connection = connection;
    this.recording = recording;
    this.ref = ref;
    this.#open = open;
  }

  decide(action: SshAction): GateDecision {
    return this.ctx.gate.decide(this.identity, this.ref, action);
  }

  /** The upstream connection; a failed attempt is forgotten so the next request tries again. */
  upstream(): Promise<Client> {
    if (this.#upstream !== undefined) return this.#upstream;
    const opening = this.#open();
    this.#upstream = opening;
    const forget = (): void => {
      if (this.#upstream === opening) this.#upstream = undefined;
    };
    // A connection that failed, or that the host closed later (sshd restarted), is not reused.
    opening.then((up) => up.once('close', forget), forget);
    return opening;
  }

  /** Ends the upstream connection if one was opened. */
  close(): void {
    void this.#upstream?.then((u) => u.end(), () => undefined);
  }

  /** Refuses a channel request that was already accepted: a line on stderr, exit 126, recorded. */
  refuse(channel: ExecChannel, message: string, data: Record<string, unknown>, started: number): void {
    channel.stderr.write(`${message}\r\n`);
    channel.exit(REFUSED_EXIT);
    channel.end();
    this.recording.event('denied', { ...data, exit: REFUSED_EXIT, duration_ms: Math.round(performance.now() - started) });
  }
}
