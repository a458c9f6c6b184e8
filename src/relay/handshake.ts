// What the gateway and a relay say to each other over the tunnel, apart from the streams
// themselves (docs/relay.md, "Handshake"). The relay proves its key by signing TLS exported
// keying material (RFC 5705) with its Ed25519 key: the proof is bound to this one TLS
// connection, so it cannot be replayed on another. node:crypto signs and verifies.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export const HELLO_PATH = '/portcullis/relay/hello';
export const H = {
  name: 'portcullis-relay-name',
  version: 'portcullis-relay-version',
  key: 'portcullis-relay-key',
  proof: 'portcullis-relay-proof',
  secret: 'portcullis-relay-secret',
  /** On a refused CONNECT: why, in words. */
  reason: 'portcullis-relay-reason',
} as const;

const EXPORTER_LABEL = 'EXPORTER-portcullis-relay';
const EXPORTER_LENGTH = 32;
const EXPORTER_CONTEXT = Buffer.from('v1');

/** The bytes both ends derive from the TLS session and the relay signs. */
export function channelBinding(socket: TLSSocket): Buffer {
  return socket.exportKeyingMaterial(EXPORTER_LENGTH, EXPORTER_LABEL, EXPORTER_CONTEXT);
}

export function prove(socket: TLSSocket, privateKey: KeyObject): string {
  return sign(null, channelBinding(socket), privateKey).toString('base64');
}

/** `publicKey`: SPKI DER, base64, as stored. */
export function proofValid(socket: TLSSocket, publicKey: string, proof: string): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, channelBinding(socket), key, Buffer.from(proof, 'base64'));
  } catch {
    return false;
  }
}

export function spkiBase64(publicKey: KeyObject): string {
  return publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
}

/** What the store keeps of an enrolment secret. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret.trim()).digest('hex');
}
