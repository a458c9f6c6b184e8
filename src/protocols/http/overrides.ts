// What in a request can make a server framework act as another method or on another path
// than the request line says, and how to take it out without touching anything else.
//   method: X-HTTP-Method-Override (Google APIs, ASP.NET, Express method-override, Rack),
//     X-HTTP-Method (OData, ASP.NET Web API), X-Method-Override; and a `_method` parameter in
//     the query (Express method-override, Symfony/Laravel, Spring HiddenHttpMethodFilter), a
//     form-urlencoded or multipart body (Rack::MethodOverride, Laravel, Spring, ASP.NET Core
//     UseHttpMethodOverride) or a top-level JSON member (Laravel reads JSON input as the form).
//   path or host: X-Original-URL and X-Rewrite-URL (IIS rewrite, Symfony, Laminas),
//     X-Original-URI (nginx auth_request), X-Forwarded-Prefix/-Path/-Uri (Spring
//     ForwardedHeaderFilter, Traefik), X-Envoy-Original-Path, X-Forwarded-Host, X-Host,
//     Forwarded (RFC 7239 host=), which an upstream that trusts the gateway as its proxy
//     honours; and Destination (WebDAV COPY/MOVE), a second path the server acts on.
// Which names count is the connection's (`integrity.method_override_params`/`_headers`, these by
// default). Header names are compared with `_` read as `-`: CGI-style servers map both to one
// variable.
import type { IncomingHttpHeaders } from 'node:http';

export const TARGET_OVERRIDE_HEADERS: ReadonlySet<string> = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-forwarded-prefix',
  'x-forwarded-path',
  'x-forwarded-uri',
  'x-envoy-original-path',
  'x-forwarded-host',
  'x-host',
  'forwarded',
  // WebDAV COPY and MOVE write to this path, which policy's path never saw.
  'destination',
]);

const NEVER = /(?!)/;

/** The names an upstream reads a method from: parameters (query, form, multipart, JSON) and headers. */
export class OverrideNames {
  readonly headers: ReadonlySet<string>;
  /** `_method`, and `_method[...]` (PHP and Rack read brackets as nesting), in any case. */
  readonly #param: RegExp;
  /** Text that could spell a name somewhere: the name itself, or an escape (`%5F`, JSON's `\u005f`). */
  readonly #mayName: RegExp;

  constructor(params: readonly string[], headers: readonly string[]) {
    this.headers = new Set(headers.map((h) => h.toLowerCase().replace(/_/g, '-')));
    const names = params.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    this.#param = params.length === 0 ? NEVER : new RegExp(`^(?:${names})(\\[.*)?$`, 'i');
    this.#mayName = params.length === 0 ? NEVER : new RegExp(`${names}|[%\\\\]`, 'i');
  }

  isParam(name: string): boolean {
    return this.#param.test(name);
  }

  mayName(text: string): boolean {
    return this.#mayName.test(text);
  }
}

export interface Override {
  /** Where it was found, for the agent: `header X-HTTP-Method-Override`, `query parameter _method`... */
  readonly where: string;
  readonly value: string;
  /** False when taking it out would change another parameter (a `;`-separated one). */
  readonly strippable: boolean;
}

/** Header names of `names` present in `headers` (as received, lower-case), with their values. */
export function headerOverrides(headers: IncomingHttpHeaders, names: ReadonlySet<string>): { header: string; value: string }[] {
  const found: { header: string; value: string }[] = [];
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || !names.has(k.includes('_') ? k.replace(/_/g, '-') : k)) continue;
    found.push({ header: k, value: Array.isArray(v) ? v.join(', ') : v });
  }
  return found;
}

export function withoutHeaders(headers: IncomingHttpHeaders, drop: readonly string[]): IncomingHttpHeaders {
  if (drop.length === 0) return headers;
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!drop.includes(k)) out[k] = v;
  return out;
}

/**
 * `_method` in `a=1&b=2` text (a query without its `?`, or a form body read as latin1 so that
 * bytes survive). Pairs split on `&`; a `;` inside a pair is also looked into (Rack 2 split
 * queries on it), but such an override cannot be cut out alone.
 */
export function formOverrides(text: string, where: string, names: OverrideNames): Override[] {
  const found: Override[] = [];
  // Most forms and queries name no method and escape no name: nothing to decode.
  if (!names.mayName(text)) return found;
  for (const pair of text.split('&')) {
    const pieces = pair.split(';');
    pieces.forEach((piece, i) => {
      const eq = piece.indexOf('=');
      const name = formDecode(eq < 0 ? piece : piece.slice(0, eq)).trimStart();
      if (names.isParam(name)) found.push({ where: `${where} ${name}`, value: formDecode(eq < 0 ? '' : piece.slice(eq + 1)), strippable: i === 0 && pieces.length === 1 });
    });
  }
  return found;
}

