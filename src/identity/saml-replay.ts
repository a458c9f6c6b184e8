// Remembers assertion ids until they expire so a captured SAMLResponse cannot be exchanged
// twice. In memory: with several replicas each keeps its own set (see saml.ts).

const PRUNE_EVERY_MS = 60_000;

export class ReplayCache {
  readonly #seen = new Map<string, number>();
  #prunedAt = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Record `id` as used until `untilMs`. Returns false when it was already used: the check and
   * the insert are one synchronous step, so two concurrent exchanges cannot both win.
   */
  claim(id: string, untilMs: number): boolean {
    const now = this.#now();
    this.#prune(now);
    const until = this.#seen.get(id);
    if (until !== undefined && until > now) return false;
    this.#seen.set(id, untilMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #prune(now: number): void {
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    for (const [id, until] of this.#seen) if (until <= now) this.#seen.delete(id);
  }
}
