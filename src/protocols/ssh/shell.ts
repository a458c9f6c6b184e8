// Interactive shells: allowed or denied as a whole by policy; an allowed shell is relayed to
// the upstream with the PTY the client asked for, and recorded as asciicast v2 material
// (src/recorder/asciicast.ts): output, input and resizes with their times. Typed command
// lines are reconstructed (typed-lines.ts) and recorded with what the exec policy would have
// said of them, for the audit only: a shell is decided as a whole, nothing typed is blocked.
import type { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import type { ServerChannel } from 'ssh2';
import { ruleLabel } from '../../pipeline/review-runner.ts';
import { sshExecAction } from '../../policy/action-from-text.ts';
import { TerminalRecorder } from '../../recorder/asciicast.ts';
import type { PtyInfo, SshClientSession } from './client.ts';
import { TypedInput, type ReleasedInput } from './typed-lines.ts';

/** Shells opened so far on each agent connection: the number of the next one. */
const shellCounts = new WeakMap<SshClientSession, number>();

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
    const shell = (shellCounts.get(s) ?? 0) + 1;
    shellCounts.set(s, shell);
    const term = TerminalRecorder.start(s.recording, { shell, term: pty?.term ?? null, cols: pty?.cols ?? 0, rows: pty?.rows ?? 0 }, base);
    // Without a PTY nothing echoes by design, so there is no echo to wait for.
    const typed = new TypedInput({ echoCheck: pty !== undefined });
    const inputDecoder = new StringDecoder('utf8');
    // One timer, for when held input must be decided without its echo (rescheduled only when that changes).
    let deadline: NodeJS.Timeout | undefined;
    let deadlineAt: number | undefined;
    let bytesIn = 0;
    let bytesOut = 0;
    let ended = false;

    const record = (released: readonly ReleasedInput[]): void => {
      for (const r of released) {
        for (const piece of r.input) term.input(piece.text, piece.at);
        if (r.line !== undefined) recordLine(s, shell, term.offset(r.line.at), r.line);
      }
    };
    const settle = (): void => {
      if (ended) return;
      const released = typed.take(term.clock());
      if (released.length > 0) record(released);
      const next = typed.nextDeadline();
      if (next === deadlineAt) return;
      if (deadline !== undefined) clearTimeout(deadline);
      deadlineAt = next;
      deadline = next === undefined ? undefined : setTimeout(onDeadline, Math.max(0, next - term.clock()) + 1);
      deadline?.unref();
    };
    const onDeadline = (): void => {
      deadline = undefined;
      deadlineAt = undefined;
      settle();
    };

    resizes.on('resize', (size) => {
      stream.setWindow(size.rows, size.cols, 0, 0);
      term.resize(size.cols, size.rows);
    });
    channel.on('data', (d: Buffer) => {
      bytesIn += d.length;
      typed.input(inputDecoder.write(d), term.clock());
      settle();
    });
    stream.on('data', (d: Buffer) => {
      bytesOut += d.length;
      typed.output(term.output(d));
      settle();
    });
    stream.stderr.on('data', (d: Buffer) => {
      bytesOut += d.length;
      typed.output(term.output(d, 'stderr'));
      settle();
    });
    channel.pipe(stream);
    stream.pipe(channel, { end: false });
    stream.stderr.pipe(channel.stderr, { end: false });

    let exit: number | null = null;
    // Once, when the upstream shell closes or the agent's channel goes first.
    const end = (): void => {
      if (ended) return;
      ended = true;
      if (deadline !== undefined) clearTimeout(deadline);
      typed.input(inputDecoder.end(), term.clock());
      record(typed.finish());
      term.close();
      s.recording.event('shell', { ...base, phase: 'end', shell, exit, bytes_in: bytesIn, bytes_out: bytesOut, duration_ms: Math.round(performance.now() - started) });
    };
    stream.on('exit', (code: number | null) => (exit = code));
    stream.on('close', () => {
      channel.exit(exit ?? 0);
      channel.end();
      end();
    });
    channel.on('close', end);
    channel.resume();
  });
}

/**
 * One typed line: its text when it was echoed (a line typed at a no-echo prompt is recorded
 * without it), and what the exec policy would say of it. The verdict is advisory and nothing
 * is blocked, and it is audited as `policy.observed` (Gate.observe), never as a decision.
 */
function recordLine(s: SshClientSession, shell: number, t: number, typed: { line: string; edited: boolean; truncated: boolean; echoed: boolean }): void {
  const blank = typed.line.trim() === '';
  // An empty line ran nothing.
  if (typed.echoed && blank && !typed.edited) return;
  const data: Record<string, unknown> = { shell, t, line: typed.echoed ? typed.line : null, edited: typed.edited, echoed: typed.echoed };
  if (typed.truncated) data.truncated = true;
  // A line typed without echo is not shown to the policy (nor to the audit log); an edited one is not known well enough to judge.
  if (typed.echoed && !typed.edited && !blank) {
    const decision = s.ctx.gate.observe(s.identity, s.ref, sshExecAction(typed.line));
    data.policy_verdict = decision.verdict;
    data.policy_rule = ruleLabel(decision);
    data.policy_reason = decision.reason;
  }
  s.recording.event('typed', data);
}
