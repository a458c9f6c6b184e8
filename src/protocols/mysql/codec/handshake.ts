// The connection phase: the server greeting (HandshakeV10), the client's SSLRequest and
// HandshakeResponse41, AuthSwitchRequest and AuthMoreData. Decoders and encoders for both
// roles: the listener is a server to the agent and the upstream leg is a client.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
import { Auth, Cap } from './constants.ts';
import { MalformedPacket, PayloadReader, PayloadWriter } from './wire.ts';

export interface Greeting {
  readonly protocolVersion: number;
  readonly serverVersion: string;
  readonly connectionId: number;
  /** The 20-byte nonce (auth-plugin-data, both parts, without the trailing NUL). */
  readonly scramble: Buffer;
  readonly capabilities: number;
  readonly charset: number;
  readonly status: number;
  readonly authPlugin: string;
}

/** https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html */
export function encodeGreeting(g: Omit<Greeting, 'protocolVersion'>): Buffer {
  const w = new PayloadWriter(128);
  w.u8(10).cstring(g.serverVersion).u32(g.connectionId);
  w.bytes(g.scramble.subarray(0, 8)).u8(0);
  w.u16(g.capabilities & 0xffff).u8(g.charset).u16(g.status).u16(g.capabilities >>> 16);
  w.u8(g.scramble.length + 1).zeros(10);
  w.bytes(g.scramble.subarray(8)).u8(0);
  w.cstring(g.authPlugin);
  return w.finish();
}

export function decodeGreeting(payload: Buffer): Greeting {
  const r = new PayloadReader(payload);
  const protocolVersion = r.u8();
  if (protocolVersion !== 10) throw new MalformedPacket(`unsupported handshake protocol version ${protocolVersion}`);
  const serverVersion = r.cstring();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  let charset = 0;
  let status = 0;
  let authPlugin = 'mysql_native_password';
  let part2: Buffer = Buffer.alloc(0);
  if (r.remaining > 0) {
    charset = r.u8();
    status = r.u16();
    capabilities = (capabilities | (r.u16() << 16)) >>> 0;
    const dataLength = r.u8();
    r.skip(10);
    if (capabilities & Cap.SECURE_CONNECTION) {
      const n = Math.max(13, dataLength - 8);
      part2 = r.bytes(Math.min(n, r.remaining));
      // The last byte is a NUL terminator, not nonce.
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    if (capabilities & Cap.PLUGIN_AUTH && r.remaining > 0) authPlugin = r.cstringOrRest();
  }
  return { protocolVersion, serverVersion, connectionId, scramble: Buffer.concat([part1, part2]), capabilities, charset, status, authPlugin };
}

/** An SSLRequest is a HandshakeResponse cut after its fixed 32 bytes, with CLIENT_SSL set. */
export const SSL_REQUEST_LENGTH = 32;

export interface HandshakeResponse {
  readonly capabilities: number;
  readonly maxPacketSize: number;
  readonly charset: number;
  readonly user: string;
  readonly authResponse: Buffer;
  /** Undefined without CLIENT_CONNECT_WITH_DB. */
  readonly database: string | undefined;
  /** Undefined without CLIENT_PLUGIN_AUTH. */
  readonly authPlugin: string | undefined;
  readonly attributes: ReadonlyMap<string, string>;
}

export function isSslRequest(payload: Buffer): boolean {
  return payload.length === SSL_REQUEST_LENGTH && (payload.readUInt32LE(0) & Cap.SSL) !== 0;
}

/** https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html */
export function decodeHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PayloadReader(payload);
  const capabilities = r.u32();
  if ((capabilities & Cap.PROTOCOL_41) === 0) throw new MalformedPacket('the client does not speak protocol 4.1');
  const maxPacketSize = r.u32();
  const charset = r.u8();
  r.skip(23);
  const user = r.cstring();
  let authResponse: Buffer;
  if (capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (capabilities & Cap.SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.cstringBytes();
  const database = capabilities & Cap.CONNECT_WITH_DB && r.remaining > 0 ? r.cstringOrRest() : undefined;
  const authPlugin = capabilities & Cap.PLUGIN_AUTH && r.remaining > 0 ? r.cstringOrRest() : undefined;
  const attributes = new Map<string, string>();
  if (capabilities & Cap.CONNECT_ATTRS && r.remaining > 0) {
    const attrs = new PayloadReader(r.lenencBytes());
    while (attrs.remaining > 0) attributes.set(attrs.lenencString(), attrs.lenencString());
  }
  return { capabilities, maxPacketSize, charset, user, authResponse, database: capabilities & Cap.CONNECT_WITH_DB ? (database ?? '') : undefined, authPlugin, attributes };
}

export function encodeSslRequest(capabilities: number, charset: number, maxPacketSize: number): Buffer {
  return new PayloadWriter(32).u32(capabilities | Cap.SSL).u32(maxPacketSize).u8(charset).zeros(23).finish();
}

export function encodeHandshakeResponse(h: Omit<HandshakeResponse, 'attributes'> & { readonly attributes?: ReadonlyMap<string, string> }): Buffer {
  const w = new PayloadWriter(256);
  w.u32(h.capabilities).u32(h.maxPacketSize).u8(h.charset).zeros(23).cstring(h.user);
  if (h.capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(h.authResponse);
  else w.u8(h.authResponse.length).bytes(h.authResponse);
  if (h.capabilities & Cap.CONNECT_WITH_DB) w.cstring(h.database ?? '');
  if (h.capabilities & Cap.PLUGIN_AUTH) w.cstring(h.authPlugin ?? '');
  if (h.capabilities & Cap.CONNECT_ATTRS) {
    const a = new PayloadWriter(64);
    for (const [k, v] of h.attributes ?? []) a.lenencString(k).lenencString(v);
    w.lenencBytes(a.finish());
  }
  return w.finish();
}

/** https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_request.html */
export function encodeAuthSwitch(plugin: string, data: Buffer): Buffer {
  return new PayloadWriter(64).u8(Auth.SWITCH).cstring(plugin).bytes(data).u8(0).finish();
}

export function decodeAuthSwitch(payload: Buffer): { readonly plugin: string; readonly data: Buffer } {
  const r = new PayloadReader(payload, 1);
  const plugin = r.cstringOrRest();
  let data = r.rest();
  if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
  return { plugin, data };
}

export function encodeAuthMoreData(data: Buffer | readonly number[]): Buffer {
  return new PayloadWriter(8 + data.length).u8(Auth.MORE_DATA).bytes(Buffer.from(data)).finish();
}
