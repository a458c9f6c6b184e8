// `exec` requests (`ssh host 'cmd'`): the command line is parsed as a shell would, every
// simple command in it decided, and an allowed line run on the upstream with stdin, stdout,
// stderr and the exit status (or signal) relayed. Reviews hold or defer the line. When the
// decision's masks name content detectors, stdout and stderr each pass through a text
// masker (line by line); otherwise they are piped untouched.
import type { Readable, Writable } from 'node:stream';
import type { SshAction } from '../../core/action.ts';
import { isGatewayError } from '../../core/errors.ts';
import type { MaskPlan } from '../../masking/plan.ts';
import { textMasker, type StreamMasker } from '../../masking/text-stream.ts';
import { RecordsOwed } from '../../pipeline/durability.ts';
import type { Refusal } from '../../pipeline/executor.ts';
import type { Permit } from '../../pipeline/permit.ts';
import { ruleLabel, runReview, type ReviewRequest } from '../../pipeline/review-runner.ts';
import { sshExecAction } from '../../policy/action-from-text.ts';
import type { ExecChannel, PtyInfo, SshClientSession } from './client.ts';
import { execOn } from './upstream.ts';

/**
 * Longest output line (bytes, line ending not counted) held to be masked; a longer one is
 * replaced by `[withheld by portcullis: line too long to mask]`. Terminal output has short
 * lines; a longer "line" is binary data or a full-screen program.
 */
export const MAX_OUTPUT_LINE = 64 * 1024;

/** What an in-process caller (the command executor) learns beside the channel. */
export interface ExecHooks {
  /** The line did not run: denied, or its review deferred or refused. */
  readonly refused?: (refusal: Refusal) => void;
  /** The line waits for a review (`hold`). */
  readonly held?: (notice: string) => void;
  /** The line was allowed but could not run (the host cannot be reached, or refused it). */
  readonly failed?: (code: string, message: string) => void;
}

export async function runExec(s: SshClientSession, channel: ExecChannel, command: string, pty: PtyInfo | undefined, hooks: ExecHooks = {}): Promise<void> {
  const started = performance.now();
  // Every simple command of the line, parsed as a shell would: `ls; rm x` is two commands.
  const action: SshAction = sshExecAction(command, pty !== undefined);
  const decision = s.decide(action);
  const base = { op: 'exec', command, verdict: decision.verdict, rule: ruleLabel(decision), reason: decision.reason };
  let review: string | null = null;
  let permit: Permit;
  if (decision.verdict === 'deny') {
    const message = `denied: ${decision.reason}`;
    hooks.refused?.({ code: decision.code ?? (decision.rule === undefined ? 'PCS_POLICY_NO_MATCH' : 'PCS_POLICY_DENIED'), message: decision.rule === undefined ? message : `denied by policy ${decision.rule.policy}, ${ruleLabel(decision) ?? ''}: ${decision.reason}` });
    return s.refuse(channel, `portcullis: ${message}`, base, started);
  }
  if (decision.verdict === 'review') {
    const req: ReviewRequest = { subject: s.identity.subject, connection: s.connection.name, action: { kind: 'ssh', text: command, params: null }, decision, session: s.ref.id ?? null, reason: null };
    // The wait ends when the agent closes the channel.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    channel.once('close', onClose);
    const held = (notice: string): void => {
      hooks.held?.(notice);
      channel.stderr.write(`portcullis: ${notice}\r\n`);
    };
    const outcome = await runReview(s.ctx.reviews, req, { held, signal: gone.signal }).finally(() => channel.off('close', onClose));
    if (outcome.kind === 'gone') return s.recording.event('denied', { ...base, review: outcome.review, review_outcome: 'client-gone', duration_ms: Math.round(performance.now() - started) });
    if (outcome.kind === 'deferred') {
      hooks.refused?.({ code: outcome.error.code, message: outcome.error.message, reviewId: outcome.review.id });
      return s.refuse(channel, `portcullis: ${outcome.error.message}`, { ...base, review: outcome.review.id, review_outcome: outcome.error.code }, started);
    }
    if (outcome.kind === 'refused') {
      hooks.refused?.({ code: outcome.error.code, message: outcome.error.message, reviewId: outcome.review });
      return s.refuse(channel, `portcullis: ${outcome.error.message}`, { ...base, review: outcome.review, review_outcome: outcome.error.code }, started);
    }
    review = outcome.review;
    permit = outcome.permit;
  } else permit = decision;
  let up;
  try {
    up = await s.upstream();
  } catch (err) {
    hooks.failed?.(isGatewayError(err) ? err.code : 'PCS_SSH_UPSTREAM_UNREACHABLE', isGatewayError(err) ? err.message : 'the upstream host cannot be reached');
    return s.refuse(channel, `portcullis: ${isGatewayError(err) ? `${err.message} (${err.code})` : 'the upstream host cannot be reached'}`, base, started);
  }
  // Column and json rules say nothing about command output: only detectors apply.
  const plan = decision.masks.length > 0 ? s.ctx.masks.plan(decision.masks) : undefined;
  const masking = plan?.scanner !== undefined ? plan : undefined;
  const owed = new RecordsOwed(s.ctx.durable);
  owed.startEarly();
  execOn(up, permit, command, pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {}, (err, stream) => {
    if (err) {
      hooks.failed?.('PCS_SSH_EXEC_FAILED', `the upstream host of connection ${s.connection.name} did not run the command (${err.message})`);
      return s.refuse(channel, `portcullis: the upstream refused the command (${err.message})`, base, started);
    }
    let bytesIn = 0;
    let bytesOut = 0;
    channel.on('data', (d: Buffer) => (bytesIn += d.length));
    stream.on('data', (d: Buffer) => (bytesOut += d.length));
    stream.stderr.on('data', (d: Buffer) => (bytesOut += d.length));
    channel.pipe(stream);
    const masked = masking === undefined ? undefined : relayMasked(masking, stream, channel);
    if (masked === undefined) {
      stream.pipe(channel, { end: false });
      stream.stderr.pipe(channel.stderr, { end: false });
    }
    let exit: number | null = null;
    let signal: string | null = null;
    stream.on('exit', (code: number | null, sig?: string) => {
      exit = code;
      signal = sig ?? null;
    });
    const finish = (): void => {
      // Lines (or key blocks) the detectors changed, stdout and stderr together; never the values.
      const summary = masked === undefined ? {} : { masked: { detector_hits: masked.out.stats.detectorHits + masked.err.stats.detectorHits } };
      s.recording.event('exec', { ...base, exit, signal, bytes_in: bytesIn, bytes_out: bytesOut, duration_ms: Math.round(performance.now() - started), ...(review !== null ? { review } : {}), ...summary });
      const answer = (): void => {
        if (signal !== null) channel.exit(signal, false, '');
        else channel.exit(exit ?? 0);
        channel.end();
      };
      // The durability rule: any command may change something, so its exit status (what tells
      // the agent it ran) leaves once its decision and this record are committed.
      owed.owe(true);
      const committed = owed.settle();
      if (committed === undefined) answer();
      else void committed.then(answer);
    };
    // Masked output may still hold a last line (and stderr may end after the channel closes):
    // the exit status goes once both remainders were written.
    stream.on('close', () => (masked === undefined ? finish() : void masked.relayed.then(finish)));
    channel.resume();
  });
}

