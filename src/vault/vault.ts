// AES-256-GCM envelopes under the master key (node:crypto; nothing hand-rolled). Each envelope
// binds a context string as additional authenticated data, so a ciphertext copied from one
// connection's row to another's fails to open instead of leaking the wrong credential.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GatewayError } from '../core/errors.ts';
import type { MasterKey } from './master-key.ts';

const IV_BYTES = 12;

interface Envelope {
  v: 1;
  alg: 'A256GCM';
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

export class Vault {
  readonly #key: Buffer;
  readonly keyId: string;

  constructor(master: MasterKey) {
    this.#key = master.key;
    this.keyId = master.id;
  }

  /** Encrypt `plaintext`; `context` (e.g. `credential:app-db`) must be given again to open it. */
  seal(plaintext: string | Buffer, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
    const env: Envelope = { v: 1, alg: 'A256GCM', kid: this.keyId, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
    return JSON.stringify(env);
  }

  open(sealed: string, context: string): Buffer {
    let env: Envelope;
    try {
      env = JSON.parse(sealed) as Envelope;
    } catch {
      throw new GatewayError('PCS_VAULT_DECRYPT_FAILED', { what: context });
    }
    if (env.v !== 1 || env.alg !== 'A256GCM') throw new GatewayError('PCS_VAULT_DECRYPT_FAILED', { what: context });
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(env.iv, 'base64'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(env.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(env.ct, 'base64')), decipher.final()]);
    } catch {
      throw new GatewayError('PCS_VAULT_DECRYPT_FAILED', { what: env.kid === this.keyId ? context : `${context} (sealed under master key ${env.kid}, this key is ${this.keyId})` });
    }
  }
}
