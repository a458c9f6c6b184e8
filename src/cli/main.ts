// The `portcullis` command. Each subcommand lives in commands/; errors become one clear line
// on stderr and an exit code (see context.ts), never a stack trace.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { accessCommand } from './commands/access.ts';
import { auditCommand } from './commands/audit.ts';
import { configCommand } from './commands/config.ts';
import { credentialCommand } from './commands/credential.ts';
import { policyCommand } from './commands/policy.ts';
import { reviewsCommand } from './commands/reviews.ts';
import { sessionsCommand } from './commands/sessions.ts';
import { sshKeyCommand } from './commands/ssh-key.ts';
import { startCommand } from './commands/start.ts';
import { tokenCommand } from './commands/token.ts';
import { EXIT, reportError } from './context.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('portcullis')
    .description('Privileged-access gateway for AI coding agents')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  startCommand(program);
  configCommand(program);
  tokenCommand(program);
  credentialCommand(program);
  policyCommand(program);
  auditCommand(program);
  sessionsCommand(program);
  reviewsCommand(program);
  accessCommand(program);
  sshKeyCommand(program);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(err);
  }
}
