// Prometheus metrics for the whole process, served at /metrics by the admin API. One registry
// per gateway instance (tests start several in one process).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { analysisCacheStats } from '../core/analysis-cache-stats.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly apiRequests = new Counter({ name: 'portcullis_api_requests_total', help: 'Admin API requests by route and status', labelNames: ['route', 'status'] as const, registers: [this.registry] });
  readonly authentications = new Counter({ name: 'portcullis_authentications_total', help: 'Token verifications by result and method', labelNames: ['result', 'method'] as const, registers: [this.registry] });
  readonly decisions = new Counter({ name: 'portcullis_policy_decisions_total', help: 'Policy decisions by verdict and connection', labelNames: ['verdict', 'connection'] as const, registers: [this.registry] });
  readonly auditRecords = new Counter({ name: 'portcullis_audit_records_total', help: 'Audit records of the data path (logins, decisions) committed', registers: [this.registry] });
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
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }
}
