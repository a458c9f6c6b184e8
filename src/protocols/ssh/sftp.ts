// The SFTP subsystem (also what `scp` uses by default): allowed or denied as a whole, then
// relayed to the upstream's SFTP subsystem.
import type { ClientChannel, ServerChannel } from 'ssh2';
import { ruleLabel } from '../../pipeline/review-flow.ts';
import type { SshClientSession } from './client.ts';

/** Decides the subsystem request; false: refused (the caller rejects the request). */
export function sftpAllowed(s: SshClientSession): boolean {
  const decision = s.decide({ kind: 'ssh', op: 'sftp' });
  s.recording.event(decision.verdict === 'allow' ? 'sftp' : 'denied', { op: 'sftp', verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason });
  return decision.verdict === 'allow';
}

export function runSftp(s: SshClientSession, channel: ServerChannel): void {
  s.upstream().then(
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
}
