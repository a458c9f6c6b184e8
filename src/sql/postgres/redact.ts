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
export function redactLiterals(text: string, ranges: readonly CredentialRange[]): string {
  return redactIn(text, ranges) ?? WITHHELD;
}

/** A word right after PASSWORD or IDENTIFIED BY that is not a quoted literal (only in text that does not parse). */
const BARE_SECRET = /\b(password|identified\s+by)(\s+)(?!'|\$|NULL\b)([^\s;,()]+)/gi;

/** `text` (already without its literals) without the bare words a statement that does not parse may give as a password. */
export function redactBareSecrets(text: string): string {
  return text.replace(BARE_SECRET, (_m, word: string, space: string) => `${word}${space}***`);
}

/** [start, end) of a statement whose literals go; `code`: its dollar-quoted literals are code to keep (a DO block, a function). */
export type CredentialRange = readonly [number, number, boolean?];

const WITHHELD = '(statement withheld: it carries a credential and could not be scanned)';

function redactIn(text: string, ranges: readonly CredentialRange[]): string | undefined {
  const literals = scanStringLiterals(text);
  if (literals === undefined) return undefined;
  const bytes = Buffer.from(text);
  const ascii = bytes.length === text.length;
  const toChar = (offset: number): number => (ascii ? offset : bytes.subarray(0, offset).toString().length);
  let out = '';
  let copied = 0;
  for (const [byteStart, byteEnd] of literals) {
    const start = toChar(byteStart);
    const end = toChar(byteEnd);
    const range = ranges.find(([from, to]) => start >= from && end <= to);
    if (range === undefined) continue;
    out += text.slice(copied, start) + (range[2] === true ? redactBody(text.slice(start, end)) : REDACTED_LITERAL);
    copied = end;
  }
  return out + text.slice(copied);
}

/**
 * A literal of a DO block or a function definition. The dollar-quoted one is its body: the
 * literals inside it are removed and the code kept, so an approver still reads it. Inside,
 * every literal goes whole (a nested dollar quote may be a password as well as code), and a
 * body that does not scan goes whole.
 */
function redactBody(literal: string): string {
  const tag = /^\$[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*\$|^\$\$/u.exec(literal)?.[0];
  if (tag === undefined || !literal.endsWith(tag) || literal.length < tag.length * 2) return REDACTED_LITERAL;
  const body = literal.slice(tag.length, literal.length - tag.length);
  const inner = redactIn(body, [[0, body.length]]);
  return inner === undefined ? REDACTED_LITERAL : `${tag}${inner}${tag}`;
}

/**
 * Words that say a statement the parse tree does not vouch for (a DO block, a function's body,
 * a statement that does not parse) may carry a credential: its literals are removed too.
 */
const CREDENTIAL_WORDS = /\b(?:password|passwd|identified|conninfo|dblink\w*|user\s+mapping|secret|sslkey|sslpassword)\b/i;
/** Statements whose literals are code the tree does not show: DO, CREATE FUNCTION/PROCEDURE, anything unparsed. */
const OPAQUE_CODE = /^\s*(?:do\b|create\s+(?:or\s+replace\s+)?(?:function|procedure)\b)/i;

/**
 * Whether a statement the tree did not mark may still carry a credential, by its words:
 * undefined when not, else whether its dollar-quoted literals are code (DO, a function).
 */
export function mayCarryCredential(command: string, text: string): { readonly code: boolean } | undefined {
  if (!CREDENTIAL_WORDS.test(text)) return undefined;
  if (command === 'do' || OPAQUE_CODE.test(text)) return { code: true };
  return command === 'unknown' ? { code: false } : undefined;
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
