// The SSH listener: an agent logs in with its identity token as the password (or the answer
// to a keyboard-interactive prompt), or with a public key registered for its subject, and a
// user name that names the connection; its requests
// are dispatched to the handlers (exec.ts, shell.ts, sftp.ts, forward.ts), which decide each
// one and relay it over the gateway's own upstream connection (upstream.ts).
import { EventEmitter } from 'node:events';
import ssh2, { type Connection, type PublicKeyAuthContext, type Session } from 'ssh2';
import type { Identity } from '../../core/identity.ts';
import type { AdapterContext } from '../../pipeline/adapter.ts';
import { bindListener, type Endpoint } from '../../pipeline/listen.ts';
import { SshClientSession, type PtyInfo, type SshConnection } from './client.ts';
import { runExec } from './exec.ts';
import { localForward, RemoteForwards } from './forward.ts';
import { PinnedHostKeys } from './keys.ts';
import { runSftp, sftpAllowed } from './sftp.ts';
import { runShell } from './shell.ts';
import { openUpstream, type UpstreamSecret } from './upstream.ts';

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { Server, utils } = ssh2;

/** What a refusal offers next: a registered key, or the identity token. */
const AUTH_METHODS: ['publickey', 'password', 'keyboard-interactive'] = ['publickey', 'password', 'keyboard-interactive'];

/** An `ssh-rsa` signature is RSA with SHA-1, which OpenSSH itself no longer accepts. */
const isSha1Rsa = (auth: PublicKeyAuthContext): boolean => auth.key.algo === 'ssh-rsa' && auth.hashAlgo === undefined;

/**
 * Why the signature of a public-key login does not hold, or undefined when it does: the key
 * sent is parsed and the signature over the session checked by ssh2.
 */
function signatureRefusal(auth: PublicKeyAuthContext, signature: Buffer, signed: Buffer): string | undefined {
  if (isSha1Rsa(auth)) return 'ssh-rsa (SHA-1) signatures are not accepted; sign with rsa-sha2-256 or rsa-sha2-512';
  const key = utils.parseKey(auth.key.data);
  if (key instanceof Error) return 'the public key sent cannot be parsed';
  if (key.type !== auth.key.algo) return `the key is ${key.type} but the request names ${auth.key.algo}`;
  return key.verify(signed, signature, auth.hashAlgo) === true ? undefined : 'the signature does not verify';
}

