// Tests on the JSON body of an HTTP request (`match.http.body`), compiled once per policy set
// into predicates. Paths are a small JSONPath subset, parsed here rather than shared with
// src/masking so that policy matching stays small and its semantics fixed:
//   $          the whole body
//   .name      a member (letters, digits, `_`, `-`, `$`)
//   ['name']   a member by any name (`\'` and `\\` escaped inside; `["name"]` also works)
//   [n]        an array element, n >= 0
//   [*], .*    every element of an array, every member value of an object
// Lookups are strict: `.name` never reads an array (no `.length`) nor an inherited property,
// and `[n]` never reads an object.
import { compileGlob } from '../util/glob.ts';

export type BodyPathStep = { readonly kind: 'member'; readonly name: string } | { readonly kind: 'index'; readonly index: number } | { readonly kind: 'each' };

/** A compiled body test: true when it holds for the request body (undefined: no JSON body). */
export type BodyPredicate = (body: unknown) => boolean;

/** `match.http.body[]` as the schema outputs it. */
export interface BodyTestConfig {
  readonly path: string;
  readonly equals?: unknown;
  readonly in?: readonly unknown[] | undefined;
  readonly matches?: string | undefined;
  readonly gt?: number | undefined;
  readonly gte?: number | undefined;
  readonly lt?: number | undefined;
  readonly lte?: number | undefined;
  readonly exists?: boolean | undefined;
  /** With `[*]`: every selected value must pass, instead of at least one. */
  readonly all?: boolean | undefined;
}

export const BODY_COMPARISONS = ['equals', 'in', 'matches', 'gt', 'gte', 'lt', 'lte', 'exists'] as const;

const NAME_CHAR = /[A-Za-z0-9_$-]/;