/** The same text without its `_method` pairs; every other byte as it was. */
export function withoutFormOverrides(text: string, names: OverrideNames): string {
  return text
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      return !names.isParam(formDecode(eq < 0 ? pair : pair.slice(0, eq)).trimStart());
    })
    .join('&');
}

function formDecode(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** One part of a multipart/form-data body: its field name and where it lies (delimiter to delimiter). */
interface Part {
  readonly name: string | undefined;
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The parts of a multipart/form-data body (RFC 7578), read as latin1 so offsets are bytes.
 * Undefined when it cannot be read: no boundary, or no closing delimiter.
 */
export function multipartParts(body: string, contentType: string): Part[] | undefined {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = boundary?.[1] ?? boundary?.[2];
  if (b === undefined) return undefined;
  const delimiter = `--${b}`;
  let pos = body.startsWith(delimiter) ? 0 : body.indexOf(`\r\n${delimiter}`);
  if (pos < 0) return undefined;
  if (pos > 0) pos += 2;
  const parts: Part[] = [];
  for (;;) {
    const after = pos + delimiter.length;
    if (body.startsWith('--', after)) return parts;
    const next = body.indexOf(`\r\n${delimiter}`, after);
    if (next < 0) return undefined;
    const part = body.slice(after, next);
    const split = part.indexOf('\r\n\r\n');
    const head = split < 0 ? part : part.slice(0, split);
    const disposition = head.split('\r\n').find((line) => /^content-disposition\s*:/i.test(line));
    const name = disposition === undefined ? undefined : /;\s*name\*?\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition);
    const raw = name?.[1] ?? name?.[2];
    parts.push({ name: raw?.replace(/^[\w-]*'[\w-]*'/, ''), value: split < 0 ? '' : part.slice(split + 4), start: pos, end: next + 2 });
    pos = next + 2;
  }
}

export function multipartOverrides(parts: readonly Part[], names: OverrideNames): Override[] {
  return parts.filter((p) => p.name !== undefined && names.isParam(p.name)).map((p) => ({ where: `multipart field ${p.name ?? ''}`, value: p.value.trim(), strippable: true }));
}

export function withoutMultipartOverrides(body: string, parts: readonly Part[], names: OverrideNames): string {
  let out = '';
  let at = 0;
  for (const p of parts) {
    if (p.name === undefined || !names.isParam(p.name)) continue;
    out += body.slice(at, p.start);
    at = p.end;
  }
  return out + body.slice(at);
}

/** A top-level member of a JSON object: its key and where it lies (key to end of value). */
interface Member {
  readonly key: string;
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

/** Top-level members of a JSON object text, or undefined when it is not one. Call on text JSON.parse accepted. */
export function jsonMembers(text: string): Member[] | undefined {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return undefined;
  const members: Member[] = [];
  i = skipSpace(text, i + 1);
  while (text[i] === '"') {
    const start = i;
    const keyEnd = skipString(text, i);
    const rawKey = text.slice(i + 1, keyEnd - 1);
    const key = rawKey.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : rawKey;
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // the colon
    const end = skipValue(text, i);
    members.push({ key, start, valueStart: i, end });
    i = skipSpace(text, end);
    if (text[i] !== ',') break;
    i = skipSpace(text, i + 1);
  }
  return members;
}

export function jsonOverrides(text: string, members: readonly Member[], names: OverrideNames): Override[] {
  return members
    .filter((m) => names.isParam(m.key))
    .map((m) => {
      const value = JSON.parse(text.slice(m.valueStart, m.end)) as unknown;
      return { where: `JSON member ${m.key}`, value: typeof value === 'string' ? value : JSON.stringify(value), strippable: true };
    });
}

/** The object without its `_method` members; the other members, and what lies between neighbours kept, byte for byte. */
export function withoutJsonOverrides(text: string, members: readonly Member[], names: OverrideNames): string {
  const first = members[0];
  const last = members.at(-1);
  if (first === undefined || last === undefined) return text;
  let out = text.slice(0, first.start);
  let prev: number | undefined;
  members.forEach((m, k) => {
    if (names.isParam(m.key)) return;
    // The separator that followed the previous kept member, so `{"a":1, "_method":"X", "b":2}` keeps its `, `.
    if (prev !== undefined) out += text.slice((members[prev] as Member).end, (members[prev + 1] as Member).start);
    out += text.slice(m.start, m.end);
    prev = k;
  });
  return out + text.slice(last.end);
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && ' \t\r\n'.includes(text[i] as string)) i++;
  return i;
}

function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') j = skipString(text, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return text.length;
  }
  let j = i;
  while (j < text.length && !',}] \t\r\n'.includes(text[j] as string)) j++;
  return j;
}
