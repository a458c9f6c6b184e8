import type { Command } from 'commander';
import { duration } from '../../config/schema.ts';
import { GatewayError } from '../../core/errors.ts';
import { collect, cliActor, configOption, withServices } from '../context.ts';

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('gateway tokens from the built-in local issuer');

  token
    .command('issue')
    .description('print a short-lived signed gateway token that every listener accepts')
    .requiredOption('-s, --subject <name>', 'who the token identifies (e.g. ci-agent)')
    .option('-g, --group <group>', 'a group of the subject (repeatable)', collect, [])
    .option('-r, --role <role>', 'a gateway role (repeatable)', collect, [])
    .option('-t, --ttl <duration>', 'lifetime such as 15m or 1h (default: local_issuer.default_ttl)')
    .option('-d, --description <text>', 'why the token exists (shown in token list)')
    .option('--json', 'print JSON with the token id and expiry instead of the bare token')
    .option(...configOption)
    .action(async (opts: { subject: string; group: string[]; role: string[]; ttl?: string; description?: string; json?: boolean; config?: string }) => {
      let ttlSeconds: number | undefined;
      if (opts.ttl !== undefined) {
        const parsed = duration.safeParse(opts.ttl);
        if (!parsed.success) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: `--ttl ${opts.ttl}: expected a duration such as 15m` });
        ttlSeconds = parsed.data;
      }
      await withServices(opts.config, async (services) => {
        const issued = await services.localIssuer.issue({
          subject: opts.subject,
          groups: opts.group,
          roles: opts.role,
          ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
          ...(opts.description !== undefined ? { description: opts.description } : {}),
          issuedBy: cliActor(),
        });
        if (opts.json) process.stdout.write(JSON.stringify({ token: issued.token, jti: issued.jti, expires_at: issued.expiresAt }) + '\n');
        else {
          process.stdout.write(issued.token + '\n');
          process.stderr.write(`token ${issued.jti} for ${opts.subject} expires ${new Date(issued.expiresAt * 1000).toISOString()}\n`);
        }
      });
    });

  token
    .command('revoke')
    .description('revoke a gateway token by its id (jti); listeners reject it from then on')
    .argument('<jti>', 'token id, as printed by `token issue --json` or `token list`')
    .option(...configOption)
    .action(async (jti: string, opts: { config?: string }) => {
      await withServices(opts.config, async (services) => {
        if (!(await services.localIssuer.revoke(jti, cliActor()))) throw new GatewayError('PCS_API_NOT_FOUND', { what: `token ${jti}` });
        process.stdout.write(`revoked ${jti}\n`);
      });
    });

  token
    .command('list')
    .description('list gateway tokens (never the token strings)')
    .option('-s, --subject <name>', 'only this subject')
    .option('-a, --all', 'include expired tokens')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(async (opts: { subject?: string; all?: boolean; json?: boolean; config?: string }) => {
      await withServices(opts.config, async (services) => {
        const tokens = await services.localIssuer.list({ ...(opts.subject ? { subject: opts.subject } : {}), includeExpired: opts.all === true });
        if (opts.json) return void process.stdout.write(JSON.stringify(tokens, null, 2) + '\n');
        for (const t of tokens) {
          const state = t.revokedAt ? `revoked ${new Date(t.revokedAt).toISOString()}` : `expires ${new Date(t.expiresAt).toISOString()}`;
          process.stdout.write(`${t.jti}  ${t.subject}  [${t.groups.join(',')}]  ${state}\n`);
        }
      });
    });
}
