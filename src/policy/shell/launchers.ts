// Programs that can run other programs through their own options or input, beyond the
// wrappers the shell parser already unwraps (sudo, env, xargs, find -exec, sh -c...: there the
// inner command is listed and judged by itself). What these run cannot be seen in the line
// (a pager's `!sh`, `git -c core.pager=...`, awk's `system()`), so each such use is reported
// as a named launch, and an allow rule takes the command only when its `launch` globs name
// every launch (docs/ssh.md, "Programs that run programs"). Deny rules treat it as a line not
// understood (fail closed).
//
// The table is by program basename. Each entry reads the words after the program and returns
// the launches it finds, as `program what` (`git -c core.pager`, `tar --to-command`, `less`).

/** Where the line runs: `terminal` when the exec asked for a pty (pagers only start then). */
export interface LaunchContext {
  readonly terminal: boolean;
}

type Detector = (args: readonly string[], ctx: LaunchContext, name: string) => readonly string[];

const NONE: readonly string[] = Object.freeze([]);

/** Always a launch: an interactive program with shell escapes (or a preprocessor from the environment, as less's LESSOPEN). */
const always: Detector = (_args, _ctx, name) => [name];

/** Long options (`--x` or `--x=v`) and short letters (in clusters `-abc`) that run a command. */
function options(long: readonly string[], short: string): Detector {
  return (args, _ctx, name) => {
    const found = new Set<string>();
    for (const a of args) {
      if (a === '--') break;
      if (a.startsWith('--')) {
        const key = a.slice(2).split('=', 1)[0] ?? '';
        // Unambiguous prefixes are accepted by getopt_long: `--to-com` is `--to-command`.
        const hit = long.find((l) => l === key || (key.length >= 3 && l.startsWith(key)));
        if (hit !== undefined) found.add(`${name} --${hit}`);
      } else if (a.startsWith('-') && a.length > 1 && short !== '') {
        for (const ch of a.slice(1)) if (short.includes(ch)) found.add(`${name} -${ch}`);
      }
    }
    return [...found];
  };
}

// git: configuration given on the command line can name a program for nearly any key (core.pager,
// core.editor, core.sshCommand, core.fsmonitor, alias.x=!cmd, diff.external, filter.*...), so
// every `-c` is a launch named by its key; and these options and subcommands run commands.
const GIT_EXEC_OPTIONS = ['upload-pack', 'receive-pack', 'exec', 'config-env', 'extcmd', 'tool'];
const GIT_RUNNERS: Readonly<Record<string, string>> = {
  difftool: 'git difftool',
  mergetool: 'git mergetool',
  'filter-branch': 'git filter-branch',
  'filter-repo': 'git filter-repo',
};

const git: Detector = (args, ctx) => {
  const found = new Set<string>();
  let pager = true;
  let sub: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    // `-c` is git's own option before the subcommand (`git log -c` is a diff format).
    if (sub === undefined && (a === '-c' || (a.startsWith('-c') && a.length > 2))) {
      const kv = a === '-c' ? (args[++i] ?? '') : a.slice(2);
      found.add(`git -c ${(kv.split('=', 1)[0] ?? '').toLowerCase()}`);
      continue;
    }
    if (a === '--no-pager' || a === '-P') pager = false;
    if (a === '--paginate' || a === '-p') pager = true;
    if (a.startsWith('--')) {
      const key = a.slice(2).split('=', 1)[0] ?? '';
      if (GIT_EXEC_OPTIONS.includes(key)) found.add(`git --${key}`);
      if (sub === 'rebase' && key === 'exec') found.add('git rebase --exec');
      if (a === '--config-env' || a.startsWith('--config-env=')) found.add('git --config-env');
      continue;
    }
    if (sub === undefined && (a === '-C' || a === '--git-dir' || a === '--work-tree' || a === '--namespace')) {
      i++;
      continue;
    }
    if (a.startsWith('-')) {
      if (sub === 'rebase' && (a === '-x' || /^-[A-Za-z]*x/.test(a))) found.add('git rebase --exec');
      if (sub === 'ls-remote' && a === '-u') found.add('git --upload-pack');
      continue;
    }
    if (sub === undefined) {
      sub = a;
      const runner = GIT_RUNNERS[a];
      if (runner !== undefined) found.add(runner);
      continue;
    }
    if (sub === 'bisect' && a === 'run') found.add('git bisect run');
    if (sub === 'submodule' && a === 'foreach') found.add('git submodule foreach');
  }
  // With a terminal git pages its output through $PAGER (less by default).
  if (ctx.terminal && pager) found.add('git pager');
  return [...found];
};

