// Shared by the tests of the stream maskers (the text masker, HTTP's NDJSON and SSE maskers):
// a mask plan from rules, a masker run over chunks, and the check that the chunking never
// changes the output.
import assert from 'node:assert/strict';
import type { MaskSpec } from '../../src/core/decision.ts';
import { MaskPlanner, type MaskPlan } from '../../src/masking/plan.ts';
import type { StreamMasker } from '../../src/masking/text-stream.ts';

const planner = new MaskPlanner(Buffer.alloc(32, 7));

/** A plan of `rules` under a fixed test hash key. */
export function plan(...rules: MaskSpec[]): MaskPlan {
  return planner.plan(Object.freeze(rules.map((r) => Object.freeze({ ...r }))));
}

/** Everything a stream masker makes of `input` fed in the given pieces. */
export function runBytes(make: () => StreamMasker, pieces: readonly Buffer[]): Buffer {
  const m = make();
  const out: Buffer[] = [];
  for (const p of pieces) out.push(...m.push(p));
  out.push(...m.end());
  return Buffer.concat(out);
}

export function run(make: () => StreamMasker, pieces: readonly Buffer[]): string {
  return runBytes(make, pieces).toString();
}

/** The input cut in two at every offset, and in single bytes, all giving `expected`. */
export function assertSplitInvariant(make: () => StreamMasker, input: string, expected: string): void {
  const b = Buffer.from(input);
  assert.equal(run(make, [b]), expected, 'whole');
  for (let i = 0; i <= b.length; i++) assert.equal(run(make, [b.subarray(0, i), b.subarray(i)]), expected, `split at ${i}`);
  assert.equal(run(make, [...b].map((x) => Buffer.from([x]))), expected, 'byte by byte');
}

/** The lines of a (made-up) PEM private key block. */
export const PEM = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowIBAAKCAQEAvK1a2b3c4d5e6f7g8h9i0jKLMNOPQRSTUVWXYZ', 'q1w2e3r4t5y6u7i8o9p0ASDFGHJKLZXCVBNM', '-----END RSA PRIVATE KEY-----'];
