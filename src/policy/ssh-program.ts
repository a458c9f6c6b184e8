// The program an SSH exec line runs, for `match.ssh.program`.
//
// For now this is the first word of the command line. A full shell parser (every simple
// command of a pipeline or list, quoting, substitutions) comes later. Until then, a line that
// could run more than one program, or whose first word is not a plain word, is "not
// understood": it yields undefined, and a rule that constrains `program` never matches it
// (fail closed, like an SQL statement of effect `unknown`).

// Anything that separates or substitutes commands, or redirects (`cat > /etc/x`).
const SHELL_SYNTAX = /[;&|<>()`$\n\r]/;
// A quoted or escaped first word may not be what it looks like.
const NOT_PLAIN = /['"\\]/;
// `NAME=value cmd` runs cmd with an environment assignment: not a plain first word.
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

export function programOf(commandLine: string): string | undefined {
  if (SHELL_SYNTAX.test(commandLine)) return undefined;
  const first = commandLine.trim().split(/[ \t]+/, 1)[0];
  if (first === undefined || first === '' || NOT_PLAIN.test(first) || ASSIGNMENT.test(first)) return undefined;
  return first;
}
