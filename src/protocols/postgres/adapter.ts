// The PostgreSQL protocol adapter: what the gateway starts when `listen.postgres` is set.
import { GatewayError } from '../../core/errors.ts';
import type { AdapterContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { loadSqlAnalyzer } from '../../policy/sql/analyze-postgres.ts';
import type { SecureContext } from 'node:tls';
import { PgListener } from './server.ts';
import { loadTlsContext } from './tls.ts';

function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

export const postgresAdapter: ProtocolAdapter = {
  protocol: 'postgres',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const settings = ctx.config.protocols.postgres;
    await loadSqlAnalyzer();
    let tls: SecureContext | null = null;
    try {
      tls = await loadTlsContext(settings.tls, ctx.config.data_dir, ctx.logger);
    } catch (err) {
      // Configured files that do not load are a configuration error; a failed generation
      // leaves the listener without TLS (SSLRequest answered 'N'), unless TLS is required.
      if (settings.tls !== undefined || settings.require_tls) throw err;
      ctx.logger.warn({ err }, 'no TLS for the PostgreSQL listener: the self-signed certificate could not be generated');
    }
    const listener = new PgListener(ctx, { tls, requireTls: settings.require_tls, cleartext: settings.cleartext_password, maxMessageSize: settings.max_message_size });
    const { host, port } = hostPort(ctx.listen);
    let bound: { host: string; port: number };
    try {
      bound = await listener.listen(host, port);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new GatewayError('PCS_LISTEN_FAILED', { address: ctx.listen, cause: code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (code ?? 'error') }, { cause: err });
    }
    ctx.logger.info({ address: `${bound.host}:${bound.port}`, tls: tls !== null, require_tls: settings.require_tls }, 'PostgreSQL listener started');
    return {
      host: bound.host,
      port: bound.port,
      activeSessions: () => listener.activeSessions,
      close: (deadline) => listener.close(deadline),
    };
  },
};
