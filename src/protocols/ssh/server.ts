// The SSH listener: an agent logs in with its identity token as the password (or the answer
// to a keyboard-interactive prompt) and a user name that names the connection; each exec
// request is decided by policy and, when allowed, run on the upstream host over the
// gateway's own SSH connection (the vaulted key), with stdin, stdout, stderr and the exit
// status relayed. Shells are allowed or denied as a whole; forwarding only where a rule
// allows the destination.
import ssh2, { type Client, type ClientChannel, type Connection, type ServerChannel, type Session } from 'ssh2';
import type { ConnectionConfig } from '../../config/schema.ts';
import type { SshAction } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import type { Identity } from '../../core/identity.ts';
import type { AdapterContext } from '../../pipeline/adapter.ts';
import { bindListener, type Endpoint } from '../../pipeline/listen.ts';
import { afterDecision, approvalFor, ruleLabel, type ReviewRequest } from '../../pipeline/review-flow.ts';
import { sshExecAction } from '../../policy/action-from-text.ts';
import type { SessionRef } from '../../pipeline/gate.ts';
import type { SessionRecording } from '../../recorder/recorder.ts';
import { keyLine, normaliseKeyLine, PinnedHostKeys } from './keys.ts';

export type SshConnection = Extract<ConnectionConfig, { type: 'ssh' }>;

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { Client: SshClient, Server } = ssh2;

/** Exit status of a command that did not run (what a shell answers for "cannot execute"). */
const REFUSED_EXIT = 126;

interface ClientState {
  identity: Identity | undefined;
  connection: SshConnection | undefined;
  recording: SessionRecording | undefined;
  upstream: Promise<Client> | undefined;
  ref: SessionRef | undefined;
}

export class SshListener {
  readonly #ctx: AdapterContext;
  readonly #server: InstanceType<typeof Server>;
  readonly #pins: PinnedHostKeys;
  readonly #secrets = new Map<string, { kind: string; secret: string }>();
  readonly #clients = new Set<Connection>();
  #closing = false;

  constructor(ctx: AdapterContext, hostKey: string) {
    this.#ctx = ctx;
    this.#pins = new PinnedHostKeys(ctx.config.data_dir);
    this.#server = new Server({ hostKeys: [hostKey], ident: 'Portcullis' }, (client, info) => this.#accept(client, `${info.ip}:${info.port}`));
  }

  setSecret(connection: string, kind: string, secret: string): void {
    this.#secrets.set(connection, { kind, secret });
  }

