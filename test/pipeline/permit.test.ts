// Forwarding upstream takes a Permit, which only the gate and the review runner mint. The
// type-checker proves what does not compile (each @ts-expect-error below fails the type-check
// if the line ever compiles), the lint refuses a Permit forged by a cast, and the PostgreSQL
// upstream writer refuses at run time a statement offered as a frame that runs nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import type { Decision } from '../../src/core/decision.ts';
import type { GateDecision } from '../../src/pipeline/permit.ts';
import type { Upstream } from '../../src/protocols/http/proxy.ts';
import { describe as describeMessage, query } from '../../src/protocols/postgres/codec/frontend-encode.ts';
import { UndecidedFrame, UpstreamWriter } from '../../src/protocols/postgres/upstream-writer.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../../..');

// Never called: these exist for the type-checker.
export function _undecided(writer: UpstreamWriter, http: Upstream, policyMade: Decision, gated: GateDecision): void {
  const frame = query('DELETE FROM orders');
  // @ts-expect-error a Decision that did not come through the gate (policy.decide called directly) cannot forward
  writer.forward(frame, policyMade);
  // @ts-expect-error a gate decision that is not narrowed to allow (deny, review) cannot forward
  writer.forward(frame, gated);
  if (gated.verdict === 'review') {
    // @ts-expect-error a review verdict forwards only under the runner's permit, after approval
    writer.forward(frame, gated);
  }
  if (gated.verdict === 'allow') writer.forward(frame, gated);
  const res = undefined as never;
  // @ts-expect-error the HTTP proxy too
  void http.forward(policyMade, 'GET', '/', '', {}, Buffer.alloc(0), res, undefined, 0);
}

describe('permits', () => {
  it('the lint refuses a Permit made by a cast anywhere but the gate and the review runner', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const forged = `import type { Decision } from '../../core/decision.ts';\nimport type { Permit } from '../../pipeline/permit.ts';\nexport function forge(d: Decision): Permit {\n  return d as unknown as Permit;\n}\n`;
    const [result] = await eslint.lintText(forged, { filePath: join(ROOT, 'src/protocols/http/router.ts') });
    const messages = (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax');
    assert.equal(messages.length, 1, JSON.stringify(result?.messages));
    assert.match(messages[0]?.message ?? '', /only the gate .* mint a Permit/);
  });

  it('the PostgreSQL upstream writer refuses a statement relayed without a permit', () => {
    const writes: Buffer[] = [];
    const socket = { write: (b: Buffer) => writes.push(b), cork() {}, uncork() {} } as unknown as ConstructorParameters<typeof UpstreamWriter>[0];
    const writer = new UpstreamWriter(socket);
    assert.throws(() => writer.relay(query('DELETE FROM orders')), UndecidedFrame);
    writer.relay(describeMessage('S', 'x'));
    writer.flush();
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.[0], 0x44); // 'D'
  });
});
