// The relations lineage needs to know: columns in order (for `*`, whole-row references and
// views' column names) and views' definitions (to follow data through them). Built from the
// upstream's catalog by the adapter (introspected with the gateway's own credential).

export interface RelationCatalog {
  /** Columns of a table or view in order, or undefined if unknown. */
  columns(schema: string, relation: string): readonly string[] | undefined;
  /** The SQL of a view's definition (pg_get_viewdef), for expansion; undefined for tables. */
  viewDefinition?(schema: string, relation: string): string | undefined;
  /**
   * True for a view (or materialised view) whatever its definition. A view without a
   * definition has opaque columns: its data may come from anywhere. Without this method a
   * relation without a definition is taken as a plain table.
   */
  isView?(schema: string, relation: string): boolean;
  /**
   * The search_path the view definitions were printed under (pg_get_viewdef qualifies only
   * names that path does not show); `public` when absent.
   */
  readonly viewSearchPath?: readonly string[];
}

export interface CatalogColumnRow {
  readonly schema: string;
  readonly relation: string;
  readonly column: string;
  /** attnum: rows may arrive in any order. */
  readonly position: number;
}

export interface CatalogViewRow {
  readonly schema: string;
  readonly relation: string;
  /** Undefined: a view whose definition could not be read (its columns become opaque). */
  readonly definition: string | undefined;
}

// NUL cannot occur in identifiers: a safe separator for keys.
const key = (schema: string, relation: string): string => `${schema}\0${relation}`;

export function createRelationCatalog(rows: Iterable<CatalogColumnRow>, views?: Iterable<CatalogViewRow>, opts?: { readonly viewSearchPath?: readonly string[] }): RelationCatalog {
  const byRelation = new Map<string, { column: string; position: number }[]>();
  for (const row of rows) {
    const k = key(row.schema, row.relation);
    let list = byRelation.get(k);
    if (list === undefined) byRelation.set(k, (list = []));
    list.push({ column: row.column, position: row.position });
  }
  const columns = new Map<string, readonly string[]>();
  for (const [k, list] of byRelation) columns.set(k, Object.freeze(list.sort((a, b) => a.position - b.position).map((c) => c.column)));
  const definitions = new Map<string, string | undefined>();
  for (const v of views ?? []) definitions.set(key(v.schema, v.relation), v.definition);
  return Object.freeze({
    columns: (schema: string, relation: string) => columns.get(key(schema, relation)),
    viewDefinition: (schema: string, relation: string) => definitions.get(key(schema, relation)),
    isView: (schema: string, relation: string) => definitions.has(key(schema, relation)),
    ...(opts?.viewSearchPath !== undefined && opts.viewSearchPath.length > 0 ? { viewSearchPath: Object.freeze([...opts.viewSearchPath]) } : {}),
  });
}
