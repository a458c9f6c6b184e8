// The MySQL/MariaDB lexer as the server reads a COM_QUERY text (sql_lex.cc, MariaDB's
// sql_lex.cc), so that what is analysed is what the server executes:
// - comments: `#` to the end of the line, `-- ` (two dashes and a space or control
//   character; `--x` is minus minus x), `/* ... */` (not nested);
// - executable comments: `/*! ... */` runs on every server, `/*!NNNNN ... */` when the
//   server's version is at least NNNNN (MariaDB also reads six digits, and never runs five
//   from 50700 up: MySQL 5.7+ syntax), `/*M! ... */` and `/*M!NNNNNN ... */` on MariaDB only;
//   their content is spliced in, as the server does;
// - quotes: '...' strings, "..." strings unless ANSI_QUOTES (then identifiers), `...`
//   identifiers, doubled quotes, backslash escapes unless NO_BACKSLASH_ESCAPES;
// - literals: numbers, 0x../X'..' hex, 0b../B'..' bits, N'..', charset introducers (_utf8mb4'..');
// - statements end at `;` outside quotes and comments (multi-statements). DELIMITER is the
//   command-line client's, not the server's: the server sees it as a (bad) statement.
// Wherever the server's reading is not certain to be ours (an unterminated quote or comment,
// a comment inside an executable comment, a version gate the dialect cannot decide), the
// statement carries an error and is analysed as `unknown`.
import type { MysqlServer } from './server.ts';

export interface SqlMode {
  /** "..." is an identifier. */
  readonly ansiQuotes: boolean;
  /** Backslash is an ordinary character in strings. */
  readonly noBackslashEscapes: boolean;
  /** A mode whose grammar this analysis does not follow (MariaDB's ORACLE, MSSQL): every statement is unknown. */
  readonly unsupported?: string;
}

export const DEFAULT_SQL_MODE: SqlMode = Object.freeze({ ansiQuotes: false, noBackslashEscapes: false });

/** Combination modes that include ANSI_QUOTES (MySQL's ANSI; MariaDB's DB2, MAXDB, POSTGRESQL, ORACLE, MSSQL). */
const ANSI_QUOTES_MODES = new Set(['ANSI_QUOTES', 'ANSI', 'DB2', 'MAXDB', 'POSTGRESQL', 'ORACLE', 'MSSQL']);
/** MariaDB modes that change the grammar itself (PL/SQL, [brackets]). */
const UNSUPPORTED_MODES = new Set(['ORACLE', 'MSSQL']);

const modes = new Map<string, SqlMode>();

/** The flags of a sql_mode value as `SELECT @@sql_mode` shows it (comma-separated, any case). */
export function sqlModeOf(value: string | undefined): SqlMode {
  if (value === undefined || value === '') return DEFAULT_SQL_MODE;
  let mode = modes.get(value);
  if (mode === undefined) {
    const flags = value.toUpperCase().split(',').map((f) => f.trim());
    const unsupported = flags.find((f) => UNSUPPORTED_MODES.has(f));
    mode = Object.freeze({
      ansiQuotes: flags.some((f) => ANSI_QUOTES_MODES.has(f)),
      noBackslashEscapes: flags.includes('NO_BACKSLASH_ESCAPES'),
      ...(unsupported !== undefined ? { unsupported } : {}),
    });
    if (modes.size < 64) modes.set(value, mode);
  }
  return mode;
}

export type TokenKind =
  /** A bare word: keyword or identifier (`value` as written). */
  | 'word'
  /** A quoted identifier (`value` unquoted). */
  | 'ident'
  /** A string literal (`value` decoded). */
  | 'string'
  | 'number'
  /** 0x41 or X'41' (`value` the hex digits). */
  | 'hex'
  /** 0b01 or B'01' (`value` the binary digits). */
  | 'bit'
  /** A user variable @name (`value` the name). */
  | 'var'
  /** A system variable @@[global.|session.|local.]name (`value` as written after @@, lower-case). */
  | 'sysvar'
  /** A `?` placeholder. */
  | 'param'
  /** An operator or punctuation. */
  | 'op';

