// Which masks apply to the rows coming back, worked out when a result begins: from a
// RowDescription (a simple Query's result, a described portal or statement) by the
// statement's lineage and the fields' origins, or, for COPY ... TO STDOUT, by the lineage
// alone. The session routes the rows through what this sets on the result's slot.
import { copyOutputFormat } from '../../sql/postgres/copy-format.ts';
import { readRowDescription, type FieldDescription } from './codec/backend-read.ts';
import type { CatalogRefresher } from './catalog-refresher.ts';
import { createCopyMasker } from './masking/copy-masker.ts';
import { columnMasks, resolveFormats, ResultMasker } from './masking/result.ts';
import type { DescribeTarget, ResultSlot } from './masking/slot.ts';
import { valueMasker, type ValueMasker } from './masking/values.ts';
import type { StatementRecord } from './record.ts';

/**
 * Result descriptions that needed no masking, per statement masking (the lineage of one
 * statement template, under one relation snapshot) or, without one, per plan: the same
 * description of the same statement again needs none either. Bounded per statement.
 */
const IDLE_RESULTS = new WeakMap<object, Set<string>>();
const IDLE_RESULTS_PER_STATEMENT = 8;

/** Told, for every result description the client is sent, which of its columns are masked (indexes). */
export type ResultObserver = (masked: readonly number[]) => void;

export class ResultMasking {
  readonly #catalog: CatalogRefresher;
  readonly #observe: ResultObserver | undefined;

  constructor(catalog: CatalogRefresher, observe?: ResultObserver) {
    this.#catalog = catalog;
    this.#observe = observe;
  }

  /** A simple Query's result set begins: work out its masking once, from the fields. */
  queryResult(slot: ResultSlot, record: StatementRecord | null, frame: Buffer): void {
    // A statement seen before with the same description and nothing to mask: nothing to decode.
    const owner = slot.ctx.stmt ?? slot.ctx.plan;
    const key = `${slot.results}\0${frame.toString('latin1')}`;
    const idle = IDLE_RESULTS.get(owner);
    if (idle?.has(key) === true) {
      slot.results++;
      if (record !== null) this.resultDone(slot, record);
      slot.result = undefined;
      record?.noteMasked([], slot.ctx.stmt?.notes);
      this.#observe?.([]);
      return;
    }
    const fields = readRowDescription(frame);
    this.#setResult(slot, fields, fields.map((f) => f.format), record, slot.results++);
    this.#observe?.(slot.result?.masked.map((m) => m.index) ?? []);
    if (slot.result === undefined) {
      if (idle === undefined) IDLE_RESULTS.set(owner, new Set([key]));
      else if (idle.size < IDLE_RESULTS_PER_STATEMENT) idle.add(key);
    }
  }

  /** Fields of a described portal or statement; true when the answer is the gateway's own (swallowed). */
  described(target: DescribeTarget, frame: Buffer): boolean {
    const fields = readRowDescription(frame);
    if (target.statement) target.statement.fields = fields;
    if (target.portal) this.portalResult(target.portal, fields);
    if (target.portal && !target.internal) this.#observe?.(target.portal.result?.masked.map((m) => m.index) ?? []);
    return target.internal;
  }

  portalResult(slot: ResultSlot, fields: readonly FieldDescription[]): void {
    slot.fields = fields;
    // A portal is one statement: its result is always the first (and only) one.
    this.#setResult(slot, fields, resolveFormats(slot.formats ?? [], fields.length), null, 0);
  }

  #setResult(slot: ResultSlot, fields: readonly FieldDescription[], formats: readonly number[], record: StatementRecord | null, index: number): void {
    const { plan, stmt } = slot.ctx;
    if (record !== null) this.resultDone(slot, record);
    const result = new ResultMasker(plan, fields, columnMasks(stmt, plan, fields, this.#catalog.snapshot, index), formats);
    slot.result = result.idle ? undefined : result;
    record?.noteMasked(result.masked, stmt?.notes);
  }

  /** Counts of the slot's current result into the record (a Query may have several results). */
  resultDone(slot: ResultSlot, record: StatementRecord): void {
    const result = slot.result;
    if (result === undefined) return;
    record.noteMaskedRows(result.rowsChanged);
    result.rowsChanged = 0;
  }

  /** The request of this slot is answered: what its last result masked goes into the record. */
  complete(slot: ResultSlot, record: StatementRecord, execute: boolean): void {
    if (execute && slot.result !== undefined) record.noteMasked(slot.result.masked, slot.ctx.stmt?.notes);
    this.resultDone(slot, record);
  }

  /** COPY ... TO STDOUT: mask its data rows by the statement's lineage (no RowDescription comes). */
  copyStarts(slot: ResultSlot, record: StatementRecord | null, frame: Buffer): void {
    const format = copyOutputFormat(slot.ctx.sql);
    if (format === undefined) return; // refused at decision time when it mattered
    const count = frame.length >= 8 ? frame.readUInt16BE(6) : 0;
    const { plan, stmt } = slot.ctx;
    const outputs = stmt?.results[slot.results++];
    const lined = outputs !== undefined && outputs.length === count;
    const binary = format.kind === 'binary';
    const scanner = plan.scanner;
    const maskers: (ValueMasker | undefined)[] = [];
    for (let i = 0; i < count; i++) {
      const mask = stmt === undefined ? undefined : lined ? outputs[i] : stmt.failClosed;
      // No types in a COPY: a binary value is masked to NULL, text takes the mask as text. Nor
      // origins: nothing shows a value is the protected column itself, so `partial` redacts.
      if (mask !== undefined) maskers.push(valueMasker(plan, { ...mask.rule, with: mask.rule.with === 'partial' ? 'redact' : mask.rule.with }, binary ? -1 : 25, binary ? 1 : 0));
      else maskers.push(scanner === undefined ? undefined : (v) => scanner.scanBytes(v));
    }
    if (maskers.some((m) => m !== undefined)) slot.copy = createCopyMasker(format, maskers);
    if (record !== null && stmt !== undefined) {
      const masked = maskers.flatMap((_, i) => {
        const mask = lined ? outputs[i] : stmt.failClosed;
        return mask === undefined ? [] : [{ index: i, name: `column ${i + 1}`, with: mask.rule.with === 'partial' ? ('redact' as const) : mask.rule.with, rule: mask.rule.source ?? 'mask', why: mask.why }];
      });
      record.noteMasked(masked, stmt.notes);
    }
  }
}
