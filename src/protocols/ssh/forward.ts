// Port forwarding: `-L` (direct-tcpip) is decided per destination and, when allowed, opened
// from the upstream host; `-R` (tcpip-forward) and other global requests are refused.
import type { AcceptConnection, RejectConnection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { ruleLabel } from '../../pipeline/review-flow.ts';
import type { SshClientSession } from './client.ts';

export function localForward(s: SshClientSession, accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo): void {
  const decision = s.decide({ kind: 'ssh', op: 'forward', forward: { host: info.destIP, port: info.destPort, direction: 'local' } });
  s.recording.event(decision.verdict === 'allow' ? 'forward' : 'denied', { op: 'forward', host: info.destIP, port: info.destPort, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
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

export function globalRequest(s: SshClientSession, _accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, _info: unknown): void {
  // Remote forwarding (-R), and anything else global: not without a rule (none exists for -R yet).
  s.recording.event('denied', { op: name, verdict: 'deny', reason: 'remote forwarding is not allowed through the gateway' });
  reject?.();
}
