// The SFTP subsystem (also what `scp` uses by default). The subsystem opens when the agent's
// policy could allow some file operation; then every request that names a path is decided by
// operation (read, write, remove, rename, mkdir, list, stat) and normalised path before it
// reaches the upstream's SFTP server. Allowed requests pass as the same bytes; a refused one
// never leaves the gateway, which answers it with STATUS PERMISSION_DENIED. Requests on
// handles (READ, WRITE, CLOSE...) pass through: their handle came from a decided OPEN or
// OPENDIR. Reads and writes are only counted, per handle, for a summary when it closes.
//
//   agent ──frames──▶ decide per path ──same bytes──▶ upstream sftp-server
//         ◀──────────── replies (+ the gateway's own STATUS for refusals) ◀──
import type { ClientChannel, ServerChannel } from 'ssh2';
import type { SftpOp, SshAction } from '../../core/action.ts';
import type { GateDecision, Permit } from '../../pipeline/permit.ts';
import { isGatewayError } from '../../core/errors.ts';
import { ruleLabel, runReview, type ReviewRequest } from '../../pipeline/review-runner.ts';
import { normaliseFilePath } from '../../policy/action-from-text.ts';
import type { SshClientSession } from './client.ts';
import {
  dataLength,
  decodePathRequest,
  encodeRealpath,
  encodeStatus,
  EXTENSION_PATHS,
  firstName,
  FX,
  FXP,
  HEADER_LENGTH,
  ID_END,
  isPathRequest,
  PFLAG,
  requestId,
  SftpFramer,
  SftpProtocolError,
  statusCode,
  WRITE_HEAD_MAX,
  writeDataLength,
  type FrameSink,
  type SftpPathRequest,
} from './sftp-packets.ts';

/**
 * Decides the subsystem request; false: refused (the caller rejects the request). The
 * subsystem action carries no `sftp` field: rules that name file operations match it unless
 * they deny, so it opens when some operation could be allowed (docs/ssh.md).
 */
