// The SSH protocol adapter: what the gateway starts when `listen.ssh` is set.
import type { AdapterContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { loadOrCreateHostKey } from './keys.ts';
import { SshListener } from './server.ts';

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
};
