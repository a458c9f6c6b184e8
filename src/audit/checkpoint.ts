// Signed checkpoints: an Ed25519 signature over one record's seq and hash. They stop an attacker
// who can write the database from rewriting history and re-hashing the chain after the edit,
// because the attacker does not hold the signing key (which never sits in the store).
import { sign, verify, type KeyObject } from 'node:crypto';

/** The exact bytes signed (UTF-8): a fixed domain prefix and version, then seq and hash. */
export function checkpointMessage(seq: number, hash: string): Buffer {
  return Buffer.from(`portcullis-audit-checkpoint\nv1\n${seq}\n${hash}`, 'utf8');
}

/** Base64 Ed25519 signature, as stored in audit_checkpoints.signature. */
export function signCheckpoint(seq: number, hash: string, privateKey: KeyObject): string {
  return sign(null, checkpointMessage(seq, hash), privateKey).toString('base64');
}

export function checkpointSignatureValid(seq: number, hash: string, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, checkpointMessage(seq, hash), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    // A malformed signature is simply not a valid one.
    return false;
  }
}
