// The store's copy of the configured connections (secrets removed), kept in step with the
// configuration file so that a change between two starts can be audited.
export interface StoredConnection {
  readonly name: string;
  readonly type: string;
  /** The connection's configuration as canonical JSON, secrets removed. */
  readonly config: string;
  /** sha256 of `config`. */
  readonly configHash: string;
  readonly updatedAt: number;
}

export interface ConnectionRepository {
  /** Every stored connection's name and config hash. */
  hashes(): Promise<Map<string, string>>;
  /** Insert or replace by name. */
  put(connection: StoredConnection): Promise<void>;
  delete(name: string): Promise<void>;
}
