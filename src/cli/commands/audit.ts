import type { Command } from 'commander';
import { loadPublicKey } from '../../audit/signing-key.ts';
import { verifyAudit } from '../../audit/verify.ts';
import { auditKeyFile } from '../../runtime/services.ts';
import { openStore } from '../../store/store.ts';
import { CliExit, EXIT, configOption, loadOrExit } from '../context.ts';

export function auditCommand(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');

  audit
    .command('verify')
    .description('check the whole hash chain and its signed checkpoints; name the first broken record')
    .option('-k, --public-key <file>', 'checkpoint public key (PEM); default: the key beside audit.signing_key_file')
    .option('--json', 'print the result as JSON')
    .option(...configOption)
    .action(async (opts: { publicKey?: string; json?: boolean; config?: string }) => {
      const { config } = loadOrExit(opts.config);
      // Verification needs only the store and the public key: an auditor needs no master key.
      const { publicKey } = loadPublicKey(opts.publicKey ?? `${auditKeyFile(config)}.pub`);
      const store = await openStore(config.store);
      try {
        const result = await verifyAudit(store, publicKey);
        if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
        else if (result.ok) process.stdout.write(`audit chain intact: ${result.records} records, ${result.checkpoints} signed checkpoints, last record ${result.lastSeq} ${result.lastHash}\n`);
        else process.stdout.write(`audit chain BROKEN at record ${result.seq}: ${result.reason} (${result.recordsChecked} records checked)\n`);
        if (!result.ok) throw new CliExit(EXIT.failure);
      } finally {
        await store.close();
      }
    });
}
