// The master key never sits in the store: it comes from PORTCULLIS_MASTER_KEY or a key file
// (mode 0600). The demo config generates the file on first start and says where.
import { randomBytes, createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GatewayError } from '../core/errors.ts';

export const MASTER_KEY_ENV = 'PORTCULLIS_MASTER_KEY';
const KEY_BYTES = 32;

export interface MasterKey {
  readonly key: Buffer;
  /** Short fingerprint stored beside each envelope so a wrong key is named, not guessed at. */
  readonly id: string;
  /** Where it came from, for the start-up banner: `env` or the file path. */
  readonly source: string;
  /** True when this call created the key file. */
  readonly generated: boolean;
}

function decode(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) throw new GatewayError('PCS_VAULT_KEY_INVALID', { detail: `${where} must hold 32 bytes as base64 or hex` });
  return key;
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('portcullis-master-key-id\0').update(key).digest('hex').slice(0, 16);
}

export function loadMasterKey(opts: { file?: string; generateIfMissing: boolean; env?: NodeJS.ProcessEnv }): MasterKey {
  const env = opts.env ?? process.env;
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv) {
    const key = decode(fromEnv, MASTER_KEY_ENV);
    return { key, id: keyId(key), source: 'env', generated: false };
  }
  if (!opts.file) throw new GatewayError('PCS_VAULT_KEY_MISSING', { detail: 'neither is set' });
  if (existsSync(opts.file)) {
    const key = decode(readFileSync(opts.file, 'utf8'), opts.file);
    return { key, id: keyId(key), source: opts.file, generated: false };
  }
  if (!opts.generateIfMissing) throw new GatewayError('PCS_VAULT_KEY_MISSING', { detail: `${opts.file} does not exist` });
  const key = randomBytes(KEY_BYTES);
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  writeFileSync(opts.file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(opts.file, 0o600);
  return { key, id: keyId(key), source: opts.file, generated: true };
}
