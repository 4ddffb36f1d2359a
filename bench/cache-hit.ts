// The cache-hit case: a stored answer served by the gateway from Valkey, beside a bare Valkey GET of that entry.
import type { Cluster, Redis } from 'iovalkey';
import { localRedisClient } from '../lambda/adapters/valkey/clients.ts';
import { cacheKey } from '../lambda/core/cache-policy.ts';
import { parseGatewayConfig } from '../lambda/core/config.ts';
import { responseRulesFingerprint } from '../lambda/core/content-rules.ts';
import { createRouteTable } from '../lambda/core/routing.ts';
import { type RedisCluster, whenReady } from '../test/fixtures/redis-cluster.ts';
import {
  expectCacheStatus,
  expectOk,
  type LoadResult,
  type LoadTarget,
  type RequestSpec,
  runLoad,
} from './load.ts';
import type { CacheHitResult } from './report.ts';
import { BENCH_MODEL, BENCH_TENANT_ID, benchGatewayConfig } from './shared.ts';
import { concat, summarize } from './stats.ts';

/** Seeded and greedy: the default (`deterministic`) cache policy stores and answers it. */
const CACHED_BODY = {
  model: BENCH_MODEL,
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Hello' },
  ],
  seed: 42,
  temperature: 0,
};
export const CACHED_CHAT: RequestSpec = {
  path: '/v1/chat/completions',
  body: JSON.stringify(CACHED_BODY),
  stream: false,
};

export interface CacheHitPlan {
  readonly warmup: number;
  readonly requests: number;
  readonly rounds: number;
}

export interface CacheHitTargets {
  readonly gateway: LoadTarget;
  readonly direct: LoadTarget;
  /** The chat of the other phases: it has no seed, so the gateway bypasses the cache for it. */
  readonly uncached: RequestSpec;
}

const MEASURES = ['valkey GET', 'cache hit', 'uncached', 'direct'] as const;
type Measure = (typeof MEASURES)[number];

const ENTRY_WAIT_MS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The key the gateway stores CACHED_CHAT under, built from the same config, so the bare GET reads that entry. */
const cachedChatKey = (upstreamOrigin: string): string => {
  const config = parseGatewayConfig(benchGatewayConfig(upstreamOrigin));
  const route = createRouteTable(config.routes).resolve(BENCH_MODEL);
  if (route === undefined) throw new Error(`the bench config has no route for ${BENCH_MODEL}`);
  // The response content rules are part of the key: entries filtered by other rules are never served.
  const variant = responseRulesFingerprint(config.filters);
  return cacheKey(BENCH_TENANT_ID, config.cache.version, CACHED_CHAT.path, route, CACHED_BODY, variant);
};

/** The gateway writes an answer after it has responded: wait until the entry is there. */
const waitForEntry = async (client: Cluster | Redis, key: string): Promise<string> => {
  const deadline = Date.now() + ENTRY_WAIT_MS;
  for (;;) {
    const entry = await client.get(key);
    if (entry !== null) return entry;
    if (Date.now() > deadline) {
      throw new Error(`cache hit: the gateway stored no entry under ${key} within ${ENTRY_WAIT_MS} ms`);
    }
    await sleep(10);
  }
};

/** `count` sequential GETs of `key`, send to reply, ms; each must return the stored entry. */
const timeGets = async (client: Cluster | Redis, key: string, entry: string, count: number) => {
  const latencyMs = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    const value = await client.get(key);
    latencyMs[i] = Number(process.hrtime.bigint() - start) / 1e6;
    if (value !== entry)
      throw new Error(`valkey GET ${key} returned ${value === null ? 'nothing' : 'another value'}`);
  }
  return latencyMs;
};

const serverOf = async (cluster: RedisCluster): Promise<string> => {
  const info = await cluster.cli(0, 'INFO', 'server');
  const valkey = /valkey_version:(\S+)/.exec(info)?.[1];
  const redis = /redis_version:(\S+)/.exec(info)?.[1];
  return valkey === undefined ? `Redis ${redis ?? '?'}` : `Valkey ${valkey}`;
};

/**
 * Stores CACHED_CHAT through the gateway, then measures, at concurrency 1 in rounds that take turns: a bare GET
 * of its entry from this process, the gateway answering it from the cache (every response must be a hit), the
 * gateway's uncached chat and the direct call.
 */
export const runCacheHit = async (
  plan: CacheHitPlan,
  targets: CacheHitTargets,
  cluster: RedisCluster,
  upstreamOrigin: string,
  log: (message: string) => void,
): Promise<CacheHitResult> => {
  const key = cachedChatKey(upstreamOrigin);
  const client = localRedisClient(cluster.nodes);
  try {
    await whenReady(client);
    const first = await runLoad(targets.gateway, CACHED_CHAT, 1, 1);
    expectOk(first, 'cache hit, first request');
    expectCacheStatus(first, 'miss', 'cache hit, first request');
    const entry = await waitForEntry(client, key);

    const hits = async (count: number) => {
      const result = await runLoad(targets.gateway, CACHED_CHAT, count, 1);
      expectOk(result, 'cache hit');
      expectCacheStatus(result, 'hit', 'cache hit');
      return result;
    };
    const uncached = async (count: number) => {
      const result = await runLoad(targets.gateway, targets.uncached, count, 1);
      expectOk(result, 'cache hit case, uncached gateway call');
      expectCacheStatus(result, 'bypass', 'cache hit case, uncached gateway call');
      return result;
    };
    const direct = async (count: number) => {
      const result = await runLoad(targets.direct, targets.uncached, count, 1);
      expectOk(result, 'cache hit case, direct call');
      return result;
    };

    log(`cache hit: warm-up ${plan.warmup} of each`);
    await timeGets(client, key, entry, plan.warmup);
    await hits(plan.warmup);
    await uncached(plan.warmup);
    await direct(plan.warmup);

    const samples: Record<Measure, Float64Array[]> = {
      'valkey GET': [],
      'cache hit': [],
      uncached: [],
      direct: [],
    };
    const hitResults: LoadResult[] = [];
    let responseBytes = 0;
    const perRound = Math.max(1, Math.round(plan.requests / plan.rounds));
    for (let round = 0; round < plan.rounds; round++) {
      for (let i = 0; i < MEASURES.length; i++) {
        const measure = MEASURES[(i + round) % MEASURES.length]!;
        if (measure === 'valkey GET') {
          samples[measure].push(await timeGets(client, key, entry, perRound));
        } else if (measure === 'cache hit') {
          const result = await hits(perRound);
          hitResults.push(result);
          responseBytes = result.bodyBytes;
          samples[measure].push(result.latencyMs);
        } else {
          samples[measure].push((await (measure === 'uncached' ? uncached : direct)(perRound)).latencyMs);
        }
      }
      log(`cache hit: round ${round + 1}/${plan.rounds} done`);
    }
    const reported = hitResults.flatMap((result) => result.reportedOverheadMs);
    return {
      server: await serverOf(cluster),
      masters: cluster.nodes.length,
      entryBytes: Buffer.byteLength(entry),
      responseBytes,
      valkeyGet: summarize(concat(samples['valkey GET'])),
      hit: summarize(concat(samples['cache hit'])),
      hitReportedOverhead: reported.length > 0 ? summarize(reported) : undefined,
      uncached: summarize(concat(samples.uncached)),
      direct: summarize(concat(samples.direct)),
    };
  } finally {
    client.disconnect();
  }
};
