// What a configuration problem says: the field at fault and what it allows. zod's issues name
// the path but not always the choices (an unknown key does not say which keys exist; a wrong
// discriminator of a nested union once read as the connection's own `type`), so the schema is
// walked along the issue's path, through the input, to the part that refused it.
import type { z } from 'zod';

type Schema = z.core.$ZodType;
interface Def {
  readonly type: string;
  readonly shape?: Readonly<Record<string, Schema>>;
  readonly innerType?: Schema;
  readonly element?: Schema;
  readonly valueType?: Schema;
  readonly in?: Schema;
  readonly options?: readonly Schema[];
  readonly discriminator?: string;
  readonly values?: readonly unknown[];
  readonly left?: Schema;
  readonly right?: Schema;
  readonly getter?: () => Schema;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional', 'success']);

function def(schema: Schema): Def {
  return schema._zod.def as unknown as Def;
}

/** Past optional/default/pipe/lazy wrappers to the schema that reads the value. */
function unwrap(schema: Schema): Schema {
  for (let i = 0; i < 32; i++) {
    const d = def(schema);
    if (WRAPPERS.has(d.type) && d.innerType) schema = d.innerType;
    else if (d.type === 'pipe' && d.in) schema = d.in;
    else if (d.type === 'lazy' && d.getter) schema = d.getter();
    else break;
  }
  return schema;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The literal values a discriminator key takes in one option of a union. */
function literals(option: Schema, key: string): readonly unknown[] {
  const field = def(unwrap(option)).shape?.[key];
  if (field === undefined) return [];
  const d = def(unwrap(field));
  return d.type === 'literal' || d.type === 'enum' ? (d.values ?? Object.values((d as { entries?: Record<string, unknown> }).entries ?? {})) : [];
}

/** The options of a union that could have read `value`: by discriminator, else those of objects. */
function candidates(schema: Schema, value: unknown): Schema[] {
  const d = def(schema);
  if (d.type === 'intersection' && d.left && d.right) return [d.left, d.right];
  if (d.type !== 'union' || !d.options) return [schema];
  const key = d.discriminator;
  if (key !== undefined && isRecord(value)) {
    const chosen = d.options.filter((o) => literals(o, key).includes(value[key]));
    if (chosen.length > 0) return chosen;
  }
  return [...d.options];
}

/** The object schemas that read the value at `path` (several when a union leaves it open). */
export function objectsAt(root: Schema, path: readonly PropertyKey[], input: unknown): Schema[] {
  let frontier: { schema: Schema; value: unknown }[] = [{ schema: root, value: input }];
  for (const step of path) {
    const next: { schema: Schema; value: unknown }[] = [];
    for (const { schema, value } of frontier) {
      for (const s of candidates(unwrap(schema), value).map(unwrap)) {
        const d = def(s);
        const child = isRecord(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[step] : undefined;
        if (d.type === 'object' && typeof step === 'string' && d.shape?.[step]) next.push({ schema: d.shape[step], value: child });
        else if (d.type === 'array' && typeof step === 'number' && d.element) next.push({ schema: d.element, value: child });
        else if (d.type === 'record' && d.valueType) next.push({ schema: d.valueType, value: child });
      }
    }
    frontier = next;
    if (frontier.length === 0) return [];
  }
  const out: Schema[] = [];
  for (const { schema, value } of frontier) for (const s of candidates(unwrap(schema), value).map(unwrap)) if (def(s).type === 'object') out.push(s);
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const step of path) v = isRecord(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[step] : undefined;
  return v;
}

function keysOf(objects: readonly Schema[]): string[] {
  return [...new Set(objects.flatMap((o) => Object.keys(def(o).shape ?? {})))];
}

/** One line per problem: what is wrong with the field at the issue's path, and what it allows. */
export function describeIssue(issue: z.core.$ZodIssue, root: Schema, input: unknown): string {
  switch (issue.code) {
    case 'invalid_value':
      return `expected ${issue.values.map((v) => String(v)).join(' | ')}`;
    case 'unrecognized_keys': {
      const allowed = keysOf(objectsAt(root, issue.path, input)).filter((k) => !issue.keys.includes(k));
      const unknown = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
      return allowed.length > 0 ? `${unknown} (allowed here: ${allowed.join(', ')})` : unknown;
    }
    case 'invalid_type': {
      // zod does not report the input: it is read from the file's value at the path.
      const value = valueAt(input, issue.path);
      return `expected ${issue.expected}${value === undefined ? ' (missing)' : `, got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`}`;
    }
    case 'invalid_union': {
      // A discriminated union with a bad or missing discriminator: zod lists the values it knows.
      const found = issue as { note?: string; options?: readonly unknown[] };
      if (found.note === 'No matching discriminator' && found.options !== undefined) {
        return `expected ${found.options.map((v) => String(v)).join(' | ')}${valueAt(input, issue.path) === undefined ? ' (missing)' : ''}`;
      }
      return issue.message;
    }
    default:
      return issue.message;
  }
}
