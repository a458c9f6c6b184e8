// MySQL/MariaDB as a SqlDialect. The server's version and flavour decide which executable
// comments run (`/*!50700 ...*/`, MariaDB's `/*M! ...*/`), so a dialect is made for one
// upstream server: mysqlDialectFor(server). `mysqlDialect` knows no server: a statement whose
// meaning depends on the version or flavour is `unknown` (fails closed).
import type { SqlDialect } from '../dialect.ts';
import { analyzeMysql, resolveExecute } from './analyze.ts';
import { mysqlLineage } from './lineage.ts';
import { normaliseMysql } from './normalize.ts';
import { loadMysqlParser } from './parse.ts';
import { UNKNOWN_SERVER, type MysqlServer } from './server.ts';

export type { MysqlServer } from './server.ts';
export { mysqlServerFromVersion } from './server.ts';

const dialects = new Map<string, SqlDialect>();

/** The dialect of one upstream server (made once per version and flavour). */
export function mysqlDialectFor(server: MysqlServer): SqlDialect {
  const key = `${server.version ?? '?'}/${server.mariadb ?? '?'}/${server.lowerCaseTableNames ?? '?'}`;
  let dialect = dialects.get(key);
  if (dialect === undefined) {
    const frozen = Object.freeze({ ...server });
    dialect = Object.freeze({
      name: 'mysql',
      load: loadMysqlParser,
      analyze: (text, opts) => analyzeMysql(text, frozen, opts),
      resolveExecute,
      normalise: (text) => normaliseMysql(text, frozen),
      lineage: (text, relations, opts) => mysqlLineage(text, frozen, relations, opts),
      // information_schema and mysql are reached by qualified names only.
      implicitSchemas: Object.freeze([]),
    } satisfies SqlDialect);
    dialects.set(key, dialect);
  }
  return dialect;
}

/** A dialect for no known server (`portcullis policy test`): version-gated comments are `unknown`. */
export const mysqlDialect: SqlDialect = mysqlDialectFor(UNKNOWN_SERVER);
