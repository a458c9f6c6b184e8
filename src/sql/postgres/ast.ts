// Helpers over the JSON AST of libpg-query. The AST is walked as plain JSON (unknown, narrowed
// here) rather than through @pgsql/types: a generic walk must reach every nested node, typed
// or not, so that nothing (a subquery in a default, a CTE in a function argument) is missed.
//
// Shape reminders (libpg-query 18): a node is `{ TypeName: { ...fields } }`, but fields whose
// type is fixed by the grammar hold the bare body: `InsertStmt.relation` is a RangeVar without
// its `{ RangeVar: ... }` wrapper, `SelectStmt.larg` a bare SelectStmt, `CallStmt.funccall` a
// bare FuncCall. Locations are byte offsets into the UTF-8 text; 0 and defaults are omitted.

export type JsonObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ SelectStmt: {...} }` -> ['SelectStmt', {...}]; anything else -> undefined. */
export function unwrap(node: unknown): readonly [string, JsonObject] | undefined {
  if (!isObject(node)) return undefined;
  let found: readonly [string, JsonObject] | undefined;
  for (const key in node) {
    const body = node[key];
    // Node type names start with an upper-case letter; field names never do.
    if (found !== undefined || !/^[A-Z]/.test(key) || !isObject(body)) return undefined;
    found = [key, body];
  }
  return found;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A list of `{ String: { sval } }` nodes (qualified names) -> their values. */
export function names(list: unknown): string[] {
  const out: string[] = [];
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    const node = unwrap(item);
    if (node !== undefined && node[0] === 'String') out.push(str(node[1].sval) ?? '');
  }
  return out;
}
