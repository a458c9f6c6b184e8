// The HTTP protocol adapter: what the gateway starts when `listen.http` is set.
import { readFileSync } from 'node:fs';
import type { AdapterContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { HttpListener } from './server.ts';

export const httpAdapter: ProtocolAdapter = {
  protocol: 'http',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const settings = ctx.config.protocols.http;
    const tls = settings.tls === undefined ? undefined : { cert: readFileSync(settings.tls.cert), key: readFileSync(settings.tls.key) };
    const listener = new HttpListener(ctx, { tls, maxRequestBody: settings.max_request_body, recordBody: settings.record_body });
    // Vaulted credentials are read once here: the data path never waits on the vault.
    for (const c of ctx.config.connections) {
      if (c.type !== 'http') continue;
      const vaulted = await ctx.credentials.reveal(c.name);
      if (vaulted !== undefined) listener.setSecret(c.name, vaulted.secret);
    }
    listener.prepare();
    const bound = await listener.listen(ctx.listen);
    ctx.logger.info({ address: `${bound.host}:${bound.port}`, tls: tls !== undefined }, 'HTTP listener started');
    return { host: bound.host, port: bound.port, activeSessions: () => listener.activeSessions, close: (deadline) => listener.close(deadline) };
  },
};
