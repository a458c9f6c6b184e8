// The HTTP protocol adapter: what the gateway starts when `listen.http` is set, and the request
// executor for in-process callers (MCP), which needs no listener.
import { readFileSync } from 'node:fs';
import type { AdapterContext, AdapterExecutors, ExecutorContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { NO_EXECUTORS } from '../../pipeline/executor.ts';
import { HttpRequestExecutor } from './executor.ts';
import type { HttpConnection } from './router.ts';
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
  async executors(ctx: ExecutorContext): Promise<AdapterExecutors> {
    const settings = ctx.config.protocols.http;
    // Never bound: its connections are the executor's in-memory ones.
    const listener = new HttpListener({ ...ctx, listen: '', executors: NO_EXECUTORS }, { tls: undefined, maxRequestBody: settings.max_request_body, recordBody: settings.record_body });
    const connections = ctx.config.connections.filter((c): c is HttpConnection => c.type === 'http');
    for (const c of connections) {
      const vaulted = await ctx.credentials.reveal(c.name);
      if (vaulted !== undefined) listener.setSecret(c.name, vaulted.secret);
    }
    listener.prepare();
    return { http: new HttpRequestExecutor(listener, connections), close: (deadline) => listener.close(deadline) };
  },
};
