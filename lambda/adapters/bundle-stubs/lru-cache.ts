// Stands in for `mnemonist/lru-cache` in the Lambda bundles (esbuild alias: scripts/bundle.ts BUNDLE_STUB_ALIASES,
// lib/constructs/bundling.ts). Its one user there is @aws-sdk/endpoint-cache, the DynamoDB client's cache of
// discovered endpoints, which calls only what is below with string keys. mnemonist's cache (with obliterator,
// ~7 KB of bundle) keeps the recency order in typed arrays; a Map keeps it in insertion order: the same
// evictions, checked against mnemonist in test/adapters/bundle-stubs.test.ts.

export default class LRUCache<K, V> {
  readonly capacity: number;
  private readonly items = new Map<K, V>();

  constructor(capacity: number) {
    if (typeof capacity !== 'number' || capacity <= 0) {
      throw new Error('mnemonist/lru-cache: capacity should be positive number.');
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.items.size;
  }

  /** The value, now the most recently used; undefined if absent. */
  get(key: K): V | undefined {
    if (!this.items.has(key)) return undefined;
    const value = this.items.get(key) as V;
    this.items.delete(key);
    this.items.set(key, value);
    return value;
  }

  /** The value without touching its recency. */
  peek(key: K): V | undefined {
    return this.items.get(key);
  }

  has(key: K): boolean {
    return this.items.has(key);
  }

  /** Stores the value as the most recently used, evicting the least recently used when full. */
  set(key: K, value: V): void {
    this.items.delete(key);
    if (this.items.size >= this.capacity) {
      const oldest = this.items.keys().next();
      if (oldest.done !== true) this.items.delete(oldest.value);
    }
    this.items.set(key, value);
  }

  clear(): void {
    this.items.clear();
  }
}
