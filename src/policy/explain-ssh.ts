// What `policy test` says about an SSH exec line besides the decision: how each command was
// read (arguments as path globs see them, words only known at run time, launches), what the
// parser could not follow, and for each SSH rule that could apply whether it matches and, if
// not, the first check that failed. The checks are match.ts's own (sshMismatch).
import type { SshAction } from '../core/action.ts';
import type { Identity } from '../core/identity.ts';
import { applicablePolicies } from './applicable.ts';
import type { CompiledPolicies } from './compile.ts';
import { sshMismatch } from './match.ts';
import { changesDirectory, placeArg } from './shell/arg-paths.ts';
import { parseShellLine } from './shell/parse.ts';

function commandLines(action: SshAction): string[] {
  const out: string[] = [];
  const commands = action.commands ?? [];
  const relativeKnown = !changesDirectory(commands);
  commands.forEach((c, n) => {
    out.push(`command ${n + 1}: ${[c.program, ...c.args].join(' ')}`);
    c.args.forEach((a, i) => {
      if (c.unknownArgs?.includes(i) === true) return void out.push(`  argument ${i + 1} ${a}: only known at run time`);
      const placed = placeArg(a, relativeKnown);
      if (placed === undefined) out.push(`  argument ${i + 1} ${a}: a path that cannot be placed (${relativeKnown ? 'above ~ or another user\'s home' : 'the line changes directory'})`);
      else if (placed !== a && (a.startsWith('/') || a.startsWith('~') || a.startsWith('.') || a.includes('/'))) out.push(`  argument ${i + 1} ${a}: as a path ${placed}`);
    });
    if (c.inputArgs === true) out.push('  xargs adds arguments read from its input');
    for (const l of c.launches ?? []) out.push(`  launches: ${l} (an allow rule must name it in launch)`);
  });
  return out;
}

export function explainSsh(policies: CompiledPolicies, identity: Identity, connection: string, action: SshAction): readonly string[] {
  if (action.op !== 'exec' || action.command === undefined) return [];
  const out = commandLines(action);
  if (action.uncertain === true) for (const r of parseShellLine(action.command).reasons) out.push(`not understood: ${r}`);
  if ((action.assignments?.length ?? 0) > 0) out.push(`sets variables: ${action.assignments?.join(', ') ?? ''}`);
  for (const r of action.redirects ?? []) out.push(`redirection: ${r.op} ${r.target}`);
  for (const policy of applicablePolicies(policies, identity, connection)) {
    for (const rule of policy.rules) {
      if (rule.kind !== 'ssh' && rule.kind !== 'any') continue;
      const why = rule.kind === 'any' ? undefined : sshMismatch(rule, action);
      const label = `${policy.name} rule ${rule.ref.index}${rule.ref.name === undefined ? '' : ` (${rule.ref.name})`} ${rule.verdict}`;
      out.push(why === undefined ? `${label}: matches` : `${label}: no, ${why}`);
    }
  }
  return out;
}
