// Prometheus metrics for the whole process, served at /metrics by the admin API. One registry
// per gateway instance (tests start several in one process).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { analysisCacheStats } from '../core/analysis-cache-stats.ts';

/** One time series of a counter counted on the hot path: `cell.value++`. */
export interface CounterCell {
  value: number;
}

/**
 * The cells of one labelled counter, kept as plain numbers and copied into the metric at
 * scrape time. prom-client hashes and validates the labels on every inc(), even through a
 * child from labels(); a decision per statement should not pay for that.
 */
export class CounterCells<L extends string> {
  readonly #cells = new Map<string, { readonly labels: Readonly<Record<L, string>>; readonly cell: CounterCell }>();

  /** The cell of these label values (created at zero). Cache it where it is used per statement. */
  cell(labels: Readonly<Record<L, string>>): CounterCell {
    const key = Object.values(labels).join('\u0000');
    let found = this.#cells.get(key);
    if (found === undefined) this.#cells.set(key, (found = { labels: { ...labels }, cell: { value: 0 } }));
    return found.cell;
  }

  /** Copies the counts into `counter` (a collect() callback). */
  copyTo(counter: Counter<L>): void {
    counter.reset();
    for (const { labels, cell } of this.#cells.values()) if (cell.value > 0) counter.inc(labels as Partial<Record<L, string>>, cell.value);
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly apiRequests = new Counter({ name: 'portcullis_api_requests_total', help: 'Admin API requests by route and status', labelNames: ['route', 'status'] as const, registers: [this.registry] });
  readonly authentications = new Counter({ name: 'portcullis_authentications_total', help: 'Token verifications by result and method', labelNames: ['result', 'method'] as const, registers: [this.registry] });
  /** Policy decisions by verdict and connection: count with `decisions.cell({ verdict, connection }).value++`. */
  readonly decisions = new CounterCells<'verdict' | 'connection'>();
  /** Audit records of the data path committed: count with `auditRecords.value++`. */
  readonly auditRecords: CounterCell = { value: 0 };
  readonly analysisCache = new Counter({
    name: 'portcullis_sql_analysis_cache_lookups_total',
    help: 'Statement analyses answered from the cache (hit) or computed (miss), by layer: policy (SQL analysis) or masking (lineage); per process',
    labelNames: ['layer', 'result'] as const,
    registers: [this.registry],
    collect() {
      // The counts live beside the caches (src/core/analysis-cache-stats.ts); copied at scrape time.
      this.reset();
      for (const layer of ['policy', 'masking'] as const) {
        this.inc({ layer, result: 'hit' }, analysisCacheStats[layer].hits);
        this.inc({ layer, result: 'miss' }, analysisCacheStats[layer].misses);
      }
    },
  });
  readonly sessions = new Gauge({ name: 'portcullis_sessions_active', help: 'Open agent sessions by protocol', labelNames: ['protocol'] as const, registers: [this.registry] });

  constructor() {
    const decisions = this.decisions;
    new Counter({
      name: 'portcullis_policy_decisions_total',
      help: 'Policy decisions by verdict and connection',
      labelNames: ['verdict', 'connection'] as const,
      registers: [this.registry],
      collect() {
        decisions.copyTo(this);
      },
    });
    const auditRecords = this.auditRecords;
    new Counter({
      name: 'portcullis_audit_records_total',
      help: 'Audit records of the data path (logins, decisions) committed',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(auditRecords.value);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }

  /** Counts of the audit witnesses (delivered, failed, retried, skipped heads), read at scrape time. */
  observeAuditWitnesses(source: () => readonly { readonly witness: string; readonly stats: Readonly<Record<'delivered' | 'failed' | 'retried' | 'skipped', number>> }[]): void {
    new Counter({
      name: 'portcullis_audit_witness_heads_total',
      help: 'Signed audit heads handed to each witness, by result: delivered, failed (given up), retried (attempts repeated), skipped (not newer than what the witness holds)',
      labelNames: ['witness', 'result'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { witness, stats } of source()) for (const result of ['delivered', 'failed', 'retried', 'skipped'] as const) this.inc({ witness, result }, stats[result]);
      },
    });
  }
}
