// Masking of a result set's rows: which column each mask applies to, worked out once from the
// statement's lineage and the column definitions (org_table/org_name are the safety net, as
// RowDescription is for PostgreSQL), then applied per row. Text rows are length-encoded
// strings; binary rows keep a value valid for its column type: a masked string stays a
// string, a masked number or date becomes NULL (it cannot hold the mask's text).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html
import type { MaskSpec } from '../../../core/decision.ts';
import type { MaskPlan } from '../../../masking/plan.ts';
import { MASK_STRENGTH } from '../../../masking/scanner.ts';
import { derivedMask, maskedColumns, maskWithOrigin, type MaskedColumn } from '../../../masking/result-columns.ts';
import type { ColumnMask, StatementMasking } from '../../../masking/statement.ts';
import type { ColumnDefinition } from '../codec/columns.ts';
import { ColumnType } from '../codec/constants.ts';
import { MalformedPacket, PayloadReader, PayloadWriter } from '../codec/wire.ts';

/** What a statement's results are masked with, from its decision. */
export interface MaskContext {
  readonly plan: MaskPlan;
  /** Undefined: only content detectors apply. */
  readonly stmt: StatementMasking | undefined;
}

/** Types whose binary value is a length-encoded string: a mask's text fits them. */
const STRING_TYPES = new Set<number>([ColumnType.VARCHAR, ColumnType.VAR_STRING, ColumnType.STRING, ColumnType.TINY_BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB, ColumnType.BLOB, ColumnType.JSON, ColumnType.ENUM, ColumnType.SET]);
/** Length-encoded in binary rows but not text the client would take as a mask: NULL when masked. */
const LENENC_TYPES = new Set<number>([...STRING_TYPES, ColumnType.DECIMAL, ColumnType.NEWDECIMAL, ColumnType.BIT, ColumnType.GEOMETRY]);
const FIXED_LENGTH: Partial<Record<number, number>> = {
  [ColumnType.TINY]: 1,
  [ColumnType.SHORT]: 2,
  [ColumnType.YEAR]: 2,
  [ColumnType.LONG]: 4,
  [ColumnType.INT24]: 4,
  [ColumnType.FLOAT]: 4,
  [ColumnType.LONGLONG]: 8,
  [ColumnType.DOUBLE]: 8,
  [ColumnType.NULL]: 0,
};

/**
 * The mask of each column. Lineage that does not line up with the columns the server sends
 * masks every column (failClosed); a column definition's origin adds masks lineage missed,
 * never removes one. A computed column of a view (MariaDB's mysql.user over global_priv)
 * names its table but no schema: it is checked in every schema it may be in (the other
 * columns', the session's database, `mysql`), the strongest mask winning.
 */
export function columnMasks(ctx: MaskContext, columns: readonly ColumnDefinition[], resultIndex: number, database: string | undefined): (ColumnMask | undefined)[] {
  const { plan, stmt } = ctx;
  const out = new Array<ColumnMask | undefined>(columns.length).fill(undefined);
  if (stmt === undefined || !plan.hasColumnRules) return out;
  const outputs = stmt.results[resultIndex];
  const lined = outputs !== undefined && outputs.length === columns.length;
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i] as ColumnDefinition;
    const mask = lined ? outputs[i] : stmt.failClosed;
    if (c.orgTable !== '' && c.orgName !== '') {
      const schema = c.schema !== '' ? c.schema : strongestSchema(plan, c, columns, database);
      out[i] = maskWithOrigin(plan, mask, { schema, table: c.orgTable, column: c.orgName });
      continue;
    }
    out[i] = derivedMask(mask);
  }
  return out;
}

/** The schema (of those a schemaless column may be in) whose mask on it is strongest; the first when none masks it. */
function strongestSchema(plan: MaskPlan, c: ColumnDefinition, columns: readonly ColumnDefinition[], database: string | undefined): string {
  const candidates = new Set<string>();
  for (const o of columns) if (o.schema !== '' && o.orgTable === c.orgTable) candidates.add(o.schema);
  if (database !== undefined) candidates.add(database);
  candidates.add('mysql');
  let best: string | undefined;
  let bestRule: MaskSpec | undefined;
  for (const schema of candidates) {
    const rule = plan.columnMask(schema, c.orgTable, c.orgName);
    if (rule !== undefined && (bestRule === undefined || MASK_STRENGTH[rule.with] > MASK_STRENGTH[bestRule.with])) {
      best = schema;
      bestRule = rule;
    }
  }
  return best ?? [...candidates][0] ?? '';
}

