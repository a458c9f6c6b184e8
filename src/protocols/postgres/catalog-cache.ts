// The volatility of user-defined functions, per connection, read from the upstream's pg_proc
// when a session logs in and shared by the sessions of that connection. Refreshed after a TTL,
// and sooner after DDL through the gateway (a new or replaced function must not be judged by a
// stale entry: until the refresh, an unknown function is `unknown`, which fails closed).
import type { FunctionCatalog } from '../../sql/function-catalog.ts';
import { createFunctionCatalog, type FunctionCatalogRow } from '../../sql/postgres/function-catalog.ts';

/** Functions outside the system schemas; the shipped built-in list covers pg_catalog. */
export const FUNCTION_CATALOG_SQL =
  "SELECT n.nspname, p.proname, p.provolatile FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'";

const TTL_MS = 60_000;

interface Entry {
  readonly catalog: FunctionCatalog;
  readonly loadedAt: number;
  stale: boolean;
}

export class CatalogCache {
  readonly #entries = new Map<string, Entry>();

  get(connection: string): FunctionCatalog | undefined {
    return this.#entries.get(connection)?.catalog;
  }

  /** Whether the next login to this connection should read the catalog. */
  needsRefresh(connection: string, now = Date.now()): boolean {
    const e = this.#entries.get(connection);
    return e === undefined || e.stale || now - e.loadedAt > TTL_MS;
  }

  set(connection: string, rows: readonly FunctionCatalogRow[], readFunctions: readonly string[] | undefined): void {
    this.#entries.set(connection, { catalog: createFunctionCatalog(rows, readFunctions ? { readFunctions } : {}), loadedAt: Date.now(), stale: false });
  }

  /** DDL went through: re-read at the next login. */
  invalidate(connection: string): void {
    const e = this.#entries.get(connection);
    if (e) e.stale = true;
  }
}
