// Executors: "run this SQL statement / command / HTTP request on this connection for this
// identity, and give me masked, typed results". What an MCP tool call (or any caller that is
// not a wire client) uses, so that it never imports a protocol adapter and never decides or
// masks anything itself.
//
// Each adapter implements its executor over its own session machinery (the same analysis,
// gate.decide, review runner, masking and recording as its wire listener), so a statement run
// through an executor is decided, masked, held and recorded exactly as the same statement sent
// by a wire client. Nothing here forwards: forwarding still takes a Permit inside the adapter.
import type { Identity } from '../core/identity.ts';
import type { SessionRecording } from '../recorder/recorder.ts';

/** Who runs the call, and where it is recorded. */
export interface ExecutionScope {
  readonly identity: Identity;
  /**
   * The recorded session the calls belong to (an MCP session): the executor records each call
   * into it and never ends it; the caller does.
   */
  readonly recording: SessionRecording;
  /** How the agent came (`mcp`): audit records and the session name it. */
  readonly protocol: string;
  readonly clientAddr?: string;
  /** Told when a call is held for a review (`hold`): the notice the agent may be shown. */
  readonly onHeld?: (notice: string) => void;
}

/** A call policy did not let run (denied, deferred or refused review, mask refusal). */
export interface Refusal {
  /** The stable PCS code (`PCS_POLICY_DENIED`, `PCS_REVIEW_PENDING`, `PCS_MASK_PREDICATE_DENIED`...). */
  readonly code: string;
  /** What the wire client would read: the policy, the rule and the reason. */
  readonly message: string;
  readonly hint?: string;
  /** The review to approve, when the call was deferred or held. */
  readonly reviewId?: string;
}

/** The backend's own error (a SQL error, an unreachable host): the call was allowed and failed. */
export interface BackendError {
  /** SQLSTATE, errno or a PCS code (`PCS_SSH_UPSTREAM_UNREACHABLE`). */
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
}

export type Executed<T> =
  | { readonly outcome: 'done'; readonly value: T }
  | { readonly outcome: 'refused'; readonly refusal: Refusal }
  | { readonly outcome: 'failed'; readonly error: BackendError };

// ---- SQL ----

export interface SqlColumn {
  readonly name: string;
  /** The type's name as the database calls it (`int4`, `text`, `jsonb`, `varchar`). */
  readonly type: string;
  /** Policy masked this column's values (a column rule, a credential column). */
  readonly masked: boolean;
}

/** A JSON-ready value: numbers and booleans typed, big numbers and everything else text, JSON parsed. */
export type SqlValue = string | number | boolean | null | { readonly [key: string]: unknown } | readonly unknown[];

/** One statement's result. */
export interface SqlResultSet {
  /** The command tag's verb (`SELECT`, `INSERT`, `UPDATE`...). */
  readonly command: string;
  readonly columns: readonly SqlColumn[];
  readonly rows: readonly (readonly SqlValue[])[];
  /** Rows the statement returned or changed (the server's count), when it says. */
  readonly rowCount: number | null;
  /** More rows came than `maxRows`: the rest were read and dropped. */
  readonly truncated: boolean;
}

export interface SqlRun {
  readonly results: readonly SqlResultSet[];
  /** Notices and warnings the server sent (masked as the wire client would see them). */
  readonly notices: readonly string[];
}

export interface SqlQueryOptions {
  /** Rows kept per result; more are dropped and the result marked truncated. */
  readonly maxRows: number;
  /** Ends the call (the agent went away): a held statement stops waiting, a running one is abandoned. */
  readonly signal?: AbortSignal;
}

/** One database connection for one scope: statements run in order, like a wire session. */
export interface SqlSession {
  /** `params` given: one statement, run with the extended protocol (placeholders `$1`...). Otherwise one or several statements. */
  query(sql: string, params: readonly (string | null)[] | undefined, opts: SqlQueryOptions): Promise<Executed<SqlRun>>;
  /** Ends the database connection (not the scope's recording). */
  close(): Promise<void>;
}

export interface SqlExecutor {
  /** Opens a session on the named connection; a GatewayError when it cannot (unknown connection, upstream down). */
  open(scope: ExecutionScope, connection: string): Promise<SqlSession>;
}

// ---- commands (SSH exec) ----

export interface CommandRun {
  /** The exit status; null when the command ended by a signal. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Output beyond `maxOutput` bytes (per stream) was dropped. */
  readonly truncated: boolean;
}

export interface CommandOptions {
  readonly stdin?: string;
  /** Bytes kept per stream. */
  readonly maxOutput: number;
  readonly signal?: AbortSignal;
}

/** One host for one scope: the gateway's upstream connection is opened on the first command and kept. */
export interface CommandSession {
  exec(command: string, opts: CommandOptions): Promise<Executed<CommandRun>>;
  close(): Promise<void>;
}

export interface CommandExecutor {
  /** A GatewayError when the connection is not an SSH connection this gateway has. */
  open(scope: ExecutionScope, connection: string): Promise<CommandSession>;
}

// ---- HTTP ----

export interface HttpCall {
  readonly method: string;
  /** Path and query, as a client would put them on the request line (`/v1/items?limit=5`). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface HttpRun {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The (masked) body as text; JSON stays text, the caller may parse it. */
  readonly body: string;
  readonly truncated: boolean;
}

export interface HttpExecutor {
  request(scope: ExecutionScope, connection: string, call: HttpCall, opts: { readonly maxBody: number; readonly signal?: AbortSignal }): Promise<Executed<HttpRun>>;
}

/** Every executor this build has, by the connection type it serves. */
export interface Executors {
  readonly sql: ReadonlyMap<'postgres' | 'mysql', SqlExecutor>;
  readonly command: CommandExecutor | undefined;
  readonly http: HttpExecutor | undefined;
}

/**
 * The caller's recording as an adapter's session sees it: the session's events go into it,
 * and the session's end becomes a `connection-closed` event instead of the recording's end
 * (`connection` null: an end not worth an event, such as one in-memory exchange per call).
 */
export function sharedRecording(recording: SessionRecording, connection: string | null): SessionRecording {
  return {
    id: recording.id,
    event: (kind, data) => recording.event(kind, data),
    end: (status, summary) => {
      if (connection !== null) recording.event('connection-closed', { connection, status, ...summary });
    },
  };
}

/** No executors (for the adapters' own unbound listeners, which serve no other connection). */
export const NO_EXECUTORS: Executors = Object.freeze({ sql: new Map(), command: undefined, http: undefined });
