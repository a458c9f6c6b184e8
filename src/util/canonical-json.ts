// RFC 8785 (JCS) canonical JSON: object members sorted by their names' UTF-16 code units, no
// whitespace, strings and numbers as ECMAScript's JSON.stringify writes them (which is what
// JCS specifies). Written here rather than taken from the `canonicalize` package because the
// audit writer canonicalises every record of the hot path and this is about twice as fast
// (one pass, plain loops, native JSON.stringify for every leaf); the tests re-hash chains with
// that package as the independent reference (test/audit/format.test.ts, canonical-json.test.ts).

/** The canonical text of `value`; throws TypeError on what JSON cannot carry (NaN, Infinity, bigint, a top-level undefined). */
export function canonicalJson(value: unknown): string {
  const out = serialise(value);
  if (out === undefined) throw new TypeError('value cannot be represented as JSON');
  return out;
}

function serialise(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${String(value)} is not allowed in canonical JSON`);
      return JSON.stringify(value);
    case 'object':
      break;
    case 'bigint':
      throw new TypeError('a bigint is not allowed in canonical JSON');
    default:
      return undefined; // undefined, functions, symbols: absent members, null in arrays
  }
  const withJson = value as { toJSON?: unknown };
  if (typeof withJson.toJSON === 'function') return serialise((withJson.toJSON as () => unknown).call(value));
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += serialise(value[i]) ?? 'null';
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = serialise(record[key]);
    if (member === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${member}`;
    first = false;
  }
  return `${out}}`;
}
