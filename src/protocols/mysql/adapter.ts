// The MySQL/MariaDB protocol adapter: what the gateway starts when `listen.mysql` is set.
import type { AdapterContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { startDatabaseListener } from '../../pipeline/database-listener.ts';
import { mysqlDialect } from '../../sql/mysql/dialect.ts';
import { MysqlListener } from './server.ts';

export const mysqlAdapter: ProtocolAdapter = {
  protocol: 'mysql',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const settings = ctx.config.protocols.mysql;
    await mysqlDialect.load();
    return startDatabaseListener(ctx, 'mysql', 'MySQL', settings, (tls) => new MysqlListener(ctx, { tls, requireTls: settings.require_tls, cleartext: settings.cleartext_password, maxPacketSize: settings.max_packet_size }));
  },
};