/** Parses a body path; throws an Error whose message says what is wrong and where. */
export function parseBodyPath(path: string): readonly BodyPathStep[] {
  if (!path.startsWith('$')) throw new Error(`a body path starts with $, got "${path}"`);
  const steps: BodyPathStep[] = [];
  let i = 1;
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i + 1} of "${path}"`);
  };
  while (i < path.length) {
    const ch = path[i];
    if (ch === '.') {
      i++;
      if (path[i] === '.') fail('recursive descent (..) is not supported');
      if (path[i] === '*') {
        steps.push({ kind: 'each' });
        i++;
        continue;
      }
      const start = i;
      while (i < path.length && NAME_CHAR.test(path[i] as string)) i++;
      if (i === start) fail("expected a member name after . (use ['name'] for other characters)");
      steps.push({ kind: 'member', name: path.slice(start, i) });
    } else if (ch === '[') {
      i++;
      const open = path[i];
      if (open === '*') {
        i++;
        steps.push({ kind: 'each' });
      } else if (open === "'" || open === '"') {
        i++;
        let name = '';
        while (i < path.length && path[i] !== open) {
          if (path[i] === '\\') i++;
          if (i >= path.length) break;
          name += path[i];
          i++;
        }
        if (i >= path.length) fail('unterminated quoted name');
        i++;
        steps.push({ kind: 'member', name });
      } else {
        const digits = /^\d+/.exec(path.slice(i))?.[0];
        if (digits === undefined) fail("expected [n], [*] or ['name']");
        i += (digits as string).length;
        steps.push({ kind: 'index', index: Number(digits) });
      }
      if (path[i] !== ']') fail('expected ]');
      i++;
    } else {
      fail(`unexpected "${ch}"`);
    }
  }
  return Object.freeze(steps);
}

/** What is wrong with one body test, for the schema (empty when nothing is). */
export function bodyTestProblems(test: BodyTestConfig): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  try {
    parseBodyPath(test.path);
  } catch (err) {
    problems.push({ path: 'path', message: (err as Error).message });
  }
  const given = BODY_COMPARISONS.filter((k) => test[k] !== undefined);
  if (given.length === 0) problems.push({ path: '', message: `a body test needs one comparison: ${BODY_COMPARISONS.join(', ')}` });
  if (given.length > 1) problems.push({ path: '', message: `a body test has exactly one comparison, got ${given.join(' and ')} (write one test for each: all must hold)` });
  if (test.all !== undefined && test.exists !== undefined) problems.push({ path: 'all', message: 'all goes with a comparison of values, not with exists' });
  return problems;
}

const NONE = Symbol('none');

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A body as JSON.parse makes it. Anything else (no body, raw bytes, a Map) is "not JSON" and
 * fails every test. Shallow on purpose: this runs per request and adapters only parse JSON.
 */
function isJsonBody(body: unknown): boolean {
  if (body === undefined || typeof body === 'function' || typeof body === 'symbol' || typeof body === 'bigint') return false;
  if (!isObject(body)) return true;
  const proto = Object.getPrototypeOf(body) as unknown;
  return proto === Object.prototype || proto === null;
}

function child(value: unknown, step: BodyPathStep): unknown {
  if (step.kind === 'member') return isObject(value) && Object.hasOwn(value, step.name) ? value[step.name] : NONE;
  if (step.kind === 'index') return Array.isArray(value) && step.index < value.length ? (value[step.index] as unknown) : NONE;
  return NONE;
}

/**
 * Calls `visit` on each value the steps select; stops and returns true as soon as `visit` does,
 * or, with `stopOnMissing`, as soon as a step finds nothing (no member, no element, `[*]` on a
 * scalar).
 */
function walk(value: unknown, steps: readonly BodyPathStep[], from: number, visit: (v: unknown) => boolean, stopOnMissing: boolean): boolean {
  let current = value;
  for (let i = from; i < steps.length; i++) {
    const step = steps[i] as BodyPathStep;
    if (step.kind === 'each') {
      if (!Array.isArray(current) && !isObject(current)) return stopOnMissing;
      for (const c of Array.isArray(current) ? current : Object.values(current)) if (walk(c, steps, i + 1, visit, stopOnMissing)) return true;
      return false;
    }
    current = child(current, step);
    if (current === NONE) return stopOnMissing;
  }
  return visit(current);
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** The comparison of one test as a predicate over one selected value. Types are strict: `gt` is false for "5". */
function compileCheck(test: BodyTestConfig): (value: unknown) => boolean {
  const { equals, matches, gt, gte, lt, lte } = test;
  if (equals !== undefined) return typeof equals === 'object' && equals !== null ? (v) => jsonEqual(v, equals) : (v) => v === equals;
  if (test.in !== undefined) {
    const scalars = new Set(test.in.filter((x) => typeof x !== 'object' || x === null));
    const composites = test.in.filter((x) => typeof x === 'object' && x !== null);
    return (v) => scalars.has(v) || composites.some((c) => jsonEqual(v, c));
  }
  if (matches !== undefined) {
    const glob = compileGlob(matches);
    return (v) => typeof v === 'string' && glob(v);
  }
  if (gt !== undefined) return (v) => typeof v === 'number' && v > gt;
  if (gte !== undefined) return (v) => typeof v === 'number' && v >= gte;
  if (lt !== undefined) return (v) => typeof v === 'number' && v < lt;
  if (lte !== undefined) return (v) => typeof v === 'number' && v <= lte;
  throw new Error('a body test needs one comparison'); // the schema guarantees one
}

const selected = (): boolean => true;

/**
 * Compiles a validated test. Quantifiers, for paths with `[*]`: by default the test holds when
 * at least one selected value passes; with `all: true`, when every element `[*]` reaches has
 * a passing value (an item without `price` fails `$.items[*].price`, as it would a reader of
 * "every price is under 100"). Either way at least one value must be selected, so a missing
 * path or an empty array passes neither: an allow rule never matches by vacuous truth.
 * `exists` asks whether anything is selected.
 */
export function compileBodyTest(test: BodyTestConfig): BodyPredicate {
  const steps = parseBodyPath(test.path);
  if (test.exists !== undefined) {
    const want = test.exists;
    return (body) => isJsonBody(body) && walk(body, steps, 0, selected, false) === want;
  }
  const check = compileCheck(test);
  if (test.all !== true) return (body) => isJsonBody(body) && walk(body, steps, 0, check, false);
  return (body) => {
    if (!isJsonBody(body)) return false;
    let seen = false;
    const failed = walk(
      body,
      steps,
      0,
      (v) => {
        seen = true;
        return !check(v);
      },
      true,
    );
    return seen && !failed;
  };
}
