// Which connection a request is for: by host name when a connection names one, else by the
// first path segment (the connection's prefix, `/<name>` by default), which is then removed.
import type { ConnectionConfig } from '../../config/schema.ts';

export type HttpConnection = Extract<ConnectionConfig, { type: 'http' }>;

export interface Route {
  readonly connection: HttpConnection;
  /** The path below the prefix (always starting with `/`). */
  readonly path: string;
}

export class Router {
  readonly #byHost = new Map<string, HttpConnection>();
  readonly #byPrefix: { prefix: string; connection: HttpConnection }[] = [];

  constructor(connections: readonly ConnectionConfig[]) {
    for (const c of connections) {
      if (c.type !== 'http') continue;
      if (c.host !== undefined) this.#byHost.set(c.host.toLowerCase(), c);
      this.#byPrefix.push({ prefix: (c.prefix ?? `/${c.name}`).replace(/\/+$/, ''), connection: c });
    }
    // Longest prefix first: `/api/v2` before `/api`.
    this.#byPrefix.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The connection that names this host (a Host header, port ignored, or a TLS server name). */
  byHost(host: string | undefined): HttpConnection | undefined {
    const name = host?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
    return name === undefined ? undefined : this.#byHost.get(name);
  }

  /** `path`: the normalised, still-encoded request path. */
  route(host: string | undefined, path: string): Route | undefined {
    const byHost = this.byHost(host);
    if (byHost !== undefined) return { connection: byHost, path };
    for (const { prefix, connection } of this.#byPrefix) {
      if (path === prefix || path.startsWith(`${prefix}/`)) return { connection, path: path.slice(prefix.length) || '/' };
    }
    return undefined;
  }
}
