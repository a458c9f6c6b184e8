import type { Command } from 'commander';
import { compilePolicies } from '../../policy/compile.ts';
import { testPolicy } from '../../runtime/policy-test.ts';
import { collect, configOption, loadOrExit } from '../context.ts';

export function policyCommand(program: Command): void {
  const policy = program.command('policy').description('inspect policy decisions');

  policy
    .command('test')
    .description('print the decision and the rule that made it, without touching any backend')
    .requiredOption('--as <subject>', 'the subject to decide for')
    .option('-g, --group <group>', 'a group of the subject (repeatable)', collect, [])
    .requiredOption('--connection <name>', 'connection name')
    .argument('<input>', 'SQL for database connections, "METHOD /path" for HTTP, a command line for SSH')
    .option('--json', 'print the analysed action and the decision as JSON')
    .option(...configOption)
    .action(async (input: string, opts: { as: string; group: string[]; connection: string; json?: boolean; config?: string }) => {
      const { config } = loadOrExit(opts.config);
      const { action, decision, explanation } = await testPolicy(config, compilePolicies(config.policies), { subject: opts.as, groups: opts.group, connection: opts.connection, input }, config.identity.admin_groups);
      if (opts.json) return void process.stdout.write(JSON.stringify({ action, decision, ...(explanation.length > 0 ? { explanation } : {}) }, null, 2) + '\n');
      const rule = decision.rule ? `${decision.rule.policy} rule ${decision.rule.index}${decision.rule.name ? ` (${decision.rule.name})` : ''}` : 'none (default deny)';
      const out = [`decision: ${decision.verdict}`, `rule:     ${rule}`, `reason:   ${decision.reason}`];
      if (action.kind === 'sql') {
        action.statements.forEach((s, i) => {
          out.push(`statement ${i}: ${s.command} (${s.effect})${s.relations.length ? ` relations: ${s.relations.map((r) => `${r.name}:${r.access}`).join(', ')}` : ''}${s.functions.length ? ` functions: ${s.functions.join(', ')}` : ''}${s.error ? ` error: ${s.error}` : ''}`);
        });
      }
      const own = decision.masks.filter((m) => m.builtin !== true);
      const builtin = decision.masks.filter((m) => m.builtin === true);
      if (own.length) out.push(`masks:    ${own.map((m) => `${m.column ?? (m.json !== undefined ? `json:${m.json}` : `detector:${m.detector}`)} -> ${m.with}`).join(', ')}`);
      // The same few on every database decision: named, not spelled out with their functions.
      if (builtin.length) out.push(`built-in credential masks: ${builtin.map((m) => m.column).join(', ')}`);
      if (decision.review) out.push(`review:   ${decision.review.mode}, ${decision.review.timeoutSeconds}s, approvers ${decision.review.approvers.groups.join('|')} x${decision.review.approvers.min}`);
      for (const s of decision.shadow) out.push(`shadow:   ${s.policy} would ${s.verdict}: ${s.reason}`);
      if (explanation.length > 0) out.push('explain:', ...explanation.map((line) => `  ${line}`));
      process.stdout.write(out.join('\n') + '\n');
    });
}
