// What every listener does with its `listen.*` address: split it, and turn a failure to bind
// into the one error operators see for all of them.
import { isIP, type Server } from 'node:net';
import { GatewayError } from '../core/errors.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, `[::1]:port` -> host and port. */
export function splitHostPort(text: string): Endpoint {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

export function listenFailed(err: unknown, address: string): GatewayError {
  const code = (err as NodeJS.ErrnoException).code;
  return new GatewayError('PCS_LISTEN_FAILED', { address, cause: code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (code ?? 'error') }, { cause: err });
}

/**
 * Binds `server` to the `listen.*` address (`host:port`, port 0 for any free one) and
 * answers the bound address; a failure is the PCS_LISTEN_FAILED operators see everywhere.
 */
export function bindListener(server: Pick<Server, 'once' | 'off' | 'listen' | 'address'>, address: string): Promise<Endpoint> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => reject(listenFailed(err, address));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      const bound = server.address();
      resolve({ host, port: typeof bound === 'object' && bound ? bound.port : port });
    });
  });
}

/** A loopback client (127.0.0.0/8, ::1, IPv4-mapped): where `cleartext_password: loopback` lets the token travel without TLS. */
export function isLoopback(address: string | null): boolean {
  if (address === null) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

/** The peer address as logs and policy show it (IPv4-mapped IPv6 unwrapped). */
export function clientAddress(address: string | undefined): string | null {
  if (address === undefined) return null;
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
