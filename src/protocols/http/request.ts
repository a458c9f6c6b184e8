// An agent's HTTP request as policy sees it: the path decoded (target.ts reads it once, so
// that what policy matches is what the upstream receives), the query parsed, headers
// without credentials, and a JSON body parsed when there is one.
import type { HttpAction } from '../../core/action.ts';

export class BadRequest extends Error {}

/** Headers that carry the agent's own credentials or that only make sense on one hop. */
const HIDDEN_FROM_POLICY = new Set(['authorization', 'proxy-authorization', 'cookie']);

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
