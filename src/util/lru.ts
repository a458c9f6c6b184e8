// A small bounded LRU over Map's insertion order: a hit moves the key to the end, an insert
// past capacity evicts the first (least recently used) key.
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  /** The most recently used key: a hit on it needs no move (a repeated statement). */
  private newest: K | undefined = undefined;

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined && key !== this.newest) {
      this.newest = key;
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    this.newest = key;
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.newest = undefined;
  }
}
