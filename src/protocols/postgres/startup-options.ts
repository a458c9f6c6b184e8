// The startup packet's `options` field, read as PostgreSQL reads it: split into words at
// unescaped white space (a backslash takes the next character literally, pg_split_opts), then
// each word a server switch. Only the switches that set a run-time parameter are accepted:
// `-c name=value` (also `-cname=value`) and `--name=value`; in a name `-` reads as `_`
// (ParseLongOption). Errors carry PostgreSQL's own wording and SQLSTATE (42601).
// https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS
// https://www.postgresql.org/docs/current/app-postgres.html

export interface OptionSetting {
  /** Lower-case, `-` read as `_`. */
  readonly name: string;
  readonly value: string;
}

/** Bad `options` syntax; the message is PostgreSQL's for the same input. */
export class OptionsSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsSyntaxError';
  }
}

/** C isspace() in the "C" locale, which is what the server tests. */
function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

/** pg_split_opts: words at unescaped white space; `\x` is `x`. */
export function splitOptions(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && isSpace(text[i] as string)) i++;
    if (i >= text.length) break;
    let word = '';
    let escaped = false;
    for (; i < text.length; i++) {
      const ch = text[i] as string;
      if (isSpace(ch) && !escaped) break;
      if (!escaped && ch === '\\') escaped = true;
      else {
        escaped = false;
        word += ch;
      }
    }
    words.push(word);
  }
  return words;
}

/** `name=value` of a `-c` or `--` switch; `flag` only shapes the error message. */
function longOption(arg: string, flag: '-c ' | '--'): OptionSetting {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new OptionsSyntaxError(`${flag}${arg} requires a value`);
  return { name: arg.slice(0, eq).replace(/-/g, '_').toLowerCase(), value: arg.slice(eq + 1) };
}

/** The settings an `options` value asks for, in order (a later one of a name wins). */
export function parseOptions(text: string): OptionSetting[] {
  const words = splitOptions(text);
  const out: OptionSetting[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word === '--') {
      // getopt's end of switches: whatever follows is a stray argument.
      const next = words[i + 1];
      if (next !== undefined) throw new OptionsSyntaxError(`invalid command-line argument for server process: ${next}`);
      break;
    }
    if (word.startsWith('--')) {
      out.push(longOption(word.slice(2), '--'));
    } else if (word.startsWith('-c')) {
      const attached = word.slice(2);
      if (attached !== '') {
        out.push(longOption(attached, '-c '));
        continue;
      }
      const arg = words[++i];
      if (arg === undefined) throw new OptionsSyntaxError(`invalid command-line argument for server process: ${word}`);
      out.push(longOption(arg, '-c '));
    } else if (word.startsWith('-') && word.length > 1) {
      // -B, -S, -e... are server switches too; through the gateway a parameter is named.
      throw new OptionsSyntaxError(`command-line switch ${word} is not accepted through the gateway: use -c name=value`);
    } else {
      throw new OptionsSyntaxError(`invalid command-line argument for server process: ${word}`);
    }
  }
  return out;
}
