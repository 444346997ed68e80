/**
 * A small least-recently-used map (a Map keeps insertion order: a hit is re-inserted at the
 * end, the first key is the oldest). Used wherever a cache or per-key state is keyed by
 * something a caller chooses (certificate bytes, collateral, signing keys): without a bound,
 * every distinct input would stay in memory for the life of the process (issue 9 #5).
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`an LRU needs a positive integer size, got ${max}`);
  }
  get size() {
    return this.map.size;
  }
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  has(key: K): boolean {
    return this.map.has(key);
  }
  set(key: K, value: V): this {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
    return this;
  }
  delete(key: K): boolean {
    return this.map.delete(key);
  }
  clear() {
    this.map.clear();
  }
}
