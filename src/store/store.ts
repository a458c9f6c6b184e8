// The one way into persistence: a Store is a set of repositories, one per kind of state, so
// that callers never see a database handle and a second backend (PostgreSQL, for several
// gateway replicas) is a second implementation of these interfaces, not a rewrite of callers.
// The store URL picks the implementation.
import { GatewayError } from '../core/errors.ts';
import type { AuditRepository } from './repositories/audit.ts';
import type { ConnectionRepository } from './repositories/connections.ts';
import type { CredentialRepository } from './repositories/credentials.ts';
import type { MetaRepository } from './repositories/meta.ts';
import type { RecordingRepository } from './repositories/recordings.ts';
import type { ReviewRepository } from './repositories/reviews.ts';
import type { RelayRepository } from './repositories/relays.ts';
import type { SshKeyRepository } from './repositories/ssh-keys.ts';
import type { TokenRepository } from './repositories/tokens.ts';
import { openSqliteStore } from './sqlite/store.ts';

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** The URL the store was opened with. */
  readonly url: string;
  /** The database file, or undefined when there is none (`sqlite::memory:`, a server). */
  readonly file: string | undefined;
  readonly meta: MetaRepository;
  readonly connections: ConnectionRepository;
  readonly credentials: CredentialRepository;
  readonly tokens: TokenRepository;
  readonly sshKeys: SshKeyRepository;
  readonly relays: RelayRepository;
  readonly reviews: ReviewRepository;
  readonly audit: AuditRepository;
  readonly recordings: RecordingRepository;
  /** Resolves when the store answers a trivial query (readiness). */
  ping(): Promise<void>;
  /** Finishes what background writers were handed, then closes. */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /**
   * SQLite with a file: run the audit log's and the recorder's writes in a worker thread
   * (default true). False runs them on the caller's thread, as a store without a file does.
   */
  readonly writerThread?: boolean;
}

/** Open the store named by `url` (`sqlite:PATH`, `sqlite::memory:`) and run pending migrations. */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) return openSqliteStore(url, opts.writerThread ?? true);
  throw new GatewayError('PCS_STORE_UNSUPPORTED', { url: url.replace(/\/\/[^@/]*@/, '//***@') });
}
