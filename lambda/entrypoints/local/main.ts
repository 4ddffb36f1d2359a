// `npm start`: the gateway on http://127.0.0.1:8787/v1 with in-memory adapters and embedded defaults.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envSecretSource } from '../../adapters/env/secrets.ts';
import { ensureDevTenantKey, openLocalStore } from '../../adapters/file/local-store.ts';
import { MemoryMetrics, MemoryResponseCache } from '../../adapters/memory/index.ts';
import { loadContentFilters } from '../../adapters/regex/re2js.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { isLogLevel, jsonLogger } from '../../adapters/system/json-logger.ts';
import { createGptTokenCounter } from '../../adapters/tokenizer/gpt-tokenizer.ts';
import { withMockProvider } from '../../adapters/upstream/mock.ts';
import { createNodeHttpUpstream } from '../../adapters/upstream/node-http.ts';
import { localRedisClient } from '../../adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../../adapters/valkey/response-cache.ts';
import { ConfigError, parseGatewayConfig } from '../../core/config.ts';
import { createGateway } from '../../core/gateway.ts';
import { createJobObserver, JobTrackingError, trackJobs } from '../../core/jobs.ts';
import { createTargetClient } from '../../core/upstream/client.ts';
import type { JobEvents, SecretSource } from '../../ports.ts';
import { localConfig } from './defaults.ts';
import { createLocalServer } from './server.ts';

const env = process.env;
const port = Number(env.PORT ?? 8787);
const host = env.HOST ?? '127.0.0.1';
const level = env.LOG_LEVEL ?? 'info';
const logger = jsonLogger((line) => process.stdout.write(line), isLogLevel(level) ? level : 'info');

let config: ReturnType<typeof parseGatewayConfig>;
let filters: Awaited<ReturnType<typeof loadContentFilters>>;
try {
  config = parseGatewayConfig(
    env.GATEWAY_CONFIG_FILE ? JSON.parse(readFileSync(env.GATEWAY_CONFIG_FILE, 'utf8')) : localConfig(env),
  );
  filters = await loadContentFilters(config.filters);
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
}

// Tenants, keys, budgets and usage live in a local state directory that `npm run admin` shares.
const stateDir = path.resolve(env.GATEWAY_STATE_DIR ?? '.gateway');
const store = openLocalStore(stateDir, { pepper: env.GATEWAY_KEY_PEPPER });
let devKey: string;
try {
  devKey = await ensureDevTenantKey(store, { devKey: env.GATEWAY_DEV_KEY, dir: stateDir, tier: 'default' });
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
const upstreamSecrets = envSecretSource(env);
// The response cache: Valkey/Redis when REDIS_URL (one server) or REDIS_CLUSTER_NODES (host:port,…) is set.
const redisTarget = env.REDIS_URL || env.REDIS_CLUSTER_NODES;
const cache = redisTarget ? valkeyResponseCache(localRedisClient(redisTarget)) : new MemoryResponseCache();
const secrets: SecretSource = {
  get: async (name, options) =>
    name === config.keys.pepperSecretName ? store.pepper() : upstreamSecrets.get(name, options),
};
const upstream = withMockProvider(createNodeHttpUpstream());
const metrics = new MemoryMetrics();
// Locally a fine-tuning job's status changes are log lines; in AWS they are EventBridge events.
const jobEvents: JobEvents = {
  publish: async (change) => logger.info('fine-tuning job status changed', { ...change }),
};
const gateway = createGateway({
  config,
  keys: store.keys,
  budgets: store.budgets,
  ledger: store.ledger,
  tokens: createGptTokenCounter(),
  cache,
  filters,
  ownership: store.ownership,
  jobEvents,
  secrets,
  upstream,
  metrics,
  logger,
  clock: systemClock,
});

// The job tracker that EventBridge Scheduler runs every minute in AWS, on a timer here.
const observer = createJobObserver({
  config,
  ownership: store.ownership,
  ledger: store.ledger,
  events: jobEvents,
  keys: store.keys,
  clock: systemClock,
  logger,
});
const targets = createTargetClient({ config, secrets, upstream });
const trackerTimer = setInterval(
  () => {
    trackJobs({ ownership: store.ownership, observer, targets, clock: systemClock, logger, metrics }).catch(
      (error: unknown) => {
        if (!(error instanceof JobTrackingError))
          logger.error('job tracking run failed', { error: String(error) });
      },
    );
  },
  Number(env.GATEWAY_TRACKER_INTERVAL_MS ?? 30_000),
);
trackerTimer.unref();

const server = createLocalServer(gateway);
server.listen(port, host, () => {
  const upstream = env.OPENAI_API_KEY
    ? `OpenAI at ${env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`
    : 'the built-in mock provider';
  process.stderr.write(
    [
      `LLM gateway listening on http://${host}:${port}/v1 (upstream: ${upstream})`,
      `Dev key (tenant "dev"): ${devKey}`,
      `State: ${stateDir} (manage tenants and keys with: npm run admin -- --help)`,
      `Try: curl http://${host}:${port}/v1/chat/completions -H "Authorization: Bearer ${devKey}" -H "Content-Type: application/json" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
    ].join('\n'),
  );
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
