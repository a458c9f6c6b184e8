// How a database adapter (PostgreSQL, MySQL) starts its listener: the agent-side TLS identity
// (configured, or self-signed on first start), the bind, the start-up log line and the
// background upstream probes. The protocol brings only the listener it builds on that TLS.
import type { SecureContext } from 'node:tls';
import type { AdapterContext, RunningListener } from './adapter.ts';
import type { Endpoint } from './listen.ts';
import { loadListenerTls, type TlsFiles } from './listener-tls.ts';

export interface DatabaseListener {
  listen(address: string): Promise<Endpoint>;
  /** One login per connection in the background (what is learned from the upstream at start). */
  probeUpstreams(): void;
  readonly activeSessions: number;
  close(deadline: number): Promise<void>;
}

export interface ListenerTlsSettings {
  readonly tls?: TlsFiles | undefined;
  readonly require_tls: boolean;
}

/** `label`: the protocol as operators read it in logs ("PostgreSQL"); `protocol` names the self-signed files. */
export async function startDatabaseListener(ctx: AdapterContext, protocol: 'postgres' | 'mysql', label: string, settings: ListenerTlsSettings, build: (tls: SecureContext | null) => DatabaseListener): Promise<RunningListener> {
  let tls: SecureContext | null = null;
  try {
    tls = await loadListenerTls(settings.tls, ctx.config.data_dir, ctx.logger, protocol);
  } catch (err) {
    // Configured files that do not load are a configuration error; a failed generation leaves
    // the listener without TLS (not offered to clients), unless TLS is required.
    if (settings.tls !== undefined || settings.require_tls) throw err;
    ctx.logger.warn({ err }, `no TLS for the ${label} listener: the self-signed certificate could not be generated`);
  }
  const listener = build(tls);
  const bound = await listener.listen(ctx.listen);
  ctx.logger.info({ address: `${bound.host}:${bound.port}`, tls: tls !== null, require_tls: settings.require_tls }, `${label} listener started`);
  listener.probeUpstreams();
  return {
    host: bound.host,
    port: bound.port,
    activeSessions: () => listener.activeSessions,
    close: (deadline) => listener.close(deadline),
  };
}
