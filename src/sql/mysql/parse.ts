// The grammar: sqlparser-rs (Apache-2.0) compiled to WASM, in its MySQL dialect. It sees only
// what lex.ts produced (executable comments spliced in, other comments gone), never raw text.
import { init, parse, MySqlDialect, type Statement } from '@guanmingchiu/sqlparser-ts';

let loaded: Promise<void> | undefined;
let ready = false;
const dialect = new MySqlDialect();

/** Loads the WASM module once; idempotent. */
export function loadMysqlParser(): Promise<void> {
  loaded ??= init().then(() => {
    ready = true;
  });
  return loaded;
}

export function mysqlParserLoaded(): boolean {
  return ready;
}

/** Grammar runs, for tests and benchmarks (analysis and lineage share one parse per statement). */
export const mysqlParserStats = { parses: 0 };

export type Parsed = { readonly ok: true; readonly stmts: readonly Statement[] } | { readonly ok: false; readonly message: string };

/** One statement's text as the server will read it. */
export function parseMysql(text: string): Parsed {
  mysqlParserStats.parses++;
  try {
    return { ok: true, stmts: parse(text, dialect) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
