// `exec` requests (`ssh host 'cmd'`): the command line is parsed as a shell would, every
// simple command in it decided, and an allowed line run on the upstream with stdin, stdout,
// stderr and the exit status (or signal) relayed. Reviews hold or defer the line.
import type { ServerChannel } from 'ssh2';
import type { SshAction } from '../../core/action.ts';
import { isGatewayError } from '../../core/errors.ts';
import { afterDecision, approvalFor, ruleLabel, type ReviewRequest } from '../../pipeline/review-flow.ts';
import { sshExecAction } from '../../policy/action-from-text.ts';
import type { PtyInfo, SshClientSession } from './client.ts';

export async function runExec(s: SshClientSession, channel: ServerChannel, command: string, pty: PtyInfo | undefined): Promise<void> {
  const started = performance.now();
  // Every simple command of the line, parsed as a shell would: `ls; rm x` is two commands.
  const action: SshAction = sshExecAction(command);
  const decision = s.decide(action);
  const base = { op: 'exec', command, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason };
  let review: string | null = null;
  if (decision.verdict === 'deny') return s.refuse(channel, `portcullis: denied: ${decision.reason}`, base, started);
  if (decision.verdict === 'review') {
    const req: ReviewRequest = { subject: s.identity.subject, connection: s.connection.name, action: { kind: 'ssh', text: command, params: null }, decision, session: s.ref.id ?? null, reason: null };
    const step = await approvalFor(s.ctx.reviews, req);
    if (step.kind === 'deferred') return s.refuse(channel, `portcullis: ${step.error.message}`, { ...base, review: step.review.id, review_outcome: step.error.code }, started);
    if (step.kind === 'held') {
      channel.stderr.write(`portcullis: ${step.notice}\r\n`);
      const outcome = afterDecision(s.ctx.reviews, req, await s.ctx.reviews.wait(step.review.id));
      if ('error' in outcome) return s.refuse(channel, `portcullis: ${outcome.error.message}`, { ...base, review: step.review.id, review_outcome: outcome.error.code }, started);
      review = outcome.run;
    } else review = step.review;
  }
  let up;
  try {
    up = await s.upstream();
  } catch (err) {
    return s.refuse(channel, `portcullis: ${isGatewayError(err) ? `${err.message} (${err.code})` : 'the upstream host cannot be reached'}`, base, started);
  }
  up.exec(command, pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {}, (err, stream) => {
    if (err) return s.refuse(channel, `portcullis: the upstream refused the command (${err.message})`, base, started);
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
      s.recording.event('exec', { ...base, exit, signal, bytes_in: bytesIn, bytes_out: bytesOut, duration_ms: Math.round(performance.now() - started), ...(review !== null ? { review } : {}) });
    });
    channel.resume();
  });
}
