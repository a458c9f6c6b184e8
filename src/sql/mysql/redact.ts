// Statements that carry credential material (CREATE/ALTER USER ... IDENTIFIED BY, SET
// PASSWORD, GRANT ... IDENTIFIED BY, CHANGE MASTER ... MASTER_PASSWORD, CREATE SERVER,
// FEDERATED connection strings, PASSWORD('...')) are kept in the audit log and the recording
// with every string literal of theirs replaced, as postgres/redact.ts does for PostgreSQL.
// Which literals: the lexer's string tokens (spliced executable comments included). A
// statement the lexer could not read is withheld whole: a literal it cannot find is a
// literal it cannot remove.
import type { SqlAction } from '../../core/action.ts';
import { lexMysql, sqlModeOf, type LexedStatement } from './lex.ts';
import { UNKNOWN_SERVER, type MysqlServer } from './server.ts';

/** What a removed literal reads as (as for PostgreSQL): a valid string, so the recorded text still parses. */
export const REDACTED_LITERAL = "'***'";

export const WITHHELD = '/* statement withheld: it may carry a credential and could not be read */';

export function redactMysql(text: string, statements: readonly LexedStatement[], ranges: readonly (readonly [number, number, boolean])[]): string {
  const cuts: [number, number, string][] = [];
  for (const [start, end, unreadable] of ranges) {
    if (unreadable) {
      // The rest of the text: where an unreadable statement ends is not known either.
      cuts.push([start, text.length, WITHHELD]);
      continue;
    }
    for (const s of statements) {
      if (s.start < start || s.end > end) continue;
      for (const t of s.tokens) if (t.kind === 'string' || t.kind === 'hex') cuts.push([t.start, t.end, REDACTED_LITERAL]);
    }
  }
  cuts.sort((a, b) => a[0] - b[0]);
  let out = '';
  let copied = 0;
  for (const [start, end, replacement] of cuts) {
    if (start < copied) continue;
    out += text.slice(copied, start) + replacement;
    copied = end;
  }
  return out + text.slice(copied);
}

/** The action as it may be shown (policy test output): texts with the credential statements' literals removed. */
export function shownMysqlAction(action: SqlAction, server: MysqlServer = UNKNOWN_SERVER, sqlMode?: string): SqlAction {
  if (action.redacted === undefined) return action;
  const { redacted, ...rest } = action;
  const mode = sqlModeOf(sqlMode);
  const one = (text: string): string => {
    const lexed = lexMysql(text, server, mode);
    return redactMysql(text, lexed, lexed.map((s) => [s.start, s.end, s.error !== undefined] as const));
  };
  return Object.freeze({
    ...rest,
    text: redacted,
    statements: Object.freeze(action.statements.map((s) => (s.credential === true ? Object.freeze({ ...s, text: one(s.text) }) : s))),
  });
}
