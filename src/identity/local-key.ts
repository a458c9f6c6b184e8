// The local issuer's Ed25519 signing key. Generated once, sealed by the vault (the private key
// never sits in the store in clear) and kept in `meta`. Insert-if-absent makes the first
// writer win, so replicas sharing a store that start together all end up with the same key.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { MetaRepository } from '../store/repositories/meta.ts';
import type { Vault } from '../vault/vault.ts';

export const SIGNING_KEY_META = 'local_issuer.signing_key';
const VAULT_CONTEXT = 'local-issuer-key';
export const LOCAL_ALG = 'EdDSA';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** Public half only (kty, crv, x) plus kid/alg/use: safe to publish. */
  readonly publicJwk: JWK;
}

async function generateSealed(vault: Vault): Promise<string> {
  const { privateKey } = await generateKeyPair(LOCAL_ALG, { crv: 'Ed25519', extractable: true });
  return vault.seal(JSON.stringify(await exportJWK(privateKey)), VAULT_CONTEXT);
}

export async function loadSigningKey(meta: MetaRepository, vault: Vault): Promise<SigningKey> {
  const sealed = (await meta.get(SIGNING_KEY_META)) ?? (await meta.putIfAbsent(SIGNING_KEY_META, await generateSealed(vault)));
  const jwk = JSON.parse(vault.open(sealed, VAULT_CONTEXT).toString('utf8')) as JWK;
  const pub: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  const kid = await calculateJwkThumbprint(pub);
  const privateKey = await importJWK(jwk, LOCAL_ALG);
  const publicKey = await importJWK(pub, LOCAL_ALG);
  if (privateKey instanceof Uint8Array || publicKey instanceof Uint8Array) throw new TypeError('expected an asymmetric key pair');
  return { kid, privateKey, publicKey, publicJwk: { ...pub, kid, alg: LOCAL_ALG, use: 'sig' } };
}
