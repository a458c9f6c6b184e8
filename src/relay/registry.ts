// The relays connected to this gateway, by name, and the streams each carries. Several
// relays may share a name (active-active): a new stream goes to the one carrying the fewest.
// A stream is an HTTP/2 CONNECT to host:port that the relay answers by dialling it; HTTP/2
// gives each stream its own flow control, so a slow reader stalls only its own stream.
import { constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../core/errors.ts';
import type { DialTarget, RelayDialer } from '../pipeline/dialer.ts';
import { H } from './handshake.ts';

const OPEN_TIMEOUT_MS = 10_000;

export interface Tunnel {
  readonly id: number;
  readonly name: string;
  readonly address: string;
  readonly version: string;
  readonly connectedAt: number;
  readonly session: ClientHttp2Session;
  readonly streams: Set<ClientHttp2Stream>;
  /** The TLS socket under the session: its byte counts are the tunnel's. */
  readonly socket: TLSSocket;
  /** Why the tunnel is going away, for the streams it drops (set before the session is destroyed). */
  dropCause: string | undefined;
}

export interface TunnelView {
  readonly name: string;
  readonly address: string;
  readonly version: string;
  readonly connectedAt: number;
  readonly uptimeSeconds: number;
  readonly streams: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export class RelayRegistry implements RelayDialer {
  readonly #byName = new Map<string, Set<Tunnel>>();
  #nextId = 1;

  add(t: Omit<Tunnel, 'id' | 'streams' | 'dropCause'>): Tunnel {
    const tunnel: Tunnel = { ...t, id: this.#nextId++, streams: new Set(), dropCause: undefined };
    let set = this.#byName.get(t.name);
    if (set === undefined) this.#byName.set(t.name, (set = new Set()));
    set.add(tunnel);
    return tunnel;
  }

  remove(tunnel: Tunnel): void {
    const set = this.#byName.get(tunnel.name);
    set?.delete(tunnel);
    if (set?.size === 0) this.#byName.delete(tunnel.name);
  }

  /** Drops every tunnel of `name` at once (revoke): their streams fail with PCS_RELAY_LOST. */
  drop(name: string, cause: string): number {
    const set = [...(this.#byName.get(name) ?? [])];
    for (const t of set) {
      t.dropCause = cause;
      t.session.destroy();
      this.remove(t);
    }
    return set.length;
  }

  list(now = Date.now()): TunnelView[] {
    return [...this.#byName.values()].flatMap((set) =>
      [...set].map((t) => ({ name: t.name, address: t.address, version: t.version, connectedAt: t.connectedAt, uptimeSeconds: Math.floor((now - t.connectedAt) / 1000), streams: t.streams.size, bytesIn: t.socket.bytesRead, bytesOut: t.socket.bytesWritten })),
    );
  }

  open(relay: string, target: DialTarget): Promise<Duplex> {
    const live = [...(this.#byName.get(relay) ?? [])].filter((t) => !t.session.destroyed && !t.session.closed);
    if (live.length === 0) return Promise.reject(new GatewayError('PCS_RELAY_OFFLINE', { relay, connection: target.connection }));
    const tunnel = live.reduce((a, b) => (b.streams.size < a.streams.size ? b : a));
    const authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = tunnel.session.request({ [h2.HTTP2_HEADER_METHOD]: h2.HTTP2_METHOD_CONNECT, [h2.HTTP2_HEADER_AUTHORITY]: authority });
      } catch (err) {
        reject(new GatewayError('PCS_RELAY_LOST', { relay, connection: target.connection, cause: 'the tunnel is closing' }, { cause: err }));
        return;
      }
      let opened = false;
      const timer = setTimeout(() => stream.close(h2.NGHTTP2_CANCEL), OPEN_TIMEOUT_MS);
      tunnel.streams.add(stream);
      stream.on('error', () => undefined);
      stream.once('response', (headers) => {
        clearTimeout(timer);
        const status = Number(headers[h2.HTTP2_HEADER_STATUS]);
        if (status === 200) {
          opened = true;
          resolve(stream);
          return;
        }
        const reason = headers[H.reason];
        reject(new GatewayError('PCS_RELAY_REFUSED', { relay, connection: target.connection, target: authority, reason: typeof reason === 'string' ? reason : `status ${status}` }));
        stream.close();
      });
      stream.once('close', () => {
        clearTimeout(timer);
        tunnel.streams.delete(stream);
        if (!opened) {
          reject(new GatewayError('PCS_RELAY_LOST', { relay, connection: target.connection, cause: tunnel.dropCause ?? 'the stream closed before the relay answered' }));
          return;
        }
        // The relay never ended the stream: the tunnel went away under it. Said as an error
        // event, ahead of the adapter's own close listener (registered after this one), so the
        // adapter can tell its client which relay dropped it.
        if (!stream.readableEnded) stream.emit('error', new GatewayError('PCS_RELAY_LOST', { relay, connection: target.connection, cause: tunnel.dropCause ?? 'the tunnel closed' }));
      });
    });
  }
}
