// Mask plans: a decision's masks compiled once into what the data path asks per result set
// ("is this output column masked, and how?") and per value (the content scanner). Decisions
// reuse one frozen masks array per policy, so plans are cached by the array's identity and
// the per-request cost is one WeakMap lookup.
import type { MaskSpec } from '../core/decision.ts';
import { compileDottedGlob, type Matcher } from '../util/glob.ts';
import { applyMask, applyMaskBytes, createHasher, type Hasher } from './maskers.ts';
import { createContentScanner, MASK_STRENGTH, type ContentScanner } from './scanner.ts';
import type { MaskRule } from './types.ts';

export interface MaskPlan {
  readonly rules: readonly MaskRule[];
  /** No column or detector rule (json rules apply to JSON bodies only): rows pass through untouched. */
  readonly empty: boolean;
  readonly hasColumnRules: boolean;
  /**
   * A column rule written in a policy: output whose origin cannot be traced is masked (fail
   * closed). Built-in credential masks alone fail closed only where a statement reaches their
   * relations (masking/statement.ts).
   */
  readonly hasConfiguredColumnRules: boolean;
  /** `schema.table` of each built-in credential mask's column. */
  readonly credentialRelations: readonly { readonly schema: string; readonly table: string }[];
  /** Undefined when no rule names a detector: no value needs scanning. */
  readonly scanner: ContentScanner | undefined;
  /**
   * The rule masking `schema.table.column`, or undefined. When several column rules match,
   * the strongest function wins (null > redact > hash > partial) and `denyInPredicates` is
   * true if any of them says so: masks of several policies all apply, so fail closed.
   */
  columnMask(schema: string, table: string, column: string): MaskSpec | undefined;
  /** A column value masked by a rule's function (null: SQL NULL). */
  maskValue(rule: MaskSpec, value: string): string | null;
  maskBytes(rule: MaskSpec, value: Buffer): Buffer | null;
}

interface ColumnRule {
  readonly rule: MaskRule;
  readonly matches: Matcher;
}

/** Results per column name; a catalog has few distinct columns, but stay bounded anyway. */
const MAX_COLUMN_CACHE = 4096;

/**
 * Column globs are dotted: `*` never crosses a dot. A glob of fewer than three parts names
 * the trailing parts (`customers.email` is `*.customers.email`, `ssn` is `*.*.ssn`).
 */
export function compileColumnGlob(glob: string): Matcher {
  const parts = glob.split('.').length;
  return compileDottedGlob(parts >= 3 ? glob : `${'*.'.repeat(3 - parts)}${glob}`);
}

function strongest(matching: readonly MaskRule[]): MaskSpec | undefined {
  if (matching.length <= 1) return matching[0];
  let best = matching[0] as MaskRule;
  for (const r of matching) if (MASK_STRENGTH[r.with] > MASK_STRENGTH[best.with]) best = r;
  const deny = matching.some((r) => r.denyInPredicates === true);
  return deny === (best.denyInPredicates === true) ? best : Object.freeze({ ...best, denyInPredicates: deny });
}

class CompiledPlan implements MaskPlan {
  readonly rules: readonly MaskRule[];
  readonly empty: boolean;
  readonly hasColumnRules: boolean;
  readonly hasConfiguredColumnRules: boolean;
  readonly credentialRelations: readonly { readonly schema: string; readonly table: string }[];
  readonly scanner: ContentScanner | undefined;
  readonly #columns: readonly ColumnRule[];
  readonly #cache = new Map<string, MaskSpec | null>();
  readonly #hasher: Hasher;

  constructor(rules: readonly MaskRule[], hasher: Hasher) {
    this.rules = rules;
    this.#hasher = hasher;
    this.#columns = rules.filter((r) => r.column !== undefined).map((rule) => ({ rule, matches: compileColumnGlob(rule.column as string) }));
    this.hasColumnRules = this.#columns.length > 0;
    this.hasConfiguredColumnRules = this.#columns.some((c) => c.rule.builtin !== true);
    const relations = new Map<string, { schema: string; table: string }>();
    for (const { rule } of this.#columns) {
      if (rule.builtin !== true) continue;
      // Built-in columns are always `schema.table.column`, without wildcards.
      const [schema = '', table = ''] = (rule.column as string).split('.');
      relations.set(`${schema}.${table}`, Object.freeze({ schema, table }));
    }
    this.credentialRelations = Object.freeze([...relations.values()]);
    this.scanner = createContentScanner(rules, hasher);
    this.empty = !this.hasColumnRules && this.scanner === undefined;
  }

  columnMask(schema: string, table: string, column: string): MaskSpec | undefined {
    if (!this.hasColumnRules) return undefined;
    const name = `${schema}.${table}.${column}`;
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached ?? undefined;
    const found = strongest(this.#columns.filter((c) => c.matches(name)).map((c) => c.rule));
    if (this.#cache.size >= MAX_COLUMN_CACHE) this.#cache.clear();
    this.#cache.set(name, found ?? null);
    return found;
  }

  maskValue(rule: MaskSpec, value: string): string | null {
    return applyMask(rule.with, value, this.#hasher);
  }

  maskBytes(rule: MaskSpec, value: Buffer): Buffer | null {
    return applyMaskBytes(rule.with, value, this.#hasher);
  }
}

/**
 * Builds and caches plans for one deployment's hash key. One planner per gateway process;
 * `plan()` is cheap for a masks array it has seen (a WeakMap hit), so call it per request.
 */
export class MaskPlanner {
  readonly #hasher: Hasher;
  readonly #plans = new WeakMap<readonly MaskRule[], MaskPlan>();

  /** `hashKey`: see hash-key.ts (configured, or derived from the vault master key). */
  constructor(hashKey: Uint8Array) {
    this.#hasher = createHasher(hashKey);
  }

  /** Throws on an unknown detector or a rejected custom pattern (the schema prevents both). */
  plan(masks: readonly MaskRule[]): MaskPlan {
    let plan = this.#plans.get(masks);
    if (plan === undefined) {
      plan = new CompiledPlan(masks, this.#hasher);
      this.#plans.set(masks, plan);
    }
    return plan;
  }
}
