// The canonical JSON serialiser against the `canonicalize` package (the reference the audit
// format tests use), on hand-picked edge cases and on random documents.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import canonicalizeModule from 'canonicalize';
import { canonicalJson } from '../../src/util/canonical-json.ts';
import { rng } from '../support/rng.ts';

const reference = canonicalizeModule as unknown as (input: unknown) => string | undefined;

const STRINGS = ['', 'a', 'é', '€', '\u0000', '\u001f', '"', '\\', '\n\t', '\ud83d\ude00', 'z', 'A', 'aa', '\u2028', '10', '1', 'B'];
const NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, 123456789012345, 2 ** 53, -(2 ** 31), 0.1 + 0.2, 5e-324, 1.7976931348623157e308];

function randomValue(next: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const r = next();
  if (depth > 3 || r < 0.35) return pick<unknown>([null, true, false, ...STRINGS, ...NUMBERS]);
  if (r < 0.6) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 5); i > 0; i--) out[pick(STRINGS) + pick(['', 'x', '_1'])] = randomValue(next, depth + 1);
  return out;
}

describe('canonical JSON', () => {
  it('matches the reference on edge cases', () => {
    const cases: unknown[] = [
      { b: 1, a: 2, A: 3, '': 4, é: 5, '\ud83d\ude00': 6, '\uff61': 7 },
      [1, 'x', null, { z: [], y: {} }],
      { skipped: undefined, kept: null, nested: { list: [undefined, 1] } },
      { date: new Date(0) },
      -0,
      'text with "quotes" and \u0007',
    ];
    for (const c of cases) assert.equal(canonicalJson(c), reference(c), JSON.stringify(c));
  });

  it('matches the reference on 5000 random documents', () => {
    const next = rng(42);
    for (let i = 0; i < 5000; i++) {
      const doc = randomValue(next, 0);
      assert.equal(canonicalJson(doc), reference(doc));
    }
  });

  it('refuses what JSON cannot carry', () => {
    assert.throws(() => canonicalJson(Number.NaN), TypeError);
    assert.throws(() => canonicalJson({ x: Number.POSITIVE_INFINITY }), TypeError);
    assert.throws(() => canonicalJson({ x: 1n }), TypeError);
    assert.throws(() => canonicalJson(undefined), TypeError);
  });
});
