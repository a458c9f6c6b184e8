// Port forwarding. `-L` (direct-tcpip) is decided per destination and, when allowed, opened
// from the upstream host. `-R` (tcpip-forward) is decided per bind address: when allowed,
// the upstream host listens there and each connection it accepts is handed back to the agent
// as a forwarded-tcpip channel. Other global requests (stream-local forwarding...) are refused.
import type { AcceptConnection, Client, Connection, RejectConnection, ServerChannel, TcpConnectionDetails, TcpipBindInfo, TcpipRequestInfo } from 'ssh2';
import { ruleLabel } from '../../pipeline/review-runner.ts';
import type { SshClientSession } from './client.ts';

export function localForward(s: SshClientSession, accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo): void {
  const decision = s.decide({ kind: 'ssh', op: 'forward', forward: { host: info.destIP, port: info.destPort, direction: 'local' } });
  s.recording.event(decision.verdict === 'allow' ? 'forward' : 'denied', { op: 'forward', direction: 'local', host: info.destIP, port: info.destPort, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
  if (decision.verdict !== 'allow') return reject();
  const channel = accept();
  channel.pause();
  s.upstream().then(
    (up) =>
      up.forwardOut('127.0.0.1', 0, info.destIP, info.destPort, (err, stream) => {
        if (err) return void channel.close();
        channel.pipe(stream).pipe(channel);
        channel.resume();
      }),
    () => channel.close(),
  );
}

/** The `-R` forwards of one agent connection, by upstream bind address. */
export class RemoteForwards {
  readonly #s: SshClientSession;
  readonly #agent: Connection;
  /** `addr:port` as bound on the upstream -> the address the agent asked for (what its channels name). */
  readonly #bound = new Map<string, TcpipBindInfo>();
  #listening: Client | undefined;

  constructor(s: SshClientSession, agent: Connection) {
    this.#s = s;
    this.#agent = agent;
  }

  request(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, info: unknown): void {
    if (name === 'tcpip-forward') return void this.#forward(accept, reject, info as TcpipBindInfo);
    if (name === 'cancel-tcpip-forward') return this.#cancel(accept, reject, info as TcpipBindInfo);
    this.#s.recording.event('denied', { op: name, verdict: 'deny', reason: `${name} is not supported through the gateway` });
    reject?.();
  }

  async #forward(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, info: TcpipBindInfo): Promise<void> {
    const s = this.#s;
    const decision = s.decide({ kind: 'ssh', op: 'forward', forward: { host: info.bindAddr, port: info.bindPort, direction: 'remote' } });
    s.recording.event(decision.verdict === 'allow' ? 'forward' : 'denied', { op: 'forward', direction: 'remote', host: info.bindAddr, port: info.bindPort, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
    if (decision.verdict !== 'allow') return reject?.();
    let up: Client;
    try {
      up = await s.upstream();
    } catch {
      return reject?.();
    }
    this.#listen(up);
    up.forwardIn(info.bindAddr, info.bindPort, (err, port) => {
      if (err) return reject?.();
      this.#bound.set(`${info.bindAddr}:${port}`, { bindAddr: info.bindAddr, bindPort: info.bindPort === 0 ? port : info.bindPort });
      accept?.(port);
    });
  }

  #cancel(accept: (() => void) | undefined, reject: (() => void) | undefined, info: TcpipBindInfo): void {
    const key = `${info.bindAddr}:${info.bindPort}`;
    if (!this.#bound.delete(key)) return reject?.();
    this.#s.upstream().then(
      (up) => up.unforwardIn(info.bindAddr, info.bindPort, (err) => (err ? reject?.() : accept?.())),
      () => reject?.(),
    );
  }

  /** Connections the upstream accepted on a bound address go back to the agent. */
  #listen(up: Client): void {
    if (this.#listening === up) return;
    // A new upstream connection (the last one closed): the forwards bound on the old one went with it.
    if (this.#listening !== undefined) this.#bound.clear();
    this.#listening = up;
    up.on('tcp connection', (details: TcpConnectionDetails, accept, reject) => {
      const bind = this.#bound.get(`${details.destIP}:${details.destPort}`);
      if (bind === undefined) return reject();
      this.#agent.forwardOut(bind.bindAddr, bind.bindPort, details.srcIP, details.srcPort, (err, channel) => {
        if (err) return reject();
        const stream = accept();
        stream.pipe(channel).pipe(stream);
      });
    });
  }
}
