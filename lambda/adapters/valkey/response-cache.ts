// The ResponseCache port on Valkey/Redis (ElastiCache Serverless, a local server or cluster): GET and SET EX.
import type { Cluster, Redis } from 'iovalkey';
import type { ResponseCache } from '../../ports.ts';

export interface ValkeyResponseCacheOptions {
  /**
   * Put before every key, e.g. to share one cache between stages. Keys carry no `{hash tag}`, so the whole
   * key picks the slot and entries spread over every shard.
   * @default '' - keys as the core makes them
   */
  readonly keyPrefix?: string;
}

/**
 * Errors (a node down, a timeout, a cluster not ready yet) reject: the core counts them as misses. How fast
 * they reject is the client's business: build it with `elastiCacheClient` or `localRedisClient` (fail fast).
 */
export function valkeyResponseCache(
  client: Cluster | Redis,
  options: ValkeyResponseCacheOptions = {},
): ResponseCache {
  const prefix = options.keyPrefix ?? '';
  return {
    async get(key) {
      return (await client.get(prefix + key)) ?? undefined;
    },
    async set(key, value, ttlSeconds) {
      // EX takes whole seconds and refuses 0: round up, so an entry never outlives its TTL by less than 1 s.
      await client.set(prefix + key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds)));
    },
  };
}
