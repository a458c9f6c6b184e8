// The one place that constructs a Decision. The brand on Decision (src/core/decision.ts) is a
// type-only symbol: this cast is what makes "only the policy engine decides" true, so keep it
// the only one (a grep for `as Decision` should find nothing else).
import type { Decision, MaskSpec, ReviewSpec, RuleRef, ShadowVerdict, Verdict } from '../core/decision.ts';

export const NO_MASKS: readonly MaskSpec[] = Object.freeze([]);
export const NO_SHADOW: readonly ShadowVerdict[] = Object.freeze([]);

export function makeDecision(
  verdict: Verdict,
  rule: RuleRef | undefined,
  masks: readonly MaskSpec[],
  review: ReviewSpec | undefined,
  reason: string,
  shadow: readonly ShadowVerdict[],
): Decision {
  // Every field set every time: one object shape for V8. Deny carries no masks (nothing runs).
  return { verdict, rule, masks: verdict === 'deny' ? NO_MASKS : masks, review: verdict === 'review' ? review : undefined, reason, shadow, code: undefined } as Decision;
}

/**
 * An allowed decision turned into a denial by a check that runs after policy in the data
 * path (masking: a predicate on a masked column...). It keeps the rule that allowed, so the
 * audit shows both, and carries the check's error code.
 */
export function overruled(decision: Decision, code: string, reason: string): Decision {
  return { verdict: 'deny', rule: decision.rule, masks: NO_MASKS, review: undefined, reason, shadow: decision.shadow, code } as Decision;
}

/** deny > review > allow: the order for "most restrictive". */
export function severity(verdict: Verdict): number {
  return verdict === 'deny' ? 2 : verdict === 'review' ? 1 : 0;
}
