// One registry of stable error codes (PCS_<AREA>_<NAME>). docs/errors.md has a row per code
// and test/core/errors.test.ts fails when the two disagree.
//
// A GatewayError is safe to show to the client: its message is written for the agent and
// never carries a secret. Anything else thrown inside the gateway is logged with context and
// reported to the client only as PCS_INTERNAL.

export const ERROR_CODES = {
  PCS_INTERNAL: { status: 500, message: 'internal error; the gateway logged the details (request id {requestId})' },

  PCS_CONFIG_INVALID: { status: 500, message: 'configuration is invalid:\n{problems}' },
  PCS_CONFIG_UNREADABLE: { status: 500, message: 'cannot read configuration file {file}: {cause}' },

  PCS_AUTH_TOKEN_MISSING: { status: 401, message: 'no identity token was presented; send an OIDC JWT or a gateway token as a bearer token' },
  PCS_AUTH_TOKEN_MALFORMED: { status: 401, message: 'the identity token is not a well-formed JWT' },
  PCS_AUTH_TOKEN_INVALID: { status: 401, message: 'the identity token was rejected: {reason}' },
  PCS_AUTH_TOKEN_EXPIRED: { status: 401, message: 'the identity token has expired; get a new one' },
  PCS_AUTH_TOKEN_NOT_YET_VALID: { status: 401, message: 'the identity token is not valid yet (nbf/iat in the future)' },
  PCS_AUTH_TOKEN_REVOKED: { status: 401, message: 'the gateway token {jti} has been revoked' },
  PCS_AUTH_ISSUER_UNKNOWN: { status: 401, message: 'the token issuer {issuer} is not trusted by this gateway' },
  PCS_AUTH_IDP_UNREACHABLE: { status: 503, message: 'the identity provider {issuer} cannot be reached to check the token; try again shortly' },
  PCS_AUTH_SAML_INVALID: { status: 401, message: 'the SAML assertion was rejected: {reason}' },
  PCS_AUTH_FORBIDDEN: { status: 403, message: 'this action needs the {role} role' },
  PCS_AUTH_KEY_UNKNOWN: { status: 401, message: 'the public key {fingerprint} is not registered for any subject; an administrator registers it with `portcullis ssh-key add`' },
  PCS_AUTH_KEY_REVOKED: { status: 401, message: 'the public key {fingerprint} ({id}) has been revoked' },
  PCS_AUTH_KEY_EXPIRED: { status: 401, message: 'the registration of public key {fingerprint} ({id}) has expired; an administrator registers it again' },
  PCS_AUTH_KEY_SIGNATURE_INVALID: { status: 401, message: 'the signature made with public key {fingerprint} was refused: {reason}' },

  PCS_VAULT_KEY_MISSING: { status: 500, message: 'no vault master key: set PORTCULLIS_MASTER_KEY or vault.master_key_file ({detail})' },
  PCS_VAULT_KEY_INVALID: { status: 500, message: 'the vault master key is invalid: {detail}' },
  PCS_VAULT_DECRYPT_FAILED: { status: 500, message: 'a stored secret could not be decrypted (wrong master key or tampered data) for {what}' },

  PCS_STORE_UNSUPPORTED: { status: 500, message: 'unsupported store URL {url}: use sqlite:PATH' },
  PCS_STORE_MIGRATION_FAILED: { status: 500, message: 'store migration {migration} failed: {cause}' },

  PCS_LISTEN_FAILED: { status: 500, message: 'cannot listen on {address}: {cause}' },
  PCS_RELAY_OFFLINE: { status: 503, message: 'connection {connection} goes through relay {relay}, which is not connected to the gateway; try again when it is up or tell an administrator' },
  PCS_RELAY_LOST: { status: 502, message: 'relay {relay} dropped the tunnel of connection {connection} ({cause}); open a new session' },
  PCS_RELAY_REFUSED: { status: 502, message: 'relay {relay} refused to open {target} for connection {connection}: {reason}' },
  PCS_RELAY_UNKNOWN: { status: 404, message: 'no relay is named {relay}' },
  PCS_RELAY_EXISTS: { status: 409, message: 'a relay named {relay} is already registered' },
  PCS_DEMO_DB_FAILED: { status: 500, message: 'the embedded demo database in {data_dir} could not start: {cause}' },

  PCS_EXECUTOR_CLOSED: { status: 503, message: 'the {protocol} session of this call has ended; open a new one' },
  PCS_EXECUTOR_FAILED: { status: 502, message: 'the {protocol} session could not be opened: {reason}' },
  PCS_EXECUTOR_UNAVAILABLE: { status: 501, message: 'this gateway cannot run {kind} calls on connection {connection}' },
  PCS_CONNECTION_UNKNOWN: { status: 404, message: 'no connection named {connection}' },
  PCS_CONNECTION_NO_CREDENTIAL: { status: 409, message: 'connection {connection} has no credential; set one with `portcullis credential set {connection}`' },

  PCS_POLICY_DENIED: { status: 403, message: 'denied by policy {policy} rule {rule}: {reason}' },
  PCS_POLICY_NO_MATCH: { status: 403, message: 'denied: no policy rule allows this for {subject} on {connection}' },
  PCS_POLICY_INPUT_INVALID: { status: 400, message: 'cannot read the action to test: {reason}' },

  PCS_AUDIT_CHAIN_BROKEN: { status: 500, message: 'audit chain broken at record {seq}: {reason}' },
  PCS_AUDIT_SECRET_FIELD: { status: 500, message: 'audit event {type} has a data field named {path}; audit events must never carry secrets' },
  PCS_AUDIT_EVENT_INVALID: { status: 500, message: 'audit event {type} cannot be recorded: {reason}' },
  PCS_AUDIT_WRITE_FAILED: { status: 500, message: 'the audit log could not be written: {cause}' },
  PCS_AUDIT_KEY_INVALID: { status: 500, message: 'audit signing key {file} is unusable: {detail}' },
  PCS_AUDIT_WITNESS_UNAVAILABLE: { status: 500, message: 'audit witness {witness} cannot be used: {detail}' },

  PCS_REVIEW_PENDING: { status: 403, message: 'review {id} created: this needs approval by {approvers} ({url}); run the same statement again once it is approved' },
  PCS_REVIEW_DENIED: { status: 403, message: 'review {id} was denied by {by}{comment}; the statement was not run' },
  PCS_REVIEW_EXPIRED: { status: 403, message: 'review {id} expired after {seconds} s without a decision; the statement was not run' },
  PCS_REVIEW_INTERRUPTED: { status: 503, message: 'the gateway stopped while review {id} was pending; the statement was not run. The review can still be decided: run the statement again once it is approved' },
  PCS_REVIEW_NOT_FOUND: { status: 404, message: 'no review {id}' },
  PCS_REVIEW_CLOSED: { status: 409, message: 'review {id} is already {status}' },
  PCS_REVIEW_SELF_APPROVAL: { status: 403, message: 'you asked for review {id}: someone else must decide it' },
  PCS_REVIEW_AGENT_APPROVER: { status: 403, message: 'an agent identity can never approve or deny a review' },
  PCS_REVIEW_NOT_APPROVER: { status: 403, message: 'review {id} is decided by members of {groups}' },
  PCS_REVIEW_ALREADY_VOTED: { status: 409, message: 'you already voted on review {id}' },
  PCS_ACCESS_NO_POLICY: { status: 400, message: 'no just-in-time policy {policy} on {connection} for {subject}{known}' },
  PCS_ACCESS_TOO_LONG: { status: 400, message: 'policy {policy} grants access for at most {max} s; ask for less' },

  PCS_MASK_PREDICATE_DENIED: { status: 403, message: 'the statement filters, joins, groups or orders on {column}, which mask {rule} protects with deny_in_predicates (a predicate reveals a masked value bit by bit); it was not run' },
  PCS_MASK_PREDICATE_UNKNOWN: { status: 403, message: 'cannot tell which columns the predicates of this statement read ({reason}) while masks with deny_in_predicates apply; it was not run' },
  PCS_MASK_LINEAGE_UNKNOWN: { status: 403, message: 'cannot tell where output column {column} comes from ({reason}); masking.unknown_lineage is deny, so it was not run' },
  PCS_MASK_WRITE_REFUSED: { status: 403, message: 'the statement would copy {source}, which mask {rule} protects, into {target}, which no mask covers; it was not run' },
  PCS_MASK_COPY_UNSUPPORTED: { status: 403, message: 'the output of this COPY cannot be masked ({reason}); use COPY ... TO STDOUT in text, csv or binary format without an ENCODING option' },

  PCS_PG_TLS_REQUIRED: { status: 400, message: 'this listener requires TLS: connect with sslmode=require (or verify-full with the gateway\'s certificate)' },
  PCS_PG_CLEARTEXT_REFUSED: { status: 401, message: 'the identity token may not be sent without TLS from {client}: connect with sslmode=require' },
  PCS_PG_PROTOCOL_VIOLATION: { status: 400, message: 'protocol violation: {detail}' },
  PCS_PG_UNSUPPORTED_PROTOCOL: { status: 400, message: 'unsupported frontend protocol {version}: the gateway speaks protocol 3.0' },
  PCS_PG_UNSUPPORTED_ENCODING: { status: 400, message: 'client_encoding {encoding} is not supported through the gateway (its multi-byte characters can hide quotes from the analyser); use UTF8' },
  PCS_PG_STARTUP_OPTIONS_INVALID: { status: 400, message: 'invalid options in the startup packet: {detail}' },
  PCS_PG_STARTUP_PARAM_REFUSED: { status: 403, message: 'startup parameter {name} is refused: {reason}' },
  PCS_PG_REPLICATION_REFUSED: { status: 400, message: 'the gateway does not proxy replication connections; connect without replication (or to the server directly, as an administrator)' },
  PCS_PG_UPSTREAM_UNREACHABLE: { status: 502, message: 'the database server of connection {connection} cannot be reached ({cause}); try again later or tell an administrator' },
  PCS_PG_UPSTREAM_AUTH_FAILED: { status: 502, message: 'the gateway could not log in to the database server of connection {connection}; an administrator must check its credential' },
  PCS_PG_UPSTREAM_REFUSED: { status: 502, message: 'the database server of connection {connection} refused the session (SQLSTATE {sqlstate}); tell an administrator' },
  PCS_PG_FUNCTION_CALL_REFUSED: { status: 403, message: 'the fast-path function call protocol is not allowed through the gateway; call the function from a SQL statement instead' },
  PCS_PG_SHUTTING_DOWN: { status: 503, message: 'the gateway is shutting down; reconnect in a moment' },

  PCS_MYSQL_TLS_REQUIRED: { status: 400, message: 'this listener requires TLS: connect with --ssl (mariadb), --ssl-mode=REQUIRED (mysql) or ssl: {} (mysql2)' },
  PCS_MYSQL_CLEARTEXT_REFUSED: { status: 401, message: 'the identity token may not be sent without TLS from {client}: connect with TLS (--ssl, --ssl-mode=REQUIRED)' },
  PCS_MYSQL_AUTH_PLUGIN_UNSUPPORTED: { status: 401, message: 'the gateway needs the identity token as the password in clear ({reason}); {fix}' },
  PCS_MYSQL_PROTOCOL_VIOLATION: { status: 400, message: 'protocol violation: {detail}' },
  PCS_MYSQL_COMMAND_REFUSED: { status: 403, message: '{command} is not allowed through the gateway: {reason}' },
  PCS_MYSQL_MASK_UNSUPPORTED: { status: 403, message: 'the result of this statement cannot be masked through the MySQL listener ({reason}); it was not run' },
  PCS_MYSQL_KILL_REFUSED: { status: 403, message: 'connection {id} is not one of your sessions on this gateway; a session may only kill its own queries' },
  PCS_MYSQL_LOCAL_INFILE_REFUSED: { status: 403, message: 'the server asked for a local file for a statement that was not decided as LOAD DATA LOCAL; nothing was sent' },
  PCS_MYSQL_UPSTREAM_UNREACHABLE: { status: 502, message: 'the database server of connection {connection} cannot be reached ({cause}); try again later or tell an administrator' },
  PCS_MYSQL_UPSTREAM_AUTH_FAILED: { status: 502, message: 'the gateway could not log in to the database server of connection {connection} ({reason}); an administrator must check its credential' },
  PCS_MYSQL_UPSTREAM_UNSUPPORTED: { status: 502, message: 'the database server of connection {connection} cannot be used through the gateway: {reason}' },
  PCS_MYSQL_SHUTTING_DOWN: { status: 503, message: 'the gateway is shutting down; reconnect in a moment' },

  PCS_HTTP_NO_ROUTE: { status: 404, message: 'no HTTP connection serves {path}: start the path with a connection prefix such as /{example}/' },
  PCS_HTTP_BAD_REQUEST: { status: 400, message: 'bad request: {reason}' },
  PCS_HTTP_AMBIGUOUS_PATH: { status: 400, message: 'the request target {path} could be read as another path by the upstream ({reason})' },
  PCS_HTTP_METHOD_OVERRIDE: { status: 400, message: 'the request asks the upstream to act as another method ({where}) and connection {connection} does not forward that: {detail}' },
  PCS_HTTP_MISDIRECTED: { status: 421, message: 'the TLS connection was opened for connection {sni} but the request is for connection {connection}: open a connection with the server name of the one you mean' },
  PCS_HTTP_TARGET_OVERRIDE: { status: 400, message: 'header {header} would make the upstream act on another path or host; connection {connection} refuses it: leave it out' },
  PCS_HTTP_BODY_TOO_LARGE: { status: 413, message: 'the request body is larger than {max} bytes' },
  PCS_HTTP_OVERLOADED: { status: 503, message: 'connection {connection} has {max} requests in flight; retry shortly' },
  PCS_HTTP_UPSTREAM_TIMEOUT: { status: 504, message: 'connection {connection} did not answer within {seconds} s' },
  PCS_HTTP_UPSTREAM_UNREACHABLE: { status: 502, message: 'connection {connection} cannot be reached ({cause})' },
  PCS_HTTP_CREDENTIAL_UNAVAILABLE: { status: 502, message: 'the gateway could not get a credential for connection {connection} ({reason})' },
  PCS_HTTP_UNMASKABLE: { status: 502, message: 'the response of connection {connection} cannot be masked ({reason}), so it is withheld' },

  PCS_SSH_HOST_KEY_CHANGED: { status: 502, message: 'the host key of connection {connection} changed (expected {expected}, got {got}): refused; an operator checks the host and updates host_key' },
  PCS_SSH_EXEC_FAILED: { status: 502, message: 'the upstream host of connection {connection} did not run the command ({cause})' },
  PCS_SSH_UPSTREAM_UNREACHABLE: { status: 502, message: 'connection {connection} cannot be reached ({cause})' },
  PCS_SSH_KEY_INVALID: { status: 400, message: 'not an SSH public key ({reason}); send one line of a .pub file: ssh-ed25519 AAAA... comment' },
  PCS_SSH_KEY_PRIVATE: { status: 400, message: 'this is a private key, which was not kept: send the public key only (the .pub file next to it)' },
  PCS_SSH_KEY_UNSUPPORTED: { status: 400, message: 'public keys of type {type} are not accepted; use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa of 2048 bits or more' },
  PCS_SSH_KEY_EXISTS: { status: 409, message: 'public key {fingerprint} is already registered as {id} for {subject}; revoke that registration first' },
  PCS_SSH_KEY_NOT_FOUND: { status: 404, message: 'no registered public key {key}; `portcullis ssh-key list` shows them' },

  PCS_API_NOT_FOUND: { status: 404, message: 'no such resource: {what}' },
  PCS_API_BAD_REQUEST: { status: 400, message: 'bad request: {reason}' },
  PCS_API_SHUTTING_DOWN: { status: 503, message: 'the gateway is shutting down' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export type ErrorParams = Readonly<Record<string, string | number>>;

function render(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** An error whose message is safe to show to the client that caused it. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly params: ErrorParams;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(render(ERROR_CODES[code].message, params), options);
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.params = params;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}
