// Statements that carry credential material (a role's password, a user mapping's or a foreign
// server's options, a subscription's or dblink's conninfo) are kept in the audit log and the
// recording with their string literals replaced. Which statements: the parse tree (their
// statement type, or a dblink call). Which literals: the server's own lexer, every string
// constant of the statement (a conninfo or an OPTIONS list hides its password among other
// strings; sorting out which one is the secret would be guessing). Numbers and names stay,
// so an approver still sees what the statement does to whom.
import type { SqlAction } from '../../core/action.ts';
import { scanStringLiterals } from './parse.ts';

/** What a removed literal reads as. A valid SQL string, so the recorded text still parses. */
export const REDACTED_LITERAL = "'***'";

/** Statement types whose literals may be credentials. */
const CREDENTIAL_STATEMENTS = new Set([
  'CreateRoleStmt', // CREATE ROLE/USER ... PASSWORD '...'
  'AlterRoleStmt', // ALTER ROLE ... PASSWORD '...' (also \password's SCRAM verifier)
  'CreateUserMappingStmt', // OPTIONS (password '...')
  'AlterUserMappingStmt',
  'CreateForeignServerStmt', // OPTIONS may carry a password (postgres_fdw refuses it; others take it)
  'AlterForeignServerStmt',
  'CreateSubscriptionStmt', // CONNECTION 'host=... password=...'
  'AlterSubscriptionStmt',
]);

/** dblink's functions that take a conninfo string (extension schema or not: matched by the last name part). */
const CREDENTIAL_FUNCTIONS = new Set(['dblink_connect', 'dblink_connect_u', 'dblink', 'dblink_exec', 'dblink_send_query', 'dblink_open', 'dblink_fetch', 'dblink_close', 'dblink_get_result']);

/** Does a statement of this type, calling these functions (lower-case, dotted), carry a credential? */
export function carriesCredential(type: string, functions: Iterable<string>): boolean {
  if (CREDENTIAL_STATEMENTS.has(type)) return true;
  for (const f of functions) {
    const dot = f.lastIndexOf('.');
    if (CREDENTIAL_FUNCTIONS.has(dot < 0 ? f : f.slice(dot + 1))) return true;
  }
  return false;
}

/**
 * `text` with the string literals inside the given character ranges replaced by
 * REDACTED_LITERAL. When the lexer rejects the text the whole text is withheld: a literal it
 * cannot find is a literal it cannot remove.
 */
export function redactLiterals(text: string, ranges: readonly (readonly [number, number])[]): string {
  const literals = scanStringLiterals(text);
  if (literals === undefined) return '(statement withheld: it carries a credential and could not be scanned)';
  const bytes = Buffer.from(text);
  const ascii = bytes.length === text.length;
  const toChar = (offset: number): number => (ascii ? offset : bytes.subarray(0, offset).toString().length);
  let out = '';
  let copied = 0;
  for (const [byteStart, byteEnd] of literals) {
    const start = toChar(byteStart);
    const end = toChar(byteEnd);
    if (!ranges.some(([from, to]) => start >= from && end <= to)) continue;
    out += text.slice(copied, start) + REDACTED_LITERAL;
    copied = end;
  }
  return out + text.slice(copied);
}

/** The action as it may be shown (policy test output): its texts with the credential statements' literals removed. */
export function shownAction(action: SqlAction): SqlAction {
  if (action.redacted === undefined) return action;
  const { redacted, ...rest } = action;
  return Object.freeze({
    ...rest,
    text: redacted,
    statements: Object.freeze(action.statements.map((s) => (s.credential === true ? Object.freeze({ ...s, text: redactLiterals(s.text, [[0, s.text.length]]) }) : s))),
  });
}
