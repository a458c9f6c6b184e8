// The text the grammar parses, rebuilt from the lexer's tokens in one canonical spelling:
// strings single-quoted with backslash escapes, identifiers in backticks, tokens apart. The
// grammar then never decides a comment, a quote or a statement boundary on its own; the
// lexer (lex.ts) did, as the server does.
import type { Token } from './lex.ts';

const PLAIN_WORD = /^[A-Za-z_][A-Za-z0-9_]*$/;

function stringLiteral(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function quotedName(value: string): string {
  return `\`${value.replace(/`/g, '``')}\``;
}

function spell(t: Token): string {
  switch (t.kind) {
    case 'word':
      return PLAIN_WORD.test(t.value) ? t.value : quotedName(t.value);
    case 'ident':
      return quotedName(t.value);
    case 'string':
      return stringLiteral(t.value);
    case 'hex':
      return `X'${t.value}'`;
    case 'bit':
      return `B'${t.value}'`;
    case 'var':
      return PLAIN_WORD.test(t.value) ? `@${t.value}` : `@${quotedName(t.value)}`;
    case 'sysvar':
      return `@@${t.value}`;
    case 'number':
    case 'param':
    case 'op':
      return t.value;
  }
}

/** One statement's tokens as text for the grammar. */
export function grammarText(tokens: readonly Token[]): string {
  let out = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    // `a.b` stays together (the grammar wants qualified names unspaced only by taste; spaces are safe).
    out += i === 0 ? spell(t) : ` ${spell(t)}`;
  }
  return out;
}
