// What forwarding takes. Only the gate (an allowed decision) and the review runner (a decision
// an approver let through) hand one out, so an adapter path that skips `decide` does not
// compile: the upstream writer of every adapter asks for a Permit, not a Decision.
//
// The brands are types and nothing else: a Permit is the Decision itself, so minting one
// costs nothing on the hot path. The lint forbids casting to them outside the gate and the
// review runner.
import type { Decision } from '../core/decision.ts';

declare const gated: unique symbol;
declare const permitted: unique symbol;

/** A decision the gate made (and audited), whatever its verdict. */
export type Gated = Decision & { readonly [gated]: true };

/** Leave to run the decided action upstream. */
export type Permit = Gated & { readonly [permitted]: true };

/** A gate's decision: `verdict === 'allow'` narrows it to a Permit. */
export type GateDecision = (Permit & { readonly verdict: 'allow' }) | (Gated & { readonly verdict: 'deny' }) | (Gated & { readonly verdict: 'review' });
