// The Ed25519 key that signs audit checkpoints. The private key lives in a PEM file (mode 0600)
// outside the store, so write access to the database is not enough to forge a checkpoint. The
// public half is written beside it as `<file>.pub`; operators should keep a copy elsewhere.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GatewayError } from '../core/errors.ts';

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  /** True when this call generated the key file. */
  readonly created: boolean;
}

/** First 16 hex chars of SHA-256 over the raw 32-byte Ed25519 public key. */
export function publicKeyId(publicKey: KeyObject): string {
  const { x } = publicKey.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new TypeError('not an Ed25519 public key');
  return createHash('sha256').update(Buffer.from(x, 'base64url')).digest('hex').slice(0, 16);
}

export function publicKeyFile(file: string): string {
  return `${file}.pub`;
}

function invalid(file: string, detail: string, cause?: unknown): GatewayError {
  return new GatewayError('PCS_AUDIT_KEY_INVALID', { file, detail }, { cause });
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
  }
}

function requireEd25519(key: KeyObject, file: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw invalid(file, `it is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
  return key;
}

function writePublicPem(file: string, publicKey: KeyObject): void {
  const pub = publicKeyFile(file);
  const tmp = `${pub}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  renameSync(tmp, pub);
}

/**
 * Publish a new key at `file` atomically: write a temporary file, then hard-link it into place,
 * which fails if another process (a second replica starting at the same moment) won the race.
 * Returns undefined when the file already exists.
 */
function tryCreate(file: string): SigningKey | undefined {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw invalid(file, 'cannot create it', err);
  } finally {
    unlinkSync(tmp);
  }
  chmodSync(file, 0o600);
  writePublicPem(file, publicKey);
  return { privateKey, publicKey, keyId: publicKeyId(publicKey), created: true };
}

function loadExisting(file: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readPem(file));
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw invalid(file, 'it is not a PEM private key', err);
  }
  requireEd25519(privateKey, file);
  const publicKey = createPublicKey(privateKey);
  const keyId = publicKeyId(publicKey);
  const pub = publicKeyFile(file);
  if (!existsSync(pub)) {
    try {
      writePublicPem(file, publicKey);
    } catch {
      // A read-only key folder (a mounted secret) is fine: the .pub is a convenience, and
      // `portcullis audit verify --public-key` accepts the private PEM too.
    }
  }
  // A .pub that names another key would make every later verification fail: say so now.
  else if (loadPublicKey(pub).keyId !== keyId) throw invalid(file, `${pub} holds a different public key; remove it to have it rewritten`);
  return { privateKey, publicKey, keyId, created: false };
}

/** Load the Ed25519 private key at `file`, generating it (and `<file>.pub`) on first use. */
export function loadOrCreateSigningKey(file: string): SigningKey {
  if (!existsSync(file)) {
    const created = tryCreate(file);
    if (created) return created;
  }
  return loadExisting(file);
}

/** The verification key from a `.pub` PEM or from the private PEM itself. */
export function loadPublicKey(file: string): { publicKey: KeyObject; keyId: string } {
  const pem = readPem(file);
  let publicKey: KeyObject;
  try {
    publicKey = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (err) {
    throw invalid(file, 'it is not a PEM public or private key', err);
  }
  requireEd25519(publicKey, file);
  return { publicKey, keyId: publicKeyId(publicKey) };
}
