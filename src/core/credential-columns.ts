// The upstream's own credential material: columns that hold password verifiers, stored
// connection strings and user-mapping options, by SQL dialect. Policy masks them on every
// connection of that dialect, whatever the read policy, unless a policy names the column in
// `reveal_credentials` (docs/masking.md, "Built-in credential masks"). Data only, so that the
// config schema, policy and each protocol adapter read one list.

/** A column, `schema.table.column` as a mask's column glob names it (no wildcards here). */
export interface CredentialColumn {
  readonly column: string;
  /** What it holds, for the docs and `config check`. */
  readonly holds: string;
}

export interface DialectCredentials {
  readonly columns: readonly CredentialColumn[];
  /**
   * Statements whose whole output carries credential material (MySQL's SHOW GRANTS prints
   * `IDENTIFIED BY PASSWORD '<hash>'`): an adapter masks every column of their results.
   */
  readonly statements: readonly string[];
}

export const CREDENTIAL_COLUMNS = {
  postgres: {
    columns: [
      { column: 'pg_catalog.pg_authid.rolpassword', holds: 'SCRAM-SHA-256 or MD5 password verifiers' },
      { column: 'pg_catalog.pg_shadow.passwd', holds: 'password verifiers (view over pg_authid)' },
      { column: 'pg_catalog.pg_user_mapping.umoptions', holds: 'foreign-data user mapping options (user, password)' },
      { column: 'pg_catalog.pg_user_mappings.umoptions', holds: 'foreign-data user mapping options (view)' },
      { column: 'information_schema._pg_user_mappings.umoptions', holds: 'foreign-data user mapping options (view)' },
      { column: 'information_schema.user_mapping_options.option_value', holds: 'foreign-data user mapping option values (view)' },
      { column: 'pg_catalog.pg_subscription.subconninfo', holds: 'logical replication connection strings (may carry a password)' },
    ],
    statements: [],
  },
  // The MySQL/MariaDB adapter masks them by lineage and by the column definitions' origins.
  mysql: {
    columns: [
      { column: 'mysql.user.authentication_string', holds: 'password hashes (MySQL 5.7+, MariaDB)' },
      { column: 'mysql.user.Password', holds: 'password hashes (MariaDB, MySQL before 5.7)' },
      { column: 'mysql.global_priv.Priv', holds: 'account JSON with authentication_string (MariaDB 10.4+)' },
      { column: 'mysql.slave_master_info.User_password', holds: 'replication source password (MySQL, TABLE repository)' },
      { column: 'mysql.servers.Password', holds: 'FEDERATED server passwords' },
    ],
    statements: ['SHOW GRANTS', 'SHOW CREATE USER'],
  },
} as const satisfies Readonly<Record<string, DialectCredentials>>;

export type CredentialDialect = keyof typeof CREDENTIAL_COLUMNS;

/** The dialect of a connection type that has built-in credential masks, else undefined. */
export function credentialDialect(connectionType: string): CredentialDialect | undefined {
  return Object.hasOwn(CREDENTIAL_COLUMNS, connectionType) ? (connectionType as CredentialDialect) : undefined;
}

/** Every built-in credential column of every dialect: what `reveal_credentials` may name. */
export const ALL_CREDENTIAL_COLUMNS: readonly string[] = Object.freeze(Object.values(CREDENTIAL_COLUMNS).flatMap((d) => d.columns.map((c) => c.column)));

/** The `source` of a built-in mask (recordings and refusals name it). */
export const credentialMaskSource = (column: string): string => `builtin:${column}`;
