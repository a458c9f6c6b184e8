// A promise settled from outside, once (Promise.withResolvers is Node 22): for a readiness
// that an event delivers before or after anyone asks.
export class Deferred<T = void> {
  readonly promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (err: Error) => void;
  #settled = false;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Later calls (either kind) do nothing. */
  resolve(value: T): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(value);
  }

  reject(err: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(err);
  }
}
