// Literal-normalised MySQL text for the analysis caches: `WHERE id = 1` and `WHERE id = 2`
// share a key. Built from the lexer's tokens (lex.ts), so comments, quotes and executable
// comments are read as the server reads them. Only for texts whose reading does not depend
// on the session's sql_mode: a text with `"` (ANSI_QUOTES) or a backslash
// (NO_BACKSLASH_ESCAPES) gets no key, nor does one the lexer is unsure about; the caller then
// keys by the exact text.
import type { Normalised } from '../normalised.ts';
import { DEFAULT_SQL_MODE, lexMysql } from './lex.ts';
import type { MysqlServer } from './server.ts';

export const STRING_MARK = '\u0001';
export const NUMBER_MARK = '\u0002';

const LITERALS = new Set(['string', 'number', 'hex', 'bit']);

export function normaliseMysql(text: string, server: MysqlServer): Normalised | undefined {
  if (text.includes('"') || text.includes('\\') || text.includes(STRING_MARK) || text.includes(NUMBER_MARK)) return undefined;
  const statements = lexMysql(text, server, DEFAULT_SQL_MODE);
  let key = '';
  let copied = 0;
  const literals: number[] = [];
  for (const s of statements) {
    if (s.error !== undefined) return undefined;
    for (const t of s.tokens) {
      if (!LITERALS.has(t.kind)) continue;
      key += text.slice(copied, t.start);
      literals.push(key.length, t.start, t.end - t.start);
      key += t.kind === 'number' ? NUMBER_MARK : STRING_MARK;
      copied = t.end;
    }
  }
  if (literals.length === 0) return { key: text, literals: [] };
  return Object.freeze({ key: key + text.slice(copied), literals: Object.freeze(literals) });
}