export class SshListener {
  readonly #ctx: AdapterContext;
  readonly #server: InstanceType<typeof Server>;
  readonly #pins: PinnedHostKeys;
  readonly #secrets = new Map<string, UpstreamSecret>();
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
    // The recordings end one turn after their connections close (see #accept).
    await new Promise((resolve) => setImmediate(resolve));
  }

  #accept(client: Connection, clientAddr: string): void {
    if (this.#closing) return void client.end();
    this.#clients.add(client);
    // Without it, Nagle holds an SFTP request back behind unacknowledged data: a round trip lost per request.
    (client as Connection & { setNoDelay(noDelay: boolean): void }).setNoDelay(true);
    let login: { identity: Identity; connection: SshConnection } | undefined;
    let session: SshClientSession | undefined;
    client.on('error', (err) => this.#ctx.logger.debug({ err }, 'ssh client error'));
    client.on('close', () => {
      this.#clients.delete(client);
      // ssh2 closes the channels after this event: their handlers record their last events
      // (exec and shell ends, the tail of a terminal recording) first, then the session ends.
      setImmediate(() => {
        session?.recording.end('closed', {});
        session?.close();
      });
    });
    client.on('authentication', (auth) => {
      const connection = this.#connectionFor(auth.username);
      if (connection === undefined) return auth.reject(AUTH_METHODS);
      const ref = { connection: { name: connection.name, type: 'ssh' }, protocol: 'ssh', clientAddr };
      const withToken = (token: string): void => {
        this.#ctx.gate.login(token.trim(), ref).then(
          (identity) => {
            login = { identity, connection };
            auth.accept();
          },
          () => auth.reject(AUTH_METHODS),
        );
      };
      if (auth.method === 'publickey') {
        const { signature, blob } = auth;
        // No signature yet: the client asks whether this key would do before it signs.
        if (signature === undefined || blob === undefined) return isSha1Rsa(auth) || !this.#ctx.gate.acceptsKey(auth.key.data, ref) ? auth.reject(AUTH_METHODS) : auth.accept();
        try {
          login = { identity: this.#ctx.gate.loginWithKey(auth.key.data, ref, () => signatureRefusal(auth, signature, blob)), connection };
        } catch {
          // The gate audited why.
          return auth.reject(AUTH_METHODS);
        }
        return auth.accept();
      }
      if (auth.method === 'password') return withToken(auth.password);
      if (auth.method === 'keyboard-interactive') {
        return auth.prompt([{ prompt: 'Portcullis identity token: ', echo: false }], (answers) => withToken(answers[0] ?? ''));
      }
      auth.reject(AUTH_METHODS);
    });
    client.on('ready', () => {
      if (login === undefined) return void client.end();
      const { identity, connection } = login;
      const recording = this.#ctx.recorder.start({ connection: connection.name, protocol: 'ssh', subject: identity.subject, clientAddr });
      const ref = { connection: { name: connection.name, type: 'ssh' }, protocol: 'ssh', clientAddr, id: recording.id };
      const s = new SshClientSession(this.#ctx, identity, connection, recording, ref, () => openUpstream(connection, this.#secrets.get(connection.name), this.#pins, this.#ctx.logger));
      session = s;
      client.on('session', (acceptSession) => this.#session(acceptSession(), s));
      client.on('tcpip', (accept, reject, info) => localForward(s, accept, reject, info));
      const remote = new RemoteForwards(s, client);
      client.on('request', (accept, reject, name, info) => remote.request(accept, reject, name, info));
    });
  }

  /** `name` or `subject+name`: the part after the last `+` names the connection. */
  #connectionFor(username: string): SshConnection | undefined {
    const name = username.includes('+') ? username.slice(username.lastIndexOf('+') + 1) : username;
    return this.#ctx.config.connections.find((c): c is SshConnection => c.type === 'ssh' && c.name === name);
  }

  #session(session: Session, s: SshClientSession): void {
    let pty: PtyInfo | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term, cols: info.cols, rows: info.rows };
      accept?.();
    });
    session.on('env', (accept) => accept?.());
    // The shell handler follows the terminal size (recorded as resizes).
    const resizes = new EventEmitter<{ resize: [PtyInfo] }>();
    session.on('window-change', (accept, _reject, info) => {
      if (pty !== undefined) pty = { ...pty, cols: info.cols, rows: info.rows };
      accept?.();
      if (pty !== undefined) resizes.emit('resize', pty);
    });
    // Agent and X11 forwarding would hand the upstream host a way back into the agent's machine.
    session.on('auth-agent', (_accept, reject) => {
      s.recording.event('denied', { op: 'agent-forward', verdict: 'deny', reason: 'agent forwarding is not allowed through the gateway' });
      reject?.();
    });
    session.on('x11', (_accept, reject) => {
      s.recording.event('denied', { op: 'x11', verdict: 'deny', reason: 'X11 forwarding is not allowed through the gateway' });
      reject?.();
    });
    // Accept at once, paused: OpenSSH sends data right after the request, and ssh2 drops it otherwise.
    session.on('exec', (accept, _reject, info) => {
      const channel = accept();
      channel.pause();
      void runExec(s, channel, info.command, pty);
    });
    session.on('shell', (accept) => {
      const channel = accept();
      channel.pause();
      void runShell(s, channel, pty, resizes);
    });
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp' || !sftpAllowed(s)) return reject();
      const channel = accept();
      channel.pause();
      runSftp(s, channel);
    });
  }
}
