// Keeps the store's copy of the configured connections (secrets removed) in step with the
// configuration file, and audits every difference as a config change.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical-json.ts';
import type { AuditSink } from '../core/audit-event.ts';
import type { ConnectionConfig } from '../config/schema.ts';
import type { Store } from '../store/store.ts';
import { publicView } from './public-view.ts';

export interface SyncResult {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
}

export async function syncConnections(store: Pick<Store, 'connections'>, connections: readonly ConnectionConfig[], audit: AuditSink, actor: string): Promise<SyncResult> {
  const existing = await store.connections.hashes();
  const result: SyncResult = { added: [], changed: [], removed: [] };
  const now = Date.now();
  for (const conn of connections) {
    const config = canonicalJson(publicView(conn));
    const hash = createHash('sha256').update(config).digest('hex');
    const previous = existing.get(conn.name);
    existing.delete(conn.name);
    if (previous === hash) continue;
    await store.connections.put({ name: conn.name, type: conn.type, config, configHash: hash, updatedAt: now });
    (previous === undefined ? result.added : result.changed).push(conn.name);
  }
  for (const name of existing.keys()) {
    await store.connections.delete(name);
    result.removed.push(name);
  }
  if (result.added.length + result.changed.length + result.removed.length > 0) {
    await audit.append({ type: 'config.changed', actor, data: { connections: { ...result } } });
  }
  return result;
}