type Masker = (value: Buffer) => Buffer | null;

/** Rewrites the rows of one result set; `idle` when no row needs reading. */
export class RowMasker {
  readonly #plan: MaskPlan;
  readonly #maskers: (Masker | undefined)[];
  readonly #scan: boolean[];
  readonly #types: number[];
  readonly idle: boolean;
  readonly masked: readonly MaskedColumn[];
  rowsChanged = 0;

  constructor(ctx: MaskContext, columns: readonly ColumnDefinition[], masks: readonly (ColumnMask | undefined)[], binary: boolean) {
    const plan = ctx.plan;
    this.#plan = plan;
    this.#types = columns.map((c) => c.type);
    this.#maskers = masks.map((m, i) => {
      if (m === undefined) return undefined;
      const rule = m.rule;
      if (rule.with === 'null' || (binary && !STRING_TYPES.has(columns[i]?.type ?? -1))) return () => null;
      if (rule.with === 'redact') {
        const constant = plan.maskBytes(rule, Buffer.alloc(0));
        return () => constant;
      }
      return (v: Buffer) => plan.maskBytes(rule, v);
    });
    this.#scan = columns.map((c, i) => plan.scanner !== undefined && masks[i] === undefined && (!binary || STRING_TYPES.has(c.type)));
    this.masked = maskedColumns(masks, (i) => columns[i]?.name);
    this.idle = this.masked.length === 0 && !this.#scan.some(Boolean);
  }

  #value(i: number, v: Buffer): Buffer | null {
    const m = this.#maskers[i];
    if (m !== undefined) return m(v);
    if (this.#scan[i] === true) return (this.#plan.scanner as NonNullable<MaskPlan['scanner']>).scanBytes(v);
    return v;
  }

  /** A text row's payload, masked; the same buffer when nothing changed. */
  textRow(payload: Buffer): Buffer {
    const r = new PayloadReader(payload);
    const values: (Buffer | null)[] = [];
    let changed = false;
    for (let i = 0; r.remaining > 0; i++) {
      const len = r.lenenc();
      if (len === null) {
        values.push(null);
        continue;
      }
      const v = r.bytes(len);
      const next = i < this.#maskers.length ? this.#value(i, v) : this.#maskers.find((m) => m !== undefined)?.(v) ?? v;
      if (next !== v) changed = true;
      values.push(next);
    }
    if (!changed) return payload;
    this.rowsChanged++;
    const w = new PayloadWriter(payload.length + 16);
    for (const v of values) {
      if (v === null) w.u8(0xfb);
      else w.lenencBytes(v);
    }
    return w.finish();
  }

  /** A binary row's payload (0x00, NULL bitmap with an offset of 2, values), masked; the same buffer when nothing changed. */
  binaryRow(payload: Buffer): Buffer {
    const n = this.#types.length;
    const bitmapLen = (n + 7 + 2) >> 3;
    if (payload.length < 1 + bitmapLen || payload[0] !== 0x00) throw new MalformedPacket('not a binary row');
    const bitmap = Buffer.from(payload.subarray(1, 1 + bitmapLen));
    const r = new PayloadReader(payload, 1 + bitmapLen);
    const parts: Buffer[] = [];
    let changed = false;
    for (let i = 0; i < n; i++) {
      const bit = i + 2;
      if (bitmap[bit >> 3]! & (1 << (bit & 7))) continue;
      const type = this.#types[i]!;
      const start = r.pos;
      let value: Buffer | undefined;
      if (LENENC_TYPES.has(type)) value = r.lenencBytes();
      else if (FIXED_LENGTH[type] !== undefined) r.skip(FIXED_LENGTH[type]);
      else r.skip(r.u8()); // DATE, DATETIME, TIMESTAMP, TIME: a length byte, then that many
      const whole = payload.subarray(start, r.pos);
      if (this.#maskers[i] === undefined && this.#scan[i] !== true) {
        parts.push(whole);
        continue;
      }
      const next = this.#value(i, value ?? whole);
      if (next === (value ?? whole)) {
        parts.push(whole);
        continue;
      }
      changed = true;
      if (next === null) bitmap[bit >> 3]! |= 1 << (bit & 7);
      else parts.push(new PayloadWriter(next.length + 4).lenencBytes(next).finish());
    }
    if (!changed) return payload;
    this.rowsChanged++;
    return Buffer.concat([payload.subarray(0, 1), bitmap, ...parts]);
  }
}