export interface Token {
  readonly kind: TokenKind;
  readonly value: string;
  /** Offsets in the text (for a spliced executable comment: where its content is). */
  readonly start: number;
  readonly end: number;
  /** A charset introducer or N prefix before a string/hex/bit literal (lower-case, without `_`). */
  readonly charset?: string;
}

export interface LexedStatement {
  /** [start, end) of the statement in the text, comments included, whitespace trimmed. */
  readonly start: number;
  readonly end: number;
  /** What the server parses: executable comment content spliced in, comments gone. */
  readonly tokens: readonly Token[];
  /** Set when the server's reading of the text is not certain: the statement is unknown. */
  readonly error?: string;
}

/** Character sets known to MySQL 8 and MariaDB 11: `_name` before a literal is an introducer. */
const CHARSETS = new Set([
  'armscii8', 'ascii', 'big5', 'binary', 'cp1250', 'cp1251', 'cp1256', 'cp1257', 'cp850', 'cp852', 'cp866', 'cp932', 'dec8', 'eucjpms', 'euckr',
  'filename', 'gb18030', 'gb2312', 'gbk', 'geostd8', 'greek', 'hebrew', 'hp8', 'keybcs2', 'koi8r', 'koi8u', 'latin1', 'latin2', 'latin5', 'latin7',
  'macce', 'macroman', 'sjis', 'swe7', 'tis620', 'ucs2', 'ujis', 'utf16', 'utf16le', 'utf32', 'utf8', 'utf8mb3', 'utf8mb4',
]);

/** Operators, longest first. */
const OPERATORS = ['<=>', '->>', '<=', '>=', '<>', '!=', ':=', '<<', '>>', '&&', '||', '->', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ',', '.', '!', '~', '^', '&', '|', '{', '}', ':', '@'];

/**
 * Every server we analyse for is at least MySQL 5.7 or MariaDB 10: a gate below 50700 runs on
 * all of them, even where the dialect knows no version. MariaDB never runs `/*!NNNNN` from
 * 50700 to 99999 (checked against MariaDB 10.11: test/sql/mysql/server-lexing.test.ts).
 */
const MYSQL_ONLY_GATE = 50700;

const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);

