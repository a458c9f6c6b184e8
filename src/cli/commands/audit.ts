import type { Command } from 'commander';
import { loadPublicKey } from '../../audit/signing-key.ts';
import { verifyAudit } from '../../audit/verify.ts';
import { checkWitnessFile, type WitnessFileResult } from '../../audit/witness/check-file.ts';
import { auditKeyFile } from '../../runtime/services.ts';
import { openStore } from '../../store/store.ts';
import { CliExit, EXIT, configOption, loadOrExit } from '../context.ts';

export function auditCommand(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');

  audit
    .command('verify')
    .description('check the whole hash chain and its signed checkpoints; name the first broken record')
    .option('-k, --public-key <file>', 'checkpoint public key (PEM); default: the key beside audit.signing_key_file')
    .option('-w, --witness <file>', 'also compare every head of this witness file with the chain (detects truncation)')
    .option('--json', 'print the result as JSON')
    .option(...configOption)
    .action(async (opts: { publicKey?: string; witness?: string; json?: boolean; config?: string }) => {
      const { config } = loadOrExit(opts.config);
      // Verification needs only the store and the public key: an auditor needs no master key.
      const { publicKey } = loadPublicKey(opts.publicKey ?? `${auditKeyFile(config)}.pub`);
      const store = await openStore(config.store);
      try {
        const result = await verifyAudit(store, publicKey);
        let witness: WitnessFileResult | undefined;
        if (opts.witness !== undefined) {
          try {
            witness = await checkWitnessFile(store, opts.witness, publicKey);
          } catch (err) {
            process.stderr.write(`portcullis: cannot read the witness file ${opts.witness}: ${err instanceof Error ? err.message : String(err)}\n`);
            throw new CliExit(EXIT.usage);
          }
        }
        if (opts.json) process.stdout.write(JSON.stringify(witness ? { ...result, witness } : result) + '\n');
        else {
          if (result.ok) process.stdout.write(`audit chain intact: ${result.records} records, ${result.checkpoints} signed checkpoints, last record ${result.lastSeq} ${result.lastHash}\n`);
          else process.stdout.write(`audit chain BROKEN at record ${result.seq}: ${result.reason} (${result.recordsChecked} records checked)\n`);
          if (witness?.ok) process.stdout.write(`witness agrees: ${witness.heads} heads, last witnessed record ${witness.lastWitnessSeq}, chain ends at ${witness.storeSeq}\n`);
          else if (witness) {
            process.stdout.write(`witness DISAGREES (${witness.problems.length} problems in ${witness.heads} heads):\n`);
            for (const p of witness.problems) process.stdout.write(`  ${p.problem}: ${p.detail}\n`);
          }
        }
        if (!result.ok || (witness && !witness.ok)) throw new CliExit(EXIT.failure);
      } finally {
        await store.close();
      }
    });
}
