// Prometheus metrics for the whole process, served at /metrics by the admin API. One registry
// per gateway instance (tests start several in one process).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly apiRequests = new Counter({ name: 'portcullis_api_requests_total', help: 'Admin API requests by route and status', labelNames: ['route', 'status'] as const, registers: [this.registry] });
  readonly authentications = new Counter({ name: 'portcullis_authentications_total', help: 'Token verifications by result and method', labelNames: ['result', 'method'] as const, registers: [this.registry] });
  readonly decisions = new Counter({ name: 'portcullis_policy_decisions_total', help: 'Policy decisions by verdict and connection', labelNames: ['verdict', 'connection'] as const, registers: [this.registry] });
  readonly auditRecords = new Counter({ name: 'portcullis_audit_records_total', help: 'Audit records of the data path (logins, decisions) committed', registers: [this.registry] });
  readonly sessions = new Gauge({ name: 'portcullis_sessions_active', help: 'Open agent sessions by protocol', labelNames: ['protocol'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }
}
