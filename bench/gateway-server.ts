// The real local gateway (core pipeline + node:http server + node:http upstream) with in-memory adapters, and the
// Valkey response cache when BENCH_REDIS_NODES (`host:port,host:port`) names a cluster.

import { sigV4Signer } from '../lambda/adapters/aws/sigv4-signer.ts';
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryMetrics,
  MemoryUsageLedger,
} from '../lambda/adapters/memory/index.ts';
import { loadContentFilters } from '../lambda/adapters/regex/re2js.ts';
import { systemClock } from '../lambda/adapters/system/clock.ts';
import { isLogLevel, jsonLogger } from '../lambda/adapters/system/json-logger.ts';
import { createGptTokenCounter } from '../lambda/adapters/tokenizer/gpt-tokenizer.ts';
import { createNodeHttpUpstream } from '../lambda/adapters/upstream/node-http.ts';
import { localRedisClient } from '../lambda/adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../lambda/adapters/valkey/response-cache.ts';
import { parseGatewayConfig } from '../lambda/core/config.ts';
import { createGateway } from '../lambda/core/gateway.ts';
import { createLocalServer } from '../lambda/entrypoints/local/server.ts';
import { whenReady } from '../test/fixtures/redis-cluster.ts';
import { serveFromChild } from './child.ts';
import { BENCH_PEPPER, benchGatewayConfig, seedBenchTenant } from './shared.ts';

const upstreamOrigin = process.env.BENCH_UPSTREAM_ORIGIN;
if (upstreamOrigin === undefined) throw new Error('BENCH_UPSTREAM_ORIGIN is required');
const level = process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'info';
// Log lines are built (JSON.stringify and all) and then dropped: the serialisation cost is measured, the I/O not.
let logLines = 0;
const logger = jsonLogger(
  () => {
    logLines += 1;
  },
  isLogLevel(level) ? level : 'info',
);
// Auth (HMAC key check), a budget hold and metering with rollups all run, against the in-memory twins.
const db = new MemoryDatabase(10_000);
const keys = new MemoryKeyStore(db);
await seedBenchTenant(keys);
const ledger = new MemoryUsageLedger(db);
const metrics = new MemoryMetrics();
const redisNodes = process.env.BENCH_REDIS_NODES ?? '';
const cacheClient =
  redisNodes === ''
    ? undefined
    : localRedisClient(redisNodes, (error) => process.stderr.write(`[gateway] valkey: ${error.message}\n`));
// Connected before the port is reported: a command sent earlier would reject, and the first hit be a miss.
if (cacheClient !== undefined) await whenReady(cacheClient);
const config = parseGatewayConfig(benchGatewayConfig(upstreamOrigin));
const gateway = createGateway({
  config,
  // The bedrock route's requests are signed (SigV4) as in AWS, with fixed bench credentials.
  signer: sigV4Signer(async () => ({ accessKeyId: 'AKIABENCHBENCHBENCH', secretAccessKey: 'bench-secret' })),
  filters: await loadContentFilters(config.filters),
  keys,
  budgets: new MemoryBudgetStore(db),
  tokens: createGptTokenCounter(),
  secrets: {
    get: async (name) =>
      name === 'gateway-key-pepper' ? BENCH_PEPPER : Promise.reject(new Error(`no secret ${name}`)),
  },
  upstream: createNodeHttpUpstream(),
  ledger,
  metrics,
  logger,
  clock: systemClock,
  cache: cacheClient === undefined ? undefined : valkeyResponseCache(cacheClient),
});
serveFromChild(createLocalServer(gateway), () => ({
  logLines,
  ledgerRecords: ledger.records.length,
  requestsMetric: metrics.sum('Requests'),
  serverErrorsMetric: metrics.sum('ServerErrors'),
  cacheHitsMetric: metrics.sum('CacheHits'),
  cacheMissesMetric: metrics.sum('CacheMisses'),
  cacheErrorsMetric: metrics.sum('CacheErrors'),
}));
