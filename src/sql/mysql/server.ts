// What the analysis must know of the upstream server: its version (as executable comments
// compare it, MAJOR*10000 + MINOR*100 + PATCH) and whether it is MariaDB.

export interface MysqlServer {
  /** 80036 for 8.0.36, 101119 for MariaDB 10.11.19; undefined when not known. */
  readonly version?: number;
  /** MariaDB runs `/*M! ...*\/`; MySQL treats it as a comment. Undefined when not known. */
  readonly mariadb?: boolean;
  /**
   * The server's lower_case_table_names (`SELECT @@lower_case_table_names`): with 1 or 2 it
   * compares database and table names case-insensitively, and the analysis lower-cases them
   * so that `SECRETS` meets a rule on `secrets`. Undefined or 0: names as written.
   */
  readonly lowerCaseTableNames?: number;
}

export const UNKNOWN_SERVER: MysqlServer = Object.freeze({});

/**
 * The server as its handshake's version string shows it: `8.0.36`, `10.11.19-MariaDB-0+deb12u1`,
 * or MariaDB's replication prefix `5.5.5-10.11.19-MariaDB`. Unknown parts stay undefined.
 */
export function mysqlServerFromVersion(text: string): MysqlServer {
  const mariadb = /mariadb/i.test(text);
  const stripped = mariadb ? text.replace(/^5\.5\.5-/, '') : text;
  const m = /^(\d{1,3})\.(\d{1,2})\.(\d{1,2})/.exec(stripped);
  if (m === null) return Object.freeze({ mariadb });
  return Object.freeze({ version: Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]), mariadb });
}
