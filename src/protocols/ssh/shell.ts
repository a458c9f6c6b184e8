// Interactive shells: allowed or denied as a whole by policy; an allowed shell is relayed to
// the upstream with the PTY the client asked for.
import type { EventEmitter } from 'node:events';
import type { ServerChannel } from 'ssh2';
import { ruleLabel } from '../../pipeline/review-flow.ts';
import type { PtyInfo, SshClientSession } from './client.ts';

export async function runShell(s: SshClientSession, channel: ServerChannel, pty: PtyInfo | undefined, resizes: EventEmitter<{ resize: [PtyInfo] }>): Promise<void> {
  const decision = s.decide({ kind: 'ssh', op: 'shell' });
  const base = { op: 'shell', verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason };
  const started = performance.now();
  if (decision.verdict !== 'allow') return s.refuse(channel, `portcullis: an interactive shell is not allowed here: ${decision.reason}`, base, started);
  let up;
  try {
    up = await s.upstream();
  } catch {
    return s.refuse(channel, 'portcullis: the upstream host cannot be reached', base, started);
  }
  up.shell(pty ? { term: pty.term, cols: pty.cols, rows: pty.rows } : false, (err, stream) => {
    if (err) return s.refuse(channel, 'portcullis: the upstream refused the shell', base, started);
    resizes.on('resize', (size) => stream.setWindow(size.rows, size.cols, 0, 0));
    channel.pipe(stream);
    stream.pipe(channel, { end: false });
    stream.stderr.pipe(channel.stderr, { end: false });
    let exit: number | null = null;
    stream.on('exit', (code: number | null) => (exit = code));
    stream.on('close', () => {
      channel.exit(exit ?? 0);
      channel.end();
      s.recording.event('shell', { ...base, exit, duration_ms: Math.round(performance.now() - started) });
    });
    channel.resume();
  });
}
