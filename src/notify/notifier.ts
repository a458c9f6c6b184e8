// Tells reviewers that a review or access request waits for them (docs/notifications.md).
// Delivery is fire-and-forget from the caller's side: the data path that creates a review must
// never wait for, or fail because of, a chat service. Each delivery retries on its own timer and
// ends in exactly one audit record (`review.notified`).
//
// Webhook URLs of Slack are credentials, and webhook paths may carry tokens too: logs and audit
// name a target by its kind and URL host only.
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditSink } from '../core/audit-event.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { NotificationsConfig, NotifyEvent } from './config.ts';
import type { ReviewNotice } from './event.ts';

export const DEFAULT_BACKOFF_MS: readonly number[] = [1000, 2000, 4000, 8000, 16000];
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 5000;
/** Deliveries waiting at once (in flight or between retries); beyond it notices are dropped, not queued without bound. */
export const MAX_PENDING_DELIVERIES = 1000;
/** After the close deadline aborts what is left: how long to wait for those deliveries to record their outcome. */
const ABANDON_GRACE_MS = 1000;
/** Longest action text a Slack message shows (Slack refuses a section text over 3000 characters). */
export const SLACK_ACTION_MAX_CHARS = 2500;

export interface NotifierOptions {
  readonly config: NotificationsConfig | undefined;
  readonly logger: Logger;
  readonly audit: AuditSink;
  /** For tests; default the global fetch. */
  readonly fetch?: typeof fetch;
  /** Wait before each retry; its length is the number of retries. */
  readonly backoffMs?: readonly number[];
  /** How long one attempt may take before it counts as failed. */
  readonly attemptTimeoutMs?: number;
}

type TargetKind = 'webhook' | 'slack';

interface Target {
  readonly kind: TargetKind;
  /** The full URL: never logged or audited. */
  readonly url: string;
  readonly host: string;
  readonly events: ReadonlySet<NotifyEvent>;
  /** Webhooks: the HMAC key. */
  readonly secret?: string;
}

interface Delivery {
  readonly target: Target;
  readonly review: string;
  readonly event: NotifyEvent;
  readonly body: string;
  /** x-portcullis-delivery: one per notice and target, the same on every retry, so receivers can deduplicate. */
  readonly id: string;
  /** Aborted when the delivery is abandoned at shutdown: cuts the request or the backoff wait short. */
  readonly abandon: AbortController;
  /** Epoch ms the backoff wait ends, while waiting. */
  wakeAt: number | undefined;
}

export class Notifier {
  readonly #targets: readonly Target[];
  readonly #logger: Logger;
  readonly #audit: AuditSink;
  readonly #fetch: typeof fetch;
  readonly #backoff: readonly number[];
  readonly #attemptTimeoutMs: number;
  readonly #pending = new Map<Delivery, Promise<void>>();
  #closeDeadline: number | undefined;

  constructor(opts: NotifierOptions) {
    this.#logger = opts.logger;
    this.#audit = opts.audit;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#backoff = (opts.backoffMs ?? DEFAULT_BACKOFF_MS).map((ms) => (Number.isFinite(ms) && ms > 0 ? ms : 0));
    const timeout = opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.#attemptTimeoutMs = Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_ATTEMPT_TIMEOUT_MS;
    const targets: Target[] = [];
    const config = opts.config;
    config?.webhooks.forEach((w, i) => {
      const host = hostOf(w.url);
      if (host === undefined) this.#logger.error({ target: `notifications.webhooks[${i}]` }, 'notifications: target skipped, its url is not a URL');
      else targets.push({ kind: 'webhook', url: w.url, host, events: new Set(w.events), secret: w.secret });
    });
    config?.slack.forEach((s, i) => {
      const host = hostOf(s.webhook_url);
      if (host === undefined) this.#logger.error({ target: `notifications.slack[${i}]` }, 'notifications: target skipped, its webhook_url is not a URL');
      else targets.push({ kind: 'slack', url: s.webhook_url, host, events: new Set(s.events) });
    });
    this.#targets = targets;
  }

