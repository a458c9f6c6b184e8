// A static reader of POSIX shell command lines (with the bash forms agents commonly send), for
// SSH exec policy: which programs would a line run? Nothing is executed or expanded.
//
// The output is deliberately pessimistic. Every simple command that could run is listed,
// including those inside substitutions, subshells, compound commands, here-document bodies and
// the strings handed to `sh -c`, `eval` or `watch`, and the commands behind wrappers (`sudo`,
// `env`, `xargs`, `find -exec`...), which are listed too. What cannot be known before run time
// (a program named by a variable, `eval "$x"`, `source`, a function definition, a syntax error)
// makes the line `uncertain`, and policy then fails closed.
//
// Shape: a lexer over one string (words are read with their quotes, expansions and nested
// substitutions, which are parsed by a sub-parser over the same string), and a recursive
// descent parser following the POSIX grammar (list, and-or, pipeline, command). Each nested
// construct counts against MAX_DEPTH, so recursion is bounded and the work is linear in the
// input times that bound.

export interface SimpleCommand {
  /** The command word after unwrapping and quote removal, as written (`/bin/rm` stays so). */
  readonly program: string;
  /** The other words after quote removal; expansions are kept as written (`$HOME`, `$(id)`). */
  readonly args: readonly string[];
  /** Parts the parser could not resolve statically: a word containing $VAR, $(...), backticks, globs with *?[ , ~, arithmetic $((..)), process substitution. */
  readonly dynamic: boolean;
  /**
   * Indexes into `args` of the words whose text is only known at run time: an expansion
   * (`$x`, `"$x"`, `$(...)`, backquotes, process or brace-list substitution), or a glob whose
   * matches could include `.` or `..` (a segment such as `.*`). A leading `~` and other globs
   * are not in it: they only name existing files below what is written.
   */
  readonly unknownArgs?: readonly number[];
  /** xargs adds words read from its input after `args`. */
  readonly inputArgs?: true;
  /** Where it came from: 'top', 'pipeline', 'subshell', 'substitution' ($(...) or backticks), 'sh -c', 'env', 'sudo', 'xargs', 'find -exec', 'eval' ... */
  readonly via: readonly string[];
}

export interface Redirect {
  /** With its file descriptor when one is written: `>`, `>>`, `2>`, `&>`, `<`, `<>`, `>|`, `>&`. */
  readonly op: string;
  readonly target: string;
  readonly dynamic: boolean;
}

export interface ParsedLine {
  readonly commands: readonly SimpleCommand[];
  /** True when something could not be analysed at all (unterminated quote, here-doc body, `eval` of a dynamic string, a function definition, `source`/`.`, a program that is itself dynamic): policy must then take the most restrictive rule. */
  readonly uncertain: boolean;
  readonly reasons: readonly string[];
  /** Redirections to files (`> f`, `>> f`, `< f`, `2> f`, `&> f`), for rules on writes. */
  readonly redirects: readonly Redirect[];
  /**
   * Names of the variables the line sets: `A=1 cmd`, `A=1; cmd`, `env A=1 cmd`, `sudo A=1 cmd`,
   * `for A in ...`. They can change what a program does (PATH, LD_PRELOAD, HOME, GIT_*...).
   */
  readonly assignments: readonly string[];
}

export const MAX_LINE_LENGTH = 64 * 1024;
export const MAX_DEPTH = 16;
const MAX_REASONS = 16;

/** Thrown to stop at the first thing that makes further reading meaningless (a syntax error, too deep). */
class Abort extends Error {}

interface Word {
  /** After quote removal; expansions kept as written. */
  readonly text: string;
  /** As written. */
  readonly raw: string;
  readonly dynamic: boolean;
  /** Some part was quoted or escaped: then it is never a reserved word. */
  readonly quoted: boolean;
  /** Unquoted expansion (`$x`, `$(...)`, backquotes) or brace expansion: may become any words at run time. */
  readonly splits: boolean;
  /** Unquoted glob: becomes the names of existing files. */
  readonly globs: boolean;
}

interface MutableCommand {
  program: string;
  args: string[];
  unknownArgs: number[];
  inputArgs: boolean;
  dynamic: boolean;
  via: string[];
}

type Token =
  | { readonly kind: 'word'; readonly word: Word; readonly start: number; readonly end: number }
  | { readonly kind: 'op'; readonly op: string; readonly start: number; readonly end: number }
  | { readonly kind: 'redir'; readonly op: string; readonly fd: string; readonly start: number; readonly end: number }
  | { readonly kind: 'eof'; readonly start: number; readonly end: number };

interface HereDoc {
  readonly delimiter: string;
  readonly stripTabs: boolean;
  readonly expands: boolean;
}

/** Everything found, shared by the parser of a line and the sub-parsers of the strings inside it. */
class Sink {
  readonly commands: MutableCommand[] = [];
  readonly redirects: Redirect[] = [];
  readonly assignments = new Set<string>();
  readonly reasons: string[] = [];
  uncertain = false;

  doubt(reason: string): void {
    this.uncertain = true;
    if (this.reasons.length < MAX_REASONS && !this.reasons.includes(reason)) this.reasons.push(reason);
  }

  result(): ParsedLine {
    return Object.freeze({
      commands: Object.freeze(
        this.commands.map((c) =>
          Object.freeze({
            program: c.program,
            args: Object.freeze(c.args),
            // Only when they say something: most commands have neither.
            ...(c.unknownArgs.length > 0 ? { unknownArgs: Object.freeze(c.unknownArgs) } : {}),
            ...(c.inputArgs ? { inputArgs: true as const } : {}),
            dynamic: c.dynamic,
            via: Object.freeze(c.via.length === 0 ? ['top'] : c.via),
          }),
        ),
      ),
      uncertain: this.uncertain,
      reasons: Object.freeze([...this.reasons]),
      redirects: Object.freeze(this.redirects.map((r) => Object.freeze(r))),
      assignments: Object.freeze([...this.assignments]),
    });
  }
}

// Words that are reserved only when unquoted and first in a command.
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'case', 'esac', 'while', 'until', 'for', 'select', 'function', '{', '}', '[[', '!', 'coproc']);
const NOT_A_COMMAND = new Set(['then', 'else', 'elif', 'fi', 'do', 'done', 'esac', '}']);
// Longest first.
const OPERATORS = [';;&', ';;', ';&', ';', '||', '|&', '|', '(', ')'];
const REDIRECTIONS = ['<<<', '<<-', '<<', '<&', '<>', '<', '>>', '>&', '>|', '>'];
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'posh', 'rbash']);
// Shells whose syntax this parser does not know: what they run cannot be seen.
const FOREIGN_SHELLS = new Set(['fish', 'csh', 'tcsh', 'nu', 'elvish', 'xonsh', 'pwsh']);

