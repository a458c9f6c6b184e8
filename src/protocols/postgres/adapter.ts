// The PostgreSQL protocol adapter: what the gateway starts when `listen.postgres` is set, and
// the SQL executor for in-process callers (MCP), which needs no listener.
import type { AdapterContext, AdapterExecutors, ExecutorContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { postgresDialect } from '../../sql/postgres/dialect.ts';
import type { SecureContext } from 'node:tls';
import { NO_EXECUTORS } from '../../pipeline/executor.ts';
import { PostgresExecutor } from './executor.ts';
import { PgListener } from './server.ts';
import { loadTlsContext } from './tls.ts';

export const postgresAdapter: ProtocolAdapter = {
  protocol: 'postgres',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const settings = ctx.config.protocols.postgres;
    await postgresDialect.load();
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
    const bound = await listener.listen(ctx.listen);
    ctx.logger.info({ address: `${bound.host}:${bound.port}`, tls: tls !== null, require_tls: settings.require_tls }, 'PostgreSQL listener started');
    listener.probeUpstreams();
    return {
      host: bound.host,
      port: bound.port,
      activeSessions: () => listener.activeSessions,
      close: (deadline) => listener.close(deadline),
    };
  },
  async executors(ctx: ExecutorContext): Promise<AdapterExecutors> {
    await postgresDialect.load();
    // A listener that is never bound: its sessions are the executor's in-process ones.
    const listener = new PgListener({ ...ctx, listen: '', executors: NO_EXECUTORS }, { tls: null, requireTls: false, cleartext: 'always', maxMessageSize: ctx.config.protocols.postgres.max_message_size });
    return { sql: new PostgresExecutor(listener), close: (deadline) => listener.close(deadline) };
  },
};
