// Downstream credentials, sealed by the vault and kept in the store. Plaintext leaves this
// module only through `reveal`, which protocol adapters call when they dial the upstream.
import { registerSecret } from '../config/secrets.ts';
import type { AuditSink } from '../core/audit-event.ts';
import type { CredentialRepository } from '../store/repositories/credentials.ts';
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
  readonly #repo: CredentialRepository;
  readonly #vault: Vault;
  readonly #audit: AuditSink;

  /** Only the store's credentials repository is used. */
  constructor(store: Pick<Store, 'credentials'>, vault: Vault, audit: AuditSink) {
    this.#repo = store.credentials;
    this.#vault = vault;
    this.#audit = audit;
  }

  async set(connection: string, secret: string, opts: { kind: CredentialKind; actor: string }): Promise<void> {
    const sealed = this.#vault.seal(secret, context(connection));
    const now = Date.now();
    await this.#repo.put({ connection, kind: opts.kind, sealed, updatedAt: now, updatedBy: opts.actor });
    await this.#audit.append({ type: 'credential.set', actor: opts.actor, data: { connection, kind: opts.kind, key_id: this.#vault.keyId } });
  }

  /** The clear secret, for the adapter that dials the upstream. Never log or return it. */
  async reveal(connection: string): Promise<{ kind: string; secret: string } | undefined> {
    const row = await this.#repo.get(connection);
    if (!row) return undefined;
    const secret = this.#vault.open(row.sealed, context(connection)).toString('utf8');
    registerSecret(secret);
    return { kind: row.kind, secret };
  }

  async list(): Promise<CredentialInfo[]> {
    return this.#repo.list();
  }

  async has(connection: string): Promise<boolean> {
    return this.#repo.has(connection);
  }

  async delete(connection: string, actor: string): Promise<boolean> {
    const deleted = await this.#repo.delete(connection);
    if (deleted) await this.#audit.append({ type: 'credential.deleted', actor, data: { connection } });
    return deleted;
  }
}
