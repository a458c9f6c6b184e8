// One result set's masking: from the statement's lineage masks, the server's RowDescription
// (types, formats, and the origin of plain column references) and the plan's detectors, a
// per-column decision made once; then each DataRow is rewritten only where a value changes.
// A result set with nothing to mask is never looked at row by row.
import type { MaskPlan } from '../../../masking/plan.ts';
import { derivedMask, maskedColumns, maskWithOrigin, type MaskedColumn } from '../../../masking/result-columns.ts';
import type { FieldDescription } from '../codec/backend-read.ts';
import type { RelationSnapshot } from './relations.ts';
import type { ColumnMask, StatementMasking } from '../../../masking/statement.ts';
import { scannable, valueMasker, type ValueMasker } from './values.ts';

/**
 * The mask of each field. `stmt` undefined: only detectors apply. Lineage that does not line
 * up with the fields the server sends (a star over an unknown relation, EXECUTE) masks every
 * field; the RowDescription origin adds masks lineage missed, never removes one.
 */
export function columnMasks(stmt: StatementMasking | undefined, plan: MaskPlan, fields: readonly FieldDescription[], snapshot: RelationSnapshot | undefined, resultIndex = 0): (ColumnMask | undefined)[] {
  const out: (ColumnMask | undefined)[] = new Array<ColumnMask | undefined>(fields.length).fill(undefined);
  if (stmt === undefined || !plan.hasColumnRules) return out;
  const outputs = stmt.results[resultIndex];
  const lined = outputs !== undefined && outputs.length === fields.length;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as FieldDescription;
    let mask = lined ? outputs[i] : stmt.failClosed;
    if (field.tableOid !== 0) {
      const info = snapshot?.byOid.get(field.tableOid);
      const column = info?.columns.get(field.column);
      if (info === undefined || column === undefined) {
        if (stmt.failClosed !== undefined) mask ??= { rule: stmt.failClosed.rule, why: `origin: relation ${field.tableOid} is not in the catalog` };
      } else if (!info.view) {
        out[i] = maskWithOrigin(plan, mask, { schema: info.schema, table: info.relation, column });
        continue;
      }
    }
    out[i] = derivedMask(mask);
  }
  return out;
}

export class ResultMasker {
  readonly #maskers: (ValueMasker | undefined)[];
  readonly #scan: boolean[];
  readonly #plan: MaskPlan;
  /** For fields beyond the description (a row longer than its RowDescription): fail closed. */
  readonly #extra: ValueMasker | undefined;
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  readonly #values: (Buffer | null)[] = [];
  /** Nothing to do per row: the session relays DataRows untouched. */
  readonly idle: boolean;
  readonly masked: readonly MaskedColumn[];
  rowsChanged = 0;

  /** `formats`: per field, 0 text or 1 binary (the Bind's formats resolved against the fields). */
  constructor(plan: MaskPlan, fields: readonly FieldDescription[], masks: readonly (ColumnMask | undefined)[], formats: readonly number[]) {
    this.#plan = plan;
    const scanner = plan.scanner;
    this.#maskers = masks.map((m, i) => (m === undefined ? undefined : valueMasker(plan, m.rule, fields[i]?.typeOid ?? 0, formats[i] ?? 0)));
    this.#scan = fields.map((f, i) => scanner !== undefined && masks[i] === undefined && scannable(f.typeOid, formats[i] ?? 0));
    this.masked = maskedColumns(masks, (i) => fields[i]?.name);
    this.idle = this.masked.length === 0 && !this.#scan.some(Boolean);
    this.#extra = this.#maskers.find((m) => m !== undefined);
  }

  /** The DataRow to send: the same frame when no value changed. */
  row(frame: Buffer): Buffer {
    const count = frame.readUInt16BE(5);
    let at = 7;
    // Only the fields that change are sliced and remembered (in scratch arrays reused from row
    // to row: rows are handled one at a time); the rest are copied in runs.
    const starts = this.#starts;
    const ends = this.#ends;
    const values = this.#values;
    let changes = 0;
    let growth = 0;
    for (let i = 0; i < count; i++) {
      const start = at;
      const len = frame.readInt32BE(at);
      at += 4;
      if (len > 0) at += len;
      if (len < 0) continue;
      const masker = i < this.#maskers.length ? this.#maskers[i] : this.#extra;
      if (masker === undefined && this.#scan[i] !== true) continue;
      const value = frame.subarray(start + 4, at);
      const next = masker !== undefined ? masker(value) : (this.#plan.scanner as NonNullable<MaskPlan['scanner']>).scanBytes(value);
      if (next === value) continue;
      starts[changes] = start;
      ends[changes] = at;
      values[changes] = next;
      changes++;
      growth += (next === null ? 0 : next.length) - len;
    }
    if (changes === 0) return frame;
    this.rowsChanged++;
    const out = Buffer.allocUnsafe(frame.length + growth);
    let w = frame.copy(out, 0, 0, 7);
    let from = 7;
    for (let c = 0; c < changes; c++) {
      w += frame.copy(out, w, from, starts[c] as number);
      const value = values[c] as Buffer | null;
      values[c] = null; // do not keep the value alive until the next row
      if (value === null) w = out.writeInt32BE(-1, w);
      else {
        w = out.writeInt32BE(value.length, w);
        w += value.copy(out, w);
      }
      from = ends[c] as number;
    }
    w += frame.copy(out, w, from, frame.length);
    out.writeInt32BE(w - 1, 1);
    return out;
  }
}

/** Formats per field from a Bind's result formats (none: all text; one: all alike). */
export function resolveFormats(resultFormats: readonly number[], count: number): number[] {
  if (resultFormats.length === 0) return new Array<number>(count).fill(0);
  if (resultFormats.length === 1) return new Array<number>(count).fill(resultFormats[0] ?? 0);
  return Array.from({ length: count }, (_, i) => resultFormats[i] ?? 0);
}
