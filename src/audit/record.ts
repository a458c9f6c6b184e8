// An audit row as callers see it: camelCase, `data` parsed. Bigint columns come back as numbers
// from SQLite and as strings from PostgreSQL, hence Number() on the way out.
import { GatewayError } from '../core/errors.ts';
import type { AuditRow } from '../store/repositories/audit.ts';

export interface AuditRecord {
  seq: number;
  /** Epoch milliseconds. */
  at: number;
  type: string;
  actor: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export function toAuditRecord(row: AuditRow): AuditRecord {
  let data: unknown;
  try {
    data = JSON.parse(row.data);
  } catch {
    data = undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new GatewayError('PCS_AUDIT_CHAIN_BROKEN', { seq: Number(row.seq), reason: 'its data is not a JSON object; run `portcullis audit verify`' });
  }
  return { seq: Number(row.seq), at: Number(row.at), type: row.type, actor: row.actor, data: data as Record<string, unknown>, prevHash: row.prevHash, hash: row.hash };
}
