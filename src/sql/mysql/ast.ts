// Reading sqlparser-rs's MySQL tree (JSON from the WASM module): the relations a statement
// reads and writes, the functions it calls, CTE scopes, and whether a WHERE names a column.
// Untyped on purpose: the tree is walked generically, so that a node type this code does not
// know is still searched for tables and calls.
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The parts of an ObjectName (`[{Identifier:{value}}]`) or of a plain ident list; undefined when a part is not a plain name. */
export function nameParts(v: Json | undefined): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: string[] = [];
  for (const part of v as readonly Json[]) {
    const ident = isObject(part) && isObject(part.Identifier) ? part.Identifier : part;
    if (!isObject(ident) || typeof ident.value !== 'string') return undefined;
    out.push(ident.value);
  }
  return out.length > 0 ? out : undefined;
}

export class TreeWalker {
  readonly relations = new Map<string, 'read' | 'write'>();
  readonly functions = new Set<string>();
  readonly calls: string[][] = [];
  /** alias (or bare table name) -> qualified relation, for DELETE t FROM t AS x targets. */
  readonly aliases = new Map<string, string>();
  /** A part of the tree that could not be read (a name of an unexpected shape). */
  error: string | undefined;
  private readonly scopes: Set<string>[] = [];

  constructor(
    private readonly database: string | undefined,
    /** The server compares database and table names case-insensitively (lower_case_table_names 1 or 2): names are lower-cased. */
    private readonly foldCase = false,
  ) {}

  /** `db.t` for a written name; an unqualified one in the session's database (bare when there is none). */
  qualify(parts: readonly string[]): string | undefined {
    const name = parts.length === 2 ? `${parts[0]}.${parts[1]}` : parts.length !== 1 ? undefined : this.database === undefined ? parts[0] : `${this.database}.${parts[0]}`;
    return this.foldCase ? name?.toLowerCase() : name;
  }

  private isCte(parts: readonly string[]): boolean {
    if (parts.length !== 1) return false;
    for (const s of this.scopes) if (s.has(parts[0] ?? '')) return true;
    return false;
  }

  relation(name: Json | undefined, access: 'read' | 'write', alias?: string): string | undefined {
    const parts = nameParts(name);
    if (parts === undefined) {
      this.error ??= 'a table name of an unexpected shape';
      return undefined;
    }
    if (access === 'read' && (this.isCte(parts) || (parts.length === 1 && parts[0]?.toLowerCase() === 'dual'))) return undefined;
    const q = this.qualify(parts);
    if (q === undefined) {
      this.error ??= `a table name of ${parts.length} parts`;
      return undefined;
    }
    if (this.relations.get(q) !== 'write') this.relations.set(q, access);
    this.aliases.set(alias ?? parts[parts.length - 1] ?? q, q);
    return q;
  }

  walk(node: Json | undefined): void {
    if (Array.isArray(node)) {
      for (const n of node as readonly Json[]) this.walk(n);
      return;
    }
    if (!isObject(node)) return;
    // A query (top level, subquery, derived table, CTE body) and its WITH scope.
    if ('body' in node && 'with' in node) return this.query(node);
    for (const key in node) {
      const value = node[key];
      if (key === 'Table' && isObject(value) && Array.isArray(value.name)) {
        const alias = isObject(value.alias) && isObject(value.alias.name) && typeof value.alias.name.value === 'string' ? value.alias.name.value : undefined;
        this.relation(value.name, 'read', alias);
        this.walk(value.args);
      } else if (key === 'Function' && isObject(value)) {
        const parts = nameParts(value.name);
        if (parts === undefined) this.error ??= 'a function name of an unexpected shape';
        else {
          const lower = parts.map((p) => p.toLowerCase());
          this.functions.add(lower.join('.'));
          this.calls.push(lower);
        }
        for (const k in value) if (k !== 'name') this.walk(value[k]);
      } else this.walk(value);
    }
  }

  /** A query with its WITH list: each CTE is visible to later ones (all of them when RECURSIVE) and to the body. */
  private query(q: JsonObject): void {
    const scope = new Set<string>();
    this.scopes.push(scope);
    try {
      const w = q.with;
      if (isObject(w) && Array.isArray(w.cte_tables)) {
        const recursive = w.recursive === true;
        const names = (w.cte_tables as readonly Json[]).map((c) => (isObject(c) && isObject(c.alias) && isObject(c.alias.name) && typeof c.alias.name.value === 'string' ? c.alias.name.value : ''));
        if (recursive) for (const n of names) scope.add(n);
        (w.cte_tables as readonly Json[]).forEach((c, i) => {
          if (isObject(c)) this.walk(c.query);
          scope.add(names[i] ?? '');
        });
      }
      for (const k in q) if (k !== 'with') this.walk(q[k]);
    } finally {
      this.scopes.pop();
    }
  }
}

/** Does an expression name a column (a user or system variable is no column)? */
export function referencesColumn(v: Json | undefined): boolean {
  if (Array.isArray(v)) return (v as readonly Json[]).some(referencesColumn);
  if (!isObject(v)) return false;
  for (const key in v) {
    const value = v[key];
    if (key === 'Identifier' && isObject(value) && typeof value.value === 'string' && !value.value.startsWith('@')) return true;
    if (key === 'CompoundIdentifier') return true;
    // Function and table names are not columns.
    if (key === 'name' || key === 'relation') continue;
    if (referencesColumn(value)) return true;
  }
  return false;
}
