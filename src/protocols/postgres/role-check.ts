// Whether a connection's upstream role is a superuser, asked once per connection: at start-up
// (a probe login that does not hold the start up) or, when the upstream was down then, at the
// first session's login. A superuser reads pg_authid and any table whatever the grants, so
// policy and the built-in credential masks are then all that stands between an agent and the
// data: the operator is told, at warn level, once.
import type { Logger } from '../../telemetry/logger.ts';

export class UpstreamRoleCheck {
  /** Connections whose answer came back (checked, whatever it was). */
  readonly #checked = new Set<string>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Whether a login to this connection should ask. */
  needed(connection: string): boolean {
    return !this.#checked.has(connection);
  }

  /** The answer of a login that asked; undefined (the query failed) asks again next time. */
  report(connection: string, user: string, superuser: boolean | undefined): void {
    if (superuser === undefined || this.#checked.has(connection)) return;
    this.#checked.add(connection);
    if (!superuser) return;
    this.#logger.warn(
      { connection, upstream_user: user, superuser: true },
      `connection ${connection}: upstream role ${user} is a superuser; it reads every table and password verifier whatever the grants, so only policy and masks protect them: give the connection a role with only the privileges agents need`,
    );
  }
}
