// Connection ids. The agent sees the gateway's own id in the greeting (what the mariadb CLI's
// Ctrl-C sends as `KILL QUERY <id>` on a new connection) and the server's thread id through
// CONNECTION_ID(); both name one session. KILL is relayed only for a session of the same
// subject on the same connection, rewritten to that session's upstream thread id.
export interface ThreadEntry {
  readonly subject: string;
  readonly connection: string;
  /** The upstream's thread id. */
  readonly thread: number;
}

export class ThreadRegistry {
  #next = 1;
  readonly #byId = new Map<number, ThreadEntry>();

  /** The id the greeting shows; `bind` once the session has logged in upstream. */
  allocate(): number {
    const id = this.#next;
    this.#next = this.#next >= 0x7fffffff ? 1 : this.#next + 1;
    return id;
  }

  bind(id: number, entry: ThreadEntry): void {
    this.#byId.set(id, entry);
  }

  release(id: number): void {
    this.#byId.delete(id);
  }

  /** The upstream thread a KILL of `id` by this subject on this connection reaches, or undefined when it is not theirs. */
  resolve(id: number, subject: string, connection: string): number | undefined {
    const own = (e: ThreadEntry): boolean => e.subject === subject && e.connection === connection;
    const byGateway = this.#byId.get(id);
    if (byGateway !== undefined && own(byGateway)) return byGateway.thread;
    for (const e of this.#byId.values()) if (own(e) && e.thread === id) return e.thread;
    return undefined;
  }
}
