// What SQL analysis asks of a database's own functions: how volatile each is (a function
// that only reads cannot write through a SELECT) and whether the connection's
// `read_functions` allow-list vouches for it. Each dialect builds one from its catalog
// (PostgreSQL: postgres/function-catalog.ts from pg_proc).

export type Volatility = 'immutable' | 'stable' | 'volatile';

export interface FunctionCatalog {
  /** `schema.name` exactly as stored (case-sensitive); the most volatile of its overloads. */
  volatility(qualifiedName: string): Volatility | undefined;
  /** The `read_functions` allow-list names this function (`schema.name`, or a bare name). */
  readAllowed(name: string): boolean;
}
