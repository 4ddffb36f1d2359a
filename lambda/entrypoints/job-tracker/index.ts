// Lambda entry of the fine-tuning job tracker, invoked by an EventBridge Scheduler schedule: one run of trackJobs.
// A run that could not track every due job fails, so Lambda retries it (async invoke) and the error alarm sees it.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { emfMetrics } from '../../adapters/cloudwatch/emf-metrics.ts';
import { powertoolsLogger } from '../../adapters/cloudwatch/powertools-logger.ts';
import { DynamoKeyStore, DynamoUsageLedger } from '../../adapters/dynamodb/index.ts';
import { DynamoOwnershipStore } from '../../adapters/dynamodb/ownership-store.ts';
import { eventBridgeJobEvents } from '../../adapters/eventbridge/job-events.ts';
import { secretsManagerSource } from '../../adapters/secrets-manager/secret-source.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { createNodeHttpUpstream } from '../../adapters/upstream/node-http.ts';
import { createJobObserver, trackJobs } from '../../core/jobs.ts';
import { createTargetClient } from '../../core/upstream/client.ts';
import { EnvVar, FunctionEnv } from '../../environment.ts';
import { environmentOf, loadGatewayConfig } from '../aws-environment.ts';

const env = environmentOf(FunctionEnv.jobTracker);
const config = loadGatewayConfig();
const serviceName = env.optional(EnvVar.POWERTOOLS_SERVICE_NAME) ?? 'llm-gateway-job-tracker';
const logger = powertoolsLogger(new Logger({ serviceName }));
const metrics = emfMetrics(
  new Metrics({ namespace: env.optional(EnvVar.POWERTOOLS_METRICS_NAMESPACE) ?? 'LlmGateway', serviceName }),
);

const dynamodb = new DynamoDBClient({});
const tables = {
  keys: env.required(EnvVar.KEYS_TABLE),
  usage: env.required(EnvVar.USAGE_TABLE),
  budgets: env.required(EnvVar.BUDGETS_TABLE),
};
const ownership = new DynamoOwnershipStore(dynamodb, env.required(EnvVar.OWNERSHIP_TABLE));
const upstreamSecretIds = env.optional(EnvVar.SECRET_IDS);
const secretIds: Record<string, string> = upstreamSecretIds
  ? (JSON.parse(upstreamSecretIds) as Record<string, string>)
  : {};
const targets = createTargetClient({
  config,
  secrets: secretsManagerSource(new SecretsManagerClient({}), { secretIds }),
  upstream: createNodeHttpUpstream(),
});
const observer = createJobObserver({
  config,
  ownership,
  ledger: new DynamoUsageLedger(dynamodb, tables),
  events: eventBridgeJobEvents(new EventBridgeClient({}), { busName: env.required(EnvVar.JOB_EVENTS_BUS) }),
  keys: new DynamoKeyStore(dynamodb, tables),
  clock: systemClock,
  logger,
  targets,
});

export const handler = async (): Promise<{ due: number; statusChanges: number; failed: number }> => {
  const run = await trackJobs({ ownership, observer, targets, clock: systemClock, logger, metrics });
  logger.info('job tracking run', { ...run });
  return { due: run.due, statusChanges: run.statusChanges, failed: run.failed.length };
};
