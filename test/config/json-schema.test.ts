import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { jsonSchema } from '../../src/config/json-schema.ts';

it('the published JSON Schema matches the code (regenerate with npm run schema)', () => {
  const published: unknown = JSON.parse(readFileSync(new URL('../../schema/portcullis.schema.json', import.meta.url), 'utf8'));
  assert.deepEqual(published, jsonSchema());
  const props = (jsonSchema().properties ?? {}) as Record<string, unknown>;
  for (const key of ['listen', 'store', 'identity', 'connections', 'policies', 'audit', 'vault']) assert.ok(key in props, key);
});
