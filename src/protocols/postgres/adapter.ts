// The PostgreSQL protocol adapter: what the gateway starts when `listen.postgres` is set, and
// the SQL executor for in-process callers (MCP), which needs no listener.
import type { AdapterContext, AdapterExecutors, ExecutorContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { startDatabaseListener } from '../../pipeline/database-listener.ts';
import { postgresDialect } from '../../sql/postgres/dialect.ts';
import { NO_EXECUTORS } from '../../pipeline/executor.ts';
import { PostgresExecutor } from './executor.ts';
import { PgListener } from './server.ts';

export const postgresAdapter: ProtocolAdapter = {
  protocol: 'postgres',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const settings = ctx.config.protocols.postgres;
    await postgresDialect.load();
    return startDatabaseListener(ctx, 'postgres', 'PostgreSQL', settings, (tls) => new PgListener(ctx, { tls, requireTls: settings.require_tls, cleartext: settings.cleartext_password, maxMessageSize: settings.max_message_size }));
  },
  async executors(ctx: ExecutorContext): Promise<AdapterExecutors> {
    await postgresDialect.load();
    // A listener that is never bound: its sessions are the executor's in-process ones.
    const listener = new PgListener({ ...ctx, listen: '', executors: NO_EXECUTORS }, { tls: null, requireTls: false, cleartext: 'always', maxMessageSize: ctx.config.protocols.postgres.max_message_size });
    return { sql: new PostgresExecutor(listener), close: (deadline) => listener.close(deadline) };
  },
};
