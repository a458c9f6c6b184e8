// `listen.relay`: where relays dial in. Each accepted TLS connection becomes an HTTP/2 client
// session of the gateway's (the relay serves HTTP/2 on the connection it dialled, so the side
// that opens streams is the side that needs upstreams). The first stream is the hello: the
// relay names itself and proves its key (handshake.ts); only then may streams be opened.
import { connect as h2connect, constants as h2 } from 'node:http2';
import { createServer, type SecureContext, type TLSSocket } from 'node:tls';
import type { AuditSink } from '../core/audit-event.ts';
import { bindListener } from '../pipeline/listen.ts';
import type { RunningListener } from '../pipeline/adapter.ts';
import type { Logger } from '../telemetry/logger.ts';
import { clientAddress } from '../pipeline/listen.ts';
import { H, HELLO_PATH, proofValid } from './handshake.ts';
import type { RelayService } from './service.ts';

const HELLO_TIMEOUT_MS = 10_000;

export interface RelayListenerOptions {
  readonly listen: string;
  readonly tls: SecureContext;
  readonly relays: RelayService;
  readonly audit: AuditSink;
  readonly logger: Logger;
}

export async function startRelayListener(o: RelayListenerOptions): Promise<RunningListener> {
  const sockets = new Set<TLSSocket>();
  const server = createServer({ secureContext: o.tls, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => o.logger.debug({ err }, 'relay socket error'));
    accept(socket, o).catch((err: unknown) => {
      o.logger.warn({ err, address: clientAddress(socket.remoteAddress) }, 'relay refused');
      socket.destroy();
    });
  });
  const bound = await bindListener(server, o.listen);
  return {
    host: bound.host,
    port: bound.port,
    activeSessions: () => sockets.size,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

async function accept(socket: TLSSocket, o: RelayListenerOptions): Promise<void> {
  const address = `${clientAddress(socket.remoteAddress) ?? '?'}:${socket.remotePort ?? 0}`;
  const session = h2connect('http://relay', { createConnection: () => socket });
  session.on('error', (err) => o.logger.debug({ err }, 'relay session error'));
  const hello = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no hello in time')), HELLO_TIMEOUT_MS);
    const req = session.request({ [h2.HTTP2_HEADER_METHOD]: 'POST', [h2.HTTP2_HEADER_PATH]: HELLO_PATH });
    req.on('error', reject);
    req.once('response', (headers) => {
      clearTimeout(timer);
      req.close();
      resolve(headers);
    });
    req.end();
  });
  const text = (k: string): string | undefined => (typeof hello[k] === 'string' ? hello[k] : undefined);
  const name = text(H.name);
  const key = text(H.key);
  const proof = text(H.proof);
  if (name === undefined || key === undefined || proof === undefined) throw new Error('incomplete hello');
  if (!proofValid(socket, key, proof)) {
    await o.audit.append({ type: 'relay.refused', actor: `relay:${name}`, data: { relay: name, address, reason: 'bad proof of key' } });
    throw new Error('bad proof of key');
  }
  const admitted = await o.relays.admit(name, key, text(H.secret));
  if (!admitted.ok) {
    await o.audit.append({ type: 'relay.refused', actor: `relay:${name}`, data: { relay: name, address, reason: admitted.reason } });
    session.destroy();
    throw new Error(admitted.reason);
  }
  const version = text(H.version) ?? 'unknown';
  const tunnel = o.relays.registry.add({ name, address, version, connectedAt: Date.now(), session, socket });
  await o.audit.append({ type: 'relay.connected', actor: `relay:${name}`, data: { relay: name, address, version } });
  o.logger.info({ relay: name, address, version }, 'relay connected');
  session.once('close', () => {
    o.relays.registry.remove(tunnel);
    o.logger.info({ relay: name, address, cause: tunnel.dropCause ?? 'closed' }, 'relay disconnected');
    void o.audit.append({ type: 'relay.disconnected', actor: `relay:${name}`, data: { relay: name, address, cause: tunnel.dropCause ?? 'closed' } }).catch((err: unknown) => o.logger.error({ err }, 'audit of relay.disconnected failed'));
  });
}
