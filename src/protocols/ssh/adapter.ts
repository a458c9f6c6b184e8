// The SSH protocol adapter: what the gateway starts when `listen.ssh` is set.
import { GatewayError } from '../../core/errors.ts';
import type { AdapterContext, ProtocolAdapter, RunningListener } from '../../pipeline/adapter.ts';
import { loadOrCreateHostKey } from './keys.ts';
import { SshListener } from './server.ts';

function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

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
    const { host, port } = hostPort(ctx.listen);
    let bound: { host: string; port: number };
    try {
      bound = await listener.listen(host, port);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new GatewayError('PCS_LISTEN_FAILED', { address: ctx.listen, cause: code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (code ?? 'error') }, { cause: err });
    }
    ctx.logger.info({ address: `${bound.host}:${bound.port}` }, 'SSH listener started');
    return { host: bound.host, port: bound.port, activeSessions: () => listener.activeSessions, close: (deadline) => listener.close(deadline) };
  },
};
