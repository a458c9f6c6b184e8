// Reading claims and attributes whose shape the token's issuer chose: lists may arrive as
// arrays or as one space/comma separated string, and anything else is ignored, never coerced.

/** A string list from a claim: `["a","b"]`, `"a b"` or `"a,b"`; other shapes give []. */
export function claimList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((s) => s.length > 0);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v.length > 0);
  return [];
}

/** Text taken from an untrusted token, made safe to echo in an error message or a log line. */
export function safeText(value: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** Order-preserving de-duplication. */
export function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}
