// What may be shown of a connection: its configuration with every secret-bearing field removed.
// Used by the admin API, the store copy of the configuration, and audit records.
import type { ConnectionConfig } from '../config/schema.ts';

/** Field names that carry secrets anywhere in a connection's configuration. */
const SECRET_FIELDS = new Set(['password', 'private_key', 'token', 'client_secret', 'value', 'passphrase']);

export type PublicConnection = Record<string, unknown> & { name: string; type: string };

export function publicView(conn: ConnectionConfig): PublicConnection {
  return stripSecrets(conn) as PublicConnection;
}

/** A deep copy of `value` without any secret-bearing field. */
export function stripSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSecrets);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!SECRET_FIELDS.has(k)) out[k] = stripSecrets(v);
    return out;
  }
  return value;
}

/** The secret written inline in the configuration (usually a `${env:...}` reference), if any. */
export function inlineSecret(conn: ConnectionConfig): string | undefined {
  switch (conn.type) {
    case 'postgres':
    case 'mysql':
      return conn.upstream.password;
    case 'ssh':
      return conn.upstream.private_key ?? conn.upstream.password;
    case 'http': {
      const auth = conn.upstream.auth;
      if (!auth) return undefined;
      switch (auth.type) {
        case 'bearer':
          return auth.token;
        case 'basic':
          return auth.password;
        case 'header':
        case 'query':
          return auth.value;
        case 'oauth2':
          return auth.client_secret;
      }
    }
  }
}
