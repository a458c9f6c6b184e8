// The `webhook` witness: each signed head is POSTed as the JSON of a witness line to a URL run
// by someone else (a transparency service, a SIEM's HTTP input). Delivery runs in the
// background with a timeout per attempt and a few retries; a head that arrives while another is
// being delivered replaces any head still waiting (the newest head covers the older ones). A
// failure is logged and counted, and never holds up an append.
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../telemetry/logger.ts';
import { newStats, witnessLine, type Witness, type WitnessHead, type WitnessStats } from './witness.ts';

export interface WebhookWitnessOptions {
  readonly url: string;
  /** Per attempt, in milliseconds. */
  readonly timeoutMs: number;
  /** Attempts after the first one fails. */
  readonly retries: number;
  /** Extra request headers (for example the receiver's Authorization). */
  readonly headers: Readonly<Record<string, string>>;
  readonly logger: Logger;
}

/** Backoff between attempts: 250 ms, doubled each time, at most 5 s. */
function backoff(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 5000);
}

function describe(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return err instanceof Error ? err.message : String(err);
}

export class WebhookWitness implements Witness {
  readonly name: string;
  readonly stats: WitnessStats = newStats();
  readonly #opts: WebhookWitnessOptions;
  /** The head waiting for the delivery in flight to end. */
  #next: WitnessHead | undefined;
  #sentSeq = 0;
  #running: Promise<void> | undefined;
  /** Aborts the attempt in flight and the backoff at close. */
  readonly #stop = new AbortController();

  constructor(opts: WebhookWitnessOptions) {
    // The host only: a path or query may carry a token.
    this.name = `webhook:${new URL(opts.url).host}`;
    this.#opts = opts;
  }

  publish(head: WitnessHead): void {
    if (this.#stop.signal.aborted) return;
    if (head.seq <= Math.max(this.#sentSeq, this.#next?.seq ?? 0)) {
      this.stats.skipped++;
      return;
    }
    if (this.#next) this.stats.skipped++;
    this.#next = head;
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#next && !this.#stop.signal.aborted) {
      const head = this.#next;
      this.#next = undefined;
      await this.#deliver(head);
    }
  }

  async #deliver(head: WitnessHead): Promise<void> {
    const body = witnessLine(head);
    let reason = '';
    for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
      if (attempt > 0) {
        this.stats.retried++;
        try {
          await delay(backoff(attempt - 1), undefined, { signal: this.#stop.signal });
        } catch {
          break; // closing
        }
      }
      try {
        const res = await fetch(this.#opts.url, {
          method: 'POST',
          headers: { ...this.#opts.headers, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.#opts.timeoutMs), this.#stop.signal]),
        });
        // The body is not needed; reading it lets the connection be reused.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.stats.delivered++;
          this.#sentSeq = Math.max(this.#sentSeq, head.seq);
          return;
        }
        reason = `HTTP ${res.status}`;
      } catch (err) {
        reason = describe(err);
      }
      this.#opts.logger.debug({ witness: this.name, seq: head.seq, attempt: attempt + 1, reason }, 'audit witness: delivery attempt failed');
    }
    this.stats.failed++;
    this.#opts.logger.error({ witness: this.name, seq: head.seq, attempts: this.#opts.retries + 1, reason }, 'audit witness: head not delivered');
  }

  /** Lets the delivery in flight (and the head waiting) finish until `deadline`, then aborts. */
  async close(deadline: number): Promise<void> {
    const running = this.#running;
    if (running) {
      const timer = setTimeout(() => this.#stop.abort(), Math.max(0, deadline - Date.now()));
      await running;
      clearTimeout(timer);
    }
    this.#stop.abort();
  }
}