/** systemd's tools page through less when given a terminal; `systemctl edit` starts an editor. */
const systemd: Detector = (args, ctx, name) => {
  const found: string[] = [];
  if (ctx.terminal && !args.includes('--no-pager')) found.push(`${name} pager`);
  if (name === 'systemctl' && args.includes('edit')) found.push('systemctl edit');
  return found;
};

/** `ssh host cmd` runs cmd on another host; ProxyCommand, LocalCommand... run one here. */
const SSH_COMMAND_KEYS = ['proxycommand', 'localcommand', 'permitlocalcommand', 'knownhostscommand', 'match', 'include'];
const SSH_ARG_OPTIONS = 'BbcDEeFIiJLlmOoPpQRSWw';

function sshOption(found: Set<string>, name: string, value: string): void {
  const key = (value.split(/[=\s]/, 1)[0] ?? '').toLowerCase();
  if (SSH_COMMAND_KEYS.includes(key)) found.add(`${name} -o ${key}`);
}

const ssh: Detector = (args, _ctx, name) => {
  const found = new Set<string>();
  let operands = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (operands > 0 || a === '--' || !a.startsWith('-') || a === '-') {
      if (a !== '--') operands++;
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const ch = a[j] as string;
      if (!SSH_ARG_OPTIONS.includes(ch)) continue;
      const value = j + 1 < a.length ? a.slice(j + 1) : (args[++i] ?? '');
      if (ch === 'o') sshOption(found, name, value);
      // A configuration file can hold ProxyCommand; scp and sftp -S name the ssh program.
      if (ch === 'F') found.add(`${name} -F`);
      if (ch === 'S' && name !== 'ssh') found.add(`${name} -S`);
      break;
    }
  }
  // ssh's operands after the destination are a command for the other host.
  if (name === 'ssh' && operands > 1) found.add('ssh command');
  return [...found];
};

/** Interpreters given program text inline. */
function inline(short: string, long: readonly string[] = []): Detector {
  return (args, _ctx, name) => {
    for (const a of args) {
      if (a === '--') break;
      const key = a.startsWith('--') ? (a.slice(2).split('=', 1)[0] ?? '') : undefined;
      if (key !== undefined && long.includes(key)) return [`${name} --${key}`];
      if (key === undefined && a.startsWith('-')) for (const ch of a.slice(1)) if (short.includes(ch)) return [`${name} -${ch}`];
      if (!a.startsWith('-')) break; // a script file: the program the rule allowed by name
    }
    return NONE;
  };
}

// awk: system(), `| "cmd"`, `cmd | getline`, and gawk's @load run programs; a program file is not seen.
const AWK_RUNS = /\bsystem\s*\(|\||@load|\bgetline\b/;

const awk: Detector = (args, _ctx, name) => {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-f' || a.startsWith('--file') || a === '-E' || a.startsWith('--exec') || a.startsWith('--load') || a === '-l') return [`${name} -f`];
    if (a === '-v' || a === '-F') {
      i++;
      continue;
    }
    if (a === '--') continue;
    if (a.startsWith('-')) continue;
    return AWK_RUNS.test(a) ? [`${name} system`] : NONE;
  }
  return NONE;
};

/**
 * sed: the `e` command and the `e` flag of `s` run commands; `w`/`W` and the `w` flag write
 * files; a script file (-f) is not seen. Scripts are read command by command; one that cannot
 * be read is a launch (fail closed).
 */
const sed: Detector = (args) => {
  const scripts: string[] = [];
  let explicit = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-f' || a.startsWith('--file') || /^-[A-Za-z]*f/.test(a)) return ['sed -f'];
    if (a === '-e' || a === '--expression') {
      scripts.push(args[++i] ?? '');
      explicit = true;
    } else if (a.startsWith('--expression=')) {
      scripts.push(a.slice(13));
      explicit = true;
    } else if (/^-[A-Za-z]*e./.test(a) && !a.startsWith('--')) {
      scripts.push(a.slice(a.indexOf('e') + 1));
      explicit = true;
    } else if (!a.startsWith('-') && !explicit && scripts.length === 0) scripts.push(a);
  }
  for (const s of scripts) {
    const verdict = sedScript(s);
    if (verdict !== undefined) return [verdict];
  }
  return NONE;
};

