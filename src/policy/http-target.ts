// The request target read once, the way the upstream will read it: one canonical
// percent-encoded path, or the reason it cannot have one. Servers disagree on encoded dots
// and slashes, backslashes, `;` path parameters, duplicate slashes, double encoding and
// overlong UTF-8 (Tomcat cuts `;jsessionid=`, IIS takes `\` for `/`, nginx merges `//`, a
// second decoding layer turns `%252e` into `.`), so a path that some server could read as
// another is either rewritten to its canonical form or refused. Policy decides on the
// canonical path and the upstream receives exactly it.
import { isUtf8 } from 'node:buffer';

export interface TargetReading {
  /** The canonical path (percent-encoded) to route, decide and forward; when unreadable, the raw path, for routing only. */
  readonly path: string;
  /** The raw query with its `?`, or ''. */
  readonly search: string;
  /** Why no setting makes this target forwardable (the request is refused), or undefined. */
  readonly unreadable: string | undefined;
  /** What was not canonical in a readable path (rewritten by `normalise`, refused by `refuse`), or undefined. */
  readonly nonCanonical: string | undefined;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** RFC 3986 unreserved: an escape of one of these is only another spelling of it. */
const UNRESERVED = asciiTable(`${ALNUM}-._~`);
/** What a canonical path holds literally besides `/` and escapes: unreserved, sub-delims but `;`, `:` and `@`. */
const LITERAL = asciiTable(`${ALNUM}-._~!$&'()*+,=:@`);
/** The common case, canonical as it comes: non-empty segments of literal characters, none `.` or `..`. */
const PLAIN = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@]+)*\/?$/;
const HEX = /^[0-9A-Fa-f]{2}$/;
/** Characters that some server reads as structure once decoded: a separator, a parameter, a query or fragment, an escape. */
const STRUCTURAL_ESCAPES: Readonly<Record<number, string>> = {
  0x2f: 'an encoded slash (%2F)',
  0x5c: 'an encoded backslash (%5C)',
  0x3b: 'an encoded ; (%3B), which a server that decodes before cutting path parameters reads as one',
  0x3f: 'an encoded ? (%3F), which a server that decodes before splitting reads as the start of a query',
  0x23: 'an encoded # (%23), which a server that decodes before splitting reads as a fragment',
};
/** After compatibility normalisation (NFKC) these would be structure: fullwidth `／`, `．`, `＼`... */
const NFKC_STRUCTURE = /[/\\;?#%]/;

/** Reads `req.url` as received (Node refuses raw controls, spaces and non-ASCII before we see it). */
export function readTarget(raw: string): TargetReading {
  if (raw === '*') return unreadable('/', '', 'the asterisk form (OPTIONS *) is not served');
  if (!raw.startsWith('/')) {
    const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)(\?[^#]*)?/.exec(raw);
    if (absolute !== null) return unreadable(absolute[1] || '/', absolute[2] ?? '', 'an absolute-form target (scheme and host in the request line): send the path only');
    return unreadable('/', '', 'the request target must be a path starting with /');
  }
  const hash = raw.indexOf('#');
  const withoutFragment = hash < 0 ? raw : raw.slice(0, hash);
  const q = withoutFragment.indexOf('?');
  const rawPath = q < 0 ? withoutFragment : withoutFragment.slice(0, q);
  // Escaped as the upstream request's URL will escape them (WHATWG special-query set), so the query decided and recorded is the one sent.
  const search = q < 0 ? '' : withoutFragment.slice(q).replace(/["'<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (hash >= 0) return unreadable(rawPath, search, 'a fragment (#) in the request target');
  if (PLAIN.test(rawPath)) return { path: rawPath, search, unreadable: undefined, nonCanonical: undefined };
  const notes = new Set<string>();
  const segments: string[] = [];
  for (const rawSegment of rawPath.slice(1).split('/')) {
    const seg = readSegment(rawSegment, notes);
    if (typeof seg !== 'string') return unreadable(rawPath, search, seg.refused);
    segments.push(seg);
  }
  // RFC 3986 section 5.2.4 (remove_dot_segments), plus empty segments: `//` is one `/` to nginx, not to Express.
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const last = i === segments.length - 1;
    if (seg === '.' || seg === '..') {
      notes.add('dot segments (. and ..)');
      if (seg === '..') {
        if (out.length === 0) return unreadable(rawPath, search, 'the path climbs above the root (..)');
        out.pop();
      }
      if (last) out.push('');
      continue;
    }
    if (seg === '' && !last) {
      notes.add('empty segments (//)');
      continue;
    }
    out.push(seg);
  }
  const path = `/${out.join('/')}`;
  return { path, search, unreadable: undefined, nonCanonical: notes.size === 0 ? undefined : [...notes].join(', ') };
}

/** One segment in canonical spelling (escapes upper-case, unreserved decoded), or why it is refused. */
function readSegment(raw: string, notes: Set<string>): string | { refused: string } {
  let out = '';
  const bytes: number[] = [];
  let escaped = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    const code = raw.charCodeAt(i);
    if (code < 0x80 && LITERAL[code] === 1) {
      out += c;
      bytes.push(code);
      continue;
    }
    if (c === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return { refused: 'malformed percent-encoding' };
      const byte = Number.parseInt(hex, 16);
      i += 2;
      const structural = STRUCTURAL_ESCAPES[byte];
      if (structural !== undefined) return { refused: structural };
      if (byte < 0x20 || byte === 0x7f) return { refused: 'an encoded NUL or control character' };
      if (hex !== hex.toUpperCase()) notes.add('lower-case percent escapes');
      if (UNRESERVED[byte] === 1) {
        notes.add('percent-encoded unreserved characters (such as %2E or %41)');
        out += String.fromCharCode(byte);
      } else out += `%${hex.toUpperCase()}`;
      bytes.push(byte);
      escaped = escaped || byte >= 0x80;
      continue;
    }
    if (c === '\\') return { refused: 'a backslash, which some servers read as /' };
    if (c === ';') return { refused: 'a ; path parameter, which Tomcat and Spring cut off the segment: /admin;x=1 is /admin to them' };
    if (code < 0x20 || code >= 0x7f) return { refused: 'a control or non-ASCII character not percent-encoded' };
    // `"`, `<`, `{`, `|`, `[`... must be escaped (RFC 3986): clients send them so.
    notes.add('characters that must be percent-encoded');
    out += `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
    bytes.push(code);
  }
  // Checked on the canonical spelling: `%25%32%65` is `%252e` once its unreserved escapes are decoded.
  if (/%25[0-9A-F]{2}/i.test(out)) return { refused: 'double percent-encoding (%25 followed by hex digits), which a second decoding turns into another character' };
  if (escaped) {
    // Overlong forms (%C0%AE is an overlong `.`, %C0%AF a `/`) and broken sequences are not UTF-8.
    if (!isUtf8(Buffer.from(bytes))) return { refused: 'percent-encoded bytes that are not valid UTF-8 (overlong or broken sequences)' };
    const text = Buffer.from(bytes).toString('utf8');
    const compat = text.normalize('NFKC');
    if (compat !== text && (NFKC_STRUCTURE.test(compat) || compat === '.' || compat === '..')) return { refused: 'characters that Unicode compatibility normalisation (NFKC) turns into a separator or a dot segment' };
    // `ａdmin` is `admin` to a server that applies NFKC; `normalise` cannot rewrite it (to most servers it is another name).
    if (compat !== text) notes.add('characters that Unicode compatibility normalisation (NFKC) changes, such as fullwidth letters');
  }
  return out;
}

function asciiTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

function unreadable(path: string, search: string, reason: string): TargetReading {
  return { path, search, unreadable: reason, nonCanonical: undefined };
}

/** The decoded path policy matches; the canonical path always decodes. */
export function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * The path policy matches: the canonical path below the prefix, decoded; lower-cased when the
 * upstream ignores case, or `/ADMIN` would be another path to policy and the same to it.
 */
export function policyPath(settings: { readonly case_insensitive_paths: boolean }, below: string): string {
  const decoded = decodedPath(below);
  return settings.case_insensitive_paths ? decoded.toLowerCase() : decoded;
}
