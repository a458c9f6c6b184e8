// Shared shapes of the masking layer: what a detector is, what it reports, and the rules a
// plan is built from. No I/O here, and nothing protocol-specific.
import type { MaskSpec } from '../core/decision.ts';

/** The masking functions a rule can name (`with:` in a policy). */
export type MaskFunction = MaskSpec['with'];

/**
 * A mask rule as a plan reads it: the decision's MaskSpec, plus the two fields a custom
 * detector needs. Decisions built before custom detectors existed simply lack them.
 */
/** A mask rule as policies carry it (custom detectors add `name` and `pattern`). */
export type MaskRule = MaskSpec;

/**
 * Cheap facts about a value, gathered in one pass, so that a detector that cannot possibly
 * match (no `@` for email, fewer than 13 digits for a card) is never run.
 */
export interface TextProfile {
  length: number;
  digits: number;
  upper: number;
  /** Bits of `FLAG` below. */
  flags: number;
}

export const FLAG = {
  at: 1, // @
  plus: 2, // +
  colon: 4, // :
  dot: 8, // .
  underscore: 16, // _
  dash: 32, // -
  /** A character (or byte) outside ASCII. */
  high: 64,
} as const;

/** Where a detector reports its findings: half-open spans [start, end) of the scanned text. */
export interface SpanSink {
  add(start: number, end: number): void;
}

export interface Detector {
  /** The name a policy uses (`detector: payment_card`), or a custom detector's name. */
  readonly name: string;
  /** False when the value cannot contain a finding; called before `find`, must be O(1). */
  wants(profile: TextProfile): boolean;
  /**
   * Report every finding in `text`, left to right, without overlaps. Linear in the length of
   * the text (no regular expression that can backtrack without bound); never throws.
   */
  find(text: string, sink: SpanSink): void;
  /** The `partial` form of one finding (the exact text of a span). */
  partial(match: string): string;
}
