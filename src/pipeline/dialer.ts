// The one way an adapter reaches its upstream: a byte stream to host:port, dialled directly
// or, for a connection with `relay: NAME`, opened by that relay inside its network
// (docs/relay.md). Adapters speak their protocol (and TLS, end to end) over what this returns.
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';

export interface DialTarget {
  /** The connection's name: what errors name. */
  readonly connection: string;
  readonly host: string;
  readonly port: number;
  /** The relay to go through; absent: dial directly. */
  readonly relay?: string | undefined;
}

export interface Dialer {
  /** Resolves once the stream is open; rejects with a socket error or a PCS_RELAY_* GatewayError. */
  dial(target: DialTarget): Promise<Duplex>;
}

/** Opens relay streams (src/relay/registry.ts implements it). */
export interface RelayDialer {
  open(relay: string, target: DialTarget): Promise<Duplex>;
}

export function directDial(target: Pick<DialTarget, 'host' | 'port'>): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: target.host, port: target.port });
    s.setNoDelay(true);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Direct unless the target names a relay; `relays` absent: no relay listener, so every relay is offline. */
export function makeDialer(relays: RelayDialer | undefined, offline: (target: DialTarget) => Error): Dialer {
  return {
    dial(target) {
      if (target.relay === undefined) return directDial(target);
      if (relays === undefined) return Promise.reject(offline(target));
      return relays.open(target.relay, target);
    },
  };
}
