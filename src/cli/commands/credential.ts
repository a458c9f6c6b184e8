import type { Command } from 'commander';
import { GatewayError } from '../../core/errors.ts';
import { CREDENTIAL_KINDS, type CredentialKind } from '../../vault/credentials.ts';
import { cliActor, configOption, readStdin, withServices } from '../context.ts';

export function credentialCommand(program: Command): void {
  const credential = program.command('credential').description('downstream credentials in the encrypted vault');

  credential
    .command('set')
    .description('store the credential of a connection, read from standard input (never from an argument)')
    .argument('<connection>', 'connection name from the configuration')
    .option('-k, --kind <kind>', `one of ${CREDENTIAL_KINDS.join(', ')}`, 'password')
    .option(...configOption)
    .action(async (connection: string, opts: { kind: string; config?: string }) => {
      if (!(CREDENTIAL_KINDS as readonly string[]).includes(opts.kind)) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `--kind must be one of ${CREDENTIAL_KINDS.join(', ')}` });
      await withServices(opts.config, async (services) => {
        if (!services.config.connections.some((c) => c.name === connection)) throw new GatewayError('PCS_CONNECTION_UNKNOWN', { connection });
        const secret = await readStdin();
        if (secret.length === 0) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: 'no secret on standard input' });
        await services.credentials.set(connection, secret, { kind: opts.kind as CredentialKind, actor: cliActor() });
        process.stdout.write(`stored ${opts.kind} for ${connection} (sealed with master key ${services.vault.keyId})\n`);
      });
    });

  credential
    .command('list')
    .description('list connections that have a vaulted credential (never the secrets)')
    .option(...configOption)
    .action(async (opts: { config?: string }) => {
      await withServices(opts.config, async (services) => {
        for (const c of await services.credentials.list()) process.stdout.write(`${c.connection}  ${c.kind}  set by ${c.updatedBy} at ${new Date(c.updatedAt).toISOString()}\n`);
      });
    });

  credential
    .command('delete')
    .description('remove the vaulted credential of a connection')
    .argument('<connection>')
    .option(...configOption)
    .action(async (connection: string, opts: { config?: string }) => {
      await withServices(opts.config, async (services) => {
        if (!(await services.credentials.delete(connection, cliActor()))) throw new GatewayError('PCS_API_NOT_FOUND', { what: `credential of ${connection}` });
        process.stdout.write(`deleted the credential of ${connection}\n`);
      });
    });
}