// In the raw text of a word that is dynamic: an expansion or substitution.
const RUNTIME_TEXT = /[$`]|[<>]\(/;
// A glob segment that starts with `.` or a bracket can match `.` or `..` in some shells.
const DOT_GLOB = /(?:^|\/)[.[][^/]*[*?[]|(?:^|\/)\[/;

function isMeta(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')' || c === '<' || c === '>';
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** A word as quoted in a reason: reasons go to logs and audit records, so they stay short. */
function shown(raw: string): string {
  return raw.length <= 60 ? raw : `${raw.slice(0, 57)}...`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function isKeyword(word: Word, names: ReadonlySet<string> = KEYWORDS): boolean {
  return !word.quoted && names.has(word.raw);
}

const ANSI_ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
const HEX = /[0-9A-Fa-f]/;

/** Up to `max` digits of `re` from `from`: their value and count. */
function digitsAt(body: string, from: number, re: RegExp, max: number, base: number): [number, number] | undefined {
  let digits = '';
  while (digits.length < max && from + digits.length < body.length && re.test(body[from + digits.length] as string)) digits += body[from + digits.length];
  return digits === '' ? undefined : [parseInt(digits, base), digits.length];
}

/** bash's $'...' escapes. */
function decodeAnsi(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\' || i + 1 >= body.length) {
      out += c;
      continue;
    }
    const e = body[++i] as string;
    if (Object.hasOwn(ANSI_ESCAPES, e)) {
      out += ANSI_ESCAPES[e];
      continue;
    }
    let code: [number, number] | undefined;
    let skip = 0;
    if (e >= '0' && e <= '7') {
      code = digitsAt(body, i, /[0-7]/, 3, 8);
      skip = -1;
    } else if (e === 'x') code = digitsAt(body, i + 1, HEX, 2, 16);
    else if (e === 'u') code = digitsAt(body, i + 1, HEX, 4, 16);
    else if (e === 'U') code = digitsAt(body, i + 1, HEX, 8, 16);
    else if (e === 'c' && i + 1 < body.length) {
      out += String.fromCharCode((body.charCodeAt(++i) & 0x1f) >>> 0);
      continue;
    }
    if (code === undefined) {
      out += `\\${e}`;
      continue;
    }
    out += code[0] <= 0x10ffff ? String.fromCodePoint(code[0]) : '\ufffd';
    i += code[1] + skip;
  }
  return out;
}

/** Options of a wrapper command (getopt style: clusters, attached or separate values, `--name[=value]`). */
interface OptionSpec {
  /** Short options that take a value. */
  readonly arg?: string;
  /** Short options whose value, if any, is attached (`-i{}`). */
  readonly optional?: string;
  readonly flag?: string;
  readonly longArg?: readonly string[];
  /** Long options whose value, if any, follows `=`. */
  readonly longOptional?: readonly string[];
  readonly longFlag?: readonly string[];
  /** `-10` is an option (nice). */
  readonly numeric?: boolean;
}

interface Options {
  /** Index of the first word after the options. */
  readonly next: number;
  /** Short letters and long names seen, with their values (true when none). */
  readonly seen: ReadonlyMap<string, string | true>;
}

function scanOptions(name: string, words: readonly Word[], spec: OptionSpec): Options | string {
  const seen = new Map<string, string | true>();
  let i = 0;
  while (i < words.length) {
    const w = words[i] as Word;
    const t = w.text;
    // An option only known at run time could be anything, including a new command (a
    // dynamic command word, where the options end, makes the line uncertain anyway).
    if (w.dynamic) return `an argument of ${name} is only known at run time: ${shown(w.raw)}`;
    if (t === '--') return { next: i + 1, seen };
    if (!t.startsWith('-') || t === '-') break;
    if (t.startsWith('--')) {
      const eq = t.indexOf('=');
      const key = eq === -1 ? t.slice(2) : t.slice(2, eq);
      if (spec.longArg?.includes(key)) {
        if (eq !== -1) seen.set(key, t.slice(eq + 1));
        else {
          const value = words[i + 1];
          if (value === undefined) return `${name} ${t} lacks its value`;
          if (value.splits || value.globs) return `an argument of ${name} is only known at run time: ${shown(value.raw)}`;
          seen.set(key, value.text);
          i++;
        }
      } else if (spec.longOptional?.includes(key)) seen.set(key, eq === -1 ? true : t.slice(eq + 1));
      else if (spec.longFlag?.includes(key) && eq === -1) seen.set(key, true);
      else return `unknown option ${t} of ${name}`;
      i++;
      continue;
    }
    if (spec.numeric === true && /^-\d+$/.test(t)) {
      i++;
      continue;
    }
    let consumed = 1;
    for (let j = 1; j < t.length; j++) {
      const ch = t[j] as string;
      if (spec.flag?.includes(ch)) {
        seen.set(ch, true);
        continue;
      }
      if (spec.optional?.includes(ch)) {
        seen.set(ch, j + 1 < t.length ? t.slice(j + 1) : true);
        break;
      }
      if (spec.arg?.includes(ch)) {
        if (j + 1 < t.length) seen.set(ch, t.slice(j + 1));
        else {
          const value = words[i + 1];
          if (value === undefined) return `${name} -${ch} lacks its value`;
          if (value.splits || value.globs) return `an argument of ${name} is only known at run time: ${shown(value.raw)}`;
          seen.set(ch, value.text);
          consumed = 2;
        }
        break;
      }
      return `unknown option -${ch} of ${name}`;
    }
    i += consumed;
  }
  return { next: i, seen };
}

const ENV_OPTIONS: OptionSpec = {
  arg: 'uCSPa',
  flag: 'i0v',
  longArg: ['unset', 'chdir', 'split-string', 'argv0'],
  longOptional: ['block-signal', 'default-signal', 'ignore-signal'],
  longFlag: ['ignore-environment', 'null', 'debug', 'list-signal-handling', 'help', 'version'],
};
const SUDO_OPTIONS: OptionSpec = {
  arg: 'aCcDgpRrTtUu',
  optional: 'h',
  flag: 'ABbEeHiKklNnPSsVv',
  longArg: ['auth-type', 'close-from', 'login-class', 'chdir', 'group', 'prompt', 'chroot', 'role', 'type', 'command-timeout', 'other-user', 'user'],
  longOptional: ['preserve-env', 'host'],
  longFlag: ['askpass', 'bell', 'background', 'edit', 'help', 'set-home', 'login', 'remove-timestamp', 'reset-timestamp', 'list', 'non-interactive', 'preserve-groups', 'stdin', 'shell', 'version', 'validate'],
};
const DOAS_OPTIONS: OptionSpec = { arg: 'Cu', flag: 'Lns' };
const NOHUP_OPTIONS: OptionSpec = { longFlag: ['help', 'version'] };
const NICE_OPTIONS: OptionSpec = { arg: 'n', longArg: ['adjustment'], longFlag: ['help', 'version'], numeric: true };
const TIMEOUT_OPTIONS: OptionSpec = { arg: 'ks', flag: 'fpv', longArg: ['kill-after', 'signal'], longFlag: ['foreground', 'preserve-status', 'verbose', 'help', 'version'] };
const TIME_OPTIONS: OptionSpec = { arg: 'fo', flag: 'apqvV', longArg: ['format', 'output'], longFlag: ['append', 'portability', 'quiet', 'verbose', 'version', 'help'] };
const EXEC_OPTIONS: OptionSpec = { arg: 'a', flag: 'cl' };
const COMMAND_OPTIONS: OptionSpec = { flag: 'pvV' };
const XARGS_OPTIONS: OptionSpec = {
  arg: 'aEILnsPd',
  optional: 'eil',
  flag: '0prtxo',
  longArg: ['arg-file', 'delimiter', 'max-args', 'max-procs', 'max-chars', 'process-slot-var'],
  longOptional: ['eof', 'replace', 'max-lines'],
  longFlag: ['null', 'interactive', 'no-run-if-empty', 'open-tty', 'verbose', 'exit', 'show-limits', 'help', 'version'],
};
const WATCH_OPTIONS: OptionSpec = {
  arg: 'nq',
  optional: 'd',
  flag: 'bcCegprtwxhv',
  longArg: ['interval', 'equexit'],
  longOptional: ['differences'],
  longFlag: ['beep', 'color', 'no-color', 'errexit', 'chgexit', 'precise', 'no-rerun', 'no-title', 'no-wrap', 'exec', 'help', 'version'],
};
const SETSID_OPTIONS: OptionSpec = { flag: 'cfw', longFlag: ['ctty', 'fork', 'wait', 'help', 'version'] };
const STDBUF_OPTIONS: OptionSpec = { arg: 'ioe', longArg: ['input', 'output', 'error'], longFlag: ['help', 'version'] };
const IONICE_OPTIONS: OptionSpec = { arg: 'cnpPu', flag: 't', longArg: ['class', 'classdata', 'pid', 'pgid', 'uid'], longFlag: ['ignore', 'help', 'version'] };
const CHROOT_OPTIONS: OptionSpec = { longArg: ['userspec', 'groups'], longFlag: ['skip-chdir', 'help', 'version'] };
// Wrappers whose command simply follows their options.
const SIMPLE_WRAPPERS: Readonly<Record<string, OptionSpec>> = {
  nohup: NOHUP_OPTIONS,
  nice: NICE_OPTIONS,
  time: TIME_OPTIONS,
  exec: EXEC_OPTIONS,
  command: COMMAND_OPTIONS,
  builtin: {},
  setsid: SETSID_OPTIONS,
  stdbuf: STDBUF_OPTIONS,
  ionice: IONICE_OPTIONS,
};

class Parser {
  private pos: number;
  private buffered: Token | undefined;
  private via: string[];
  private depth: number;
  private hereDocs: HereDoc[] = [];

  constructor(
    private readonly src: string,
    private readonly sink: Sink,
    depth: number,
    via: readonly string[],
    start = 0,
    /** The enclosing parser waits for here-document bodies after the next newline. */
    private readonly outerHereDocs = false,
  ) {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.depth = depth;
    this.via = [...via];
    this.pos = start;
  }

  private fail(reason: string): never {
    this.sink.doubt(reason);
    throw new Abort(reason);
  }

  private enter(label?: string): void {
    if (++this.depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    if (label !== undefined) this.via.push(label);
  }

  private leave(label?: string): void {
    this.depth--;
    if (label !== undefined) this.via.pop();
  }

  private nested<T>(label: string | undefined, fn: () => T): T {
    this.enter(label);
    const out = fn();
    this.leave(label);
    return out;
  }

  // ---- lexer ----

  private peek(): Token {
    return (this.buffered ??= this.lex());
  }

  private next(): Token {
    const t = this.peek();
    this.buffered = undefined;
    return t;
  }

  private isOp(t: Token, ...ops: string[]): boolean {
    return t.kind === 'op' && ops.includes(t.op);
  }

  private isWord(t: Token, ...words: string[]): boolean {
    return t.kind === 'word' && !t.word.quoted && words.includes(t.word.raw);
  }

  private skipNewlines(): void {
    while (this.isOp(this.peek(), '\n')) this.next();
  }

  private lex(): Token {
    const src = this.src;
    // Blanks, line continuations and comments (a `#` that starts a word).
    for (;;) {
      const c = src[this.pos];
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '\\' && src[this.pos + 1] === '\n') this.pos += 2;
      else if (c === '#') {
        const eol = src.indexOf('\n', this.pos);
        this.pos = eol === -1 ? src.length : eol;
      } else break;
    }
    const start = this.pos;
    const c = src[start];
    if (c === undefined) return { kind: 'eof', start, end: start };
    if (c === '\n') {
      this.pos++;
      this.readHereDocBodies();
      return { kind: 'op', op: '\n', start, end: start + 1 };
    }
    // An IO number (`2>`) or a bash `{var}>` right before a redirection operator.
    if (isDigit(c) || c === '{') {
      let j = start;
      if (c === '{') {
        // Bounded look-ahead: a name of at most 64 characters, so the scan stays linear.
        let close = start + 1;
        while (close < src.length && close - start <= 65 && src[close] !== '}') close++;
        if (src[close] === '}' && NAME.test(src.slice(start + 1, close))) j = close + 1;
      } else while (isDigit(src[j])) j++;
      const after = src[j];
      if (j > start && (after === '<' || after === '>') && src[j + 1] !== '(') {
        const fd = src.slice(start, j);
        for (const o of REDIRECTIONS) if (src.startsWith(o, j)) return this.redirToken(start, j, o, fd);
      }
    }
    switch (c) {
      case ';':
      case '|':
      case '(':
      case ')':
        for (const o of OPERATORS) if (src.startsWith(o, start)) return this.opToken(start, o);
        break;
      case '&':
        if (src.startsWith('&>', start)) return this.redirToken(start, start, src.startsWith('&>>', start) ? '&>>' : '&>', '');
        return this.opToken(start, src.startsWith('&&', start) ? '&&' : '&');
      case '<':
      case '>':
        if (src[start + 1] === '(') break;
        for (const o of REDIRECTIONS) if (src.startsWith(o, start)) return this.redirToken(start, start, o, '');
        break;
    }
    const word = this.readWord();
    return { kind: 'word', word, start, end: this.pos };
  }

  private opToken(start: number, op: string): Token {
    this.pos = start + op.length;
    return { kind: 'op', op, start, end: this.pos };
  }

  /** `from`: where the operator starts, after an IO number. */
  private redirToken(start: number, from: number, op: string, fd: string): Token {
    this.pos = from + op.length;
    return { kind: 'redir', op, fd, start, end: this.pos };
  }

  private readWord(): Word {
    const src = this.src;
    const start = this.pos;
    let text = '';
    let dynamic = false;
    let quoted = false;
    let splits = false;
    let globs = false;
    let bracket = false; // an unquoted `[` was seen: a later `]` makes a glob
    let braces = 0; // unquoted `{` not yet closed, and whether a `,` or `..` was seen inside
    let braceList = false;
    for (;;) {
      const c = src[this.pos];
      if (c === undefined) break;
      if ((c === '<' || c === '>') && src[this.pos + 1] === '(') {
        // Process substitution: its commands run; the word is a /dev/fd path.
        const from = this.pos;
        const sub = new Parser(src, this.sink, this.depth + 1, [...this.via, 'process substitution'], from + 2, this.hereDocs.length > 0 || this.outerHereDocs);
        this.pos = sub.parseUntilParen();
        text += src.slice(from, this.pos);
        dynamic = true;
        continue;
      }
      if (isMeta(c)) break;
      switch (c) {
        case '\\': {
          const n = src[this.pos + 1];
          if (n === '\n') this.pos += 2;
          else if (n === undefined) {
            text += c;
            this.pos++;
          } else {
            text += n;
            quoted = true;
            this.pos += 2;
          }
          continue;
        }
        case "'": {
          const close = src.indexOf("'", this.pos + 1);
          if (close === -1) this.fail('unterminated single quote');
          text += src.slice(this.pos + 1, close);
          quoted = true;
          this.pos = close + 1;
          continue;
        }
        case '"': {
          const part = this.readDouble();
          text += part.text;
          dynamic ||= part.dynamic;
          quoted = true;
          continue;
        }
        case '$': {
          const part = this.readDollar(false);
          text += part.text;
          dynamic ||= part.dynamic;
          quoted ||= part.quoted;
          splits ||= part.dynamic && !part.quoted;
          continue;
        }
        case '`':
          text += this.readBackquote(false);
          dynamic = true;
          splits = true;
          continue;
        case '*':
        case '?':
          dynamic = globs = true;
          break;
        case '[':
          bracket = true;
          break;
        case ']':
          if (bracket) dynamic = globs = true;
          break;
        case '~':
          if (this.pos === start) dynamic = true;
          break;
        case '{':
          braces++;
          break;
        case ',':
          if (braces > 0) braceList = true;
          break;
        case '.':
          if (braces > 0 && src[this.pos + 1] === '.') braceList = true;
          break;
        case '}':
          // `{a,b}` and `{1..3}` expand to several words (`{rm,-rf,/}` is `rm -rf /`).
          if (braces > 0 && braceList) dynamic = splits = true;
          if (braces > 0) braces--;
          break;
      }
      text += c;
      this.pos++;
    }
    return { text, raw: src.slice(start, this.pos), dynamic, quoted, splits, globs };
  }

  /** At `"`. Inside double quotes `\` escapes only `$`, backquote, `"`, `\` and newline. */
  private readDouble(): { text: string; dynamic: boolean } {
    const src = this.src;
    this.pos++;
    let text = '';
    let dynamic = false;
    for (;;) {
      const c = src[this.pos];
      if (c === undefined) this.fail('unterminated double quote');
      if (c === '"') {
        this.pos++;
        return { text, dynamic };
      }
      if (c === '\\') {
        const n = src[this.pos + 1];
        if (n === '\n') this.pos += 2;
        else if (n === '$' || n === '`' || n === '"' || n === '\\') {
          text += n;
          this.pos += 2;
        } else {
          text += c;
          this.pos++;
        }
      } else if (c === '$') {
        const part = this.readDollar(true);
        text += part.text;
        dynamic ||= part.dynamic;
      } else if (c === '`') {
        text += this.readBackquote(true);
        dynamic = true;
      } else {
        text += c;
        this.pos++;
      }
    }
  }

  /** At `$`. Returns the text as written for expansions, decoded text for `$'...'`. */
  private readDollar(inDouble: boolean): { text: string; dynamic: boolean; quoted: boolean } {
    const src = this.src;
    const start = this.pos;
    const n = src[start + 1];
    if (n === '(') {
      if (src[start + 2] === '(') {
        this.pos = start + 3;
        this.nested(undefined, () => this.readArithmetic());
        return this.expansion(start);
      }
      const sub = new Parser(src, this.sink, this.depth + 1, [...this.via, 'substitution'], start + 2, this.hereDocs.length > 0 || this.outerHereDocs);
      this.pos = sub.parseUntilParen();
      return this.expansion(start);
    }
    if (n === '{') {
      this.nested(undefined, () => this.readBraceParameter(inDouble));
      return this.expansion(start);
    }
    if (n === '[') this.fail('$[...] arithmetic is not analysed');
    if (n === "'" && !inDouble) {
      // bash's ANSI-C quoting: decoded as bash would, but dynamic because a POSIX sh (dash)
      // reads the same bytes differently.
      let i = start + 2;
      while (i < src.length && src[i] !== "'") i += src[i] === '\\' ? 2 : 1;
      if (i >= src.length) this.fail('unterminated $\'...\' quote');
      this.pos = i + 1;
      return { text: decodeAnsi(src.slice(start + 2, i)), dynamic: true, quoted: true };
    }
    if (n === '"' && !inDouble) {
      this.pos = start + 1;
      const part = this.readDouble();
      return { text: part.text, dynamic: true, quoted: true };
    }
    if (n !== undefined && /[A-Za-z_]/.test(n)) {
      this.pos = start + 2;
      while (this.pos < src.length && /[A-Za-z0-9_]/.test(src[this.pos] as string)) this.pos++;
      return this.expansion(start);
    }
    if (n !== undefined && /[0-9@*#?$!-]/.test(n)) {
      this.pos = start + 2;
      return this.expansion(start);
    }
    this.pos = start + 1;
    return { text: '$', dynamic: false, quoted: false };
  }

  private expansion(start: number): { text: string; dynamic: boolean; quoted: boolean } {
    return { text: this.src.slice(start, this.pos), dynamic: true, quoted: false };
  }

  /** At `${`: to the matching `}`; substitutions inside (`${x:-$(cmd)}`) run and count. */
  private readBraceParameter(inDouble: boolean): void {
    const src = this.src;
    this.pos += 2;
    for (;;) {
      const c = src[this.pos];
      if (c === undefined) this.fail('unterminated ${...}');
      if (c === '}') {
        this.pos++;
        return;
      }
      if (c === '\\') this.pos += 2;
      else if (c === '$') this.readDollar(inDouble);
      else if (c === '`') this.readBackquote(inDouble);
      else if (c === '"') this.readDouble();
      else if (c === "'") {
        // Whether a single quote quotes inside "${...}" differs between shells.
        if (inDouble) this.fail("a single quote inside \"${...}\" is read differently by different shells");
        const close = src.indexOf("'", this.pos + 1);
        if (close === -1) this.fail('unterminated single quote');
        this.pos = close + 1;
      } else if (c === '{') this.fail('a brace inside ${...} is read differently by different shells');
      else this.pos++;
    }
  }

  /** After `((` or `$((`: to the matching `))`; substitutions inside run and count. */
  private readArithmetic(): void {
    const src = this.src;
    let parens = 0;
    for (;;) {
      const c = src[this.pos];
      if (c === undefined) this.fail('unterminated arithmetic expression');
      if (c === '(') {
        parens++;
        this.pos++;
      } else if (c === ')') {
        if (parens > 0) {
          parens--;
          this.pos++;
        } else if (src[this.pos + 1] === ')') {
          this.pos += 2;
          return;
        } else this.fail('ambiguous (( ... ): arithmetic or nested subshells');
      } else if (c === '$') this.readDollar(true);
      else if (c === '`') this.readBackquote(false);
      else if (c === '"') this.readDouble();
      else if (c === '\\') this.pos += 2;
      else if (c === "'") this.fail('a single quote inside an arithmetic expression');
      else this.pos++;
    }
  }

  /** At a backquote: the old command substitution. Its text is un-escaped, then parsed. */
  private readBackquote(inDouble: boolean): string {
    const src = this.src;
    const start = this.pos;
    let i = start + 1;
    let inner = '';
    for (;;) {
      const c = src[i];
      if (c === undefined) this.fail('unterminated backquote');
      if (c === '`') break;
      if (c === '\\') {
        const n = src[i + 1];
        if (n === undefined) this.fail('unterminated backquote');
        if (n === '$' || n === '`' || n === '\\' || (inDouble && n === '"')) {
          inner += n;
          i += 2;
          continue;
        }
      }
      inner += c;
      i++;
    }
    this.pos = i + 1;
    new Parser(inner, this.sink, this.depth + 1, [...this.via, 'substitution']).parseAll();
    return src.slice(start, this.pos);
  }

  /** After a newline token: the bodies of the here-documents of the line just read. */
  private readHereDocBodies(): void {
    if (this.outerHereDocs) this.fail('a here-document body inside a substitution');
    const src = this.src;
    for (const doc of this.hereDocs) {
      const bodyStart = this.pos;
      let bodyEnd = -1;
      while (this.pos < src.length) {
        const eol = src.indexOf('\n', this.pos);
        const lineEnd = eol === -1 ? src.length : eol;
        const line = src.slice(this.pos, lineEnd);
        const lineStart = this.pos;
        this.pos = eol === -1 ? src.length : eol + 1;
        if ((doc.stripTabs ? line.replace(/^\t+/, '') : line) === doc.delimiter) {
          bodyEnd = lineStart;
          break;
        }
      }
      if (bodyEnd === -1) {
        // bash runs the command with the rest of the input as the body: nothing more to read.
        this.sink.doubt(`here-document without its terminator ${JSON.stringify(shown(doc.delimiter))}`);
        bodyEnd = src.length;
      }
      // With an unquoted delimiter the body is expanded like a double-quoted string:
      // substitutions in it run.
      if (doc.expands) new Parser(src.slice(bodyStart, bodyEnd), this.sink, this.depth + 1, this.via).scanExpansions();
    }
    this.hereDocs = [];
  }

  /** For a here-document body: only `\`, `$` and backquotes mean anything. */
  scanExpansions(): void {
    const src = this.src;
    while (this.pos < src.length) {
      const c = src[this.pos];
      if (c === '\\') this.pos += 2;
      else if (c === '$') this.readDollar(true);
      else if (c === '`') this.readBackquote(false);
      else this.pos++;
    }
  }

  // ---- parser ----

  /** A whole line (or the string of `sh -c`, `eval`, a backquote substitution). */
  parseAll(): void {
    this.parseList(() => false);
    const t = this.peek();
    if (t.kind !== 'eof') this.unexpected(t);
    if (this.hereDocs.length > 0) this.fail(`here-document without its terminator ${JSON.stringify(shown(this.hereDocs[0]?.delimiter ?? ''))}`);
  }

  /** After `$(` or `<(`: the commands up to the matching `)`. Returns the position after it. */
  parseUntilParen(): number {
    this.parseList((t) => this.isOp(t, ')'));
    const t = this.next();
    if (!this.isOp(t, ')')) this.fail(t.kind === 'eof' ? 'unterminated $( or <(' : `unexpected ${this.describe(t)}`);
    if (this.hereDocs.length > 0) this.fail('here-document without its body inside a substitution');
    return this.pos;
  }

  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of line';
    if (t.kind === 'word') return `"${shown(t.word.raw)}"`;
    return `"${t.op === '\n' ? '\\n' : t.op}"`;
  }

  private unexpected(t: Token): never {
    this.fail(`syntax error: unexpected ${this.describe(t)}`);
  }

  private expectWord(word: string): void {
    const t = this.next();
    if (!this.isWord(t, word)) this.fail(`syntax error: expected "${word}", got ${this.describe(t)}`);
  }

  /** and-or lists separated by `;`, `&` or newlines, until `stop` holds for the next token. */
  private parseList(stop: (t: Token) => boolean): void {
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (t.kind === 'eof' || stop(t)) return;
      this.parseAndOr();
      const sep = this.peek();
      if (this.isOp(sep, ';', '&', '\n')) {
        this.next();
        continue;
      }
      if (sep.kind === 'eof' || stop(sep)) return;
      this.unexpected(sep);
    }
  }

  private parseAndOr(): void {
    this.parsePipeline();
    while (this.isOp(this.peek(), '&&', '||')) {
      this.next();
      this.skipNewlines();
      this.parsePipeline();
    }
  }

  private parsePipeline(): void {
    const first = this.sink.commands.length;
    while (this.isWord(this.peek(), '!')) this.next();
    let count = 0;
    for (;;) {
      this.parseCommand();
      count++;
      if (!this.isOp(this.peek(), '|', '|&')) break;
      this.next();
      this.skipNewlines();
    }
    // Only known once the pipeline is read: mark every command found in it, nested ones included.
    if (count > 1) for (let i = first; i < this.sink.commands.length; i++) this.sink.commands[i]?.via.splice(this.via.length, 0, 'pipeline');
  }

  private parseCommand(): void {
    const t = this.peek();
    if (t.kind === 'eof') this.fail('syntax error: a command is missing at the end of the line');
    if (t.kind === 'op') {
      if (t.op !== '(') this.unexpected(t);
      if (this.src[t.end] === '(') {
        // `(( expression ))` in bash; a POSIX sh (dash, the /bin/sh of Debian) reads nested
        // subshells instead and runs the words inside.
        this.sink.doubt('(( ... )) is arithmetic in bash but runs commands in a POSIX sh');
        this.buffered = undefined;
        this.pos = t.end + 1;
        this.nested(undefined, () => this.readArithmetic());
      } else {
        this.next();
        this.nested('subshell', () => this.parseList((x) => this.isOp(x, ')')));
        if (!this.isOp(this.next(), ')')) this.fail('syntax error: unterminated (');
      }
      this.parseRedirects();
      return;
    }
    if (t.kind === 'word' && isKeyword(t.word)) {
      this.parseKeyword(t.word.raw);
      return;
    }
    this.parseSimple();
  }

  private parseKeyword(keyword: string): void {
    if (NOT_A_COMMAND.has(keyword)) this.unexpected(this.peek());
    this.next();
    switch (keyword) {
      case '{':
        this.nested('group', () => this.parseList((t) => this.isWord(t, '}')));
        this.expectWord('}');
        break;
      case 'if':
        this.nested('if', () => {
          this.parseList((t) => this.isWord(t, 'then'));
          this.expectWord('then');
          this.parseList((t) => this.isWord(t, 'elif', 'else', 'fi'));
          while (this.isWord(this.peek(), 'elif')) {
            this.next();
            this.parseList((t) => this.isWord(t, 'then'));
            this.expectWord('then');
            this.parseList((t) => this.isWord(t, 'elif', 'else', 'fi'));
          }
          if (this.isWord(this.peek(), 'else')) {
            this.next();
            this.parseList((t) => this.isWord(t, 'fi'));
          }
        });
        this.expectWord('fi');
        break;
      case 'while':
      case 'until':
        this.nested(keyword, () => {
          this.parseList((t) => this.isWord(t, 'do'));
          this.parseDoGroup();
        });
        break;
      case 'for':
      case 'select':
        this.nested(keyword, () => this.parseFor(keyword));
        break;
      case 'case':
        this.nested('case', () => this.parseCase());
        break;
      case '[[': {
        // A bash conditional: words and operators up to `]]`; only substitutions in it run.
        // A POSIX sh has no `[[`: there `&&`, `||`, `<`, `>`... separate commands and redirect.
        for (;;) {
          const t = this.next();
          if (t.kind === 'eof') this.fail('syntax error: unterminated [[');
          if (this.isWord(t, ']]')) break;
          if (t.kind !== 'word') this.sink.doubt('[[ ... ]] with operators runs commands or redirects in a POSIX sh');
        }
        break;
      }
      case 'function': {
        const name = this.next();
        if (name.kind !== 'word') this.unexpected(name);
        if (this.isOp(this.peek(), '(')) {
          this.next();
          if (!this.isOp(this.next(), ')')) this.fail('syntax error: expected ")" after "function name("');
        }
        this.parseFunctionBody();
        return;
      }
      case '!':
        this.nested(undefined, () => this.parseCommand());
        return;
      case 'coproc':
        this.sink.doubt('coproc is not analysed');
        this.nested(undefined, () => this.parseCommand());
        return;
    }
    this.parseRedirects();
  }

  private parseDoGroup(): void {
    this.expectWord('do');
    this.parseList((t) => this.isWord(t, 'done'));
    this.expectWord('done');
  }

  private parseFor(keyword: string): void {
    const t = this.peek();
    if (keyword === 'for' && this.isOp(t, '(') && this.src[t.end] === '(') {
      // for (( init; test; step ))
      this.buffered = undefined;
      this.pos = t.end + 1;
      this.readArithmetic();
    } else {
      const name = this.next();
      if (name.kind !== 'word' || !NAME.test(name.word.raw)) this.fail(`syntax error: bad ${keyword} variable ${this.describe(name)}`);
      this.sink.assignments.add(name.word.raw);
      this.skipNewlines();
      if (this.isWord(this.peek(), 'in')) {
        this.next();
        while (this.peek().kind === 'word') this.next();
      }
    }
    if (this.isOp(this.peek(), ';', '\n')) this.next();
    this.skipNewlines();
    this.parseDoGroup();
  }

  private parseCase(): void {
    const subject = this.next();
    if (subject.kind !== 'word') this.unexpected(subject);
    this.skipNewlines();
    this.expectWord('in');
    for (;;) {
      this.skipNewlines();
      if (this.isWord(this.peek(), 'esac')) break;
      if (this.isOp(this.peek(), '(')) this.next();
      // Patterns: words separated by `|`, up to `)`.
      for (;;) {
        const pattern = this.next();
        if (pattern.kind !== 'word') this.unexpected(pattern);
        const t = this.next();
        if (this.isOp(t, ')')) break;
        if (!this.isOp(t, '|')) this.unexpected(t);
      }
      this.parseList((t) => this.isOp(t, ';;', ';&', ';;&') || this.isWord(t, 'esac'));
      if (this.isOp(this.peek(), ';;', ';&', ';;&')) this.next();
      else if (!this.isWord(this.peek(), 'esac')) this.unexpected(this.peek());
    }
    this.expectWord('esac');
  }

  private parseFunctionBody(): void {
    // What a function runs depends on whether and how it is called later: list its
    // commands, but the line as a whole is not understood.
    this.sink.doubt('a function definition');
    this.skipNewlines();
    this.nested('function', () => this.parseCommand());
  }

  private parseRedirects(): void {
    while (this.peek().kind === 'redir') this.parseRedirect();
  }

  private parseRedirect(): void {
    const t = this.next();
    if (t.kind !== 'redir') return;
    const target = this.next();
    if (target.kind !== 'word') this.fail(`syntax error: ${t.op} without a target`);
    const w = target.word;
    if (t.op === '<<' || t.op === '<<-') {
      this.hereDocs.push({ delimiter: w.text, stripTabs: t.op === '<<-', expands: !w.quoted });
      return;
    }
    // A here-string is input text, not a file (substitutions in it were read with the word).
    if (t.op === '<<<') return;
    // Duplicating or closing a file descriptor (`2>&1`, `<&-`) opens no file.
    if ((t.op === '>&' || t.op === '<&') && !w.dynamic && /^(?:\d+-?|-)$/.test(w.text)) return;
    this.sink.redirects.push({ op: t.fd + t.op, target: w.text, dynamic: w.dynamic });
  }

  private parseSimple(): void {
    const words: Word[] = [];
    const assignments: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'redir') {
        this.parseRedirect();
        continue;
      }
      if (t.kind === 'word') {
        this.next();
        const assignment = words.length === 0 ? ASSIGNMENT.exec(t.word.raw) : null;
        if (assignment !== null) assignments.push(assignment[1] as string);
        else words.push(t.word);
        continue;
      }
      if (this.isOp(t, '(')) {
        const only = words[0];
        if (words.length === 1 && only !== undefined && !only.quoted && assignments.length === 0) {
          // name() body
          this.next();
          if (!this.isOp(this.next(), ')')) this.fail('syntax error: expected ")" after "name("');
          this.parseFunctionBody();
          return;
        }
        this.unexpected(t);
      }
      break;
    }
    for (const name of assignments) this.sink.assignments.add(name);
    if (words.length > 0) this.emit(words, false, false);
  }

  // ---- commands and the wrappers that run other commands ----

  /**
   * Records one simple command, then what it runs in turn. `forced`: its arguments come from
   * elsewhere (xargs, find). `fromInput`: xargs appends words read from its input.
   */
  private emit(words: readonly Word[], forced: boolean, fromInput: boolean): void {
    const [program, ...args] = words;
    if (program === undefined) return;
    // Plain loops: this runs once per command, and closures are not free under tsx.
    const texts: string[] = [];
    const unknownArgs: number[] = [];
    let dynamic = forced || program.dynamic;
    for (const w of args) {
      if (w.dynamic && (w.splits || RUNTIME_TEXT.test(w.raw) || (w.globs && DOT_GLOB.test(w.text)))) unknownArgs.push(texts.length);
      texts.push(w.text);
      dynamic ||= w.dynamic;
    }
    this.sink.commands.push({ program: program.text, args: texts, unknownArgs, inputArgs: forced && fromInput, dynamic, via: [...this.via] });
    if (program.dynamic) {
      this.sink.doubt(`the program is only known at run time: ${shown(program.raw)}`);
      return;
    }
    this.unwrap(basename(program.text), args, fromInput);
  }

  /** The command a wrapper runs, under `label` in `via`. */
  private inner(label: string, words: readonly Word[], forced: boolean, fromInput: boolean): void {
    this.enter(label);
    this.emit(words, forced, fromInput);
    this.leave(label);
  }

  /** Parses a string that a shell will read as commands. */
  private subParse(label: string, text: string): void {
    new Parser(text, this.sink, this.depth + 1, [...this.via, label]).parseAll();
  }

  private options(name: string, args: readonly Word[], spec: OptionSpec): Options | undefined {
    const found = scanOptions(name, args, spec);
    if (typeof found === 'string') {
      this.sink.doubt(found);
      return undefined;
    }
    return found;
  }

  /** `NAME=value` words before the command (env, sudo): recorded, skipped. */
  private skipAssignments(args: readonly Word[], from: number, anyEquals: boolean): number {
    let i = from;
    for (; i < args.length; i++) {
      const w = args[i] as Word;
      const m = anyEquals ? /^([^=]+)=/.exec(w.text) : ASSIGNMENT.exec(w.text);
      if (m === null || w.splits) break;
      this.sink.assignments.add(m[1] as string);
    }
    return i;
  }

  /** A wrapper given no command: under xargs the command comes from the input. */
  private noCommand(name: string, fromInput: boolean): void {
    if (fromInput) this.sink.doubt(`xargs supplies the command that ${name} runs`);
  }

  private unwrap(name: string, args: readonly Word[], fromInput: boolean): void {
    if (SHELLS.has(name)) return this.unwrapShell(name, args, fromInput);
    if (FOREIGN_SHELLS.has(name)) return this.sink.doubt(`${name} runs commands in a syntax that is not analysed`);
    switch (name) {
      case 'env': {
        // `env -` is `env -i`.
        const from = args[0]?.text === '-' && !args[0].dynamic ? 1 : 0;
        const o = this.options(name, args.slice(from), ENV_OPTIONS);
        if (o === undefined) return;
        if (o.seen.has('S') || o.seen.has('split-string')) return this.sink.doubt('env -S splits a string into a command');
        if (o.seen.has('P')) this.sink.assignments.add('PATH');
        const i = this.skipAssignments(args, from + o.next, true);
        return i < args.length ? this.inner(name, args.slice(i), false, fromInput) : this.noCommand(name, fromInput);
      }
      case 'sudo':
      case 'doas': {
        const o = this.options(name, args, name === 'sudo' ? SUDO_OPTIONS : DOAS_OPTIONS);
        if (o === undefined) return;
        // sudo -e edits files; -l, -v, -k and -K alone run nothing; doas -C checks a file.
        if (o.seen.has('e') || o.seen.has('edit') || (name === 'doas' && o.seen.has('C'))) return;
        const i = this.skipAssignments(args, o.next, false);
        if (i < args.length) return this.inner(name, args.slice(i), false, fromInput);
        if (o.seen.has('s') || o.seen.has('i') || o.seen.has('shell') || o.seen.has('login')) return this.sink.doubt(`${name} starts a shell that reads its commands from the input`);
        return this.noCommand(name, fromInput);
      }
      case 'nohup':
      case 'nice':
      case 'time':
      case 'exec':
      case 'command':
      case 'builtin':
      case 'setsid':
      case 'stdbuf':
      case 'ionice': {
        const o = this.options(name, args, SIMPLE_WRAPPERS[name] ?? {});
        if (o === undefined) return;
        // `command -v x` only tells where x is; `ionice -p pid` changes a running process.
        if (name === 'command' && (o.seen.has('v') || o.seen.has('V'))) return;
        if (name === 'ionice' && (o.seen.has('p') || o.seen.has('P') || o.seen.has('u') || o.seen.has('pid') || o.seen.has('pgid') || o.seen.has('uid'))) return;
        return o.next < args.length ? this.inner(name, args.slice(o.next), false, fromInput) : this.noCommand(name, fromInput);
      }
      case 'timeout': {
        const o = this.options(name, args, TIMEOUT_OPTIONS);
        if (o === undefined) return;
        const duration = args[o.next];
        if (duration !== undefined && (duration.splits || duration.globs)) return this.sink.doubt(`an argument of timeout is only known at run time: ${shown(duration.raw)}`);
        return o.next + 1 < args.length ? this.inner(name, args.slice(o.next + 1), false, fromInput) : this.noCommand(name, fromInput);
      }
      case 'chroot': {
        const o = this.options(name, args, CHROOT_OPTIONS);
        if (o === undefined) return;
        if (o.next + 1 < args.length) return this.inner(name, args.slice(o.next + 1), false, fromInput);
        return this.sink.doubt('chroot without a command starts a shell');
      }
      case 'busybox': {
        const applet = args[0];
        if (applet === undefined || applet.text.startsWith('-')) return this.noCommand(name, fromInput);
        return this.inner(name, args, false, fromInput);
      }
      case 'xargs':
        return this.unwrapXargs(args, fromInput);
      case 'find':
        return this.unwrapFind(args, fromInput);
      case 'eval': {
        if (args.some((w) => w.dynamic)) return this.sink.doubt('eval of a string only known at run time');
        if (fromInput) return this.sink.doubt('xargs supplies the string that eval runs');
        return this.subParse('eval', args.map((w) => w.text).join(' '));
      }
      case 'watch': {
        const o = this.options(name, args, WATCH_OPTIONS);
        if (o === undefined) return;
        const rest = args.slice(o.next);
        if (rest.length === 0) return this.noCommand(name, fromInput);
        if (o.seen.has('x') || o.seen.has('exec')) return this.inner(name, rest, false, fromInput);
        // Without -x, watch joins its arguments and hands them to `sh -c`.
        if (fromInput) return this.sink.doubt('xargs adds its input to the command string of watch');
        if (rest.some((w) => w.dynamic)) return this.sink.doubt('watch runs a string only known at run time');
        return this.subParse('watch', rest.map((w) => w.text).join(' '));
      }
      case 'su':
      case 'runuser':
        return this.unwrapSu(name, args);
      case 'source':
      case '.':
        return this.sink.doubt(`${name} runs the commands of a file`);
    }
  }

  private unwrapShell(name: string, args: readonly Word[], fromInput: boolean): void {
    let command = false;
    let info = false;
    let i = 0;
    while (i < args.length) {
      const w = args[i] as Word;
      const t = w.text;
      if (w.dynamic) return this.sink.doubt(`an argument of ${name} is only known at run time: ${shown(w.raw)}`);
      if (t === '--' || t === '-') {
        i++;
        break;
      }
      if (t.startsWith('--')) {
        if (t === '--rcfile' || t === '--init-file') i++;
        if (t === '--version' || t === '--help') info = true;
        i++;
        continue;
      }
      if ((t.startsWith('-') || t.startsWith('+')) && t.length > 1) {
        // A cluster such as `-ec` or `-o pipefail`: c takes the first operand, o and O a value.
        for (const ch of t.slice(1)) {
          if (ch === 'c') command = true;
          else if (ch === 'o' || ch === 'O') i++;
        }
        i++;
        continue;
      }
      break;
    }
    if (!command) {
      if (!info) this.sink.doubt(`${name} runs a script or its standard input, which cannot be seen here`);
      return;
    }
    const script = args[i];
    if (script === undefined) return this.sink.doubt(fromInput ? `xargs supplies the string that ${name} -c runs` : `${name} -c without a command string`);
    if (script.dynamic) return this.sink.doubt(`${name} -c of a string only known at run time`);
    this.subParse(`${name} -c`, script.text);
  }

  private unwrapSu(name: string, args: readonly Word[]): void {
    // su permutes its options: the command string may come before or after the user.
    for (let i = 0; i < args.length; i++) {
      const w = args[i] as Word;
      const t = w.text;
      let script: Word | string | undefined;
      if (t === '--command' || t === '--session-command' || /^-[A-Za-z]*c$/.test(t)) {
        script = args[i + 1];
        if (script === undefined) return this.sink.doubt(`${name} ${t} without a command string`);
      } else if (t.startsWith('--command=') || t.startsWith('--session-command=')) script = t.slice(t.indexOf('=') + 1);
      if (script === undefined) continue;
      if (typeof script !== 'string' && script.dynamic) return this.sink.doubt(`${name} -c of a string only known at run time`);
      return this.subParse(`${name} -c`, typeof script === 'string' ? script : script.text);
    }
    this.sink.doubt(`${name} without -c starts a shell that reads its commands from the input`);
  }

  private unwrapXargs(args: readonly Word[], fromInput: boolean): void {
    const o = this.options('xargs', args, XARGS_OPTIONS);
    if (o === undefined) return;
    const rest = args.slice(o.next);
    if (rest.length === 0) return this.noCommand('xargs', fromInput);
    // With a replace string, xargs substitutes its input into the words that contain it.
    const r = o.seen.get('I') ?? o.seen.get('i') ?? o.seen.get('replace');
    const replace = r === undefined ? undefined : r === true ? '{}' : r;
    const words = replace === undefined || replace === '' ? rest : rest.map((w) => (w.text.includes(replace) ? { ...w, dynamic: true, splits: true } : w));
    this.inner('xargs', words, true, true);
  }

  private unwrapFind(args: readonly Word[], fromInput: boolean): void {
    // find's arguments are an expression language in which -exec runs commands.
    if (fromInput) this.sink.doubt('xargs adds its input to the expression of find, which can run commands');
    for (let i = 0; i < args.length; i++) {
      const w = args[i] as Word;
      if (w.splits) {
        this.sink.doubt(`an argument of find is only known at run time and could run commands: ${shown(w.raw)}`);
        continue;
      }
      const t = w.text;
      if (w.dynamic || (t !== '-exec' && t !== '-execdir' && t !== '-ok' && t !== '-okdir')) continue;
      let end = i + 1;
      while (end < args.length && !(args[end]?.text === ';' || (args[end]?.text === '+' && args[end - 1]?.text === '{}'))) end++;
      if (end >= args.length) {
        this.sink.doubt(`find ${t} without its terminating ";" or "+"`);
        return;
      }
      // `{}` becomes a file name: a word holding it is only known at run time.
      const words = args.slice(i + 1, end).map((x) => (x.text.includes('{}') ? { ...x, dynamic: true, splits: true } : x));
      if (words.length === 0) this.sink.doubt(`find ${t} without a command`);
      else this.inner(`find ${t}`, words, true, false);
      i = end;
    }
  }
}

/**
 * Every simple command a shell would run for this line, without running or expanding
 * anything. Never throws; what it cannot analyse makes the result `uncertain`.
 */
export function parseShellLine(line: string): ParsedLine {
  const sink = new Sink();
  if (line.length > MAX_LINE_LENGTH) {
    sink.doubt(`the line is longer than ${MAX_LINE_LENGTH} characters`);
    return sink.result();
  }
  try {
    new Parser(line, sink, 0, []).parseAll();
  } catch (err) {
    if (err instanceof RangeError) sink.doubt('the line is too complex to analyse');
    else if (!(err instanceof Abort)) throw err;
  }
  return sink.result();
}
