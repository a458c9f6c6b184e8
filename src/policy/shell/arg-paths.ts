// Arguments of an exec command as path globs judge them. A glob that starts with `/` or `~`
// is a path glob: it is compared with the argument normalised (`.`, `..` and duplicate slashes
// resolved as POSIX does it lexically), so `/app/../etc/shadow` is `/etc/shadow` and `/app/*`
// does not take it. A relative argument is relative to the working directory of the exec,
// which OpenSSH starts in the home directory: it becomes `~/...`. When the line changes
// directory (cd, pushd, popd) or the path climbs above `~`, the argument cannot be placed:
// it matches no path glob of an allow rule and every one of a deny rule (fail closed).
// Symbolic links are not followed (docs/ssh.md says what that means for a rule).
import type { SshCommand } from '../../core/action.ts';
import { normaliseFilePath } from '../action-from-text.ts';

const CHANGES_DIRECTORY: ReadonlySet<string> = new Set(['cd', 'pushd', 'popd']);

/** Some command of the line changes the working directory of those after it. */
export function changesDirectory(commands: readonly SshCommand[]): boolean {
  for (const c of commands) if (CHANGES_DIRECTORY.has(c.program.slice(c.program.lastIndexOf('/') + 1))) return true;
  return false;
}

/**
 * The argument as a path: absolute or `~`/`~/...`, normalised; undefined when it cannot be
 * placed. `--name=value` places its value (`--file=/app/../x` is `--file=/x`).
 */
export function placeArg(arg: string, relativeKnown: boolean): string | undefined {
  if (arg.startsWith('-')) {
    const eq = arg.indexOf('=');
    if (eq === -1) return arg;
    const value = placeArg(arg.slice(eq + 1), relativeKnown);
    return value === undefined ? undefined : `${arg.slice(0, eq + 1)}${value}`;
  }
  if (arg.startsWith('/')) return normaliseFilePath(arg, '/');
  if (arg === '~' || arg.startsWith('~/')) return normaliseFilePath(`.${arg.slice(1)}`, '~');
  // `~user/...` is another user's home directory, not known here.
  if (arg.startsWith('~') || !relativeKnown) return undefined;
  return normaliseFilePath(arg, '~');
}

/** A glob that names paths: compared with placed arguments. */
export function isPathGlob(glob: string): boolean {
  return glob.startsWith('/') || glob.startsWith('~');
}
