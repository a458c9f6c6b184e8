// Where masking state lives while a request is answered: a simple Query's or a portal's
// result (its ResultMasker or CopyMasker, created when the server describes the rows), and
// what a Describe's answer is for.
import type { MaskPlan } from '../../../masking/plan.ts';
import type { FieldDescription } from '../codec/backend-read.ts';
import type { CopyMasker } from './copy-masker.ts';
import type { ResultMasker } from './result.ts';
import type { StatementMasking } from '../../../masking/statement.ts';

/** The masking a decision asked for, as the session keeps it with a statement. */
export interface MaskContext {
  readonly plan: MaskPlan;
  /** Undefined when the plan has detectors only. */
  readonly stmt: StatementMasking | undefined;
  readonly sql: string;
}

export class ResultSlot {
  readonly ctx: MaskContext;
  /** A portal's Bind result formats; undefined for a simple Query (formats come in RowDescription). */
  readonly formats: readonly number[] | undefined;
  /** A portal's fields, once described. */
  fields: readonly FieldDescription[] | undefined = undefined;
  result: ResultMasker | undefined = undefined;
  copy: CopyMasker | undefined = undefined;
  /** Result sets begun so far (RowDescription or CopyOutResponse): which statement's lineage applies. */
  results = 0;

  constructor(ctx: MaskContext, formats?: readonly number[]) {
    this.ctx = ctx;
    this.formats = formats;
  }
}

/** A prepared statement's masking and, once described, its fields. */
export interface StatementShape {
  readonly mask: MaskContext | undefined;
  fields: readonly FieldDescription[] | undefined;
}

export interface DescribeTarget {
  readonly portal?: ResultSlot;
  readonly statement?: StatementShape;
  /** Sent by the gateway to learn a portal's fields: the client never sees the answer. */
  readonly internal: boolean;
}
