import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ERROR_CODES, GatewayError } from '../../src/core/errors.ts';

it('docs/errors.md has one row per error code, with the same status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, number>();
  for (const m of doc.matchAll(/^\| `(PCS_[A-Z_]+)` \| (\d{3}) \|/gm)) {
    assert.ok(!rows.has(m[1] as string), `${m[1]} documented twice`);
    rows.set(m[1] as string, Number(m[2]));
  }
  for (const [code, def] of Object.entries(ERROR_CODES)) {
    assert.equal(rows.get(code), def.status, `${code}: docs/errors.md says ${rows.get(code)}, code says ${def.status}`);
  }
  for (const code of rows.keys()) assert.ok(code in ERROR_CODES, `${code} is documented but does not exist`);
});

it('codes follow PCS_<AREA>_<NAME> and messages render their parameters', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^PCS_[A-Z]+(_[A-Z]+)*$/);
  const err = new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: 'prod-pg' });
  assert.equal(err.message, 'no connection named prod-pg');
  assert.equal(err.status, 404);
});