function isIdentChar(c: string): boolean {
  const code = c.charCodeAt(0);
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || c === '_' || c === '$' || code >= 0x80;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isControl(c: string): boolean {
  const code = c.charCodeAt(0);
  return code < 32 || code === 127;
}

/** Escapes of a string literal with backslash escapes on (the server's read_escaped_string). */
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', b: '\b', '0': '\0', Z: '\x1a' };

class LexError extends Error {}

/** Lexes a whole COM_QUERY text into statements (from an offset: the rest after a statement that changed sql_mode). */
export function lexMysql(text: string, server: MysqlServer, mode: SqlMode, from = 0): LexedStatement[] {
  return new Lexer(text, server, mode, from).run();
}

class Lexer {
  private pos = 0;
  /** Inside a spliced executable comment: its `*\/` ends it. */
  private inExec = false;
  private readonly statements: LexedStatement[] = [];
  private tokens: Token[] = [];
  private stmtStart = -1;

  constructor(
    private readonly text: string,
    private readonly server: MysqlServer,
    private readonly mode: SqlMode,
    from: number,
  ) {
    this.pos = from;
  }

  run(): LexedStatement[] {
    try {
      this.lex();
    } catch (err) {
      if (!(err instanceof LexError)) throw err;
      // The rest of the text cannot be split with certainty: one unknown statement.
      const start = this.stmtStart >= 0 ? this.stmtStart : this.skipSpace(this.pos);
      this.statements.push(Object.freeze({ start, end: trimEnd(this.text, this.text.length), tokens: Object.freeze(this.tokens), error: err.message }));
    }
    return this.statements;
  }

  private skipSpace(from: number): number {
    let i = from;
    while (i < this.text.length && SPACE.has(this.text.charAt(i))) i++;
    return i;
  }

  private lex(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charAt(this.pos);
      if (SPACE.has(c)) {
        this.pos++;
        continue;
      }
      if (this.stmtStart < 0) this.stmtStart = this.pos;
      const next = t.charAt(this.pos + 1);
      if (c === '#' || (c === '-' && next === '-' && (this.pos + 2 >= t.length || SPACE.has(t.charAt(this.pos + 2)) || isControl(t.charAt(this.pos + 2))))) {
        // MariaDB ends these at an executable comment's `*/`, not at the line's end: not followed here.
        if (this.inExec) throw new LexError(`a ${c === '#' ? '#' : '-- '} comment inside an executable comment`);
        const nl = t.indexOf('\n', this.pos);
        this.pos = nl < 0 ? t.length : nl + 1;
        continue;
      }
      if (c === '/' && next === '*') {
        this.comment();
        continue;
      }
      if (c === '*' && next === '/' && this.inExec) {
        this.inExec = false;
        this.pos += 2;
        continue;
      }
      if (c === ';') {
        if (this.inExec) throw new LexError('a statement ends inside an executable comment');
        this.endStatement(this.pos);
        this.pos++;
        continue;
      }
      this.token();
    }
    if (this.inExec) throw new LexError('unterminated executable comment');
    if (this.stmtStart >= 0) this.endStatement(t.length);
  }

  private endStatement(at: number): void {
    const start = this.stmtStart < 0 ? at : this.stmtStart;
    const end = trimEnd(this.text, at);
    const tokens = Object.freeze(this.tokens);
    this.tokens = [];
    this.stmtStart = -1;
    // Comments alone at the end of the text run nothing.
    if (tokens.length === 0 && at >= this.text.length) return;
    // `SELECT 1; ;SELECT 2` is a syntax error on the server.
    const empty = tokens.length === 0;
    this.statements.push(Object.freeze({ start, end, tokens, ...(empty ? { error: 'an empty statement' } : {}) }));
  }

  /** At `/*`: a comment, or an executable comment whose content is spliced in. */
  private comment(): void {
    const t = this.text;
    const start = this.pos;
    if (this.inExec) throw new LexError('a comment inside an executable comment');
    let i = start + 2;
    let executable = false;
    let mariadbOnly = false;
    if (t.charAt(i) === '!') {
      executable = true;
      i++;
    } else if (t.charAt(i) === 'M' && t.charAt(i + 1) === '!') {
      executable = true;
      mariadbOnly = true;
      i += 2;
    }
    const close = t.indexOf('*/', i);
    if (!executable) {
      if (close < 0) throw new LexError('unterminated comment');
      this.pos = close + 2;
      return;
    }
    let digits = 0;
    while (isDigit(t.charAt(i + digits))) digits++;
    const run = this.included(mariadbOnly, t.slice(i, i + digits));
    if (run === false) {
      // Not executed: a plain comment to the first `*/`, whatever quotes it holds.
      if (close < 0) throw new LexError('unterminated comment');
      this.pos = close + 2;
      return;
    }
    this.inExec = true;
    this.pos = i + digits;
  }

  /** Whether the server runs an executable comment with this version gate; throws when that is not certain. */
  private included(mariadbOnly: boolean, gate: string): boolean {
    const { mariadb, version } = this.server;
    if (mariadbOnly) {
      if (mariadb === undefined) throw new LexError('a /*M! comment runs on MariaDB only, and the server is not known');
      if (!mariadb) return false;
    }
    if (gate === '') return true;
    if (gate.length < 5) throw new LexError(`an executable comment's version has ${gate.length} digits`);
    // MariaDB reads five or six digits; MySQL's reading of a sixth varies by version.
    if (gate.length > 6 || (gate.length === 6 && mariadb !== true)) throw new LexError(`an executable comment's version ${gate} is read differently by MySQL and MariaDB versions`);
    const wanted = Number(gate);
    // MariaDB skips /*!NNNNN with a MySQL 5.7+ version (50700-99999): MySQL-only syntax. /*M! is its own.
    if (!mariadbOnly && gate.length === 5 && wanted >= MYSQL_ONLY_GATE) {
      if (mariadb === true) return false;
      if (mariadb === undefined) throw new LexError(`/*!${gate} runs on MySQL from version ${gate} and never on MariaDB, and the server is not known`);
    }
    if (version === undefined) {
      if (wanted < MYSQL_ONLY_GATE) return true;
      throw new LexError(`/*!${gate} runs only on servers from version ${gate}, and the server's version is not known`);
    }
    return version >= wanted;
  }

  private push(token: Token): void {
    this.tokens.push(Object.freeze(token));
  }

  private token(): void {
    const t = this.text;
    const start = this.pos;
    const c = t.charAt(start);
    const next = t.charAt(start + 1);
    if (c === "'" || (c === '"' && !this.mode.ansiQuotes)) {
      this.push({ kind: 'string', value: this.quoted(c, true), start, end: this.pos });
      return;
    }
    if (c === '`' || c === '"') {
      const value = this.quoted(c, false);
      if (value === '') throw new LexError('an empty quoted identifier');
      this.push({ kind: 'ident', value, start, end: this.pos });
      return;
    }
    if ((c === 'x' || c === 'X' || c === 'b' || c === 'B') && next === "'") {
      this.pos++;
      const value = this.quoted("'", false);
      const ok = c === 'x' || c === 'X' ? /^[0-9a-fA-F]*$/.test(value) && value.length % 2 === 0 : /^[01]*$/.test(value);
      if (!ok) throw new LexError(`a malformed ${c.toUpperCase()}'' literal`);
      this.push({ kind: c === 'x' || c === 'X' ? 'hex' : 'bit', value, start, end: this.pos });
      return;
    }
    if ((c === 'n' || c === 'N') && next === "'") {
      this.pos++;
      this.push({ kind: 'string', value: this.quoted("'", true), start, end: this.pos, charset: 'utf8' });
      return;
    }
    if (c === '@') {
      this.variable();
      return;
    }
    if (c === '?') {
      this.pos++;
      this.push({ kind: 'param', value: '?', start, end: this.pos });
      return;
    }
    if (isIdentChar(c) || (c === '.' && isDigit(next) && !this.afterName())) {
      this.word();
      return;
    }
    for (const op of OPERATORS) {
      if (t.startsWith(op, start)) {
        this.pos += op.length;
        this.push({ kind: 'op', value: op, start, end: this.pos });
        return;
      }
    }
    throw new LexError(`an unexpected character ${JSON.stringify(c)} at offset ${start}`);
  }

  /** The previous token names something (`t.5` would be a column, not a number). */
  private afterName(): boolean {
    const last = this.tokens[this.tokens.length - 1];
    return last !== undefined && last.end === this.pos && (last.kind === 'word' || last.kind === 'ident');
  }

  /** A quoted run starting at pos (the opening quote); returns its content, pos past the close. */
  private quoted(q: string, escapes: boolean): string {
    const t = this.text;
    let i = this.pos + 1;
    let out = '';
    const backslash = escapes && !this.mode.noBackslashEscapes;
    for (;;) {
      if (i >= t.length) throw new LexError(`unterminated ${q} quote`);
      const c = t.charAt(i);
      if (c === q) {
        if (t.charAt(i + 1) === q) {
          out += q;
          i += 2;
          continue;
        }
        this.pos = i + 1;
        return out;
      }
      if (c === '\\' && backslash) {
        if (i + 1 >= t.length) throw new LexError(`unterminated ${q} quote`);
        const e = t.charAt(i + 1);
        // \% and \_ keep their backslash (LIKE patterns).
        out += ESCAPES[e] ?? (e === '%' || e === '_' ? `\\${e}` : e);
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
  }

  private variable(): void {
    const t = this.text;
    const start = this.pos;
    if (t.charAt(start + 1) === '@') {
      let i = start + 2;
      while (i < t.length && (isIdentChar(t.charAt(i)) || (t.charAt(i) === '.' && isIdentChar(t.charAt(i + 1))))) i++;
      if (i === start + 2) throw new LexError('a system variable without a name');
      this.pos = i;
      this.push({ kind: 'sysvar', value: t.slice(start + 2, i).toLowerCase(), start, end: i });
      return;
    }
    const q = t.charAt(start + 1);
    if (q === "'" || q === '"' || q === '`') {
      this.pos = start + 1;
      const value = this.quoted(q, q !== '`');
      this.push({ kind: 'var', value: value.toLowerCase(), start, end: this.pos });
      return;
    }
    let i = start + 1;
    while (i < t.length && (isIdentChar(t.charAt(i)) || t.charAt(i) === '.')) i++;
    if (i === start + 1) {
      // `user@host` and `@` alone: an operator for the keyword classifier.
      this.pos = i;
      this.push({ kind: 'op', value: '@', start, end: i });
      return;
    }
    this.pos = i;
    // User variable names are case-insensitive.
    this.push({ kind: 'var', value: t.slice(start + 1, i).toLowerCase(), start, end: i });
  }

  /** A word, number or identifier starting with a digit, or a charset introducer. */
  private word(): void {
    const t = this.text;
    const start = this.pos;
    const number = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(t.slice(start, start + 400));
    if (number !== null) {
      const end = start + number[0].length;
      if (!isIdentChar(t.charAt(end))) {
        this.pos = end;
        this.push({ kind: 'number', value: number[0], start, end });
        return;
      }
    }
    let i = start;
    while (i < t.length && isIdentChar(t.charAt(i))) i++;
    const w = t.slice(start, i);
    if (w === '') throw new LexError(`an unexpected character at offset ${start}`);
    this.pos = i;
    if (/^0x[0-9a-fA-F]+$/.test(w)) return this.push({ kind: 'hex', value: w.slice(2), start, end: i });
    if (/^0b[01]+$/.test(w)) return this.push({ kind: 'bit', value: w.slice(2), start, end: i });
    if (isDigit(w.charAt(0))) {
      // 123abc is an identifier; 1e5x and 1.5x are read by rules not followed here.
      if (!/^\d+[a-zA-Z_$\u0080-\uffff][0-9a-zA-Z_$\u0080-\uffff]*$/.test(w) || /^\d+[eE]\d/.test(w) || t.charAt(i) === '.' && isDigit(t.charAt(i + 1))) throw new LexError(`a number or name the server may read differently: ${w}`);
      return this.push({ kind: 'ident', value: w, start, end: i });
    }
    if (w.startsWith('_') && CHARSETS.has(w.slice(1).toLowerCase())) {
      // An introducer: the next token must be a string, hex or bit literal.
      const at = this.skipSpace(i);
      this.pos = at;
      const c = t.charAt(at);
      const next = t.charAt(at + 1);
      const literal = c === "'" || (c === '"' && !this.mode.ansiQuotes) || ((c === 'x' || c === 'X' || c === 'b' || c === 'B') && next === "'") || (c === '0' && (next === 'x' || next === 'b'));
      if (!literal) throw new LexError(`the charset introducer ${w} is not followed by a literal`);
      const before = this.tokens.length;
      this.token();
      const lit = this.tokens[before];
      if (lit === undefined || (lit.kind !== 'string' && lit.kind !== 'hex' && lit.kind !== 'bit')) throw new LexError(`the charset introducer ${w} is not followed by a literal`);
      this.tokens[before] = Object.freeze({ ...lit, start, charset: w.slice(1).toLowerCase() });
      return;
    }
    this.push({ kind: 'word', value: w, start, end: i });
  }
}

function trimEnd(text: string, end: number): number {
  let e = end;
  while (e > 0 && SPACE.has(text.charAt(e - 1))) e--;
  return e;
}

/** The upper-case value of a word token (keywords are case-insensitive); '' for other tokens. */
export function keyword(token: Token | undefined): string {
  return token !== undefined && token.kind === 'word' ? token.value.toUpperCase() : '';
}
