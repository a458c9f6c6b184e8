// The MySQL/MariaDB protocol adapter: what the gateway starts when `listen.mysql` is set.
import type { SecureContext } from 'node:tls';
import type { AdapterContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { loadListenerTls } from '../../pipeline/listener-tls.ts';
import { mysqlDialect } from '../../sql/mysql/dialect.ts';
import { MysqlListener } from './server.ts';

export const mysqlAdapter: ProtocolAdapter = {
  protocol: 'mysql',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const settings = ctx.config.protocols.mysql;
    await mysqlDialect.load();
    let tls: SecureContext | null = null;
    try {
      tls = await loadListenerTls(settings.tls, ctx.config.data_dir, ctx.logger, 'mysql');
    } catch (err) {
      // Configured files that do not load are a configuration error; a failed generation
      // leaves the listener without TLS (not offered in the greeting), unless TLS is required.
      if (settings.tls !== undefined || settings.require_tls) throw err;
      ctx.logger.warn({ err }, 'no TLS for the MySQL listener: the self-signed certificate could not be generated');
    }
    const listener = new MysqlListener(ctx, { tls, requireTls: settings.require_tls, cleartext: settings.cleartext_password, maxPacketSize: settings.max_packet_size });
    const bound = await listener.listen(ctx.listen);
    ctx.logger.info({ address: `${bound.host}:${bound.port}`, tls: tls !== null, require_tls: settings.require_tls }, 'MySQL listener started');
    listener.probeUpstreams();
    return {
      host: bound.host,
      port: bound.port,
      activeSessions: () => listener.activeSessions,
      close: (deadline) => listener.close(deadline),
    };
  },
};