/** The first launch (or write) in a sed script, or undefined. */
function sedScript(s: string): string | undefined {
  let i = 0;
  const delimited = (): boolean => {
    // One part delimited by s[i], escapes honoured; i ends after the delimiter.
    const d = s[i++];
    if (d === undefined || d === '\n' || d === '\\') return false;
    while (i < s.length && s[i] !== d) i += s[i] === '\\' ? 2 : 1;
    if (i >= s.length) return false;
    i++;
    return true;
  };
  const address = (): boolean => {
    const c = s[i];
    if (c === '/') return delimited();
    if (c === '\\') {
      i++;
      return delimited();
    }
    if (c === '$') {
      i++;
      return true;
    }
    while (i < s.length && /[0-9~+]/.test(s[i] as string)) i++;
    return true;
  };
  while (i < s.length) {
    const c = s[i] as string;
    if (/[\s;{}!]/.test(c)) {
      i++;
      continue;
    }
    if (!address()) return 'sed (unreadable script)';
    if (s[i] === ',') {
      i++;
      if (!address()) return 'sed (unreadable script)';
    }
    while (i < s.length && /[\s!]/.test(s[i] as string)) i++;
    const cmd = s[i++];
    if (cmd === undefined) return undefined;
    switch (cmd) {
      case 'e':
        return 'sed e';
      case 'w':
      case 'W':
        return 'sed w';
      case 's': {
        const start = i;
        const d = s[i];
        if (!delimited()) return 'sed (unreadable script)';
        i--; // the middle delimiter opens the replacement
        if (s[i] !== d || start === i || !delimited()) return 'sed (unreadable script)';
        let flags = '';
        while (i < s.length && !/[\s;}\n]/.test(s[i] as string)) flags += s[i++];
        if (flags.includes('e')) return 'sed s///e';
        if (flags.includes('w')) return 'sed w';
        break;
      }
      case 'y':
        if (!delimited()) return 'sed (unreadable script)';
        i--;
        if (!delimited()) return 'sed (unreadable script)';
        break;
      case 'a':
      case 'i':
      case 'c':
      case ':':
      case 'b':
      case 't':
      case 'T':
      case 'r':
      case 'R':
      case 'q':
      case 'Q':
      case 'l':
      case 'L':
        // Text, a label or a file name: the rest of the line (r/R read files, which is reading).
        while (i < s.length && s[i] !== '\n' && !(cmd !== 'a' && cmd !== 'i' && cmd !== 'c' && cmd !== ':' && s[i] === ';')) i++;
        break;
      case '=':
      case 'd':
      case 'D':
      case 'g':
      case 'G':
      case 'h':
      case 'H':
      case 'n':
      case 'N':
      case 'p':
      case 'P':
      case 'x':
      case 'z':
      case 'F':
        break;
      default:
        return 'sed (unreadable script)';
    }
  }
  return undefined;
}

/** zip -T tests the archive with unzip, or with the command -TT (--unzip-command) names. */
const zip: Detector = (args) => (args.some((a) => a === '-TT' || a.startsWith('--unzip-command')) ? ['zip -TT'] : NONE);

const EDITORS = ['vi', 'vim', 'nvim', 'view', 'vimdiff', 'rvim', 'rview', 'ex', 'ed', 'red', 'emacs', 'nano', 'pico', 'joe', 'mcedit', 'vipe'];
const PAGERS = ['less', 'more', 'most', 'pg', 'man', 'info', 'lessfile', 'lesspipe'];

/** Basename -> detector. docs/ssh.md lists these; add an entry here and a row there. */
export const LAUNCHERS: Readonly<Record<string, Detector>> = Object.freeze({
  ...Object.fromEntries([...EDITORS, ...PAGERS].map((n) => [n, always])),
  git,
  journalctl: systemd,
  systemctl: systemd,
  ssh,
  scp: ssh,
  sftp: ssh,
  tar: options(['to-command', 'use-compress-program', 'checkpoint-action', 'info-script', 'new-volume-script', 'rsh-command', 'rmt-command'], 'IF'),
  rsync: options(['rsh', 'rsync-path'], 'e'),
  zip,
  awk,
  gawk: awk,
  mawk: awk,
  nawk: awk,
  sed,
  gsed: sed,
  perl: inline('eEx'),
  python: inline('c'),
  python3: inline('c'),
  python2: inline('c'),
  ruby: inline('e'),
  node: inline('ep', ['eval', 'print']),
  php: inline('rR'),
  lua: inline('e'),
  tclsh: always,
  expect: inline('c'),
  gdb: always,
  script: always,
  tmux: always,
  screen: always,
  crontab: options([], 'e'),
  flock: (args) => (args.length > 1 ? ['flock command'] : NONE),
  parallel: always,
  make: always,
});

/** The launches of one command (program as written, arguments after quote removal). */
export function launchesOf(program: string, args: readonly string[], ctx: LaunchContext): readonly string[] {
  const name = program.slice(program.lastIndexOf('/') + 1);
  const detect = Object.hasOwn(LAUNCHERS, name) ? LAUNCHERS[name] : undefined;
  if (detect === undefined) return NONE;
  const found = detect(args, ctx, name);
  return found.length === 0 ? NONE : Object.freeze([...found]);
}
