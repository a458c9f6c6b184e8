// `portcullis policy test` and POST /api/v1/policy/test: explain what policy would decide for
// a subject on a connection, without touching any backend.
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { Action } from '../core/action.ts';
import type { Decision } from '../core/decision.ts';
import { actionFromText } from '../policy/action-from-text.ts';
import { decide } from '../policy/decide.ts';
import { explainSsh } from '../policy/explain-ssh.ts';
import { shownMysqlAction } from '../sql/mysql/redact.ts';
import { shownAction } from '../sql/postgres/redact.ts';
import type { CompiledPolicies } from '../policy/compile.ts';

export interface PolicyTestInput {
  readonly subject: string;
  readonly groups: readonly string[];
  readonly connection: string;
  /** SQL for database connections, `METHOD /path` for HTTP, a command line for SSH. */
  readonly input: string;
}

export interface PolicyTestResult {
  readonly identity: Identity;
  readonly action: Action;
  readonly decision: Decision;
  /** For SSH exec lines: how the line was read and why each SSH rule matches or not. */
  readonly explanation: readonly string[];
}

export async function testPolicy(config: Config, policies: CompiledPolicies, req: PolicyTestInput, adminGroups: readonly string[]): Promise<PolicyTestResult> {
  const connection = config.connections.find((c) => c.name === req.connection);
  if (!connection) throw new GatewayError('PCS_CONNECTION_UNKNOWN', { connection: req.connection });
  const identity: Identity = {
    subject: req.subject,
    groups: [...req.groups],
    roles: req.groups.some((g) => adminGroups.includes(g)) ? ['admin'] : [],
    issuer: 'policy-test',
    method: 'local',
  };
  const action = await actionFromText(connection, req.input);
  const decision = decide(policies, identity, { name: connection.name, type: connection.type }, action);
  const explanation = action.kind === 'ssh' ? explainSsh(policies, identity, connection.name, action) : [];
  // Explained without a credential's literals: the answer is printed and may be logged.
  return { identity, action: action.kind === 'sql' ? (action.dialect === 'mysql' ? shownMysqlAction(action) : shownAction(action)) : action, decision, explanation };
}
