// The protocol-neutral description of what an agent asks for. Adapters build Actions from
// wire messages; policy.decide reads them. Nothing here knows about sockets or wire formats.

/**
 * What a SQL statement does, coarsely: the vocabulary of `match.sql.effect` in policies, in
 * order of severity (a statement has the most severe effect of its command and its functions;
 * `unknown` dominates so that what is not understood fails closed). docs/policy.md lists them.
 */
export const SQL_EFFECTS = ['read', 'write', 'ddl', 'privilege', 'admin', 'unknown'] as const;
export type SqlEffect = (typeof SQL_EFFECTS)[number];

export interface SqlRelation {
  /** Schema-qualified where the analyser could resolve it (`public.customers`). */
  readonly name: string;
  readonly access: 'read' | 'write';
}

export interface SqlStatement {
  /** Command class: select, insert, update, delete, merge, create, alter, drop, grant, copy, set, begin... */
  readonly command: string;
  readonly effect: SqlEffect;
  readonly relations: readonly SqlRelation[];
  /** Functions called anywhere in the statement, lower-case, schema-qualified when written so. */
  readonly functions: readonly string[];
  /** The statement's own text. */
  readonly text: string;
  /** Set when the analyser could not understand the statement; policy then fails closed. */
  readonly error?: string;
  /**
   * SET / RESET of a run-time parameter: its name (lower-case, `timezone` for SET TIME ZONE)
   * and value as PostgreSQL would show it (list elements joined by `, `, identifiers quoted
   * where needed); null for RESET and SET ... TO DEFAULT. Adapters track search_path with it.
   */
  readonly setting?: { readonly name: string; readonly value: string | null };
  /** PREPARE name AS ...: the statement's effect is the prepared one's; adapters remember it by name. */
  readonly prepared?: { readonly name: string };
  /** EXECUTE name (also inside EXPLAIN ANALYZE or CREATE TABLE AS): resolve with resolveExecute(). */
  readonly executes?: string;
  /** UPDATE or DELETE without a WHERE clause, or with one that references no column (`WHERE true`). */
  readonly unbounded?: true;
  /** Its literals may be credentials (a role's password, a conninfo): they never reach a record (SqlAction.redacted). */
  readonly credential?: true;
}

export interface SqlAction {
  readonly kind: 'sql';
  readonly dialect: 'postgres' | 'mysql';
  readonly text: string;
  readonly statements: readonly SqlStatement[];
  /**
   * Set when a statement carries a credential: the text with that statement's string literals
   * replaced, which is what audit events, recordings and reviews keep instead of `text`.
   */
  readonly redacted?: string;
}

export interface HttpAction {
  readonly kind: 'http';
  readonly method: string;
  /** Path below the connection prefix, always starting with `/`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON body when there is one. */
  readonly body?: unknown;
}

/**
 * What an SFTP request (or a legacy `scp -t`/`scp -f` exec line) does to a path: the
 * vocabulary of `match.ssh.file_op`. docs/ssh.md maps each SFTP request to one of them.
 */
export const SFTP_OPS = ['read', 'write', 'remove', 'rename', 'mkdir', 'list', 'stat'] as const;
export type SftpOp = (typeof SFTP_OPS)[number];

/** One simple command of an SSH exec line. */
export interface SshCommand {
  /** As written after quote removal (`/bin/rm` stays so). */
  readonly program: string;
  readonly args: readonly string[];
  /** Some word is only known at run time ($VAR, $(...), globs...). */
  readonly dynamic: boolean;
  /** Indexes into `args` of words only known at run time (expansions, substitutions); absent when none. */
  readonly unknownArgs?: readonly number[];
  /** xargs adds words read from its input after `args`. */
  readonly inputArgs?: boolean;
  /** What the command can run through its own options or input (src/policy/shell/launchers.ts): `git -c core.pager`, `less`. */
  readonly launches?: readonly string[];
}

export interface SshAction {
  readonly kind: 'ssh';
  readonly op: 'exec' | 'shell' | 'sftp' | 'forward';
  /** For exec: the command line as sent. */
  readonly command?: string;
  /**
   * For exec: every simple command the line would run, as src/policy/shell/parse.ts reads it
   * (substitutions, `sh -c` strings and the commands behind wrappers such as sudo included).
   * Absent: only the first word is judged, as before the shell parser.
   */
  readonly commands?: readonly SshCommand[];
  /** For exec: the request asked for a terminal (pty); pagers only start then. */
  readonly terminal?: boolean;
  /** For exec: the line could not be fully analysed; `program`/`args` rules never match it, `any_program` rules always do. */
  readonly uncertain?: boolean;
  /** For exec: redirections to files (`> f`, `2>> f`, `< f`). A write keeps the line from matching `program`/`args` rules. */
  readonly redirects?: readonly { readonly op: string; readonly target: string; readonly dynamic: boolean }[];
  /** For exec: variables the line sets (`A=1 cmd`, `env A=1 cmd`, `for A in`). Any keeps it from matching `program`/`args` rules. */
  readonly assignments?: readonly string[];
  /**
   * For sftp: the operation and the normalised path (absolute, or `~/...` for a legacy scp
   * line, whose home directory is not known). A path ending in `/**` is a whole tree (`scp -r`).
   */
  readonly sftp?: {
    readonly op: SftpOp;
    readonly path: string;
    /** The home directory `path` was resolved against, when the adapter knows it: `~/` globs match below it. */
    readonly home?: string;
  };
  /** For forward: the destination. */
  readonly forward?: { readonly host: string; readonly port: number; readonly direction: 'local' | 'remote' };
}

export interface McpAction {
  readonly kind: 'mcp';
  readonly tool: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

export type Action = SqlAction | HttpAction | SshAction | McpAction;
export type ActionKind = Action['kind'];
