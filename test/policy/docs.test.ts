// The examples of docs/policy.md run: every YAML block loads as a configuration, and every
// `expect:` line under it is decided as written.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/config/load.ts';
import { actionFromText } from '../../src/policy/action-from-text.ts';
import { compilePolicies } from '../../src/policy/compile.ts';
import { decide } from '../../src/policy/decide.ts';
import { loadSqlAnalyzer } from '../../src/policy/sql/analyze-postgres.ts';
import { identity } from './support.ts';

const page = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
const EXPECT = /^expect: (\S+) \[([^\]]*)\] (\S+) "(.*)" -> (allow|deny|review)(?: shadow=(allow|deny|review))?$/;

interface Example {
  readonly yaml: string;
  readonly expects: string[];
}

function examples(): Example[] {
  const out: Example[] = [];
  for (const block of page.matchAll(/```(yaml|)\n([\s\S]*?)```/g)) {
    const [, lang, body = ''] = block;
    if (lang === 'yaml') out.push({ yaml: body, expects: [] });
    else if (body.startsWith('expect:')) out[out.length - 1]?.expects.push(...body.trim().split('\n'));
  }
  return out;
}

before(() => loadSqlAnalyzer());

void describe('docs/policy.md examples', () => {
  const all = examples();
  void it('has examples', () => assert.ok(all.length >= 5));
  all.forEach((example, n) => {
    void it(`example ${n + 1}`, async () => {
      const { config } = parseConfig(example.yaml, `docs/policy.md example ${n + 1}`);
      const policies = compilePolicies(config.policies);
      assert.ok(example.expects.length > 0, 'every example says what it decides');
      for (const line of example.expects) {
        const m = EXPECT.exec(line);
        assert.ok(m, `malformed expect line: ${line}`);
        const [, subject = '', groups = '', connectionName = '', text = '', verdict, shadow] = m;
        const connection = config.connections.find((c) => c.name === connectionName);
        assert.ok(connection, `no connection ${connectionName}`);
        const who = identity(subject, groups.split(/[ ,]+/).filter(Boolean));
        const decision = decide(policies, who, connection, await actionFromText(connection, text));
        assert.equal(decision.verdict, verdict, `${line}\n  reason: ${decision.reason}`);
        if (shadow !== undefined) assert.equal(decision.shadow[0]?.verdict, shadow, line);
      }
    });
  });
});
