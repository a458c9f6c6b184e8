// How the identity token reaches the gateway in clear through a MySQL login. The greeting
// offers caching_sha2_password; whatever the client answers with, the gateway never accepts a
// scramble (it has no password hash to check one against: the password IS the token):
// - caching_sha2_password: "perform full authentication", so the client sends the password in
//   clear over TLS, or, on plain TCP, encrypted with the listener's RSA key (which it asks for);
// - mysql_clear_password: the token is the first answer;
// - anything else (mysql_native_password, client_ed25519...): an AuthSwitchRequest to
//   mysql_clear_password.
// A client without plugin authentication cannot switch: refused with what to change.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
import { constants, generateKeyPair, privateDecrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { GatewayError } from '../../core/errors.ts';
import { Auth, Cap } from './codec/constants.ts';
import { encodeAuthMoreData, encodeAuthSwitch, type HandshakeResponse } from './codec/handshake.ts';
import type { Packet } from './codec/framing.ts';

const generate = promisify(generateKeyPair);

/** The listener's side of the exchange: send a payload (the next sequence id is the caller's), wait for the client's. */
export interface AuthIo {
  send(payload: Buffer): void;
  next(): Promise<Packet>;
}

/** The RSA pair caching_sha2_password clients encrypt the token with on plain TCP; made once per listener. */
export class RsaKey {
  #pair: Promise<{ publicKey: string; privateKey: KeyObject }> | undefined;

  get(): Promise<{ publicKey: string; privateKey: KeyObject }> {
    this.#pair ??= generate('rsa', { modulusLength: 2048 }).then(({ publicKey, privateKey }) => ({ publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey }));
    return this.#pair;
  }
}

function untilNul(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

const NATIVE_ONLY_FIX = 'use a client with plugin authentication (any mariadb, mysql 5.5+ or mysql2 client), or turn on its mysql_clear_password plugin';

/** The token the client sends as its password; GatewayError when it cannot send one in clear. */
export async function receiveToken(io: AuthIo, response: HandshakeResponse, scramble: Buffer, tls: boolean, rsa: RsaKey): Promise<string> {
  const plugin = response.authPlugin;
  if ((response.capabilities & Cap.PLUGIN_AUTH) === 0 || plugin === undefined) {
    throw new GatewayError('PCS_MYSQL_AUTH_PLUGIN_UNSUPPORTED', { reason: 'the client cannot switch auth methods (no CLIENT_PLUGIN_AUTH), so it can only send a mysql_native_password scramble', fix: NATIVE_ONLY_FIX });
  }
  if (plugin === 'mysql_clear_password') return untilNul(response.authResponse);
  if (plugin === 'caching_sha2_password') {
    io.send(encodeAuthMoreData([Auth.PERFORM_FULL_AUTH]));
    let reply = await io.next();
    if (tls) return untilNul(reply.payload);
    if (reply.payload.length === 1 && reply.payload[0] === Auth.REQUEST_PUBLIC_KEY) {
      const { publicKey } = await rsa.get();
      io.send(encodeAuthMoreData(Buffer.from(publicKey, 'latin1')));
      reply = await io.next();
    } else if (reply.payload.length !== 256) {
      throw new GatewayError('PCS_MYSQL_AUTH_PLUGIN_UNSUPPORTED', { reason: 'caching_sha2_password without TLS needs the RSA key exchange', fix: 'connect with TLS, or let the client fetch the server key (mysql: --get-server-public-key)' });
    }
    const { privateKey } = await rsa.get();
    let clear: Buffer;
    try {
      clear = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, reply.payload);
    } catch {
      // Encrypted with another key (a stale --server-public-key-path): not a token.
      throw new GatewayError('PCS_AUTH_TOKEN_INVALID', { reason: 'the password could not be decrypted with the gateway\'s RSA key' });
    }
    for (let i = 0; i < clear.length; i++) clear[i] = clear[i]! ^ scramble[i % scramble.length]!;
    return untilNul(clear);
  }
  // mysql_native_password, client_ed25519, sha256_password, dialog...: switch to clear.
  io.send(encodeAuthSwitch('mysql_clear_password', scramble));
  const reply = await io.next();
  return untilNul(reply.payload);
}
