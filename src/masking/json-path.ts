// JSON paths of `json:` mask rules: a small JSONPath subset compiled into a bit-parallel
// automaton. A state is a bit set of "steps matched so far"; one step of the document path
// costs a couple of integer operations and a map lookup, whatever the expression, so
// `$..a..b..c` over a deep document stays linear (no backtracking over where each `..` ends).
//
//   $            the root                 .name, ['name'], ["name"]   a member
//   [n]          an array element         .*, [*]                     any member or element
//   ..name, ..*, ..[n], ..['name'], ..[*]  the same, at any depth below
//
// Filters, slices, unions and negative indexes are refused with a clear error: a mask rule
// that silently matched nothing would leak.

/** A concrete location in a document: member names and array indexes from the root. */
export type JsonPathKey = string | number;

/** At most this many steps after `$`: the automaton's states fit one 32-bit integer. */
export const MAX_JSON_PATH_STEPS = 30;
const MAX_PATH_TEXT = 1024;
const MAX_INDEX_DIGITS = 9;

export class JsonPathError extends Error {
  /** Offset in the path text where the problem is. */
  readonly position: number;

  constructor(message: string, position: number) {
    super(`${message} (at position ${position})`);
    this.name = 'JsonPathError';
    this.position = position;
  }
}

export interface JsonPath {
  readonly text: string;
  /** True when this path selects the node at `path` (`[]` is the root). */
  matches(path: readonly JsonPathKey[]): boolean;
  /** The state at the root: walk a document with `step` and test nodes with `accepts`. */
  readonly start: number;
  /** The state of a child reached by `key`; 0 means nothing below can match any more. */
  step(state: number, key: JsonPathKey): number;
  accepts(state: number): boolean;
}

type Selector = { readonly kind: 'name'; readonly name: string } | { readonly kind: 'index'; readonly index: number } | { readonly kind: 'any' };

interface Step {
  readonly descendant: boolean;
  readonly selector: Selector;
}

