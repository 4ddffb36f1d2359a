// Lambda entry: composes the gateway from the bundled config and AWS adapters once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sigV4Signer } from '../../adapters/aws/sigv4-signer.ts';
import { emfMetrics } from '../../adapters/cloudwatch/emf-metrics.ts';
import { powertoolsLogger } from '../../adapters/cloudwatch/powertools-logger.ts';
import { DynamoBudgetStore, DynamoKeyStore, DynamoUsageLedger } from '../../adapters/dynamodb/index.ts';
import { DynamoOwnershipStore } from '../../adapters/dynamodb/ownership-store.ts';
import { eventBridgeJobEvents } from '../../adapters/eventbridge/job-events.ts';
import { loadContentFilters } from '../../adapters/regex/re2js.ts';
import { secretsManagerSource } from '../../adapters/secrets-manager/secret-source.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { createGptTokenCounter } from '../../adapters/tokenizer/gpt-tokenizer.ts';
import { createNodeHttpUpstream } from '../../adapters/upstream/node-http.ts';
import { elastiCacheClient } from '../../adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../../adapters/valkey/response-cache.ts';
import { createGateway } from '../../core/gateway.ts';
import { EnvVar, FunctionEnv, LambdaEnvVar } from '../../environment.ts';
import { environmentOf, loadGatewayConfig } from '../aws-environment.ts';
import { createLambdaHandler } from './handler.ts';

const env = environmentOf(FunctionEnv.gateway);
const config = loadGatewayConfig();
const serviceName = env.optional(EnvVar.POWERTOOLS_SERVICE_NAME) ?? 'llm-gateway';
const logger = powertoolsLogger(new Logger({ serviceName }));

const dynamodb = new DynamoDBClient({});
const tables = {
  keys: env.required(EnvVar.KEYS_TABLE),
  usage: env.required(EnvVar.USAGE_TABLE),
  budgets: env.required(EnvVar.BUDGETS_TABLE),
};
// Secret names in the config (upstream keys, the key pepper) → Secrets Manager ids, set by the stack.
const upstreamSecretIds = env.optional(EnvVar.SECRET_IDS);
const secretIds: Record<string, string> = {
  ...(upstreamSecretIds ? (JSON.parse(upstreamSecretIds) as Record<string, string>) : {}),
  [config.keys.pepperSecretName]: env.required(EnvVar.PEPPER_SECRET_ID),
};

// The response cache when the stack created one (CACHE_ENDPOINT set with its grant): connecting starts now,
// during init, so the first request finds it ready; until then a lookup fails fast and counts as a miss.
const cache = (() => {
  const endpoint = env.optional(EnvVar.CACHE_ENDPOINT);
  if (!endpoint) return undefined;
  const client = elastiCacheClient({
    endpoint,
    cacheName: env.required(EnvVar.CACHE_NAME),
    userId: env.required(EnvVar.CACHE_USER),
    region: env.required(LambdaEnvVar.AWS_REGION),
  });
  client.connect().catch(() => {});
  return valkeyResponseCache(client);
})();

// Content rules, when the config enables any: the regex engine loads here, during init, outside the bundle.
const filters = await loadContentFilters(config.filters);

// Loaded after the first response, not during it (see createGptTokenCounter): until then counts are upper bounds.
const tokens = createGptTokenCounter({ eager: false });

// Files and fine-tuning, when the stack gave the function the ownership table and the job event bus.
const ownershipTable = env.optional(EnvVar.OWNERSHIP_TABLE);
const jobEventsBus = env.optional(EnvVar.JOB_EVENTS_BUS);
const gateway = createGateway({
  config,
  keys: new DynamoKeyStore(dynamodb, tables),
  budgets: new DynamoBudgetStore(dynamodb, tables),
  ledger: new DynamoUsageLedger(dynamodb, tables),
  tokens,
  cache,
  filters,
  ownership: ownershipTable ? new DynamoOwnershipStore(dynamodb, ownershipTable) : undefined,
  jobEvents: jobEventsBus
    ? eventBridgeJobEvents(new EventBridgeClient({}), { busName: jobEventsBus })
    : undefined,
  secrets: secretsManagerSource(new SecretsManagerClient({}), { secretIds }),
  upstream: createNodeHttpUpstream(),
  // Bedrock targets are signed with the function role's credentials (from its environment).
  signer: sigV4Signer(),
  metrics: emfMetrics(
    new Metrics({
      namespace: env.optional(EnvVar.POWERTOOLS_METRICS_NAMESPACE) ?? 'LlmGateway',
      serviceName,
    }),
  ),
  logger,
  clock: systemClock,
});

export const handler = createLambdaHandler(gateway, {
  flushPaddingBytes: config.streaming.flushPaddingBytes,
  flushPaddingAfterIdleMs: config.streaming.flushPaddingAfterIdleMs,
  now: systemClock.now,
  afterResponse: () => tokens.ready(),
});
