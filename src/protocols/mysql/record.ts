// What the recording keeps of a statement: its text (without the literals of one that carries
// a credential), its parameters as the recording shows them, the decision, and what the
// server answered: the same event shape as the PostgreSQL timeline.
import type { SqlAction } from '../../core/action.ts';
import type { Decision } from '../../core/decision.ts';
import { ruleLabel } from '../../pipeline/review-runner.ts';
import type { ErrPacket } from './codec/responses.ts';
import type { MaskedColumn } from '../../masking/result-columns.ts';
import { changesSomething } from '../../pipeline/durability.ts';

/** One statement from decision to completion; one object shape throughout. */
export class StatementRecord {
  readonly text: string;
  readonly decision: Decision | null;
  /** `simple` for COM_QUERY, `extended` for prepared statements (the timeline's vocabulary). */
  readonly protocol: 'simple' | 'extended';
  /** A prepared statement's execute: its parameter values as text. */
  readonly params: (string | null)[] | null;
  readonly started: number;
  /** Its answer waits for its records (pipeline/durability.ts): anything but a plain read, and what was not analysed here. */
  readonly persist: boolean;
  rows: number | null = null;
  affected: number | null = null;
  error: ErrPacket | null = null;
  review: string | null = null;
  reviewOutcome: string | null = null;
  /** Which columns were masked and why, and how many rows had a value changed; null when nothing was. */
  masking: { columns: MaskedColumn[]; rows_changed: number } | null = null;

  constructor(action: SqlAction | string, decision: Decision | null, protocol: 'simple' | 'extended', params: (string | null)[] | null = null) {
    this.text = typeof action === 'string' ? action : (action.redacted ?? action.text);
    // A statement carrying a credential keeps none of its values.
    this.params = params === null ? null : typeof action !== 'string' && action.redacted !== undefined ? params.map((v) => (v === null ? null : '***')) : params;
    this.decision = decision;
    this.protocol = protocol;
    this.started = performance.now();
    this.persist = typeof action === 'string' || changesSomething(action);
  }

  toEvent(): { kind: 'statement' | 'denied'; data: Record<string, unknown> } {
    const ran = this.decision === null || this.decision.verdict === 'allow' || (this.review !== null && this.reviewOutcome === null);
    return {
      kind: ran ? 'statement' : 'denied',
      data: {
        text: this.text,
        params: this.params,
        protocol: this.protocol,
        verdict: this.decision?.verdict ?? 'allow',
        rule: this.decision === null ? null : ruleLabel(this.decision),
        reason: this.decision?.reason ?? 'prepared statement, decided when it was prepared',
        rows: this.rows,
        tag: this.affected !== null ? `affected ${this.affected}` : null,
        duration_ms: Math.round((performance.now() - this.started) * 1000) / 1000,
        sqlstate: this.error?.sqlState ?? null,
        ...(this.error !== null ? { errno: this.error.errno } : {}),
        ...(this.masking !== null ? { masking: this.masking } : {}),
        ...(this.review !== null || this.reviewOutcome !== null ? { review: this.review, ...(this.reviewOutcome !== null ? { review_outcome: this.reviewOutcome } : {}) } : {}),
      },
    };
  }
}
