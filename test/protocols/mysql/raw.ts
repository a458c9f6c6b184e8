// A minimal MySQL client over a raw socket, for what the mariadb CLI cannot do: the binary
// protocol (COM_STMT_*), a client without plugin authentication, garbage packets. Built on the
// adapter's codec, checked against the real server in the tests.
import { connect, type Socket } from 'node:net';
import { Cap, Com, Header } from '../../../src/protocols/mysql/codec/constants.ts';
import { framePacket, PacketReader, type Packet } from '../../../src/protocols/mysql/codec/framing.ts';
import { decodeGreeting, encodeHandshakeResponse, type Greeting } from '../../../src/protocols/mysql/codec/handshake.ts';
import { readErr, type ErrPacket } from '../../../src/protocols/mysql/codec/responses.ts';
import { PayloadWriter } from '../../../src/protocols/mysql/codec/wire.ts';

export const CLIENT_CAPS = Cap.LONG_PASSWORD | Cap.LONG_FLAG | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.SECURE_CONNECTION | Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.DEPRECATE_EOF | Cap.CONNECT_WITH_DB;

export class RawClient {
  readonly socket: Socket;
  readonly #reader = new PacketReader(64 * 1024 * 1024);
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.#reader.push(Buffer.from(c));
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** The next packet, or null once the server closed the connection. */
  async next(timeoutMs = 5_000): Promise<Packet | null> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const p = this.#reader.next();
      if (p !== null) return { seq: p.seq, payload: Buffer.from(p.payload), raw: Buffer.from(p.raw) };
      if (this.closed) return null;
      if (Date.now() > until) throw new Error('no packet in time');
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  send(payload: Buffer, seq: number): void {
    this.socket.write(framePacket(payload, seq));
  }

  async greeting(): Promise<Greeting> {
    const p = await this.next();
    if (p === null) throw new Error('no greeting');
    return decodeGreeting(p.payload);
  }

  /** Logs in with mysql_clear_password from the start (the token in clear, as on loopback), or with an empty password by another plugin; resolves with the final packet. */
  async login(token: string, database: string, caps = CLIENT_CAPS, plugin = 'mysql_clear_password', user = 'agent'): Promise<Packet | null> {
    await this.greeting();
    this.send(encodeHandshakeResponse({ capabilities: caps, maxPacketSize: 16 * 1024 * 1024, charset: 45, user, authResponse: plugin === 'mysql_clear_password' ? Buffer.from(`${token}\0`) : Buffer.alloc(0), database, authPlugin: plugin }), 1);
    return this.next();
  }

  /** One command; the packets of the answer until `done` says it is complete. */
  async command(payload: Buffer, done: (p: Packet, all: Packet[]) => boolean): Promise<Packet[]> {
    this.send(payload, 0);
    const all: Packet[] = [];
    for (;;) {
      const p = await this.next();
      if (p === null) return all;
      all.push(p);
      if (done(p, all)) return all;
    }
  }

  query(sql: string): Promise<Packet[]> {
    return this.command(Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(sql)]), resultDone);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A COM_QUERY/EXECUTE answer is complete (DEPRECATE_EOF): its last result ended (OK, ERR, or the 0xfe after rows) without MORE_RESULTS. */
export function resultDone(_p: Packet, all: Packet[]): boolean {
  let i = 0;
  for (;;) {
    const first = all[i];
    if (first === undefined) return false;
    const h = first.payload[0];
    if (h === Header.ERR) return true;
    let end: Packet | undefined;
    if (h === Header.OK) {
      end = first;
      i++;
    } else {
      const columns = first.payload[0]!;
      i += 1 + columns;
      while (all[i] !== undefined && !(all[i]!.payload[0] === Header.EOF && all[i]!.payload.length < 0xffffff) && all[i]!.payload[0] !== Header.ERR) i++;
      end = all[i];
      if (end === undefined) return false;
      if (end.payload[0] === Header.ERR) return true;
      i++;
    }
    if ((end.payload.readUInt16LE(okStatusOffset(end.payload)) & 0x0008) === 0) return i === all.length;
  }
}

function okStatusOffset(payload: Buffer): number {
  let at = 1;
  for (let i = 0; i < 2; i++) {
    const b = payload[at]!;
    at += b < 0xfb ? 1 : b === 0xfc ? 3 : b === 0xfd ? 4 : 9;
  }
  return at;
}

export function errOf(p: Packet | null | undefined): ErrPacket | undefined {
  return p !== null && p !== undefined && p.payload[0] === Header.ERR ? readErr(p.payload) : undefined;
}

export function stmtExecute(statement: number, params: readonly (string | null)[]): Buffer {
  const w = new PayloadWriter(64).u8(Com.STMT_EXECUTE).u32(statement).u8(0).u32(1);
  if (params.length > 0) {
    const bitmap = Buffer.alloc(Math.floor((params.length + 7) / 8));
    params.forEach((v, i) => {
      if (v === null) bitmap[i >> 3]! |= 1 << (i & 7);
    });
    w.bytes(bitmap).u8(1);
    for (const _ of params) w.u8(0xfd).u8(0); // VAR_STRING
    for (const v of params) if (v !== null) w.lenencString(v);
  }
  return w.finish();
}
