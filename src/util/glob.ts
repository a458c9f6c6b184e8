// Glob matchers, compiled once per policy set so that decide() never builds a RegExp.
// Two flavours: plain globs (`*` is any run of characters, `?` one character) for subjects,
// groups, connections, tools and programs; dotted globs for SQL names, where `*` and `?`
// stay inside one dot-separated part, so `public.*` never matches `public.a.b`.

/** A compiled glob: a predicate over one string. */
export type Matcher = (value: string) => boolean;

const ANY: Matcher = () => true;

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function compile(glob: string, star: string, one: string): Matcher {
  // Literal, match-all and `prefix*` globs are the common case: no RegExp for them.
  if (glob === '*' && star === '.*') return ANY;
  if (!/[*?]/.test(glob)) return (value) => value === glob;
  const prefix = glob.slice(0, -1);
  if (glob.endsWith('*') && !/[*?]/.test(prefix)) {
    return star === '.*' ? (value) => value.startsWith(prefix) : (value) => value.startsWith(prefix) && value.indexOf('.', prefix.length) === -1;
  }
  let source = '';
  for (const ch of glob) source += ch === '*' ? star : ch === '?' ? one : escapeRegExp(ch);
  const re = new RegExp(`^${source}$`, 's');
  return (value) => re.test(value);
}

/** `*` any run (dots and slashes included), `?` any one character. Case-sensitive. */
export function compileGlob(glob: string): Matcher {
  return compile(glob, '.*', '.');
}

/** SQL object names: `*` and `?` never cross a dot (`public.*` matches `public.orders` only). */
export function compileDottedGlob(glob: string): Matcher {
  return compile(glob, '[^.]*', '[^.]');
}

/** True when any matcher accepts the value. Plain loop: no closure or array per call. */
export function anyMatch(matchers: readonly Matcher[], value: string): boolean {
  for (const m of matchers) if (m(value)) return true;
  return false;
}
