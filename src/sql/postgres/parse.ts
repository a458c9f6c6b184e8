// The one place that runs the PostgreSQL grammar (libpg-query 18, WASM) on a statement text.
// Policy analysis parses a new text here; masking's lineage, writes and COPY format then
// read the same tree, kept for the last texts parsed, instead of parsing again. The tree is
// libpg-query's JSON AST: it never leaves src/sql/postgres (callers get analyses).
import { hasSqlDetails, loadModule, parseSync, scanSync } from 'libpg-query';
import { Lru } from '../../util/lru.ts';

/** One statement of a parse: the node and its bounds as byte offsets into the UTF-8 text. */
export interface RawStatement {
  readonly stmt: unknown;
  readonly stmt_location?: number;
  readonly stmt_len?: number;
}

export type Parsed =
  | { readonly ok: true; readonly stmts: readonly RawStatement[] }
  /** `position`: the parser's cursor (characters from 0), when it reported one. */
  | { readonly ok: false; readonly message: string; readonly position?: number };

/**
 * Parser runs in this process, for tests and benchmarks: statement texts (one per new text)
 * and view definitions (one per definition text, cached by lineage).
 */
export const parserStats: { statements: number; definitions: number } = { statements: 0, definitions: 0 };

/**
 * A session analyses a text and checks its masks in one synchronous step, so the last tree
 * serves that (whatever its size); a few more, of small texts, serve later reads (the COPY
 * format when the data starts) and interleaved sessions. Trees are large: keep few.
 */
const TREE_ENTRIES = 16;
const MAX_TREE_TEXT = 8 * 1024;
const trees = new Lru<string, Parsed>(TREE_ENTRIES);
let lastText: string | undefined;
let lastParsed: Parsed | undefined;

let loading: Promise<void> | undefined;
let loaded = false;

/** Loads the parser's WASM module once (~25 ms). Idempotent; a failed load can be retried. */
export function loadPostgresParser(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      loaded = true;
    },
    (err: unknown) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

export function postgresParserLoaded(): boolean {
  return loaded;
}

/** The parse of `text`: from the recent trees, or parsed now and kept. Read it, never change it. */
export function parsePostgres(text: string): Parsed {
  // Before the module loads every parse fails: nothing worth keeping.
  if (!loaded) {
    parserStats.statements++;
    return run(text);
  }
  if (text === lastText && lastParsed !== undefined) return lastParsed;
  let parsed = text.length <= MAX_TREE_TEXT ? trees.get(text) : undefined;
  if (parsed === undefined) {
    parserStats.statements++;
    parsed = run(text);
    if (text.length <= MAX_TREE_TEXT) trees.set(text, parsed);
  }
  lastText = text;
  lastParsed = parsed;
  return parsed;
}

/** A view's definition: not kept with the statement trees (lineage caches definitions itself). */
export function parseViewDefinition(text: string): Parsed {
  parserStats.definitions++;
  return run(text);
}

function run(text: string): Parsed {
  try {
    const tree: unknown = parseSync(text);
    const stmts = typeof tree === 'object' && tree !== null && 'stmts' in tree && Array.isArray(tree.stmts) ? (tree.stmts as RawStatement[]) : [];
    return Object.freeze({ ok: true, stmts });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (hasSqlDetails(err) && err.sqlDetails !== undefined) return Object.freeze({ ok: false, message, position: err.sqlDetails.cursorPosition });
    return Object.freeze({ ok: false, message });
  }
}

/** The grammar's token types of string constants: '...', E'...', $$...$$ (SCONST), U&'...', B'...', X'...'. */
const STRING_TOKENS = new Set([261, 262, 263, 264]);

/**
 * Every string constant of `text` as [start, end) byte offsets into its UTF-8 form, from the
 * server's own lexer (scanSync); undefined when the lexer rejects the text.
 */
export function scanStringLiterals(text: string): readonly (readonly [number, number])[] | undefined {
  try {
    const out: [number, number][] = [];
    for (const token of scanSync(text).tokens) if (STRING_TOKENS.has(token.tokenType)) out.push([token.start, token.end]);
    return out;
  } catch {
    return undefined;
  }
}

/** For tests and benchmarks: forget the kept trees. */
export function clearParsedTrees(): void {
  trees.clear();
  lastText = undefined;
  lastParsed = undefined;
}
