// Which policies apply to an identity on a connection. The answer only depends on those two
// (not on the action), and a session asks again for every statement, so it is memoised per
// identity object (WeakMap: it goes away with the session) and connection name. The memo is
// invisible to callers: decide() stays a pure function of its arguments.
import type { Identity } from '../core/identity.ts';
import type { CompiledPolicies, CompiledPolicy } from './compile.ts';
import { anyMatch } from '../util/glob.ts';

/** A session talks to few connections; the bound only guards against callers inventing names. */
const MAX_CONNECTIONS_PER_IDENTITY = 64;

function applies(policy: CompiledPolicy, identity: Identity, connection: string): boolean {
  if (!anyMatch(policy.connections, connection)) return false;
  if (anyMatch(policy.users, identity.subject)) return true;
  for (const group of identity.groups) if (anyMatch(policy.groups, group)) return true;
  return false;
}

const memo = new WeakMap<CompiledPolicies, WeakMap<Identity, Map<string, readonly CompiledPolicy[]>>>();

/** The policies, in file order, whose subjects and connections name this identity and connection. */
export function applicablePolicies(policies: CompiledPolicies, identity: Identity, connection: string): readonly CompiledPolicy[] {
  let byIdentity = memo.get(policies);
  if (byIdentity === undefined) memo.set(policies, (byIdentity = new WeakMap()));
  let byConnection = byIdentity.get(identity);
  if (byConnection === undefined) byIdentity.set(identity, (byConnection = new Map()));
  let found = byConnection.get(connection);
  if (found === undefined) {
    found = Object.freeze(policies.policies.filter((p) => applies(p, identity, connection)));
    if (byConnection.size >= MAX_CONNECTIONS_PER_IDENTITY) byConnection.clear();
    byConnection.set(connection, found);
  }
  return found;
}