export function sftpAllowed(s: SshClientSession): boolean {
  const decision = s.decide({ kind: 'ssh', op: 'sftp' });
  const open = decision.verdict !== 'deny';
  s.recording.event(open ? 'sftp' : 'denied', { op: 'sftp', verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
  return open;
}

export function runSftp(s: SshClientSession, channel: ServerChannel): void {
  const fail = (message: string): void => {
    s.recording.event('denied', { op: 'sftp', reason: message });
    channel.stderr.write(`portcullis: ${message}\r\n`);
    channel.close();
  };
  s.upstream().then(
    (up) => {
      try {
        // A raw session channel running the upstream's sftp subsystem (not ssh2's SFTP client,
        // which would speak the protocol itself).
        up.subsys('sftp', (err, stream) => {
          if (err) return fail(`the upstream refused the sftp subsystem (${err.message})`);
          new SftpRelay(s, channel, stream).start();
        });
      } catch (err) {
        fail(`the upstream connection failed (${err instanceof Error ? err.message : String(err)})`);
      }
    },
    (err: unknown) => fail(isGatewayError(err) ? `${err.message} (${err.code})` : 'the upstream host cannot be reached'),
  );
}

/** What one request does, as policy judges it. */
interface Check {
  readonly op: SftpOp;
  readonly path: string;
}

/** An open handle: what it was opened as, and the bytes moved through it. */
interface HandleInfo {
  readonly kind: 'handle';
  readonly path: string;
  readonly op: 'read' | 'write' | 'list';
  bytesRead: number;
  bytesWritten: number;
}

/** Requests whose reply the relay reads, by request id. A READ maps to its handle's info. */
type Pending = HandleInfo | { readonly kind: 'open'; readonly path: string; readonly op: HandleInfo['op'] } | { readonly kind: 'close'; readonly key: string };

/** Why a source channel is paused (bits): its destination is full, or a decision waits. */
const HOLD_UPSTREAM_FULL = 1;
const HOLD_AGENT_FULL = 2;
const HOLD_DECIDING = 4;

const WRITE_FLAGS = PFLAG.WRITE | PFLAG.APPEND | PFLAG.CREAT | PFLAG.TRUNC;
const SEVERITY = { allow: 0, review: 1, deny: 2 } as const;

/**
 * The gateway's own REALPATH "." (to learn the home directory that relative paths resolve
 * against) is sent after the upstream's VERSION and before that VERSION is passed on to the
 * agent. Until then the agent cannot have a request at the upstream: its INIT is the only
 * packet forwarded, and anything it sends early is held back. So no id can collide with this
 * one, and no id needs rewriting.
 */
const HOME_ID = 0;

/** What Out writes to: a channel. */
interface Dest {
  write(b: Buffer): boolean;
  readonly writableEnded: boolean;
}

/**
 * Buffers to write to one channel. Adjacent views of one chunk (the packets of a burst of
 * requests) are joined into one write, so they travel in one SSH packet as they arrived.
 */
class Out {
  readonly #dest: Dest;
  readonly #full: () => void;
  readonly #parts: Buffer[] = [];
  /** The run being extended: its first view and where it ends in that view's memory. */
  #run: Buffer | undefined;
  #runEnd = 0;

  constructor(dest: Dest, full: () => void) {
    this.#dest = dest;
    this.#full = full;
  }

  add(b: Buffer): void {
    const run = this.#run;
    if (run !== undefined && run.buffer === b.buffer && this.#runEnd === b.byteOffset) {
      this.#runEnd += b.length;
      return;
    }
    this.#seal();
    this.#run = b;
    this.#runEnd = b.byteOffset + b.length;
  }

  #seal(): void {
    const run = this.#run;
    if (run === undefined) return;
    const length = this.#runEnd - run.byteOffset;
    this.#parts.push(length === run.length ? run : Buffer.from(run.buffer, run.byteOffset, length));
    this.#run = undefined;
  }

  flush(): void {
    this.#seal();
    if (this.#parts.length === 0) return;
    if (this.#dest.writableEnded) {
      this.#parts.length = 0;
      return;
    }
    let ok = true;
    for (const part of this.#parts) ok = this.#dest.write(part) && ok;
    this.#parts.length = 0;
    if (!ok) this.#full();
  }
}

class SftpRelay {
  readonly #s: SshClientSession;
  readonly #agent: ServerChannel;
  readonly #upstream: ClientChannel;
  readonly #fromAgent = new SftpFramer();
  readonly #fromUpstream = new SftpFramer();
  readonly #toUpstream: Out;
  readonly #toAgent: Out;
  readonly #agentSink: FrameSink;
  readonly #upstreamSink: FrameSink;
  /** init: before the agent's INIT; version: waiting for the upstream's; home: learning the home directory. */
  #state: 'init' | 'version' | 'home' | 'open' = 'init';
  #home: string | undefined;
  #version: Buffer | undefined;
  /** A request the agent sent before the version exchange ended, handled after it. */
  #parked: Buffer | undefined;
  /** Gateway replies waiting for the upstream's current reply to pass in full. */
  readonly #deferred: Buffer[] = [];
  readonly #pending = new Map<number, Pending>();
  /** Open handles by their bytes (latin1). */
  readonly #handles = new Map<string, HandleInfo>();
  #agentHolds = 0;
  #upstreamHolds = 0;
  #agentEnded = false;
  #closed = false;
  /** Aborted at close: a review this subsystem waits on stops waiting. */
  readonly #gone = new AbortController();

  constructor(s: SshClientSession, agent: ServerChannel, upstream: ClientChannel) {
    this.#s = s;
    this.#agent = agent;
    this.#upstream = upstream;
    this.#toUpstream = new Out(upstream, () => this.#full(HOLD_UPSTREAM_FULL));
    this.#toAgent = new Out(agent, () => this.#full(HOLD_AGENT_FULL));
    this.#agentSink = {
      headSize: (type, size) => (type === FXP.WRITE ? WRITE_HEAD_MAX : size),
      head: (bytes) => this.#agentPacket(bytes),
      tail: (bytes) => this.#toUpstream.add(bytes),
    };
    this.#upstreamSink = {
      // Replies are read only as far as needed (id, status code, data length); a HANDLE is
      // kept, VERSION and the home directory's NAME are the gateway's to read.
      headSize: (type, size) => (type === FXP.HANDLE || type === FXP.VERSION || this.#state === 'home' ? size : ID_END + 4),
      head: (bytes) => this.#upstreamPacket(bytes),
      tail: (bytes, done) => {
        this.#toAgent.add(bytes);
        if (done) this.#releaseDeferred();
      },
    };
  }

  start(): void {
    const agent = this.#agent;
    const upstream = this.#upstream;
    agent.on('data', (chunk: Buffer) => this.#guard(() => this.#fromAgent.push(chunk, this.#agentSink)));
    agent.on('end', () => {
      this.#agentEnded = true;
      this.#endUpstreamWhenDone();
    });
    agent.on('close', () => this.#close());
    upstream.on('data', (chunk: Buffer) => this.#guard(() => this.#fromUpstream.push(chunk, this.#upstreamSink)));
    upstream.stderr.pipe(agent.stderr, { end: false });
    upstream.on('exit', (code: number | null) => {
      if (typeof code === 'number' && !this.#closed) agent.exit(code);
    });
    upstream.on('close', () => {
      if (!this.#closed) agent.end();
      this.#close();
    });
    agent.resume();
  }

  // -------------------------------------------------------------------------------------------
  // Flow control

  /** Runs one step of the relay, then writes what it queued; a broken stream ends the session. */
  #guard(step: () => void): void {
    if (this.#closed) return;
    try {
      step();
    } catch (err) {
      // The stream cannot be followed any further: the session ends (fail closed).
      const reason = err instanceof SftpProtocolError ? `protocol error: ${err.message}` : 'internal error';
      if (!(err instanceof SftpProtocolError)) this.#s.ctx.logger.error({ err }, 'sftp relay failed');
      this.#s.recording.event('denied', { op: 'sftp', verdict: 'deny', reason });
      this.#agent.stderr.write(`portcullis: sftp ${reason}\r\n`);
      this.#agent.close();
      this.#close();
      return;
    }
    this.#toUpstream.flush();
    this.#toAgent.flush();
  }

  #hold(side: 'agent' | 'upstream', bit: number): void {
    if (side === 'agent') {
      if (this.#agentHolds === 0) this.#agent.pause();
      this.#agentHolds |= bit;
    } else {
      if (this.#upstreamHolds === 0) this.#upstream.pause();
      this.#upstreamHolds |= bit;
    }
  }

  #release(side: 'agent' | 'upstream', bit: number): void {
    if (side === 'agent') {
      this.#agentHolds &= ~bit;
      if (this.#agentHolds === 0 && !this.#closed) this.#agent.resume();
    } else {
      this.#upstreamHolds &= ~bit;
      if (this.#upstreamHolds === 0 && !this.#closed) this.#upstream.resume();
    }
  }

  /** A destination said "full": stop reading what feeds it until it drains. */
  #full(bit: number): void {
    if (bit === HOLD_UPSTREAM_FULL) {
      if ((this.#agentHolds & bit) !== 0) return;
      this.#hold('agent', bit);
      this.#upstream.once('drain', () => this.#release('agent', bit));
      return;
    }
    // The agent is not reading its replies: neither the upstream's nor the gateway's (which
    // its own requests cause) are read any further, as the SFTP server itself would do.
    if ((this.#upstreamHolds & bit) !== 0) return;
    this.#hold('upstream', bit);
    this.#hold('agent', bit);
    this.#agent.once('drain', () => {
      this.#release('upstream', bit);
      this.#release('agent', bit);
    });
  }

  /** The agent sent EOF: so does the upstream's channel once every request before it has passed. */
  #endUpstreamWhenDone(): void {
    if (!this.#agentEnded || this.#fromAgent.suspended || this.#closed || this.#upstream.writableEnded) return;
    this.#toUpstream.flush();
    this.#upstream.end();
  }

  /** Continues with the agent's stream after an asynchronous step. */
  #continue(): void {
    this.#guard(() => {
      this.#release('agent', HOLD_DECIDING);
      this.#fromAgent.resume(this.#agentSink);
    });
    this.#endUpstreamWhenDone();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#gone.abort();
    this.#upstream.stderr.unpipe(this.#agent.stderr);
    this.#upstream.close();
    for (const info of this.#handles.values()) if (info.op !== 'list') this.#summary(info, { unclosed: true });
    this.#handles.clear();
    this.#pending.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Agent -> upstream

  /** One packet (or a WRITE's head) from the agent; true suspends the agent's stream. */
  #agentPacket(bytes: Buffer): boolean {
    const type = bytes[4];
    if (this.#state !== 'open') {
      if (this.#state !== 'init') {
        this.#parked = bytes;
        this.#hold('agent', HOLD_DECIDING);
        return true;
      }
      if (type !== FXP.INIT) throw new SftpProtocolError('the first SFTP packet is not INIT');
      this.#state = 'version';
      this.#toUpstream.add(bytes);
      return false;
    }
    if (type === FXP.INIT || bytes.length < ID_END) throw new SftpProtocolError(type === FXP.INIT ? 'a second INIT' : 'a request without an id');
    const id = bytes.readUInt32BE(HEADER_LENGTH);
    // A client never reuses the id of a request still in flight; one that does could make a
    // HANDLE reply look like the answer to another OPEN (and its handle like another path's).
    if (this.#pending.has(id)) return this.#refuse(id, FX.FAILURE, 'portcullis: request id already in use', undefined);
    switch (type) {
      case FXP.WRITE: {
        const key = this.#handleKey(bytes);
        const info = this.#handles.get(key);
        if (info !== undefined) info.bytesWritten += writeDataLength(bytes, key.length);
        this.#toUpstream.add(bytes);
        return false;
      }
      case FXP.READ: {
        const info = this.#handles.get(this.#handleKey(bytes));
        if (info !== undefined) this.#pending.set(id, info);
        this.#toUpstream.add(bytes);
        return false;
      }
      case FXP.CLOSE:
        this.#pending.set(id, { kind: 'close', key: this.#handleKey(bytes) });
        this.#toUpstream.add(bytes);
        return false;
      case FXP.FSTAT:
      case FXP.READDIR:
        this.#toUpstream.add(bytes);
        return false;
      case FXP.FSETSTAT: {
        // Attributes (mode, owner, times, size) of an open file: a write to its path, whatever it was opened for.
        const info = this.#handles.get(this.#handleKey(bytes));
        if (info === undefined) return this.#refuse(id, FX.FAILURE, 'portcullis: unknown handle', undefined);
        return this.#decide(bytes, id, [{ op: 'write', path: info.path }], undefined);
      }
    }
    if (type === undefined || !isPathRequest(type)) return this.#refuse(id, FX.OP_UNSUPPORTED, `portcullis: SFTP request type ${String(type)} is not supported`, undefined);
    let req: SftpPathRequest;
    try {
      req = decodePathRequest(bytes);
    } catch (err) {
      if (!(err instanceof SftpProtocolError)) throw err;
      return this.#refuse(id, FX.BAD_MESSAGE, `portcullis: ${err.message}`, { op: 'sftp', verdict: 'deny', reason: err.message });
    }
    return this.#request(bytes, req);
  }

  /** The handle of a request that starts with one, as a map key. */
  #handleKey(bytes: Buffer): string {
    if (bytes.length < ID_END + 4) throw new SftpProtocolError('a request without its handle');
    const length = bytes.readUInt32BE(ID_END);
    if (length > bytes.length - ID_END - 4) throw new SftpProtocolError('a handle runs past the end of its packet');
    return bytes.toString('latin1', ID_END + 4, ID_END + 4 + length);
  }

  /** A request naming paths: what it does to which, then the decision. */
  #request(bytes: Buffer, req: SftpPathRequest): boolean {
    let checks: Check[];
    let opened: Pending | undefined;
    try {
      switch (req.type) {
        case FXP.OPEN: {
          const path = this.#resolve(req.path);
          const writes = (req.pflags & WRITE_FLAGS) !== 0;
          // The server opens for reading too unless WRITE alone is asked (pflags 0 is O_RDONLY).
          const reads = (req.pflags & PFLAG.READ) !== 0 || (req.pflags & PFLAG.WRITE) === 0;
          checks = [];
          if (writes) checks.push({ op: 'write', path });
          if (reads) checks.push({ op: 'read', path });
          opened = { kind: 'open', path, op: writes ? 'write' : 'read' };
          break;
        }
        case FXP.OPENDIR: {
          const path = this.#resolve(req.path);
          checks = [{ op: 'list', path }];
          opened = { kind: 'open', path, op: 'list' };
          break;
        }
        case FXP.REMOVE:
        case FXP.RMDIR:
          checks = [{ op: 'remove', path: this.#resolve(req.path) }];
          break;
        case FXP.MKDIR:
          checks = [{ op: 'mkdir', path: this.#resolve(req.path) }];
          break;
        case FXP.SETSTAT:
          checks = [{ op: 'write', path: this.#resolve(req.path) }];
          break;
        case FXP.READLINK:
          checks = [{ op: 'read', path: this.#resolve(req.path) }];
          break;
        case FXP.REALPATH:
        case FXP.STAT:
        case FXP.LSTAT:
          checks = [{ op: 'stat', path: this.#resolve(req.path) }];
          break;
        case FXP.RENAME: {
          checks = [{ op: 'rename', path: this.#resolve(req.path) }, { op: 'rename', path: this.#resolve(req.other) }];
          break;
        }
        case FXP.SYMLINK:
          checks = this.#linkChecks(req.path, req.other);
          break;
        case FXP.EXTENDED: {
          const ext = this.#extended(req);
          if (ext === 'unsupported') return this.#refuse(req.id, FX.OP_UNSUPPORTED, `portcullis: the SFTP extension ${req.name} is not supported`, { op: 'sftp', extension: req.name, verdict: 'deny', reason: 'unknown extension' });
          checks = ext;
          break;
        }
      }
    } catch (err) {
      if (!(err instanceof PathRefused)) throw err;
      return this.#refuse(req.id, FX.PERMISSION_DENIED, `portcullis: denied: ${err.message}`, { op: 'sftp', verdict: 'deny', reason: err.message });
    }
    if (checks.length === 0) {
      // Known extensions on handles or on nothing (limits, fsync...): nothing to decide.
      this.#toUpstream.add(bytes);
      return false;
    }
    return this.#decide(bytes, req.id, checks, opened);
  }

  /** EXTENDED requests by name (OpenSSH PROTOCOL section 4); none of path: pass as they are. */
  #extended(req: Extract<SftpPathRequest, { readonly type: typeof FXP.EXTENDED }>): Check[] | 'unsupported' {
    if (!EXTENSION_PATHS.has(req.name)) return 'unsupported';
    const [a = '', b = ''] = req.args;
    switch (req.name) {
      case 'posix-rename@openssh.com':
        return [{ op: 'rename', path: this.#resolve(a) }, { op: 'rename', path: this.#resolve(b) }];
      case 'hardlink@openssh.com':
        // The new name reaches the same file as the old one: both are written to.
        return [{ op: 'write', path: this.#resolve(b) }, { op: 'write', path: this.#resolve(a) }];
      case 'lsetstat@openssh.com':
        return [{ op: 'write', path: this.#resolve(a) }];
      case 'statvfs@openssh.com':
        return [{ op: 'stat', path: this.#resolve(a) }];
      case 'expand-path@openssh.com':
        // `~` and `~/x` are the home directory's; another user's `~name` is not known here.
        if (a.startsWith('~') && a !== '~' && !a.startsWith('~/')) throw new PathRefused('~user paths are not supported');
        return [{ op: 'stat', path: this.#resolve(a.startsWith('~') ? `.${a.slice(1)}` : a) }];
      case 'home-directory':
        if (a !== '' && a !== this.#s.connection.upstream.user) throw new PathRefused('the home directories of other users are not available');
        return [{ op: 'stat', path: this.#resolve('.') }];
    }
    return [];
  }

  /**
   * SYMLINK makes one path lead to another. The draft orders them (linkpath, targetpath) and
   * OpenSSH (targetpath, linkpath), and a relative target is read from the link's directory:
   * every reading is checked, as a write, so the link can only join paths the agent may write.
   */
  #linkChecks(first: string, second: string): Check[] {
    const a = this.#resolve(first);
    const b = this.#resolve(second);
    const paths = new Set([a, b]);
    if (!first.startsWith('/')) paths.add(this.#resolveFrom(first, parentOf(b)));
    if (!second.startsWith('/')) paths.add(this.#resolveFrom(second, parentOf(a)));
    return [...paths].map((path) => ({ op: 'write', path }));
  }

  #resolve(path: string): string {
    if (!path.startsWith('/') && this.#home === undefined) throw new PathRefused('relative path, and the home directory of the upstream is not known');
    return this.#resolveFrom(path, this.#home ?? '/');
  }

  #resolveFrom(path: string, base: string): string {
    const normalised = normaliseFilePath(path, base);
    if (normalised === undefined) throw new PathRefused('the path contains NUL');
    return normalised;
  }

  /** Decides every check of one request: the first deny refuses it, reviews wait, else it passes. */
  #decide(bytes: Buffer, id: number, checks: readonly Check[], opened: Pending | undefined): boolean {
    let worst: { decision: GateDecision; check: Check } | undefined;
    const reviews: { decision: GateDecision; check: Check }[] = [];
    for (const check of checks) {
      const decision = this.#s.decide(this.#action(check));
      if (worst === undefined || SEVERITY[decision.verdict] > SEVERITY[worst.decision.verdict]) worst = { decision, check };
      if (decision.verdict === 'deny') break;
      if (decision.verdict === 'review') reviews.push({ decision, check });
    }
    if (worst === undefined) return false;
    const { decision, check } = worst;
    // The operation and path that decided, and every path when the request names several.
    const record = { op: check.op, path: check.path, ...(checks.length > 1 ? { paths: checks.map((c) => c.path) } : {}), verdict: decision.verdict, rule: ruleLabel(decision) };
    if (decision.verdict === 'deny') return this.#refuse(id, FX.PERMISSION_DENIED, `portcullis: denied: ${decision.reason}`, { ...record, reason: decision.reason });
    if (decision.verdict === 'allow') {
      this.#forward(bytes, id, opened, decision);
      this.#s.recording.event('sftp', record);
      return false;
    }
    this.#hold('agent', HOLD_DECIDING);
    void this.#review(bytes, id, reviews, opened, record).then(
      () => this.#continue(),
      (err: unknown) => {
        this.#s.ctx.logger.error({ err }, 'sftp review failed');
        this.#guard(() => this.#refuse(id, FX.FAILURE, 'portcullis: the review could not be created', { ...record, reason: 'review failed' }));
        this.#continue();
      },
    );
    return true;
  }

  /** Reviews of one request, one after the other (each covers its own operation and path). */
  async #review(bytes: Buffer, id: number, reviews: readonly { decision: GateDecision; check: Check }[], opened: Pending | undefined, record: Record<string, unknown>): Promise<void> {
    const s = this.#s;
    const ids: string[] = [];
    let permit: Permit | undefined;
    for (const { decision, check } of reviews) {
      const req: ReviewRequest = { subject: s.identity.subject, connection: s.connection.name, action: { kind: 'ssh', text: `sftp ${check.op} ${check.path}`, params: null }, decision, session: s.ref.id ?? null, reason: null };
      const outcome = await runReview(s.ctx.reviews, req, { held: (notice) => this.#agent.stderr.write(`portcullis: ${notice}\r\n`), signal: this.#gone.signal });
      if (this.#closed || outcome.kind === 'gone') return;
      if (outcome.kind === 'deferred') return this.#refuseLater(id, outcome.error.message, { ...record, review: outcome.review.id, review_outcome: outcome.error.code });
      if (outcome.kind === 'refused') return this.#refuseLater(id, outcome.error.message, { ...record, review: outcome.review, review_outcome: outcome.error.code });
      ids.push(outcome.review);
      permit = outcome.permit;
    }
    // Every check was allowed or approved: the last approval is the permit of the whole request.
    if (permit === undefined) return;
    const approved = permit;
    this.#guard(() => this.#forward(bytes, id, opened, approved));
    s.recording.event('sftp', { ...record, review: ids.join(',') });
  }

  #refuseLater(id: number, message: string, data: Record<string, unknown>): void {
    this.#guard(() => this.#refuse(id, FX.PERMISSION_DENIED, `portcullis: ${message}`, { ...data, reason: message }));
  }

  /** A path request goes upstream only with the Permit of its decision (or approval). */
  #forward(bytes: Buffer, id: number, opened: Pending | undefined, _permit: Permit): void {
    if (opened !== undefined) this.#pending.set(id, opened);
    this.#toUpstream.add(bytes);
  }

  /**
   * Answers a request in the gateway's name; it never reaches the upstream. The message goes
   * on stderr too: OpenSSH's clients print their own text for a STATUS code, not the server's.
   */
  #refuse(id: number, code: number, message: string, record: Record<string, unknown> | undefined): false {
    if (record !== undefined) this.#s.recording.event('denied', record);
    this.#reply(encodeStatus(id, code, message, 'en'));
    this.#agent.stderr.write(`${message}\r\n`);
    return false;
  }

  #action(check: Check): SshAction {
    return { kind: 'ssh', op: 'sftp', sftp: this.#home === undefined ? { op: check.op, path: check.path } : { op: check.op, path: check.path, home: this.#home } };
  }

  // -------------------------------------------------------------------------------------------
  // Upstream -> agent

  /** A reply from the upstream, or its head (id and status code or data length). */
  #upstreamPacket(bytes: Buffer): boolean {
    const type = bytes[4];
    if (this.#state !== 'open') {
      this.#handshake(type, bytes);
      return false;
    }
    if (type !== FXP.VERSION && bytes.length >= ID_END) {
      const id = bytes.readUInt32BE(HEADER_LENGTH);
      const pending = this.#pending.get(id);
      if (pending !== undefined) {
        this.#pending.delete(id);
        this.#replied(pending, type, bytes);
      }
    }
    this.#toAgent.add(bytes);
    return false;
  }

  /** The upstream's VERSION, then the answer to the gateway's REALPATH ".". */
  #handshake(type: number | undefined, bytes: Buffer): void {
    if (this.#state === 'version' && type === FXP.VERSION) {
      this.#version = bytes;
      this.#state = 'home';
      this.#toUpstream.add(encodeRealpath(HOME_ID, '.'));
      return;
    }
    if (this.#state !== 'home' || (type !== FXP.NAME && type !== FXP.STATUS) || requestId(bytes) !== HOME_ID) {
      throw new SftpProtocolError(`unexpected SFTP packet type ${String(type)} from the upstream during the version exchange`);
    }
    const home = type === FXP.NAME ? firstName(bytes) : undefined;
    this.#home = home?.startsWith('/') ? normaliseFilePath(home, '/') : undefined;
    this.#state = 'open';
    if (this.#version !== undefined) this.#toAgent.add(this.#version);
    this.#version = undefined;
    const parked = this.#parked;
    this.#parked = undefined;
    // The agent's held-back requests follow the VERSION just queued (unless a review holds them).
    if (parked !== undefined && this.#agentPacket(parked)) return;
    this.#release('agent', HOLD_DECIDING);
    this.#fromAgent.resume(this.#agentSink);
    this.#endUpstreamWhenDone();
  }

  #replied(pending: Pending, type: number | undefined, bytes: Buffer): void {
    switch (pending.kind) {
      case 'handle':
        if (type === FXP.DATA) pending.bytesRead += dataLength(bytes);
        return;
      case 'open':
        if (type === FXP.HANDLE) {
          const key = bytes.toString('latin1', ID_END + 4, ID_END + 4 + Math.min(bytes.readUInt32BE(ID_END), bytes.length - ID_END - 4));
          this.#handles.set(key, { kind: 'handle', path: pending.path, op: pending.op, bytesRead: 0, bytesWritten: 0 });
        }
        return;
      case 'close': {
        const info = this.#handles.get(pending.key);
        if (info === undefined) return;
        this.#handles.delete(pending.key);
        if (info.op !== 'list') this.#summary(info, type === FXP.STATUS && statusCode(bytes) !== FX.OK ? { status: statusCode(bytes) } : {});
      }
    }
  }

  #summary(info: HandleInfo, extra: Record<string, unknown>): void {
    this.#s.recording.event('sftp.close', { op: info.op, path: info.path, bytes_read: info.bytesRead, bytes_written: info.bytesWritten, ...extra });
  }

  /** A gateway reply waits while an upstream reply has passed in part, until its end. */
  #reply(packet: Buffer): void {
    if (this.#fromUpstream.atBoundary) this.#toAgent.add(packet);
    else this.#deferred.push(packet);
  }

  #releaseDeferred(): void {
    for (const packet of this.#deferred) this.#toAgent.add(packet);
    this.#deferred.length = 0;
  }
}

/** A path refused before policy: it cannot be placed (relative without a home, NUL...). */
class PathRefused extends Error {}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
