// The upstream's relations as masking needs them: columns in order (for `*` and whole-row
// references), views' definitions (to follow data through them), and relations by OID (to
// name the origin a RowDescription reports). Read with the gateway's own credential, shared
// by the sessions of a connection, refreshed after a TTL and by a session after its DDL.
import { createRelationCatalog, type RelationCatalog } from '../../../sql/relation-catalog.ts';

/**
 * One row per column of every table, view, materialised view, foreign and partitioned table;
 * the view's definition on its first column. pg_get_viewdef qualifies names that the current
 * search_path does not show, so definitions are analysed with the path read alongside.
 * pg_statistic (and what reads it, like pg_stats) holds copies of column values: left out,
 * it is unknown to lineage, hence opaque.
 */
export const RELATION_CATALOG_SQL =
  "SELECT c.oid, n.nspname, c.relname, c.relkind, a.attnum, a.attname, CASE WHEN a.attnum = 1 AND c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END " +
  'FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
  'JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ' +
  "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT (n.nspname = 'pg_catalog' AND c.relname IN ('pg_statistic', 'pg_statistic_ext_data'))";

export interface RelationInfo {
  readonly schema: string;
  readonly relation: string;
  /** A view or materialised view: its columns' data comes from its definition. */
  readonly view: boolean;
  /** Column names by attnum. */
  readonly columns: ReadonlyMap<number, string>;
}

export interface RelationSnapshot {
  readonly catalog: RelationCatalog;
  /** For RowDescription origins (table OID, attnum). */
  readonly byOid: ReadonlyMap<number, RelationInfo>;
  readonly loadedAt: number;
  /** False when the catalog could not be read: every relation is unknown, so every column opaque. */
  readonly complete: boolean;
}

/** From the rows of RELATION_CATALOG_SQL (as text) and the search_path they were read under. */
export function relationSnapshot(rows: readonly (readonly (string | null)[])[] | undefined, searchPath: readonly string[], now = Date.now()): RelationSnapshot {
  const byOid = new Map<number, { schema: string; relation: string; view: boolean; columns: Map<number, string> }>();
  const columnRows: { schema: string; relation: string; column: string; position: number }[] = [];
  const views = new Map<number, { schema: string; relation: string; definition: string | undefined }>();
  for (const row of rows ?? []) {
    const [oidText, schema, relation, kind, attnumText, column, definition] = row;
    const oid = Number(oidText);
    const attnum = Number(attnumText);
    if (!schema || !relation || !column || !Number.isInteger(oid) || !Number.isInteger(attnum)) continue;
    const view = kind === 'v' || kind === 'm';
    let info = byOid.get(oid);
    if (info === undefined) {
      byOid.set(oid, (info = { schema, relation, view, columns: new Map() }));
      // A view whose definition did not come back is still a view: its columns are opaque.
      if (view) views.set(oid, { schema, relation, definition: undefined });
    }
    info.columns.set(attnum, column);
    columnRows.push({ schema, relation, column, position: attnum });
    const entry = view && attnum === 1 && definition ? views.get(oid) : undefined;
    if (entry) entry.definition = definition ?? undefined;
  }
  return Object.freeze({
    catalog: createRelationCatalog(columnRows, views.values(), { viewSearchPath: searchPath }),
    byOid,
    loadedAt: now,
    complete: rows !== undefined,
  });
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
    return e === undefined || e.stale || isOld(e.snapshot, now);
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

export function isOld(snapshot: RelationSnapshot, now = Date.now()): boolean {
  return now - snapshot.loadedAt > TTL_MS;
}
