// What every SQL adapter does to a result column's mask once the server has described the
// column: the lineage mask, strengthened by the column's origin (RowDescription for
// PostgreSQL, org_table/org_name for MySQL) when the origin is masked more strongly, and
// `partial` kept only where the value is the protected column itself.
import type { MaskSpec } from '../core/decision.ts';
import type { MaskPlan } from './plan.ts';
import { MASK_STRENGTH } from './scanner.ts';
import type { SourceColumn } from '../sql/lineage.ts';
import type { ColumnMask } from './statement.ts';

/** What the recording says about a masked column. */
export interface MaskedColumn {
  readonly index: number;
  readonly name: string;
  readonly with: MaskSpec['with'];
  readonly rule: string;
  readonly why: string;
}

/** Where a masked value did not come straight from the protected column, `partial` would keep a piece of something else (the tail of `encode(ssn, 'base64')`): redact instead. */
const REDACT_DERIVED = new WeakMap<MaskSpec, MaskSpec>();
function derivedRule(rule: MaskSpec): MaskSpec {
  if (rule.with !== 'partial') return rule;
  let r = REDACT_DERIVED.get(rule);
  if (r === undefined) REDACT_DERIVED.set(rule, (r = Object.freeze({ ...rule, with: 'redact' as const })));
  return r;
}

/** A column the server names no origin for (an expression): its mask, never `partial`. */
export function derivedMask(mask: ColumnMask | undefined): ColumnMask | undefined {
  return mask === undefined ? undefined : { ...mask, rule: derivedRule(mask.rule) };
}

/**
 * A column whose origin the server names: the origin's own mask wins where it is stronger
 * (adds what lineage missed, never removes a mask), and `partial` keeps the value's shape only
 * for a plain reference to the protected column.
 */
export function maskWithOrigin(plan: MaskPlan, mask: ColumnMask | undefined, origin: SourceColumn): ColumnMask | undefined {
  const rule = plan.columnMask(origin.schema, origin.table, origin.column);
  if (rule !== undefined && (mask === undefined || MASK_STRENGTH[rule.with] > MASK_STRENGTH[mask.rule.with])) {
    mask = { rule, why: `origin ${origin.schema}.${origin.table}.${origin.column}${mask === undefined ? ' (missed by lineage)' : ''}`, source: origin };
  }
  if (mask !== undefined && mask.rule.with === 'partial' && !(mask.source?.schema === origin.schema && mask.source.table === origin.table && mask.source.column === origin.column)) {
    mask = { ...mask, rule: derivedRule(mask.rule) };
  }
  return mask;
}

/** The recording's list of the masked columns of one result set. */
export function maskedColumns(masks: readonly (ColumnMask | undefined)[], name: (index: number) => string | undefined): MaskedColumn[] {
  return masks.flatMap((m, i) => (m === undefined ? [] : [{ index: i, name: name(i) ?? '?', with: m.rule.with, rule: m.rule.source ?? 'mask', why: m.why }]));
}
