// The local gateway as `npm start` runs it, from its environment: config, the local store (SQLite in
// GATEWAY_STATE_DIR), the dev key, the response cache, upstreams, the job tracker and the store's upkeep. main.ts
// listens and prints; the bench runs this same function.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { sigV4Signer } from '../../adapters/aws/sigv4-signer.ts';
import { envSecretSource } from '../../adapters/env/secrets.ts';
import { MemoryMetrics, MemoryResponseCache } from '../../adapters/memory/index.ts';
import { loadContentFilters } from '../../adapters/regex/re2js.ts';
import { ensureDevTenantKey, type LocalStore, openLocalStore } from '../../adapters/sqlite/local-store.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { isLogLevel, jsonLogger } from '../../adapters/system/json-logger.ts';
import { createGptTokenCounter } from '../../adapters/tokenizer/gpt-tokenizer.ts';
import { withMockProvider } from '../../adapters/upstream/mock.ts';
import { createNodeHttpUpstream } from '../../adapters/upstream/node-http.ts';
import { localRedisClient } from '../../adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../../adapters/valkey/response-cache.ts';
import { type GatewayConfig, parseGatewayConfig } from '../../core/config.ts';
import { createGateway } from '../../core/gateway.ts';
import { createJobObserver, JobTrackingError, trackJobs } from '../../core/jobs.ts';
import { createTargetClient } from '../../core/upstream/client.ts';
import type { JobEvents, Logger, SecretSource } from '../../ports.ts';
import { localConfig } from './defaults.ts';
import { createLocalServer } from './server.ts';

/** How often the store releases holds no request will settle and deletes records past their retention. */
const UPKEEP_INTERVAL_MS = 60_000;

export interface LocalApp {
  readonly server: Server;
  readonly config: GatewayConfig;
  readonly store: LocalStore;
  readonly stateDir: string;
  readonly devKey: string;
  readonly logger: Logger;
  /** Stops the timers, waits for the usage records still being written, and closes the store. */
  close(): Promise<void>;
}

/** A number of days from GATEWAY_USAGE_RETENTION_DAYS; undefined (keep every record) when unset. */
const retentionDays = (value: string | undefined): number | undefined => {
  if (value === undefined || value.trim() === '') return undefined;
  const days = Number(value);
  if (!(Number.isFinite(days) && days > 0))
    throw new Error(`GATEWAY_USAGE_RETENTION_DAYS must be a number of days above 0, not '${value}'.`);
  return days;
};

/**
 * Builds the local gateway. Throws (with a message for the operator) on a bad config, a state directory it cannot
 * use or a bad dev key. `writeLog` takes each JSON log line (default: stdout).
 */
export const createLocalApp = async (
  env: NodeJS.ProcessEnv,
  options: { readonly writeLog?: (line: string) => void } = {},
): Promise<LocalApp> => {
  const level = env.LOG_LEVEL ?? 'info';
  const logger = jsonLogger(
    options.writeLog ?? ((line) => process.stdout.write(line)),
    isLogLevel(level) ? level : 'info',
  );
  const config = parseGatewayConfig(
    env.GATEWAY_CONFIG_FILE ? JSON.parse(readFileSync(env.GATEWAY_CONFIG_FILE, 'utf8')) : localConfig(env),
  );
  const filters = await loadContentFilters(config.filters);

  // Tenants, keys, budgets and usage live in a local state directory that `npm run admin` shares.
  const stateDir = path.resolve(env.GATEWAY_STATE_DIR ?? '.gateway');
  const store = openLocalStore(stateDir, {
    pepper: env.GATEWAY_KEY_PEPPER,
    usageRetentionDays: retentionDays(env.GATEWAY_USAGE_RETENTION_DAYS),
  });
  try {
    if (store.imported !== undefined) {
      logger.info('imported the local state of an earlier version', {
        ...store.imported,
        database: store.file,
        note: 'state.json is no longer read; it is left as a backup',
      });
    }
    // Holds of a gateway that was killed mid-request are released before this one serves.
    const upkeep = () => {
      const done = store.maintain();
      if (done.holdsReleased > 0 || done.recordsDeleted > 0) logger.info('local store upkeep', { ...done });
    };
    upkeep();
    const devKey = await ensureDevTenantKey(store, {
      devKey: env.GATEWAY_DEV_KEY,
      dir: stateDir,
      tier: 'default',
    });
    const upstreamSecrets = envSecretSource(env);
    // The response cache: Valkey/Redis when REDIS_URL (one server) or REDIS_CLUSTER_NODES (host:port,…) is set.
    const redisTarget = env.REDIS_URL || env.REDIS_CLUSTER_NODES;
    const cache = redisTarget
      ? valkeyResponseCache(localRedisClient(redisTarget))
      : new MemoryResponseCache();
    const secrets: SecretSource = {
      get: async (name, secretOptions) =>
        name === config.keys.pepperSecretName ? store.pepper() : upstreamSecrets.get(name, secretOptions),
    };
    const upstream = withMockProvider(createNodeHttpUpstream());
    const metrics = new MemoryMetrics();
    // Locally a fine-tuning job's status changes are log lines; in AWS they are EventBridge events.
    const jobEvents: JobEvents = {
      publish: async (change) =>
        logger.info(change.kind === 'batch' ? 'batch status changed' : 'fine-tuning job status changed', {
          ...change,
        }),
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
      // Bedrock targets are signed with the AWS SDK's default credentials (environment, profile, SSO).
      signer: sigV4Signer(),
      metrics,
      logger,
      clock: systemClock,
    });

    // The job tracker that EventBridge Scheduler runs every minute in AWS, on a timer here.
    const targets = createTargetClient({ config, secrets, upstream });
    const observer = createJobObserver({
      config,
      ownership: store.ownership,
      ledger: store.ledger,
      events: jobEvents,
      keys: store.keys,
      clock: systemClock,
      logger,
      targets,
    });
    const timers = [
      setInterval(
        () => {
          trackJobs({
            ownership: store.ownership,
            observer,
            targets,
            clock: systemClock,
            logger,
            metrics,
          }).catch((error: unknown) => {
            if (!(error instanceof JobTrackingError))
              logger.error('job tracking run failed', { error: String(error) });
          });
        },
        Number(env.GATEWAY_TRACKER_INTERVAL_MS ?? 30_000),
      ),
      setInterval(() => {
        try {
          upkeep();
        } catch (error) {
          logger.error('local store upkeep failed', { error: String(error) });
        }
      }, UPKEEP_INTERVAL_MS),
    ];
    for (const timer of timers) timer.unref();
    return {
      server: createLocalServer(gateway),
      config,
      store,
      stateDir,
      devKey,
      logger,
      close: async () => {
        for (const timer of timers) clearInterval(timer);
        await gateway.drain();
        store.close();
      },
    };
  } catch (error) {
    store.close();
    throw error;
  }
};
