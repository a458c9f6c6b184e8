// Protocol-native errors: a GatewayError (safe to show) becomes an ErrorResponse with the
// SQLSTATE a PostgreSQL client expects; anything else is logged by the caller and reported
// as an internal error with no detail.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
import type { Decision } from '../../core/decision.ts';
import type { ErrorCode } from '../../core/errors.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import { errorResponse, type ErrorFields, type Severity } from './codec/backend-encode.ts';

export const SqlState = {
  InsufficientPrivilege: '42501',
  InvalidPassword: '28P01',
  InvalidAuthorization: '28000',
  InvalidCatalogName: '3D000',
  ProtocolViolation: '08P01',
  ConnectionFailure: '08006',
  ConnectionRejected: '08004',
  FeatureNotSupported: '0A000',
  InvalidParameterValue: '22023',
  InvalidStatementName: '26000',
  SyntaxError: '42601',
  AdminShutdown: '57P01',
  Internal: 'XX000',
} as const;

function sqlStateOf(code: ErrorCode): string {
  if (code.startsWith('PCS_AUTH_')) return SqlState.InvalidPassword;
  switch (code) {
    case 'PCS_CONNECTION_UNKNOWN':
      return SqlState.InvalidCatalogName;
    case 'PCS_POLICY_DENIED':
    case 'PCS_POLICY_NO_MATCH':
    case 'PCS_REVIEW_PENDING':
    case 'PCS_REVIEW_DENIED':
    case 'PCS_REVIEW_EXPIRED':
    case 'PCS_PG_FUNCTION_CALL_REFUSED':
    case 'PCS_MASK_PREDICATE_DENIED':
    case 'PCS_MASK_PREDICATE_UNKNOWN':
    case 'PCS_MASK_LINEAGE_UNKNOWN':
    case 'PCS_MASK_WRITE_REFUSED':
    case 'PCS_MASK_COPY_UNSUPPORTED':
    case 'PCS_PG_STARTUP_PARAM_REFUSED':
      return SqlState.InsufficientPrivilege;
    case 'PCS_PG_STARTUP_OPTIONS_INVALID':
      return SqlState.SyntaxError;
    case 'PCS_PG_TLS_REQUIRED':
    case 'PCS_PG_PROTOCOL_VIOLATION':
      return SqlState.ProtocolViolation;
    case 'PCS_PG_CLEARTEXT_REFUSED':
    case 'PCS_PG_UPSTREAM_AUTH_FAILED':
    case 'PCS_CONNECTION_NO_CREDENTIAL':
      return SqlState.InvalidAuthorization;
    case 'PCS_PG_UNSUPPORTED_PROTOCOL':
    case 'PCS_PG_REPLICATION_REFUSED':
      return SqlState.FeatureNotSupported;
    case 'PCS_PG_UNSUPPORTED_ENCODING':
      return SqlState.InvalidParameterValue;
    case 'PCS_PG_UPSTREAM_UNREACHABLE':
      return SqlState.ConnectionFailure;
    case 'PCS_PG_UPSTREAM_REFUSED':
      return SqlState.ConnectionRejected;
    case 'PCS_PG_SHUTTING_DOWN':
    case 'PCS_API_SHUTTING_DOWN':
    case 'PCS_REVIEW_INTERRUPTED':
      return SqlState.AdminShutdown;
    default:
      return SqlState.Internal;
  }
}

/** The fields of the ErrorResponse for a gateway error; the PCS code goes in the message so that clients that print only the message still show it. */
export function gatewayErrorFields(err: GatewayError, severity: Severity): ErrorFields {
  return { severity, code: sqlStateOf(err.code), message: `${err.message} (${err.code})` };
}

/** ErrorResponse for anything thrown: GatewayErrors as they are, others as an internal error. */
export function errorFrame(err: unknown, severity: Severity, requestId: string): Buffer {
  const safe = isGatewayError(err) ? err : new GatewayError('PCS_INTERNAL', { requestId });
  return errorResponse(gatewayErrorFields(safe, severity));
}

/**
 * The ErrorResponse an agent sees for a statement that policy did not allow: SQLSTATE 42501,
 * a message naming the policy and rule, and the PCS code in the detail.
 */
export function refusalFields(decision: Decision): ErrorFields {
  if (decision.code !== undefined) return { severity: 'ERROR', code: SqlState.InsufficientPrivilege, message: `${decision.reason} (${decision.code})`, detail: decision.code };
  const rule = decision.rule;
  if (rule === undefined) {
    return { severity: 'ERROR', code: SqlState.InsufficientPrivilege, message: `denied: ${decision.reason}`, detail: 'PCS_POLICY_NO_MATCH', hint: '`portcullis policy test` explains which rules apply' };
  }
  const label = rule.name === undefined ? `rule ${rule.index}` : `rule ${rule.index} (${rule.name})`;
  return { severity: 'ERROR', code: SqlState.InsufficientPrivilege, message: `denied by policy ${rule.policy}, ${label}: ${decision.reason}`, detail: 'PCS_POLICY_DENIED' };
}
