import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { maskRuleFromConfig } from '../../src/policy/mask-rules.ts';
import { checkCustomPattern, MAX_REPEAT } from '../../src/masking/detectors/safe-regex.ts';
import { MaskPlanner } from '../../src/masking/plan.ts';
import { KEY } from './helpers.ts';

function config(masks: string, extra = ''): string {
  return `${extra}
connections:
  - { name: db, type: postgres, upstream: { host: db, database: app, user: gw } }
policies:
  - name: p
    subjects: { groups: [agents] }
    connections: [db]
    rules: [{ then: allow }]
    masks:
${masks}
`;
}

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'test.yaml', env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('masks in the configuration', () => {
  it('accepts built-in detectors, aliases, groups and custom detectors', () => {
    const { config: c } = parseConfig(config(`      - { detector: payment_card, with: partial }
      - { detector: card_number, with: redact }
      - { detector: secrets, with: redact }
      - { detector: custom, name: employee_id, pattern: "EMP-[0-9]{6}", with: redact }
      - { column: "*.*.ssn", with: redact, deny_in_predicates: true }`));
    const rules = (c.policies[0]?.masks ?? []).map((m) => maskRuleFromConfig(m));
    assert.deepEqual(rules[3], { detector: 'custom', name: 'employee_id', pattern: 'EMP-[0-9]{6}', with: 'redact', denyInPredicates: false });
    assert.deepEqual(rules[0], { detector: 'payment_card', with: 'partial', denyInPredicates: false });
    const scanner = new MaskPlanner(KEY).plan(rules).scanner;
    assert.equal(scanner?.scan('EMP-123456, 4242 4242 4242 4242'), '****, ****');
  });

  it('an unknown detector is an error listing the known ones', () => {
    const [p] = problems(config('      - { detector: credit_cards, with: redact }'));
    assert.match(p ?? '', /^policies\[0\]\.masks\[0\]\.detector: unknown detector credit_cards; known detectors: private_key, jwt, .*email, phone, ip_address, secrets, card, card_number, ssn, custom$/);
  });

  it('custom detectors need a name and a safe pattern; name and pattern go only with custom', () => {
    assert.deepEqual(problems(config('      - { detector: custom, with: redact }')), ['policies[0].masks[0].name: a custom detector needs a name', 'policies[0].masks[0].pattern: a custom detector needs a pattern']);
    assert.deepEqual(problems(config('      - { detector: custom, name: x, pattern: "(a+)+$", with: redact }')), ['policies[0].masks[0].pattern: a repeated group must not contain a quantifier or an alternation (nested repetition can take exponential time)']);
    assert.deepEqual(problems(config('      - { detector: email, pattern: "x", with: redact }')), ['policies[0].masks[0].pattern: pattern goes only with detector: custom']);
    assert.deepEqual(problems(config('      - { column: a.b.c, detector: email, with: redact }')), ['policies[0].masks[0]: a mask names exactly one of column or detector']);
  });

  it('masking.hash_key is an optional secret of at least 32 characters', () => {
    const key = 'k'.repeat(44);
    const { config: c, secretPaths } = parseConfig(config('      - { column: a.b.c, with: hash }', 'masking: { hash_key: "${env:MASK_KEY}" }'), 'test.yaml', { MASK_KEY: key });
    assert.equal(c.masking?.hash_key, key);
    assert.ok(secretPaths.has('masking.hash_key'));
    assert.equal(parseConfig(config('      - { column: a.b.c, with: hash }')).config.masking, undefined);
    assert.match(problems(config('      - { column: a.b.c, with: hash }', 'masking: { hash_key: short }'))[0] ?? '', /^masking\.hash_key: use at least 32 characters/);
  });
});

describe('custom pattern check', () => {
  it('accepts the usual id patterns and caps unbounded repetition', () => {
    assert.deepEqual(checkCustomPattern('EMP-[0-9]{6}'), { ok: true, source: 'EMP-[0-9]{6}' });
    assert.deepEqual(checkCustomPattern('ACME-[A-Z0-9]+'), { ok: true, source: `ACME-[A-Z0-9]{1,${MAX_REPEAT}}` });
    assert.deepEqual(checkCustomPattern('(?:ID|REF)-\\d{4,}x*?'), { ok: true, source: `(?:ID|REF)-\\d{4,${MAX_REPEAT}}x{0,${MAX_REPEAT}}?` });
    assert.deepEqual(checkCustomPattern('[(+*]{2}(ab)?c'), { ok: true, source: '[(+*]{2}(ab)?c' });
  });
  it('rejects what can backtrack without bound, or cannot work', () => {
    for (const bad of ['(a+)+', '(a|ab)*', '(?:x*y)+', '(a)\\1', '(?<=x)y', '(?!x)y', 'a{1000}', '(', '[a-', 'a**', '', 'x*', 'a'.repeat(600)]) {
      assert.equal(checkCustomPattern(bad).ok, false, bad);
    }
  });
  it('a capped pattern over a hostile value stays fast', async () => {
    const { customDetector } = await import('../../src/masking/detectors/custom.ts');
    const d = customDetector('x', '[0-9]+X');
    const digits = '1'.repeat(1 << 20);
    const t0 = performance.now();
    d.find(digits, { add: () => undefined });
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  });
});
