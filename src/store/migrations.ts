// Schema migrations, written with Kysely's schema builder so they run on SQLite and PostgreSQL
// alike. Append new migrations; never edit one that has shipped.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('meta').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();

      await db.schema
        .createTable('connections')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('config_hash', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('credentials')
        .addColumn('connection', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('issued_by', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_by', 'text')
        .execute();
      await db.schema.createIndex('tokens_subject').on('tokens').column('subject').execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('connection', 'text', (c) => c.notNull())
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('client_addr', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('status', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('session_events')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('session_events_session').on('session_events').columns(['session_id', 'seq']).unique().execute();

      await db.schema
        .createTable('reviews')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('connection', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('decided_at', 'bigint')
        .addColumn('decided_by', 'text')
        .addColumn('comment', 'text')
        .execute();

      await db.schema
        .createTable('audit')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .execute();
    },
  },

  // What `sessions list` shows without reading every event: the byte and statement counts an
  // adapter reports at the end, how many events the recorder had to drop, and the adapter's
  // free-form end summary (JSON). SQLite adds one column per ALTER TABLE, hence one call each.
  '0002_session_summary': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('sessions').addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('sessions').addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('sessions').addColumn('statements', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('sessions').addColumn('dropped', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('sessions').addColumn('summary', 'text').execute();
      // Listing pages newest first; filters by subject or connection are the common ones.
      await db.schema.createIndex('sessions_started').on('sessions').columns(['started_at', 'id']).execute();
      await db.schema.createIndex('sessions_subject').on('sessions').columns(['subject', 'started_at']).execute();
      await db.schema.createIndex('sessions_connection').on('sessions').columns(['connection', 'started_at']).execute();
      // Crash recovery looks for sessions that never ended.
      await db.schema.createIndex('sessions_open').on('sessions').column('ended_at').execute();
    },
  },

  // Reviews of one action and access requests share a table: the kind says which, `details`
  // holds what differs (approvers, mode, the policy and duration asked for), and an approval
  // becomes a grant with uses left until a time. Votes are one row per approver.
  '0003_review_votes': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('reviews').addColumn('kind', 'text', (c) => c.notNull().defaultTo('action')).execute();
      await db.schema.alterTable('reviews').addColumn('details', 'text', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema.alterTable('reviews').addColumn('uses_left', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('reviews').addColumn('grant_until', 'bigint').execute();
      await db.schema.createIndex('reviews_status').on('reviews').columns(['status', 'expires_at']).execute();
      await db.schema.createIndex('reviews_subject').on('reviews').columns(['subject', 'created_at']).execute();
      await db.schema
        .createTable('review_votes')
        .addColumn('review_id', 'text', (c) => c.notNull())
        .addColumn('voter', 'text', (c) => c.notNull())
        .addColumn('vote', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('review_votes_pk', ['review_id', 'voter'])
        .execute();
    },
  },

  // Public keys an administrator registered for a subject (SSH logins by key). A key is never
  // deleted, only revoked, so the audit log's ids keep pointing at a row; the same key may be
  // registered again once revoked, hence uniqueness among the rows not revoked only.
  '0004_ssh_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ssh_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('key_type', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_by', 'text')
        .execute();
      await db.schema.createIndex('ssh_keys_live_fingerprint').on('ssh_keys').column('fingerprint').unique().where(sql.ref('revoked_at'), 'is', null).execute();
      await db.schema.createIndex('ssh_keys_subject').on('ssh_keys').columns(['subject', 'created_at']).execute();
    },
  },

  // Relays (docs/relay.md): revoked rows are kept, so uniqueness is among the live ones.
  '0005_relays': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('relays')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text')
        .addColumn('public_key', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('enrolled_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_by', 'text')
        .execute();
      await db.schema.createIndex('relays_live_name').on('relays').column('name').unique().where(sql.ref('revoked_at'), 'is', null).execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
