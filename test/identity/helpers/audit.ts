// An in-memory AuditSink: tests read back what the identity layer appended.
import type { AuditEvent, AuditSink } from '../../../src/core/audit-event.ts';

export class MemoryAudit implements AuditSink {
  readonly events: AuditEvent[] = [];

  append(event: AuditEvent): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }

  ofType(type: AuditEvent['type']): AuditEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}
