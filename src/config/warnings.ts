// Valid configuration that probably does not say what its author meant: `config check`
// prints these and still succeeds (the gateway starts with them).
import type { Config } from './schema.ts';

export interface ConfigWarning {
  /** Dotted path of the value, as config problems are written: `policies[0].rules[2].match.ssh.args`. */
  readonly path: string;
  readonly message: string;
}

export function configWarnings(config: Config): readonly ConfigWarning[] {
  const out: ConfigWarning[] = [];
  const agentGroups = new Set(config.reviews.agent_groups);
  config.policies.forEach((policy, p) => {
    // Verifiers let anyone who reads them log in as that role elsewhere (or crack them offline).
    const agents = policy.subjects.groups.filter((g) => g === '*' || agentGroups.has(g));
    if (policy.reveal_credentials.length > 0 && (agents.length > 0 || policy.subjects.users.includes('*'))) {
      out.push({ path: `policies[${p}].reveal_credentials`, message: `reveals ${policy.reveal_credentials.join(', ')} to ${agents.length > 0 ? `agent group${agents.length > 1 ? 's' : ''} ${agents.join(', ')}` : 'every user'}: keep credential material to a policy for human operators` });
    }
    policy.rules.forEach((rule, r) => {
      const ssh = rule.match?.ssh;
      // `args` alone is "some argument matches": the others ride along (cat /app/x /etc/shadow).
      if (rule.then === 'allow' && ssh?.args !== undefined && ssh.args_all === undefined && ssh.argv === undefined && ssh.command_line === undefined) {
        out.push({ path: `policies[${p}].rules[${r}].match.ssh.args`, message: 'args allows a line when some argument matches, whatever the others are: use args_all (every argument) or argv (exact words) to bound them' });
      }
    });
  });
  return out;
}
