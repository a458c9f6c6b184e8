// RFC 8785 canonical JSON (the `canonicalize` package). Version 2 is CommonJS with a
// mis-typed default export under NodeNext, hence the require and the typed signature here.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const canonicalize = require('canonicalize') as (input: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new TypeError('value cannot be represented as JSON');
  return out;
}
