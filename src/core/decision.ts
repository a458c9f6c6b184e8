// What policy.decide returns. Only the policy engine constructs a Decision (see Allowed below),
// so no adapter can forward an undecided request by mistake.

export type Verdict = 'allow' | 'deny' | 'review';

export interface RuleRef {
  readonly policy: string;
  /** Index of the rule in the policy's `rules` list. */
  readonly index: number;
  /** The rule's `name` when it has one. */
  readonly name?: string;
}

export interface MaskSpec {
  /** A column glob (`public.customers.email`, `*.*.ssn`) or a detector name. */
  readonly column?: string;
  readonly detector?: string;
  /**
   * A JSON path (`$..email`, `$.customers[*].ssn`): masks the matched values of JSON
   * response bodies (HTTP). A rule names exactly one of column, detector and json.
   */
  readonly json?: string;
  readonly with: 'redact' | 'partial' | 'hash' | 'null';
  readonly denyInPredicates?: boolean;
  /** Where the rule was written (`agents.masks[0]`): what recordings and errors name. */
  readonly source?: string;
  /** `detector: custom` only: the finding's label (recordings name it). */
  readonly name?: string;
  /** `detector: custom` only: the regular expression, as written in the policy. */
  readonly pattern?: string;
  /**
   * A built-in credential mask (core/credential-columns.ts), not written in any policy: it
   * masks what lineage traces to its column, and fails closed on untraced data only for
   * statements that reach the column's relation (docs/masking.md, "Built-in credential masks").
   */
  readonly builtin?: true;
}

export interface Approvers {
  readonly groups: readonly string[];
  readonly min: number;
  readonly allGroups: boolean;
}

export interface ReviewSpec {
  readonly mode: 'hold' | 'defer';
  readonly timeoutSeconds: number;
  readonly approvers: Approvers;
  /** An approval lets the exact action run this many times... */
  readonly uses: number;
  /** ...within this many seconds of the approval. */
  readonly validForSeconds: number;
}

export interface ShadowVerdict {
  readonly policy: string;
  readonly verdict: Verdict;
  readonly rule?: RuleRef;
  readonly reason: string;
}

declare const decided: unique symbol;

export interface Decision {
  readonly verdict: Verdict;
  /** The rule that made the decision; absent when nothing matched (deny by default). */
  readonly rule?: RuleRef;
  readonly masks: readonly MaskSpec[];
  readonly review?: ReviewSpec;
  /** Human-readable: why this verdict. */
  readonly reason: string;
  /** Set when a check after policy denied what policy allowed (`PCS_MASK_...`): the error the client gets. */
  readonly code?: string | undefined;
  /** What policies in shadow mode would have decided. They never change `verdict` to deny. */
  readonly shadow: readonly ShadowVerdict[];
  /** Brand: only src/policy can produce a Decision. */
  readonly [decided]: true;
}
