// The life of a database listener around its sessions, the same for every wire protocol:
// connections still logging in (dropped after a timeout, destroyed at shutdown), background
// upstream probes, the sessions themselves, and the drain at shutdown (wait until the deadline,
// then terminate what is left). The protocol brings only its handshake and its sessions.
import type { Server, Socket } from 'node:net';
import type { Logger } from '../telemetry/logger.ts';

export interface Terminable {
  /** Gateway shutdown: tell the client why and close both sides. */
  terminate(): void;
}

export class ListenerLifecycle<S extends Terminable> {
  readonly #server: Server;
  readonly #logger: Logger;
  readonly #sessions = new Set<S>();
  readonly #handshakes = new Set<Socket>();
  readonly #probes = new Set<Promise<void>>();
  #sessionEnded: (() => void) | undefined;
  #closing = false;

  constructor(server: Server, logger: Logger) {
    this.#server = server;
    this.#logger = logger;
  }

  /** Set once `close` has begun: new logins are refused from then on. */
  get closing(): boolean {
    return this.#closing;
  }

  get activeSessions(): number {
    return this.#sessions.size;
  }

  /**
   * Runs a login on `socket`, destroying it after `timeoutMs` or at shutdown. `handshake`
   * answers every expected failure itself; what it throws is a bug, logged as `what`.
   */
  handshake(socket: Socket, timeoutMs: number, what: string, handshake: () => Promise<void>): void {
    this.#handshakes.add(socket);
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    handshake()
      .catch((err: unknown) => this.#logger.error({ err }, `${what} failed unexpectedly`))
      .finally(() => {
        clearTimeout(timer);
        this.#handshakes.delete(socket);
      });
  }

  /** A background login that `close` waits for; its failure is the caller's to report. */
  probe(work: Promise<void>): void {
    this.#probes.add(work);
    void work.finally(() => this.#probes.delete(work));
  }

  opened(session: S): void {
    this.#sessions.add(session);
  }

  ended(session: S): void {
    this.#sessions.delete(session);
    this.#sessionEnded?.();
  }

  /** Stops accepting, drops logins in progress, lets sessions finish until `deadline`, then terminates them. */
  async close(deadline: number): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#handshakes) socket.destroy();
    while (this.#sessions.size > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.#sessionEnded = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const session of [...this.#sessions]) session.terminate();
    await Promise.all(this.#probes);
    await closed;
  }
}
