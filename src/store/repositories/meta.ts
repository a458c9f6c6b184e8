// Small key/value settings that belong to the deployment, not to a config file (generated key
// material sealed by the vault, the hash of the last configuration, for instance).
export interface MetaRepository {
  get(key: string): Promise<string | undefined>;
  /** Insert `value` unless the key exists; returns the value that is stored (first writer wins). */
  putIfAbsent(key: string, value: string): Promise<string>;
  /** Insert or replace. */
  put(key: string, value: string): Promise<void>;
}