interface MaskedRelay {
  readonly out: StreamMasker;
  readonly err: StreamMasker;
  /** Settles once both streams ended and their maskers' remainders were written. */
  readonly relayed: Promise<unknown>;
}

/** Upstream stdout to the agent's channel and stderr to its stderr, each through its own text masker. */
function relayMasked(plan: MaskPlan, stream: Readable & { readonly stderr: Readable }, channel: ExecChannel): MaskedRelay {
  const out = textMasker(plan, MAX_OUTPUT_LINE, { terminal: true });
  const err = textMasker(plan, MAX_OUTPUT_LINE, { terminal: true });
  return { out, err, relayed: Promise.all([relay(stream, channel, out), relay(stream.stderr, channel.stderr, err)]) };
}

/**
 * `from` into `to` through `masker`, pausing `from` while `to` is full. Resolves once the
 * masker's remainder was written at the end of `from`, or at once when `to` closes (the agent
 * went away: the rest of `from` is read and dropped, so the upstream never stalls).
 */
function relay(from: Readable, to: Writable, masker: StreamMasker): Promise<void> {
  return new Promise((resolve) => {
    let waiting = false;
    let done = false;
    const resume = (): void => {
      waiting = false;
      from.resume();
    };
    const write = (parts: Buffer[]): void => {
      let full = false;
      for (const part of parts) if (!to.write(part)) full = true;
      if (full && !waiting) {
        waiting = true;
        from.pause();
        to.once('drain', resume);
      }
    };
    const stop = (flush: boolean): void => {
      if (done) return;
      done = true;
      if (flush) write(masker.end());
      to.off('drain', resume);
      to.off('close', gone);
      if (waiting) from.resume();
      resolve();
    };
    const gone = (): void => stop(false);
    from.on('data', (chunk: Buffer) => {
      if (!done) write(masker.push(chunk));
    });
    from.once('end', () => stop(true));
    from.once('close', () => stop(true));
    to.once('close', gone);
  });
}
