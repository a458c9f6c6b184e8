import type { Command } from 'commander';
import { jsonSchema } from '../../config/json-schema.ts';
import { configWarnings } from '../../config/warnings.ts';
import { loadOrExit } from '../context.ts';

export function configCommand(program: Command): void {
  const config = program.command('config').description('the configuration file');

  config
    .command('check')
    .description('validate a configuration file without starting; lists every problem by its path')
    .argument('[file]', 'configuration file (default: --config or the embedded example)')
    .option('-c, --config <file>', 'configuration file')
    .action((file: string | undefined, opts: { config?: string }) => {
      const loaded = loadOrExit(file ?? opts.config);
      const c = loaded.config;
      for (const w of configWarnings(c)) process.stderr.write(`${loaded.file}: warning: ${w.path}: ${w.message}\n`);
      process.stdout.write(`${loaded.file}: ok (${c.connections.length} connections, ${c.policies.length} policies, ${c.identity.oidc.length} OIDC issuers, ${c.identity.saml.length} SAML IdPs)\n`);
    });

  config
    .command('schema')
    .description('print the JSON Schema of the configuration file (for editors)')
    .action(() => {
      process.stdout.write(JSON.stringify(jsonSchema(), null, 2) + '\n');
    });
}
