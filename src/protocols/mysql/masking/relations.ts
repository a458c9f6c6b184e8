// The upstream's relations as masking's lineage needs them (columns in order, which ones are
// views), read with the gateway's own login from information_schema, cached per connection.
// A view's definition is read too (VIEW_DEFINITION, the server's canonical text, names
// qualified), so that lineage follows a view's columns to its base columns; a definition the
// login may not see (empty without SHOW VIEW) leaves the view opaque, which fails closed.
// DDL through a session marks the snapshot stale; the next login re-reads it.
import type { MaskingRelations } from '../../../masking/statement.ts';
import { createRelationCatalog, type CatalogColumnRow } from '../../../sql/relation-catalog.ts';
import { readTextRow } from '../codec/rows.ts';

/** Schemas of the server itself are left out, but `mysql`: the built-in credential masks trace through it. */
export const COLUMNS_QUERY =
  "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'sys')";
export const VIEWS_QUERY = "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'sys')";

export interface RelationSnapshot extends MaskingRelations {
  readonly loadedAt: number;
}

/** The snapshot of the two queries' text rows. */
export function relationSnapshot(columnRows: readonly Buffer[], viewRows: readonly Buffer[], now = Date.now()): RelationSnapshot {
  const columns: CatalogColumnRow[] = [];
  for (const row of columnRows) {
    const [schema, relation, column, position] = readTextRow(row, 4);
    if (schema == null || relation == null || column == null) continue;
    columns.push({ schema, relation, column, position: Number(position ?? 0) });
  }
  const views = viewRows.flatMap((row) => {
    const [schema, relation, definition] = readTextRow(row, 3);
    return schema == null || relation == null ? [] : [{ schema, relation, definition: definition == null || definition === '' ? undefined : definition }];
  });
  return Object.freeze({ catalog: createRelationCatalog(columns, views), loadedAt: now });
}

const TTL_MS = 60_000;

/** Per connection; a stale snapshot still serves until the next login reads a new one. */
export class RelationCache {
  readonly #entries = new Map<string, { snapshot: RelationSnapshot; stale: boolean }>();

  get(connection: string): RelationSnapshot | undefined {
    return this.#entries.get(connection)?.snapshot;
  }

  needsRefresh(connection: string, now = Date.now()): boolean {
    const e = this.#entries.get(connection);
    return e === undefined || e.stale || now - e.snapshot.loadedAt > TTL_MS;
  }

  set(connection: string, snapshot: RelationSnapshot): void {
    this.#entries.set(connection, { snapshot, stale: false });
  }

  /** DDL went through a session: the next login re-reads. */
  invalidate(connection: string): void {
    const e = this.#entries.get(connection);
    if (e) e.stale = true;
  }
}
