// How the identity token reaches the gateway in clear through a MySQL login. The greeting
// offers caching_sha2_password; whatever the client answers with, the gateway never accepts a
// scramble (it has no password hash to check one against: the password IS the token):
// - caching_sha2_password inside TLS: "perform full authentication", so the client sends the
//   password in clear over the TLS link;
// - mysql_clear_password: the token is the first answer;
// - anything else, and caching_sha2_password on plain TCP (allowed on loopback only, by
//   default): an AuthSwitchRequest to mysql_clear_password. The RSA exchange is not offered:
//   libmariadb clients do not complete it against a key they have not pinned, and on plain TCP
//   clear text is what the operator allowed anyway (the mysql 8 CLI needs
//   --enable-cleartext-plugin there).
// A client without plugin authentication cannot switch: refused with what to change.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
import { GatewayError } from '../../core/errors.ts';
import { Auth, Cap } from './codec/constants.ts';
import { encodeAuthMoreData, encodeAuthSwitch, type HandshakeResponse } from './codec/handshake.ts';
import type { Packet } from './codec/framing.ts';

/** The listener's side of the exchange: send a payload (the next sequence id is the caller's), wait for the client's. */
export interface AuthIo {
  send(payload: Buffer): void;
  next(): Promise<Packet>;
}

function untilNul(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

const NATIVE_ONLY_FIX = 'use a client with plugin authentication (any mariadb, mysql 5.5+ or mysql2 client), or turn on its mysql_clear_password plugin';

/** The token the client sends as its password; GatewayError when it cannot send one in clear. */
export async function receiveToken(io: AuthIo, response: HandshakeResponse, scramble: Buffer, tls: boolean): Promise<string> {
  const plugin = response.authPlugin;
  if ((response.capabilities & Cap.PLUGIN_AUTH) === 0 || plugin === undefined) {
    throw new GatewayError('PCS_MYSQL_AUTH_PLUGIN_UNSUPPORTED', { reason: 'the client cannot switch auth methods (no CLIENT_PLUGIN_AUTH), so it can only send a mysql_native_password scramble', fix: NATIVE_ONLY_FIX });
  }
  if (plugin === 'mysql_clear_password') return untilNul(response.authResponse);
  if (plugin === 'caching_sha2_password' && tls) {
    io.send(encodeAuthMoreData([Auth.PERFORM_FULL_AUTH]));
    return untilNul((await io.next()).payload);
  }
  // mysql_native_password, client_ed25519, sha256_password, dialog, caching_sha2 on plain TCP: switch to clear.
  io.send(encodeAuthSwitch('mysql_clear_password', scramble));
  const reply = await io.next();
  return untilNul(reply.payload);
}
