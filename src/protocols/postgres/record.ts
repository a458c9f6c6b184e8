// What the recording keeps of a statement: its text, its parameters as text (binary ones
// hex-prefixed, never decoded as text), the decision, and what the server answered.
import type { Decision } from '../../core/decision.ts';
import { ruleLabel as labelOf } from '../../pipeline/review-runner.ts';
import { postgresDialect } from '../../sql/postgres/dialect.ts';
import type { MaskedColumn } from '../../masking/result-columns.ts';
import type { Durability } from '../../pipeline/durability.ts';

/** Longest parameter value kept, in bytes of the value (the recorder truncates again). */
const MAX_PARAM_BYTES = 4096;

/**
 * Bind parameters as the recording shows them: text-format values as strings, binary-format
 * values as `\x` + hex (the form bytea uses), NULL as null. `formats` follows Bind's rule:
 * none means all text, one applies to all, otherwise one per parameter.
 */
export function formatParams(formats: readonly number[], values: readonly (Buffer | null)[]): (string | null)[] {
  const out: (string | null)[] = new Array<string | null>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out[i] = null;
      continue;
    }
    const format = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i];
    const cut = v.length > MAX_PARAM_BYTES ? v.subarray(0, MAX_PARAM_BYTES) : v;
    out[i] = format === 1 ? `\\x${cut.toString('hex')}` : cut.toString('utf8');
  }
  return out;
}

/** What a parameter of a statement carrying a credential reads as in the recording. */
const REDACTED_PARAM = '***';

/**
 * The text and parameters as recorded: a statement carrying a credential (ALTER ROLE ...
 * PASSWORD, CREATE USER MAPPING ... OPTIONS, dblink_connect(...)) without its string
 * literals, and without its parameter values (a conninfo may come as $1). The analysis is the
 * one the session has just made of the same text (cached).
 */
export function recorded(text: string, params: (string | null)[] | null): { text: string; params: (string | null)[] | null } {
  const redacted = postgresDialect.analyze(text).redacted;
  if (redacted === undefined) return { text, params };
  return { text: redacted, params: params === null ? null : params.map((p) => (p === null ? null : REDACTED_PARAM)) };
}

export function ruleLabel(decision: Decision | null): string | null {
  return decision === null ? null : labelOf(decision);
}

/** One statement as it moves from decision to completion; one object shape throughout. */
export class StatementRecord {
  readonly text: string;
  readonly params: (string | null)[] | null;
  /** null: a statement prepared with SQL PREPARE, decided when that PREPARE ran. */
  readonly decision: Decision | null;
  readonly extended: boolean;
  readonly started: number;
  rows: number | null = null;
  tag: string | null = null;
  sqlstate: string | null = null;
  /** The review this statement ran under (approved), or was held for. */
  review: string | null = null;
  /** A held statement that did not run: PCS_REVIEW_DENIED, PCS_REVIEW_EXPIRED, PCS_REVIEW_PENDING... */
  reviewOutcome: string | null = null;
  /**
   * When the statement's answer waits for its decision and this record to be committed to the
   * store (pipeline/durability.ts, docs/audit.md "Durability"): never, where its transaction
   * ends, or at its own answer.
   */
  persist: Durability = 'none';
  /** Which columns were masked and why, and how many rows had a value changed; null when nothing was. */
  masking: { columns: MaskedColumn[]; rows_changed: number; notes: readonly string[] } | null = null;

  constructor(text: string, params: (string | null)[] | null, decision: Decision | null, extended: boolean) {
    const kept = recorded(text, params);
    this.text = kept.text;
    this.params = kept.params;
    this.decision = decision;
    this.extended = extended;
    this.started = performance.now();
  }

  addRows(n: number | null): void {
    if (n !== null) this.rows = (this.rows ?? 0) + n;
  }

  noteMasked(columns: readonly MaskedColumn[], notes: readonly string[] | undefined): void {
    if (columns.length === 0) return;
    this.masking ??= { columns: [], rows_changed: 0, notes: notes ?? [] };
    this.masking.columns.push(...columns);
  }

  noteMaskedRows(rows: number): void {
    if (rows === 0) return;
    this.masking ??= { columns: [], rows_changed: 0, notes: [] };
    this.masking.rows_changed += rows;
  }

  /** The event's kind and data. */
  toEvent(): { kind: 'statement' | 'denied'; data: Record<string, unknown> } {
    return {
      // A reviewed statement that ran (its review approved) is a statement like any other.
      kind: this.decision === null || this.decision.verdict === 'allow' || (this.review !== null && this.reviewOutcome === null) ? 'statement' : 'denied',
      data: {
        text: this.text,
        params: this.params,
        protocol: this.extended ? 'extended' : 'simple',
        verdict: this.decision?.verdict ?? 'allow',
        rule: ruleLabel(this.decision),
        reason: this.decision?.reason ?? 'prepared with SQL PREPARE, decided when the PREPARE ran',
        rows: this.rows,
        tag: this.tag,
        duration_ms: Math.round((performance.now() - this.started) * 1000) / 1000,
        sqlstate: this.sqlstate,
        ...(this.masking !== null ? { masking: this.masking } : {}),
        ...(this.review !== null || this.reviewOutcome !== null ? { review: this.review, ...(this.reviewOutcome !== null ? { review_outcome: this.reviewOutcome } : {}) } : {}),
      },
    };
  }
}
