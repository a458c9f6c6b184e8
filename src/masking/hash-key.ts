// Where the key of the `hash` mask comes from. Tokens must stay stable across restarts and
// replicas (a join on masked values spans sessions), so the key is per deployment, never
// random per process. Either `masking.hash_key` in the configuration, or a key derived from
// the vault master key: derived, not the master key itself, so a leak of one is not the other.
import { hkdfSync } from 'node:crypto';

export const MASK_HASH_INFO = 'portcullis-mask-hash';
const KEY_BYTES = 32;

/** HKDF-SHA-256(masterKey, salt: none, info: `portcullis-mask-hash`) -> 32 bytes. */
export function deriveMaskHashKey(masterKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), MASK_HASH_INFO, KEY_BYTES));
}

/**
 * The key from `masking.hash_key`: its UTF-8 bytes, used as they are (the schema asks for at
 * least 32 characters). Any encoding works as long as it never changes: changing it
 * changes every token.
 */
export function maskHashKeyFromConfig(hashKey: string): Buffer {
  return Buffer.from(hashKey, 'utf8');
}

/** The key for a deployment: the configured one, else derived from the master key. */
export function resolveMaskHashKey(configured: string | undefined, masterKey: Uint8Array): Buffer {
  return configured !== undefined ? maskHashKeyFromConfig(configured) : deriveMaskHashKey(masterKey);
}
