// The configuration examples in docs/ are real: every YAML block marked `# example: full`
// must pass validation, so the docs cannot drift from the schema.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';

const docs = new URL('../../docs/', import.meta.url);
const env = { APP_DB_PASSWORD: 'example-password', CORP_IDP_CERT: 'example-cert', PORTCULLIS_WEBHOOK_SECRET: 'example-webhook-secret-0123', BUILD_BOX_KEY: 'example-key', BILLING_API_TOKEN: 'example-billing-token', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXX' };

it('every full configuration example in docs/ is valid', () => {
  let count = 0;
  for (const file of readdirSync(docs).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(new URL(file, docs), 'utf8');
    for (const m of text.matchAll(/```yaml\n(# example: full\n[\s\S]*?)```/g)) {
      count++;
      assert.doesNotThrow(() => parseConfig(m[1] as string, `docs/${file}`, env), (err: Error) => `docs/${file}: ${err.message}`);
    }
  }
  assert.ok(count >= 1, 'at least one full example');
});
