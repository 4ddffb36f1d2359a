// The real local gateway (core pipeline + node:http server + node:http upstream) with in-memory adapters.
import { MemoryKeyStore, MemoryMetrics, MemoryUsageLedger } from '../lambda/adapters/memory/index.ts';
import { systemClock } from '../lambda/adapters/system/clock.ts';
import { isLogLevel, jsonLogger } from '../lambda/adapters/system/json-logger.ts';
import { createNodeHttpUpstream } from '../lambda/adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../lambda/core/config.ts';
import { createGateway } from '../lambda/core/pipeline.ts';
import { createLocalServer } from '../lambda/entrypoints/local/server.ts';
import { serveFromChild } from './child.ts';
import { BENCH_GATEWAY_KEY, benchGatewayConfig } from './shared.ts';

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
const ledger = new MemoryUsageLedger(10_000);
const metrics = new MemoryMetrics();
const gateway = createGateway({
  config: parseGatewayConfig(benchGatewayConfig(upstreamOrigin)),
  keys: new MemoryKeyStore([[BENCH_GATEWAY_KEY, { tenantId: 'bench', keyId: 'bench' }]]),
  secrets: { get: async (name) => Promise.reject(new Error(`no secret ${name} in the bench`)) },
  upstream: createNodeHttpUpstream(),
  ledger,
  metrics,
  logger,
  clock: systemClock,
});
serveFromChild(createLocalServer(gateway), () => ({
  logLines,
  ledgerRecords: ledger.records.length,
  requestsMetric: metrics.sum('Requests'),
  serverErrorsMetric: metrics.sum('ServerErrors'),
}));