class Parser {
  readonly #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  fail(message: string, at = this.#pos): never {
    throw new JsonPathError(message, at);
  }

  parse(): Step[] {
    const t = this.#text;
    if (t.length === 0) this.fail('a JSON path cannot be empty');
    if (t.length > MAX_PATH_TEXT) this.fail(`a JSON path is at most ${MAX_PATH_TEXT} characters`, MAX_PATH_TEXT);
    if (t[0] !== '$') this.fail("a JSON path starts with '$'", 0);
    this.#pos = 1;
    const steps: Step[] = [];
    while (this.#pos < t.length) {
      const at = this.#pos;
      if (steps.length === MAX_JSON_PATH_STEPS) this.fail(`a JSON path has at most ${MAX_JSON_PATH_STEPS} steps`);
      const c = t[at];
      if (c === '.') {
        if (t[at + 1] === '.') {
          this.#pos = at + 2;
          if (t[this.#pos] === '[') steps.push({ descendant: true, selector: this.#bracket() });
          else steps.push({ descendant: true, selector: this.#dotted("'..'") });
        } else {
          this.#pos = at + 1;
          steps.push({ descendant: false, selector: this.#dotted("'.'") });
        }
      } else if (c === '[') steps.push({ descendant: false, selector: this.#bracket() });
      else this.fail(`expected '.', '..' or '[', found '${c}'`);
    }
    return steps;
  }

  /** After `.` or `..`: a name or `*`. */
  #dotted(after: string): Selector {
    const t = this.#text;
    const start = this.#pos;
    if (t[start] === '*') {
      this.#pos++;
      return { kind: 'any' };
    }
    if (start >= t.length) this.fail(`expected a name or '*' after ${after}`);
    const first = t.charCodeAt(start);
    if (first >= 48 && first <= 57) this.fail(`a name after ${after} cannot start with a digit: write [${t[start]}] for an array index or ['...'] for such a member`);
    if (!isNameStart(first)) this.fail(`expected a name or '*' after ${after}, found '${t[start]}'`);
    let end = start + 1;
    while (end < t.length && isNameChar(t.charCodeAt(end))) end++;
    this.#pos = end;
    return { kind: 'name', name: t.slice(start, end) };
  }

  /** At `[`: `['name']`, `["name"]`, `[n]` or `[*]`, blanks allowed inside. */
  #bracket(): Selector {
    const t = this.#text;
    const open = this.#pos;
    this.#pos++;
    this.#blanks();
    const c = t[this.#pos];
    let selector: Selector;
    if (c === '*') {
      this.#pos++;
      selector = { kind: 'any' };
    } else if (c === "'" || c === '"') selector = { kind: 'name', name: this.#quoted(c) };
    else if (c !== undefined && c >= '0' && c <= '9') selector = { kind: 'index', index: this.#index() };
    else if (c === '-') this.fail('negative array indexes are not supported');
    else if (c === '?') this.fail('filter expressions are not supported');
    else if (c === ':') this.fail('array slices are not supported');
    else if (c === undefined) this.fail("unclosed '['", open);
    else this.fail(`expected a quoted name, an index or '*' after '[', found '${c}'`);
    this.#blanks();
    const close = t[this.#pos];
    if (close === ']') {
      this.#pos++;
      return selector;
    }
    if (close === ',') this.fail('unions ([a,b]) are not supported: write one rule per path');
    if (close === ':') this.fail('array slices are not supported');
    if (close === undefined) this.fail("unclosed '['", open);
    return this.fail(`expected ']', found '${close}'`);
  }

  #index(): number {
    const t = this.#text;
    const start = this.#pos;
    let end = start;
    while (end < t.length && t.charCodeAt(end) >= 48 && t.charCodeAt(end) <= 57) end++;
    if (end - start > 1 && t[start] === '0') this.fail('an array index has no leading zeros', start);
    if (end - start > MAX_INDEX_DIGITS) this.fail('array index too large', start);
    this.#pos = end;
    return Number(t.slice(start, end));
  }

  /** A quoted member name, with JSON's escapes (and `\'`). */
  #quoted(quote: string): string {
    const t = this.#text;
    const open = this.#pos;
    let out = '';
    let i = open + 1;
    for (;;) {
      if (i >= t.length) this.fail('unterminated quoted name', open);
      const c = t[i] as string;
      if (c === quote) break;
      if (c === '\\') {
        const e = t[i + 1];
        const simple = e === undefined ? undefined : ESCAPES[e];
        if (simple !== undefined) {
          out += simple;
          i += 2;
        } else if (e === 'u') {
          const hex = t.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('expected four hex digits after \\u', i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else this.fail(`unknown escape \\${e ?? ''}`, i);
        continue;
      }
      out += c;
      i++;
    }
    this.#pos = i + 1;
    return out;
  }

  #blanks(): void {
    while (this.#text[this.#pos] === ' ' || this.#text[this.#pos] === '\t') this.#pos++;
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '"': '"', "'": "'", '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function isNameStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}

/** Name shorthand: letters, digits, `_`, `-` and non-ASCII; anything else needs `['...']`. */
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 45;
}

class CompiledPath implements JsonPath {
  readonly text: string;
  readonly start = 1;
  /** Bits i whose step i is `..`: such a state survives any key. */
  readonly #stay: number;
  /** Bits i whose step i is `*`. */
  readonly #any: number;
  readonly #names = new Map<string, number>();
  readonly #indexes = new Map<number, number>();
  readonly #accept: number;

  constructor(text: string, steps: readonly Step[]) {
    this.text = text;
    let stay = 0;
    let any = 0;
    steps.forEach((s, i) => {
      const bit = 1 << i;
      if (s.descendant) stay |= bit;
      const sel = s.selector;
      if (sel.kind === 'any') any |= bit;
      else if (sel.kind === 'name') this.#names.set(sel.name, (this.#names.get(sel.name) ?? 0) | bit);
      else this.#indexes.set(sel.index, (this.#indexes.get(sel.index) ?? 0) | bit);
    });
    this.#stay = stay;
    this.#any = any;
    this.#accept = 1 << steps.length;
  }

  step(state: number, key: JsonPathKey): number {
    if (state === 0) return 0;
    const sel = (typeof key === 'number' ? this.#indexes.get(key) : this.#names.get(key)) ?? 0;
    // Every state at a `..` step may skip this key; every state whose step selects it advances.
    return (state & this.#stay) | ((state & (this.#any | sel)) << 1);
  }

  accepts(state: number): boolean {
    return (state & this.#accept) !== 0;
  }

  matches(path: readonly JsonPathKey[]): boolean {
    let s = this.start;
    for (const key of path) {
      s = this.step(s, key);
      if (s === 0) return false;
    }
    return this.accepts(s);
  }
}

/** Compiles a path; throws JsonPathError (with the offending position) on bad or unsupported syntax. */
export function compileJsonPath(text: string): JsonPath {
  return new CompiledPath(text, new Parser(text).parse());
}

/** A concrete path as text, for logs and recordings: `$.customers[0].email`, `$['a b']`. */
export function formatJsonPath(path: readonly JsonPathKey[]): string {
  let out = '$';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) out += `.${key}`;
    else out += `[${quoteName(key)}]`;
  }
  return out;
}

/** `'name'` with the escapes the parser reads back (`\'`, `\\`, control characters). */
function quoteName(name: string): string {
  let out = "'";
  for (const ch of name) {
    if (ch === "'") out += "\\'";
    else if (ch === '\\') out += '\\\\';
    else if (ch.charCodeAt(0) < 0x20) out += JSON.stringify(ch).slice(1, -1);
    else out += ch;
  }
  return `${out}'`;
}