  /** Queue delivery to every target subscribed to notice.type. Returns at once; never throws; never blocks the caller on the network. */
  notify(notice: ReviewNotice): void {
    try {
      const targets = this.#targets.filter((t) => t.events.has(notice.type));
      if (targets.length === 0) return;
      if (this.#closeDeadline !== undefined) {
        this.#logger.warn({ review: notice.review.id, event: notice.type }, 'notifications: notice dropped, the notifier is closing');
        return;
      }
      // Serialised now, once: later changes to the caller's object cannot alter what is sent, and
      // every retry (and every webhook) sends the same bytes.
      let json: string | undefined;
      let slack: string | undefined;
      for (const target of targets) {
        const body = target.kind === 'webhook' ? (json ??= JSON.stringify(notice)) : (slack ??= JSON.stringify(slackMessage(notice)));
        this.#start({ target, review: notice.review.id, event: notice.type, body, id: randomUUID(), abandon: new AbortController(), wakeAt: undefined });
      }
    } catch (err) {
      this.#logger.error({ review: notice?.review?.id, event: notice?.type, err: errorText(err) }, 'notifications: could not queue a notice');
    }
  }

  /** Wait for in-flight deliveries (including pending retries) up to `deadline` (epoch ms), then abandon the rest (logged). */
  async close(deadline: number): Promise<void> {
    this.#closeDeadline = Math.min(deadline, this.#closeDeadline ?? Infinity);
    const end = this.#closeDeadline;
    // A retry that would only start after the deadline cannot succeed in time: give it up now
    // rather than hold shutdown until the deadline.
    for (const d of this.#pending.keys()) if (d.wakeAt !== undefined && d.wakeAt >= end) d.abandon.abort();
    if (this.#pending.size === 0) return;
    if (await settledWithin([...this.#pending.values()], end - Date.now())) return;
    const left = [...this.#pending.keys()];
    this.#logger.warn({ deliveries: left.length }, 'notifications: shutdown deadline reached, abandoning the deliveries still in progress');
    for (const d of left) d.abandon.abort();
    // Aborted requests and waits end at once; what remains is recording their outcome.
    await settledWithin([...this.#pending.values()], ABANDON_GRACE_MS);
  }

  #start(d: Delivery): void {
    if (this.#pending.size >= MAX_PENDING_DELIVERIES) {
      this.#logger.warn({ review: d.review, event: d.event, target: d.target.kind, host: d.target.host, pending: this.#pending.size }, 'notifications: too many deliveries pending, notice dropped');
      void this.#record(d, false, 0);
      return;
    }
    // Deferred to a later turn of the event loop: the first fetch of a process loads its HTTP
    // client synchronously, which the caller (a session waiting for its review) must not pay for.
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#run(d))
      .catch((err: unknown) => this.#logger.error({ review: d.review, event: d.event, target: d.target.kind, host: d.target.host, err: errorText(err) }, 'notifications: delivery failed unexpectedly'))
      .finally(() => this.#pending.delete(d));
    this.#pending.set(d, done);
  }

  async #run(d: Delivery): Promise<void> {
    const where = { review: d.review, event: d.event, target: d.target.kind, host: d.target.host, delivery: d.id };
    let attempts = 0;
    let problem: string | undefined = 'abandoned at shutdown';
    while (!d.abandon.signal.aborted) {
      attempts++;
      problem = await this.#attempt(d);
      if (problem === undefined) break;
      const wait = this.#backoff[attempts - 1];
      if (wait === undefined) break;
      if (this.#closeDeadline !== undefined && Date.now() + wait >= this.#closeDeadline) {
        problem += '; the next retry would fall after the shutdown deadline';
        break;
      }
      this.#logger.debug({ ...where, attempts, problem, retry_in_ms: wait }, 'notifications: attempt failed, will retry');
      d.wakeAt = Date.now() + wait;
      // Rejects when abandoned; the loop condition then ends the delivery.
      await sleep(wait, undefined, { signal: d.abandon.signal }).catch(() => undefined);
      d.wakeAt = undefined;
      if (d.abandon.signal.aborted) problem = 'abandoned at shutdown';
    }
    if (problem === undefined) this.#logger.debug({ ...where, attempts }, 'notifications: delivered');
    else this.#logger.warn({ ...where, attempts, problem }, 'notifications: not delivered, giving up');
    await this.#record(d, problem === undefined, attempts);
  }

  /** One POST; undefined when delivered, else what went wrong (without the URL). */
  async #attempt(d: Delivery): Promise<string | undefined> {
    const { target } = d;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'portcullis' };
    if (target.kind === 'webhook') {
      // A fresh timestamp (and so signature) per attempt: receivers reject old timestamps, and a
      // retry can come many seconds after the first try.
      const timestamp = String(Math.floor(Date.now() / 1000));
      headers['x-portcullis-event'] = d.event;
      headers['x-portcullis-delivery'] = d.id;
      headers['x-portcullis-timestamp'] = timestamp;
      headers['x-portcullis-signature'] = `v1=${signature(target.secret ?? '', timestamp, d.body)}`;
    }
    const fetcher = this.#fetch;
    try {
      const res = await fetcher(target.url, {
        method: 'POST',
        headers,
        body: d.body,
        // A redirect could carry the signed body (or a Slack message) to a host nobody configured.
        redirect: 'manual',
        signal: AbortSignal.any([d.abandon.signal, AbortSignal.timeout(this.#attemptTimeoutMs)]),
      });
      // The answer's body is not needed; cancelling frees the connection for the next request.
      void res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      if (d.abandon.signal.aborted) return 'abandoned at shutdown';
      if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${this.#attemptTimeoutMs} ms`;
      return scrubUrl(`network error (${networkProblem(err)})`, target);
    }
  }

  async #record(d: Delivery, delivered: boolean, attempts: number): Promise<void> {
    try {
      await this.#audit.append({
        type: 'review.notified',
        actor: 'portcullis',
        data: { review: d.review, event: d.event, target: d.target.kind, host: d.target.host, delivered, attempts },
      });
    } catch (err) {
      this.#logger.error({ review: d.review, event: d.event, target: d.target.kind, host: d.target.host, err: errorText(err) }, 'notifications: could not audit the delivery outcome');
    }
  }
}

/** Hex HMAC-SHA256 over `<timestamp>.<body>` (docs/notifications.md, "Signature"). */
export function signature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** Resolves true if every promise settled within `ms`, false on timeout. */
async function settledWithin(promises: readonly Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function networkProblem(err: unknown): string {
  // fetch reports "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND...) in `cause`.
  const cause: unknown = err instanceof Error ? err.cause : undefined;
  if (cause && typeof cause === 'object') {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const message = (cause as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  }
  return errorText(err);
}

/** Error messages may quote the URL; a Slack URL's path is its credential. */
function scrubUrl(text: string, target: Target): string {
  let out = text.split(target.url).join(target.host);
  try {
    const { pathname, search } = new URL(target.url);
    for (const part of [pathname + search, pathname]) if (part.length > 1) out = out.split(part).join('/…');
  } catch {
    // hostOf() already vetted the URL
  }
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- Slack -----------------------------------------------------------------------------------

export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

/** Slack mrkdwn gives `&`, `<` and `>` meaning (links, @channel mentions); user text must not. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const VERB: Record<string, string> = { created: 'requested', requested: 'requested', approved: 'approved', denied: 'denied', expired: 'expired' };

/** The incoming-webhook payload: a one-line fallback (notifications, old clients) and blocks. */
export function slackMessage(notice: ReviewNotice): SlackMessage {
  const r = notice.review;
  const noun = r.kind === 'access' ? 'Access request' : 'Review';
  const verb = VERB[notice.type.slice(notice.type.indexOf('.') + 1)] ?? notice.type;
  const opening = notice.type.endsWith('.created') || notice.type.endsWith('.requested');

  let line = `${noun} ${r.id} ${verb}`;
  if (opening) line += ` by ${r.subject} on ${r.connection}`;
  else if (verb === 'expired') line += ` without a decision (${r.subject} on ${r.connection})`;
  else line += ` by ${notice.actor ?? 'an approver'} (${r.subject} on ${r.connection})`;
  const summary = r.action ? oneLine(r.action.text, 120) : r.policy !== undefined ? `${r.policy}${r.duration_seconds !== undefined ? ` for ${formatDuration(r.duration_seconds)}` : ''}` : '';
  const text = escapeSlack(summary ? `${line}: ${summary}` : line);

  const field = (label: string, value: string): Record<string, unknown> => ({ type: 'mrkdwn', text: `*${label}*\n${escapeSlack(clip(value, 300))}` });
  const fields: Record<string, unknown>[] = [field('Requester', r.subject), field('Connection', r.connection)];
  if (r.policy !== undefined) fields.push(field('Policy', r.policy));
  if (r.duration_seconds !== undefined) fields.push(field('Duration', formatDuration(r.duration_seconds)));
  if (r.rule) fields.push(field('Rule', r.rule));
  fields.push(field('Reason', r.reason || '(none given)'));
  if (opening) {
    // Slack renders <!date^...> in each reader's own time zone; the text after | is the fallback.
    const seconds = Math.floor(r.expires_at / 1000);
    fields.push({ type: 'mrkdwn', text: `*Expires*\n<!date^${seconds}^{date_short_pretty} {time}|${new Date(r.expires_at).toISOString()}>` });
  }
  const approvers = `${r.approvers.min} of ${r.approvers.groups.join(', ')}${r.approvers.all_groups ? ' (from every group)' : ''}`;
  fields.push(field('Approvers', approvers));
  if (!opening && notice.actor) fields.push(field(verb === 'denied' ? 'Denied by' : 'Approved by', notice.actor));
  if (!opening && notice.comment) fields.push(field('Comment', notice.comment));

  const blocks: Record<string, unknown>[] = [
    // Header text is plain_text: Slack does not parse it, so it needs no escaping.
    { type: 'header', text: { type: 'plain_text', text: clip(`${noun} ${verb}: ${r.id}`, 150), emoji: false } },
    { type: 'section', fields: fields.slice(0, 10) },
  ];
  if (r.action) {
    const params = r.action.params?.length ?? 0;
    // Parameter values stay off the channel (they are often the sensitive part); the review page shows them.
    const note = params > 0 ? `\n_${params} bind parameter${params === 1 ? '' : 's'}: values on the review page_` : '';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Action* (${escapeSlack(clip(r.action.kind, 40))})\n\`\`\`${codeBlock(r.action.text)}\`\`\`${note}` } });
  }
  const link = safeLink(r.url);
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: link ? `<${link}|Open ${escapeSlack(r.id)} to approve or deny>` : `Open ${escapeSlack(r.id)} in Portcullis to approve or deny` } });
  return { text, blocks };
}

/**
 * The action text for a ``` block, escaped and at most SLACK_ACTION_MAX_CHARS long (counted after
 * escaping, so the section stays under Slack's limit), with a marker when cut. A run of three
 * backticks is broken up: agent-written text must not be able to close the block and format
 * what follows to mislead the approver.
 */
function codeBlock(raw: string): string {
  const text = raw.replace(/``(?=`)/g, '``\u200b');
  let out = '';
  let consumed = 0;
  for (const ch of text) {
    const e = escapeSlack(ch);
    if (out.length + e.length > SLACK_ACTION_MAX_CHARS) break;
    out += e;
    consumed += ch.length;
  }
  if (consumed < text.length) out += `\n… [truncated: ${text.length - consumed} more characters on the review page]`;
  return out === '' ? ' ' : out;
}

function safeLink(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    // URL.href already percent-encodes < > and spaces; | would end the link target.
    return u.href.replace(/\|/g, '%7C').replace(/&/g, '&amp;');
  } catch {
    return undefined;
  }
}

function oneLine(text: string, max: number): string {
  return clip(text.replace(/\s+/g, ' ').trim(), max);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function formatDuration(seconds: number): string {
  let s = Math.max(0, Math.round(seconds));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}
