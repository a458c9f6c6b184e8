// The small repositories of the SQLite store (meta, connections, credentials, tokens, SSH
// keys): plain Kysely queries on the main connection. Written in the subset of SQL that
// PostgreSQL shares, so a PostgreSQL store can reuse them over its own Kysely dialect.
import type { Kysely, Selectable } from 'kysely';
import type { ConnectionRepository, StoredConnection } from '../repositories/connections.ts';
import type { CredentialInfoRow, CredentialRepository, SealedCredential } from '../repositories/credentials.ts';
import type { MetaRepository } from '../repositories/meta.ts';
import type { RelayRepository, StoredRelay } from '../repositories/relays.ts';
import type { SshKeyRepository, StoredSshKey } from '../repositories/ssh-keys.ts';
import type { StoredToken, TokenRepository } from '../repositories/tokens.ts';
import type { Database, RelayTable, SshKeyTable, TokenTable } from '../schema.ts';

// bigint columns come back as numbers from SQLite and as strings from PostgreSQL: Number() them.
const num = (v: number): number => Number(v);
const numOrNull = (v: number | null): number | null => (v === null ? null : Number(v));

/** SQLite (and PostgreSQL) report a unique index violation with these. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

export class KyselyMeta implements MetaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async putIfAbsent(key: string, value: string): Promise<string> {
    await this.db.insertInto('meta').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
    return (await this.get(key)) ?? value;
  }

  async put(key: string, value: string): Promise<void> {
    await this.db.insertInto('meta').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
  }
}

export class KyselyConnections implements ConnectionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async hashes(): Promise<Map<string, string>> {
    const rows = await this.db.selectFrom('connections').select(['name', 'config_hash']).execute();
    return new Map(rows.map((r) => [r.name, r.config_hash]));
  }

  async put(c: StoredConnection): Promise<void> {
    await this.db
      .insertInto('connections')
      .values({ name: c.name, type: c.type, config: c.config, config_hash: c.configHash, updated_at: c.updatedAt })
      .onConflict((oc) => oc.column('name').doUpdateSet({ type: c.type, config: c.config, config_hash: c.configHash, updated_at: c.updatedAt }))
      .execute();
  }

  async delete(name: string): Promise<void> {
    await this.db.deleteFrom('connections').where('name', '=', name).execute();
  }
}

export class KyselyCredentials implements CredentialRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async put(c: SealedCredential): Promise<void> {
    const values = { kind: c.kind, sealed: c.sealed, updated_at: c.updatedAt, updated_by: c.updatedBy };
    await this.db
      .insertInto('credentials')
      .values({ connection: c.connection, ...values })
      .onConflict((oc) => oc.column('connection').doUpdateSet(values))
      .execute();
  }

  async get(connection: string): Promise<Pick<SealedCredential, 'kind' | 'sealed'> | undefined> {
    return this.db.selectFrom('credentials').select(['kind', 'sealed']).where('connection', '=', connection).executeTakeFirst();
  }

  async list(): Promise<CredentialInfoRow[]> {
    const rows = await this.db.selectFrom('credentials').select(['connection', 'kind', 'updated_at', 'updated_by']).orderBy('connection').execute();
    return rows.map((r) => ({ connection: r.connection, kind: r.kind, updatedAt: num(r.updated_at), updatedBy: r.updated_by }));
  }

  async has(connection: string): Promise<boolean> {
    return (await this.db.selectFrom('credentials').select('connection').where('connection', '=', connection).executeTakeFirst()) !== undefined;
  }

  async delete(connection: string): Promise<boolean> {
    const res = await this.db.deleteFrom('credentials').where('connection', '=', connection).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}

const toToken = (r: Selectable<TokenTable>): StoredToken => ({
  jti: r.jti,
  subject: r.subject,
  groups: r.groups,
  roles: r.roles,
  issuedAt: num(r.issued_at),
  expiresAt: num(r.expires_at),
  issuedBy: r.issued_by,
  description: r.description,
  revokedAt: numOrNull(r.revoked_at),
  revokedBy: r.revoked_by,
});

export class KyselyTokens implements TokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(t: StoredToken): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({ jti: t.jti, subject: t.subject, groups: t.groups, roles: t.roles, issued_at: t.issuedAt, expires_at: t.expiresAt, issued_by: t.issuedBy, description: t.description, revoked_at: t.revokedAt, revoked_by: t.revokedBy })
      .execute();
  }

  async delete(jti: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('jti', '=', jti).execute();
  }

  async get(jti: string): Promise<StoredToken | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('jti', '=', jti).executeTakeFirst();
    return row === undefined ? undefined : toToken(row);
  }

  async revoke(jti: string, at: number, by: string): Promise<boolean> {
    const res = await this.db.updateTable('tokens').set({ revoked_at: at, revoked_by: by }).where('jti', '=', jti).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async list(filter: { readonly subject?: string; readonly expiringAfter?: number }): Promise<StoredToken[]> {
    let q = this.db.selectFrom('tokens').selectAll();
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    if (filter.expiringAfter !== undefined) q = q.where('expires_at', '>', filter.expiringAfter);
    const rows = await q.orderBy('issued_at', 'desc').orderBy('jti').execute();
    return rows.map(toToken);
  }
}

const toSshKey = (r: Selectable<SshKeyTable>): StoredSshKey => ({
  id: r.id,
  fingerprint: r.fingerprint,
  keyType: r.key_type,
  publicKey: r.public_key,
  subject: r.subject,
  groups: r.groups,
  comment: r.comment,
  createdAt: num(r.created_at),
  createdBy: r.created_by,
  expiresAt: numOrNull(r.expires_at),
  revokedAt: numOrNull(r.revoked_at),
  revokedBy: r.revoked_by,
});

export class KyselySshKeys implements SshKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async all(): Promise<StoredSshKey[]> {
    return (await this.db.selectFrom('ssh_keys').selectAll().orderBy('created_at').orderBy('id').execute()).map(toSshKey);
  }

  async insert(k: StoredSshKey): Promise<boolean> {
    try {
      await this.db
        .insertInto('ssh_keys')
        .values({ id: k.id, fingerprint: k.fingerprint, key_type: k.keyType, public_key: k.publicKey, subject: k.subject, groups: k.groups, comment: k.comment, created_at: k.createdAt, created_by: k.createdBy, expires_at: k.expiresAt, revoked_at: k.revokedAt, revoked_by: k.revokedBy })
        .execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('ssh_keys').where('id', '=', id).execute();
  }

  async revoke(id: string, at: number, by: string): Promise<{ changed: boolean; key: StoredSshKey | undefined }> {
    const res = await this.db.updateTable('ssh_keys').set({ revoked_at: at, revoked_by: by }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return { changed: Number(res.numUpdatedRows) > 0, key: await this.get(id) };
  }

  async get(id: string): Promise<StoredSshKey | undefined> {
    const row = await this.db.selectFrom('ssh_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toSshKey(row);
  }

  async byFingerprint(fingerprint: string): Promise<StoredSshKey[]> {
    return (await this.db.selectFrom('ssh_keys').selectAll().where('fingerprint', '=', fingerprint).orderBy('created_at', 'desc').execute()).map(toSshKey);
  }

  async list(filter: { readonly subject?: string; readonly includeRevoked: boolean; readonly limit: number }): Promise<StoredSshKey[]> {
    let q = this.db.selectFrom('ssh_keys').selectAll();
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    if (!filter.includeRevoked) q = q.where('revoked_at', 'is', null);
    return (await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute()).map(toSshKey);
  }
}

const toRelay = (r: Selectable<RelayTable>): StoredRelay => ({
  name: r.name,
  secretHash: r.secret_hash,
  publicKey: r.public_key,
  createdAt: num(r.created_at),
  createdBy: r.created_by,
  enrolledAt: numOrNull(r.enrolled_at),
  revokedAt: numOrNull(r.revoked_at),
  revokedBy: r.revoked_by,
});

export class KyselyRelays implements RelayRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async all(): Promise<StoredRelay[]> {
    return (await this.db.selectFrom('relays').selectAll().orderBy('created_at').orderBy('name').execute()).map(toRelay);
  }

  async live(name: string): Promise<StoredRelay | undefined> {
    const row = await this.db.selectFrom('relays').selectAll().where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
    return row === undefined ? undefined : toRelay(row);
  }

  async insert(r: StoredRelay): Promise<boolean> {
    try {
      await this.db
        .insertInto('relays')
        .values({ name: r.name, secret_hash: r.secretHash, public_key: r.publicKey, created_at: r.createdAt, created_by: r.createdBy, enrolled_at: r.enrolledAt, revoked_at: r.revokedAt, revoked_by: r.revokedBy })
        .execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async enrol(name: string, secretHash: string, publicKey: string, at: number): Promise<boolean> {
    // One statement, so two relays racing with the same secret cannot both win it.
    const res = await this.db
      .updateTable('relays')
      .set({ secret_hash: null, public_key: publicKey, enrolled_at: at })
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .where('secret_hash', '=', secretHash)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async revoke(name: string, at: number, by: string): Promise<boolean> {
    const res = await this.db.updateTable('relays').set({ revoked_at: at, revoked_by: by }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }
}
