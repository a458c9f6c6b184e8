// The SSH protocol adapter: what the gateway starts when `listen.ssh` is set, and the command
// executor for in-process callers (MCP), which needs no listener.
import type { AdapterContext, AdapterExecutors, ExecutorContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { SshCommandExecutor } from './executor.ts';
import { loadOrCreateHostKey, PinnedHostKeys } from './keys.ts';
import { SshListener } from './server.ts';
import type { UpstreamSecret } from './upstream.ts';

export const sshAdapter: ProtocolAdapter = {
  protocol: 'ssh',
  async start(ctx: AdapterContext): Promise<RunningListener> {
    const listener = new SshListener(ctx, loadOrCreateHostKey(ctx.config.data_dir));
    // Vaulted credentials are read once here: logins never wait on the vault.
    for (const c of ctx.config.connections) {
      if (c.type !== 'ssh') continue;
      const vaulted = await ctx.credentials.reveal(c.name);
      if (vaulted !== undefined) listener.setSecret(c.name, vaulted.kind, vaulted.secret);
    }
    const bound = await listener.listen(ctx.listen);
    ctx.logger.info({ address: `${bound.host}:${bound.port}` }, 'SSH listener started');
    return { host: bound.host, port: bound.port, activeSessions: () => listener.activeSessions, close: (deadline) => listener.close(deadline) };
  },
  async executors(ctx: ExecutorContext): Promise<AdapterExecutors> {
    const secrets = new Map<string, UpstreamSecret>();
    for (const c of ctx.config.connections) {
      if (c.type !== 'ssh') continue;
      const vaulted = await ctx.credentials.reveal(c.name);
      if (vaulted !== undefined) secrets.set(c.name, { kind: vaulted.kind, secret: vaulted.secret });
    }
    const command = new SshCommandExecutor(ctx, secrets, new PinnedHostKeys(ctx.config.data_dir));
    return { command, close: () => command.close() };
  },
};
