// Downstream credentials, sealed by the vault and kept in the store. Plaintext leaves this
// module only through `reveal`, which protocol adapters call when they dial the upstream.
import { registerSecret } from '../config/secrets.ts';
import type { AuditSink } from '../core/audit-event.ts';
import type { Store } from '../store/store.ts';
import type { Vault } from './vault.ts';

export const CREDENTIAL_KINDS = ['password', 'private_key', 'token'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

export interface CredentialInfo {
  readonly connection: string;
  readonly kind: string;
  readonly updatedAt: number;
  readonly updatedBy: string;
}

const context = (connection: string): string => `credential:${connection}`;

export class CredentialStore {
  readonly #store: Store;
  readonly #vault: Vault;
  readonly #audit: AuditSink;

  constructor(store: Store, vault: Vault, audit: AuditSink) {
    this.#store = store;
    this.#vault = vault;
    this.#audit = audit;
  }

  async set(connection: string, secret: string, opts: { kind: CredentialKind; actor: string }): Promise<void> {
    const sealed = this.#vault.seal(secret, context(connection));
    const now = Date.now();
    await this.#store.db
      .insertInto('credentials')
      .values({ connection, kind: opts.kind, sealed, updated_at: now, updated_by: opts.actor })
      .onConflict((oc) => oc.column('connection').doUpdateSet({ kind: opts.kind, sealed, updated_at: now, updated_by: opts.actor }))
      .execute();
    await this.#audit.append({ type: 'credential.set', actor: opts.actor, data: { connection, kind: opts.kind, key_id: this.#vault.keyId } });
  }

  /** The clear secret, for the adapter that dials the upstream. Never log or return it. */
  async reveal(connection: string): Promise<{ kind: string; secret: string } | undefined> {
    const row = await this.#store.db.selectFrom('credentials').select(['kind', 'sealed']).where('connection', '=', connection).executeTakeFirst();
    if (!row) return undefined;
    const secret = this.#vault.open(row.sealed, context(connection)).toString('utf8');
    registerSecret(secret);
    return { kind: row.kind, secret };
  }

  async list(): Promise<CredentialInfo[]> {
    const rows = await this.#store.db.selectFrom('credentials').select(['connection', 'kind', 'updated_at', 'updated_by']).orderBy('connection').execute();
    return rows.map((r) => ({ connection: r.connection, kind: r.kind, updatedAt: Number(r.updated_at), updatedBy: r.updated_by }));
  }

  async has(connection: string): Promise<boolean> {
    const row = await this.#store.db.selectFrom('credentials').select('connection').where('connection', '=', connection).executeTakeFirst();
    return row !== undefined;
  }

  async delete(connection: string, actor: string): Promise<boolean> {
    const res = await this.#store.db.deleteFrom('credentials').where('connection', '=', connection).executeTakeFirst();
    const deleted = Number(res.numDeletedRows) > 0;
    if (deleted) await this.#audit.append({ type: 'credential.deleted', actor, data: { connection } });
    return deleted;
  }
}
