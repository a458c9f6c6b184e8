// Errors and notices echo values: `invalid input syntax for type integer: "123-45-6789"`,
// `Key (email)=(jane@example.com) already exists`, `Failing row contains (...)`, and RAISE
// prints whatever it is given. For a statement that touches masked data, the parts of a
// message that can quote data are withheld; everywhere, detectors run over the text.
import type { MaskPlan } from '../../../masking/plan.ts';
import { messageWithFields } from '../codec/backend-encode.ts';
import { readMessageFields } from '../codec/backend-read.ts';
import { ErrorField } from '../codec/constants.ts';

const WHERE = 0x57; // W: context (PL/pgSQL lines, JSON snippets)
const WITHHELD = '[withheld by portcullis: it may quote masked data]';
/**
 * SQLSTATE classes whose messages are about the statement or the session, not about data:
 * syntax and names (42), transactions (25, 40), resources (53, 54, 55, 57), connections (08),
 * features (0A), prepared statements and cursors (26, 34), catalogs and schemas (3D, 3F),
 * authorisation (28).
 */
const ABOUT_STATEMENT = new Set(['42', '25', '40', '53', '54', '55', '57', '08', '0A', '26', '34', '3D', '3F', '28']);

/**
 * The message to relay: the same frame when nothing needed changing. For a statement that
 * touches masked data, every quoted text is replaced, names too: the server quotes values as
 * names (`relation "219-09-9999" does not exist` after `ssn::regclass`), and keeping only
 * the names the agent wrote would tell it when a guess matched. The error's position stays.
 */
export function maskMessage(frame: Buffer, plan: MaskPlan, sensitive: boolean): Buffer {
  const fields = readMessageFields(frame);
  const code = fields.find(([f]) => f === ErrorField.Code)?.[1] ?? '';
  const aboutStatement = ABOUT_STATEMENT.has(code.slice(0, 2));
  const scanner = plan.scanner;
  let changed = false;
  const out = fields.map(([f, text]): [number, string] => {
    let next = text;
    if (sensitive) next = aboutStatement ? quotedWithheld(f, text) : withhold(f, text, code);
    if (scanner !== undefined && (f === ErrorField.Message || f === ErrorField.Detail || f === ErrorField.Hint || f === WHERE)) next = scanner.scan(next) ?? WITHHELD;
    if (next !== text) changed = true;
    return [f, next];
  });
  if (changed && sensitive && !out.some(([f]) => f === ErrorField.Hint)) out.push([ErrorField.Hint, QUOTES_HINT]);
  return changed ? messageWithFields(frame[0] as number, out) : frame;
}

const QUOTED = /"(?:[^"]|"")*"/g;
const QUOTES_HINT = 'quoted names and values in this message are withheld because the statement reads masked data; the error position still points at the problem';

/** Errors about names: the names are withheld, the message's shape stays. */
function quotedWithheld(field: number, text: string): string {
  if (field !== ErrorField.Message && field !== ErrorField.Detail && field !== ErrorField.Hint && field !== WHERE) return text;
  return text.replace(QUOTED, '"****"');
}

function withhold(field: number, text: string, code: string): string {
  switch (field) {
    case ErrorField.Message:
      // RAISE (P0xxx, and notices: 00000/01xxx) prints values bare; others quote them.
      if (code.startsWith('P0') || code.startsWith('00') || code.startsWith('01')) return WITHHELD;
      return quotedWithheld(field, text).replace(/\((?:[^()]|\([^()]*\))*\)=\((?:[^()]|\([^()]*\))*\)/g, '(****)=(****)');
    case ErrorField.Detail:
    case ErrorField.Hint:
    case WHERE:
      return WITHHELD;
    default:
      return text;
  }
}
