// An agent's HTTP request as policy sees it: the path normalised once (so that what policy
// matches is what the upstream receives), the query parsed, headers without credentials,
// and a JSON body parsed when there is one.
import type { HttpAction } from '../../core/action.ts';

export class BadRequest extends Error {}

/** Headers that carry the agent's own credentials or that only make sense on one hop. */
const HIDDEN_FROM_POLICY = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * Resolves `.` and `..` segments and refuses what could be read two ways: an encoded slash
 * or backslash (`%2F`, `%5C`), a backslash, NUL, or a `..` above the root. Returns the path
 * to forward (still percent-encoded) and its decoded form for policy.
 */
export function normalisePath(raw: string): { forward: string; decoded: string } {
  if (!raw.startsWith('/')) throw new BadRequest('the request target must be an absolute path');
  if (/%2f|%5c|%00/i.test(raw) || raw.includes('\\') || raw.includes('\0')) throw new BadRequest('encoded slashes, backslashes and NUL are not accepted in paths');
  const out: string[] = [];
  const segments = raw.split('/').slice(1);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const plain = safeDecode(seg);
    if (plain === '.') {
      if (i === segments.length - 1) out.push('');
      continue;
    }
    if (plain === '..') {
      if (out.length === 0) throw new BadRequest('the path climbs above the root');
      out.pop();
      if (i === segments.length - 1) out.push('');
      continue;
    }
    out.push(seg);
  }
  const forward = `/${out.join('/')}`;
  return { forward, decoded: safeDecode(forward) };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new BadRequest('malformed percent-encoding in the path');
  }
}

// Objects without a prototype: a parameter named `__proto__` or `constructor` is data.
export function parseQuery(search: string): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

export function policyHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HIDDEN_FROM_POLICY.has(k)) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** The body as policy reads it: parsed JSON for a JSON content type, else undefined. */
export function policyBody(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0 || contentType === undefined || !/^application\/([\w.+-]*\+)?json\b/i.test(contentType)) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new BadRequest('the body is declared JSON but does not parse');
  }
}

export function httpAction(method: string, decodedPath: string, search: string, headers: Record<string, string | string[] | undefined>, body: Buffer, contentType: string | undefined): HttpAction {
  const parsed = policyBody(body, contentType);
  return { kind: 'http', method: method.toUpperCase(), path: decodedPath, query: parseQuery(search), headers: policyHeaders(headers), ...(parsed !== undefined ? { body: parsed } : {}) };
}
