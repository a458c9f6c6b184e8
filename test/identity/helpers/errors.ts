// Assertions on GatewayError codes and reasons.
import assert from 'node:assert/strict';
import { GatewayError, type ErrorCode } from '../../../src/core/errors.ts';

/** Assert that `promise` rejects with a GatewayError `code` (and, if given, a reason containing `reason`). */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, reason?: string | RegExp): Promise<GatewayError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatewayError, `expected GatewayError ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  if (reason !== undefined) {
    const actual = String(caught.params.reason ?? '');
    if (typeof reason === 'string') assert.ok(actual.includes(reason), `expected reason containing "${reason}", got "${actual}"`);
    else assert.match(actual, reason);
  }
  return caught;
}
