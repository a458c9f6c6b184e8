// The order of SQL effects, from harmless to opaque. A statement has the most severe effect of
// its own command and of every function it calls. `unknown` is the most severe so that one
// opaque part makes the whole statement fail closed.
import { SQL_EFFECTS, type SqlEffect } from '../core/action.ts';

const RANK: Readonly<Record<SqlEffect, number>> = Object.fromEntries(SQL_EFFECTS.map((e, i) => [e, i])) as Record<SqlEffect, number>;

/** The more severe of two effects (read < write < ddl < privilege < admin < unknown). */
export function worse(a: SqlEffect, b: SqlEffect): SqlEffect {
  return RANK[b] > RANK[a] ? b : a;
}
