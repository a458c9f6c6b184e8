// The gateway's answers to the upstream's auth methods, with the vaulted password: each
// method's scramble is node:crypto hashes and RSA, nothing hand-rolled.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods.html
import { constants, createHash, publicEncrypt } from 'node:crypto';

function sha(alg: 'sha1' | 'sha256', ...parts: Buffer[]): Buffer {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

/** mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); empty for an empty password. */
export function nativePassword(password: string, scramble: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const s1 = sha('sha1', Buffer.from(password, 'utf8'));
  return xor(s1, sha('sha1', scramble.subarray(0, 20), sha('sha1', s1)));
}

/** caching_sha2_password fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble). */
export function cachingSha2Password(password: string, scramble: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const s1 = sha('sha256', Buffer.from(password, 'utf8'));
  return xor(s1, sha('sha256', sha('sha256', s1), scramble.subarray(0, 20)));
}

/** The full path without TLS: (pw + NUL) XOR scramble, encrypted with the server's RSA public key (OAEP). */
export function rsaPassword(password: string, scramble: Buffer, publicKeyPem: string): Buffer {
  const clear = xor(Buffer.from(`${password}\0`, 'utf8'), scramble.subarray(0, 20));
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, clear);
}

/** The password in clear, NUL-terminated (over TLS only, or the full path on a TLS link). */
export function clearPassword(password: string): Buffer {
  return Buffer.from(`${password}\0`, 'utf8');
}
