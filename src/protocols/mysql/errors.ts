// Protocol-native errors: a GatewayError (safe to show) becomes an ERR packet with the error
// number and SQLSTATE a MySQL client expects, the PCS code in the message; anything else is
// logged by the caller and reported as an internal error with no detail.
// https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html
import type { Decision } from '../../core/decision.ts';
import type { ErrorCode } from '../../core/errors.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import { ErrNo } from './codec/constants.ts';
import type { ErrPacket } from './codec/responses.ts';

const ER_KILL_DENIED_ERROR = 1095;

function numbers(code: ErrorCode): { errno: number; sqlState: string } {
  if (code.startsWith('PCS_AUTH_')) return { errno: ErrNo.ACCESS_DENIED, sqlState: '28000' };
  switch (code) {
    case 'PCS_CONNECTION_UNKNOWN':
      return { errno: ErrNo.DBACCESS_DENIED, sqlState: '42000' };
    case 'PCS_MYSQL_CLEARTEXT_REFUSED':
    case 'PCS_MYSQL_UPSTREAM_AUTH_FAILED':
    case 'PCS_CONNECTION_NO_CREDENTIAL':
      return { errno: ErrNo.ACCESS_DENIED, sqlState: '28000' };
    case 'PCS_MYSQL_AUTH_PLUGIN_UNSUPPORTED':
      return { errno: ErrNo.NOT_SUPPORTED_AUTH_MODE, sqlState: '08004' };
    case 'PCS_MYSQL_TLS_REQUIRED':
      return { errno: ErrNo.SECURE_TRANSPORT_REQUIRED, sqlState: 'HY000' };
    case 'PCS_MYSQL_PROTOCOL_VIOLATION':
      return { errno: ErrNo.HANDSHAKE, sqlState: '08S01' };
    case 'PCS_MYSQL_COMMAND_REFUSED':
      return { errno: ErrNo.SPECIFIC_ACCESS_DENIED, sqlState: '42000' };
    case 'PCS_MYSQL_KILL_REFUSED':
      return { errno: ER_KILL_DENIED_ERROR, sqlState: 'HY000' };
    case 'PCS_MYSQL_UPSTREAM_UNREACHABLE':
      // Not the client's own CR_CONN_HOST_ERROR (2003): clients reject a server ERR in the 2xxx range.
      return { errno: ErrNo.UNKNOWN, sqlState: '08S01' };
    case 'PCS_MYSQL_SHUTTING_DOWN':
    case 'PCS_REVIEW_INTERRUPTED':
      return { errno: ErrNo.SERVER_SHUTDOWN, sqlState: '08S01' };
    case 'PCS_POLICY_DENIED':
    case 'PCS_POLICY_NO_MATCH':
    case 'PCS_REVIEW_PENDING':
    case 'PCS_REVIEW_DENIED':
    case 'PCS_REVIEW_EXPIRED':
    case 'PCS_MASK_PREDICATE_DENIED':
    case 'PCS_MASK_PREDICATE_UNKNOWN':
    case 'PCS_MASK_LINEAGE_UNKNOWN':
    case 'PCS_MASK_WRITE_REFUSED':
    case 'PCS_MYSQL_MASK_UNSUPPORTED':
    case 'PCS_MYSQL_LOCAL_INFILE_REFUSED':
      return { errno: ErrNo.TABLEACCESS_DENIED, sqlState: '42000' };
    default:
      return { errno: ErrNo.UNKNOWN, sqlState: 'HY000' };
  }
}

/** The ERR fields of a gateway error; the PCS code ends the message so that every client shows it. */
export function gatewayErr(err: GatewayError): ErrPacket {
  return { ...numbers(err.code), message: `${err.message} (${err.code})` };
}

/** ERR fields for anything thrown: GatewayErrors as they are, others as an internal error. */
export function errFor(err: unknown, requestId: string): ErrPacket {
  return gatewayErr(isGatewayError(err) ? err : new GatewayError('PCS_INTERNAL', { requestId }));
}

/**
 * What an agent sees for a statement policy did not allow: ER_TABLEACCESS_DENIED_ERROR's
 * number and SQLSTATE 42000, the policy, rule and reason, and the PCS code.
 */
export function refusalErr(decision: Decision): ErrPacket {
  const base = { errno: ErrNo.TABLEACCESS_DENIED, sqlState: '42000' };
  if (decision.code !== undefined) return { ...base, message: `${decision.reason} (${decision.code})` };
  const rule = decision.rule;
  if (rule === undefined) return { ...base, message: `denied: ${decision.reason}; \`portcullis policy test\` explains which rules apply (PCS_POLICY_NO_MATCH)` };
  const label = rule.name === undefined ? `rule ${rule.index}` : `rule ${rule.index} (${rule.name})`;
  return { ...base, message: `denied by policy ${rule.policy}, ${label}: ${decision.reason} (PCS_POLICY_DENIED)` };
}