  /** Binds to a `listen.*` address; resolves with the bound one. */
  listen(address: string): Promise<Endpoint> {
    return bindListener(this.#server, address);
  }


  get activeSessions(): number {
    return this.#clients.size;
  }

  async close(deadline: number): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    while (this.#clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const c of this.#clients) c.end();
    await closed;
  }

  #accept(client: Connection, clientAddr: string): void {
    if (this.#closing) return void client.end();
    this.#clients.add(client);
    const state: ClientState = { identity: undefined, connection: undefined, recording: undefined, upstream: undefined, ref: undefined };
    client.on('error', (err) => this.#ctx.logger.debug({ err }, 'ssh client error'));
    client.on('close', () => {
      this.#clients.delete(client);
      state.recording?.end('closed', {});
      void state.upstream?.then((u) => u.end(), () => undefined);
    });
    client.on('authentication', (auth) => {
      const connection = this.#connectionFor(auth.username);
      if (connection === undefined) return auth.reject(['password', 'keyboard-interactive']);
      const login = (token: string): void => {
        const ref = { connection: { name: connection.name, type: 'ssh' }, protocol: 'ssh', clientAddr };
        this.#ctx.gate.login(token.trim(), ref).then(
          (identity) => {
            state.identity = identity;
            state.connection = connection;
            auth.accept();
          },
          () => auth.reject(['password', 'keyboard-interactive']),
        );
      };
      if (auth.method === 'password') return login(auth.password);
      if (auth.method === 'keyboard-interactive') {
        return auth.prompt([{ prompt: 'Portcullis identity token: ', echo: false }], (answers) => login(answers[0] ?? ''));
      }
      auth.reject(['password', 'keyboard-interactive']);
    });
    client.on('ready', () => {
      const identity = state.identity as Identity;
      const connection = state.connection as SshConnection;
      const recording = this.#ctx.recorder.start({ connection: connection.name, protocol: 'ssh', subject: identity.subject, clientAddr });
      state.recording = recording;
      state.ref = { connection: { name: connection.name, type: 'ssh' }, protocol: 'ssh', clientAddr, id: recording.id };
      client.on('session', (acceptSession) => this.#session(acceptSession(), state));
      client.on('tcpip', (_accept, reject, info) => {
        // Local forwarding: decided by destination; refused unless a rule allows it.
        const decision = this.#decide(state, { kind: 'ssh', op: 'forward', forward: { host: info.destIP, port: info.destPort, direction: 'local' } });
        recording.event(decision.verdict === 'allow' ? 'forward' : 'denied', { op: 'forward', host: info.destIP, port: info.destPort, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
        if (decision.verdict !== 'allow') return reject();
        const channel = _accept();
        channel.pause();
        this.#upstream(state).then(
          (up) =>
            up.forwardOut('127.0.0.1', 0, info.destIP, info.destPort, (err, stream) => {
              if (err) return void channel.close();
              channel.pipe(stream).pipe(channel);
              channel.resume();
            }),
          () => channel.close(),
        );
      });
      client.on('request', (accept, reject, name) => {
        // Remote forwarding (-R), and anything else global: not without a rule (none exists for -R yet).
        recording.event('denied', { op: name, verdict: 'deny', reason: 'remote forwarding is not allowed through the gateway' });
        reject?.();
        void accept;
      });
    });
  }

  /** `name` or `subject+name`: the part after the last `+` names the connection. */
  #connectionFor(username: string): SshConnection | undefined {
    const name = username.includes('+') ? username.slice(username.lastIndexOf('+') + 1) : username;
    return this.#ctx.config.connections.find((c): c is SshConnection => c.type === 'ssh' && c.name === name);
  }

  #decide(state: ClientState, action: SshAction): Decision {
    return this.#ctx.gate.decide(state.identity as Identity, state.ref as SessionRef, action);
  }

  #session(session: Session, state: ClientState): void {
    let pty: { term: string; cols: number; rows: number } | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term, cols: info.cols, rows: info.rows };
      accept?.();
    });
    session.on('env', (accept) => accept?.());
    session.on('exec', (accept, _reject, info) => {
      // Accept at once: OpenSSH sends stdin right after the request, and ssh2 drops it otherwise.
      const channel = accept();
      channel.pause();
      void this.#exec(channel, info.command, state, pty);
    });
    session.on('shell', (accept) => {
      const channel = accept();
      channel.pause();
      void this.#shell(channel, state, pty);
    });
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp') return reject();
      const decision = this.#decide(state, { kind: 'ssh', op: 'sftp' });
      state.recording?.event(decision.verdict === 'allow' ? 'sftp' : 'denied', { op: 'sftp', verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
      if (decision.verdict !== 'allow') return reject();
      const channel = accept();
      channel.pause();
      this.#upstream(state).then(
        (up) =>
          up.sftp((err, sftp) => {
            if (err) return void channel.close();
            // The upstream SFTP channel, raw: operations pass as the client sends them.
            const raw = (sftp as unknown as { _channel?: ClientChannel })._channel;
            if (raw === undefined) return void channel.close();
            channel.pipe(raw).pipe(channel);
            channel.resume();
          }),
        () => channel.close(),
      );
    });
  }

  async #exec(channel: ServerChannel, command: string, state: ClientState, pty: { term: string; cols: number; rows: number } | undefined): Promise<void> {
    const started = performance.now();
    // Every simple command of the line, parsed as a shell would: `ls; rm x` is two commands.
    const action: SshAction = sshExecAction(command);
    const decision = this.#decide(state, action);
    const base = { op: 'exec', command, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason };
    let review: string | null = null;
    if (decision.verdict === 'deny') return this.#refuse(channel, `portcullis: denied: ${decision.reason}`, state, base, started);
    if (decision.verdict === 'review') {
      const identity = state.identity as Identity;
      const req: ReviewRequest = { subject: identity.subject, connection: (state.connection as SshConnection).name, action: { kind: 'ssh', text: command, params: null }, decision, session: state.ref?.id ?? null, reason: null };
      const step = await approvalFor(this.#ctx.reviews, req);
      if (step.kind === 'deferred') return this.#refuse(channel, `portcullis: ${step.error.message}`, state, { ...base, review: step.review.id, review_outcome: step.error.code }, started);
      if (step.kind === 'held') {
        channel.stderr.write(`portcullis: ${step.notice}\r\n`);
        const outcome = afterDecision(this.#ctx.reviews, req, await this.#ctx.reviews.wait(step.review.id));
        if ('error' in outcome) return this.#refuse(channel, `portcullis: ${outcome.error.message}`, state, { ...base, review: step.review.id, review_outcome: outcome.error.code }, started);
        review = outcome.run;
      } else review = step.review;
    }
    let up: Client;
    try {
      up = await this.#upstream(state);
    } catch (err) {
      // A failed connection is forgotten: the next request tries again.
      state.upstream = undefined;
      return this.#refuse(channel, `portcullis: ${isGatewayError(err) ? `${err.message} (${err.code})` : 'the upstream host cannot be reached'}`, state, base, started);
    }
    up.exec(command, pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {}, (err, stream) => {
      if (err) return this.#refuse(channel, `portcullis: the upstream refused the command (${err.message})`, state, base, started);
      let bytesIn = 0;
      let bytesOut = 0;
      channel.on('data', (d: Buffer) => (bytesIn += d.length));
      stream.on('data', (d: Buffer) => (bytesOut += d.length));
      stream.stderr.on('data', (d: Buffer) => (bytesOut += d.length));
      channel.pipe(stream);
      stream.pipe(channel, { end: false });
      stream.stderr.pipe(channel.stderr, { end: false });
      let exit: number | null = null;
      let signal: string | null = null;
      stream.on('exit', (code: number | null, sig?: string) => {
        exit = code;
        signal = sig ?? null;
      });
      stream.on('close', () => {
        if (signal !== null) channel.exit(signal, false, '');
        else channel.exit(exit ?? 0);
        channel.end();
        state.recording?.event('exec', { ...base, exit, signal, bytes_in: bytesIn, bytes_out: bytesOut, duration_ms: Math.round(performance.now() - started), ...(review !== null ? { review } : {}) });
      });
      channel.resume();
    });
  }

  async #shell(channel: ServerChannel, state: ClientState, pty: { term: string; cols: number; rows: number } | undefined): Promise<void> {
    const decision = this.#decide(state, { kind: 'ssh', op: 'shell' });
    const base = { op: 'shell', verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason };
    const started = performance.now();
    if (decision.verdict !== 'allow') return this.#refuse(channel, `portcullis: an interactive shell is not allowed here: ${decision.reason}`, state, base, started);
    let up: Client;
    try {
      up = await this.#upstream(state);
    } catch {
      return this.#refuse(channel, 'portcullis: the upstream host cannot be reached', state, base, started);
    }
    up.shell(pty ? { term: pty.term, cols: pty.cols, rows: pty.rows } : false, (err, stream) => {
      if (err) return this.#refuse(channel, 'portcullis: the upstream refused the shell', state, base, started);
      channel.pipe(stream);
      stream.pipe(channel, { end: false });
      stream.stderr.pipe(channel.stderr, { end: false });
      let exit: number | null = null;
      stream.on('exit', (code: number | null) => (exit = code));
      stream.on('close', () => {
        channel.exit(exit ?? 0);
        channel.end();
        state.recording?.event('shell', { ...base, exit, duration_ms: Math.round(performance.now() - started) });
      });
      channel.resume();
    });
  }

  #refuse(channel: ServerChannel, message: string, state: ClientState, data: Record<string, unknown>, started: number): void {
    channel.stderr.write(`${message}\r\n`);
    channel.exit(REFUSED_EXIT);
    channel.end();
    state.recording?.event('denied', { ...data, exit: REFUSED_EXIT, duration_ms: Math.round(performance.now() - started) });
  }

  /** One upstream SSH connection per agent connection, opened on first use. */
  #upstream(state: ClientState): Promise<Client> {
    if (state.upstream !== undefined) return state.upstream;
    const connection = state.connection as SshConnection;
    const u = connection.upstream;
    const vaulted = this.#secrets.get(connection.name);
    const privateKey = vaulted?.kind === 'private_key' ? vaulted.secret : u.private_key;
    const password = vaulted !== undefined && vaulted.kind !== 'private_key' ? vaulted.secret : u.password;
    state.upstream = new Promise<Client>((resolve, reject) => {
      const up = new SshClient();
      let refusedKey: GatewayError | undefined;
      up.once('ready', () => resolve(up));
      up.once('error', (err) => reject(refusedKey ?? new GatewayError('PCS_SSH_UPSTREAM_UNREACHABLE', { connection: connection.name, cause: (err as NodeJS.ErrnoException).code ?? err.message }, { cause: err })));
      up.connect({
        host: u.host,
        port: u.port,
        username: u.user,
        ...(privateKey !== undefined ? { privateKey } : {}),
        ...(password !== undefined ? { password } : {}),
        readyTimeout: 10_000,
        hostVerifier: (key: Buffer) => {
          const line = keyLine(key);
          const expected = u.host_key !== undefined ? normaliseKeyLine(u.host_key) : this.#pins.get(connection.name);
          if (expected === undefined) {
            this.#pins.pin(connection.name, line);
            this.#ctx.logger.info({ connection: connection.name, host_key: line }, 'upstream SSH host key pinned on first use');
            return true;
          }
          if (expected === line) return true;
          refusedKey = new GatewayError('PCS_SSH_HOST_KEY_CHANGED', { connection: connection.name, expected: `${expected.slice(0, 40)}...`, got: `${line.slice(0, 40)}...` });
          this.#ctx.logger.error({ connection: connection.name, expected, got: line }, 'upstream SSH host key mismatch');
          return false;
        },
      });
    });
    return state.upstream;
  }
}
