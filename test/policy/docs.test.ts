// The examples of docs/policy.md run: every YAML block loads as a configuration, and every
// `expect:` line under it is decided as written.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/config/load.ts';
import type { ConnectionConfig } from '../../src/config/schema.ts';
import type { Action } from '../../src/core/action.ts';
import { actionFromText } from '../../src/policy/action-from-text.ts';
import { compilePolicies } from '../../src/policy/compile.ts';
import { decide } from '../../src/policy/decide.ts';
import { loadSqlAnalyzer } from '../../src/sql/postgres/analyze.ts';
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

/**
 * An HTTP input in an expect line may span lines: `\n` (backslash, n) starts a new one, and
 * `Name: value` lines right after the request line are headers, which actionFromText (one
 * request line, then a JSON body) does not take.
 */
async function actionOf(connection: ConnectionConfig, text: string): Promise<Action> {
  if (connection.type !== 'http') return actionFromText(connection, text);
  const [request = '', ...rest] = text.split('\\n');
  const headers: Record<string, string> = {};
  while (rest.length > 0 && /^[A-Za-z0-9-]+:/.test(rest[0] ?? '')) {
    const line = rest.shift() ?? '';
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const action = await actionFromText(connection, [request, ...rest].join('\n'));
  return action.kind === 'http' ? { ...action, headers } : action;
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
        const decision = decide(policies, who, connection, await actionOf(connection, text));
        assert.equal(decision.verdict, verdict, `${line}\n  reason: ${decision.reason}`);
        if (shadow !== undefined) assert.equal(decision.shadow[0]?.verdict, shadow, line);
      }
    });
  });
});
