import type { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { isLoopbackHost } from '../../identity/urls.ts';
import { createLogger } from '../../telemetry/logger.ts';
import { startGateway } from '../../runtime/gateway.ts';
import { configOption, loadOrExit } from '../context.ts';

export function startCommand(program: Command): void {
  program
    .command('start')
    .description('start the gateway (admin API and protocol listeners)')
    .option(...configOption)
    .action(async (opts: { config?: string }) => {
      const loaded = loadOrExit(opts.config);
      const logger = createLogger(process.env.PORTCULLIS_LOG_LEVEL ?? loaded.config.log.level);
      const gw = await startGateway(loaded, logger);
      const { masterKey } = gw.services;
      const lines = [
        `Portcullis is running (config ${loaded.file})`,
        `  admin API:   ${gw.api.url}  (health: ${gw.api.url}/healthz, metrics: ${gw.api.url}/metrics)`,
        `  store:       ${loaded.config.store}`,
        `  master key:  ${masterKey.source === 'env' ? 'from PORTCULLIS_MASTER_KEY' : masterKey.source}${masterKey.generated ? ' (generated now: back it up, and keep it away from the store)' : ''}`,
        ...[...gw.listeners].map(([p, l]) => `  ${`${p}:`.padEnd(12)} ${l.host}:${l.port}`),
        ...(gw.embeddedPostgres ? [`  demo database: ${gw.embeddedPostgres.host}:${gw.embeddedPostgres.port} (embedded PGlite${demoConnection(loaded.config, gw.embeddedPostgres.port)})`] : []),
        ...gw.unavailable.map((p) => `  ${p}: listen.${p} is set, but this build has no ${p} adapter yet`),
        `Get a token:   npx portcullis token issue --subject you --group admins --ttl 15m${opts.config ? ` --config ${opts.config}` : ''}`,
        `Then:          curl -H "Authorization: Bearer $TOKEN" ${gw.api.url}/api/v1/whoami`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          gw.stop(signal).then(resolve, (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exitCode = 1;
            resolve();
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });
}

/** `, connection "demo"`: the connections that point at the embedded demo database. */
function demoConnection(config: Config, port: number): string {
  const names = config.connections.filter((c) => c.type === 'postgres' && c.upstream.port === port && isLoopbackHost(c.upstream.host)).map((c) => `"${c.name}"`);
  return names.length === 0 ? '' : `, connection${names.length > 1 ? 's' : ''} ${names.join(', ')}`;
}
