// Helpers for policy tests: policies from YAML through the real config loader, identities,
// and actions from text.
import { parseConfig } from '../../src/config/load.ts';
import type { ConnectionConfig } from '../../src/config/schema.ts';
import type { Action } from '../../src/core/action.ts';
import type { Identity } from '../../src/core/identity.ts';
import { actionFromText } from '../../src/policy/action-from-text.ts';
import { compilePolicies, type CompiledPolicies } from '../../src/policy/compile.ts';

const CONNECTIONS = `
connections:
  - { name: prod-db, type: postgres, upstream: { host: db, database: app, user: gw } }
  - { name: staging-db, type: postgres, upstream: { host: db, database: app, user: gw } }
  - { name: legacy-db, type: mysql, upstream: { host: db, user: gw } }
  - { name: billing-api, type: http, upstream: { url: "https://billing.example.com" } }
  - { name: web-1, type: ssh, upstream: { host: web-1, user: deploy } }
`;

export function connectionsFromYaml(): readonly ConnectionConfig[] {
  return parseConfig(CONNECTIONS).config.connections;
}

/** `policies` is the YAML of the `policies:` list (its items, indented by two spaces). */
export function policiesFrom(policiesYaml: string): CompiledPolicies {
  return compilePolicies(parseConfig(`${CONNECTIONS}\npolicies:\n${policiesYaml}`).config.policies);
}

export function identity(subject: string, groups: readonly string[] = []): Identity {
  return { subject, groups, roles: [], issuer: 'test', method: 'local' };
}

export function connection(name: string): ConnectionConfig {
  const found = connectionsFromYaml().find((c) => c.name === name);
  if (found === undefined) throw new Error(`no test connection ${name}`);
  return found;
}

export function actionFor(connectionName: string, text: string): Promise<Action> {
  return actionFromText(connection(connectionName), text);
}
