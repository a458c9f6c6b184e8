// PostgreSQL as a SqlDialect: libpg-query's grammar (parse.ts), the policy analysis
// (analyze.ts) and column lineage (lineage/) over the one tree a text is parsed into.
import type { SqlDialect } from '../dialect.ts';
import { analyzePostgres, resolveExecute } from './analyze.ts';
import { textLineage } from './lineage/lineage.ts';
import { normaliseSql } from './normalize.ts';
import { loadPostgresParser } from './parse.ts';

export const postgresDialect: SqlDialect = Object.freeze({
  name: 'postgres',
  load: loadPostgresParser,
  analyze: analyzePostgres,
  resolveExecute,
  normalise: normaliseSql,
  lineage: textLineage,
  // pg_catalog is searched first unless the path names it elsewhere.
  implicitSchemas: Object.freeze(['pg_catalog']),
});
