// Remembers that an IdP just failed so the next requests fail fast instead of each waiting on a
// dead host; the wait doubles with each consecutive failure and resets on the first success.

const BASE_MS = 500;
const MAX_MS = 30_000;

export class Backoff {
  #failures = 0;
  #retryAt = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** True while the last failure is recent enough that trying again would be pointless. */
  get waiting(): boolean {
    return this.#failures > 0 && this.#now() < this.#retryAt;
  }

  failed(): void {
    this.#failures += 1;
    this.#retryAt = this.#now() + Math.min(BASE_MS * 2 ** (this.#failures - 1), MAX_MS);
  }

  succeeded(): void {
    this.#failures = 0;
    this.#retryAt = 0;
  }
}
