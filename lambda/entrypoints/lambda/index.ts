// Lambda entry: composes the gateway from the bundled config and AWS adapters once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import configDocument from '../../../config/gateway.json' with { type: 'json' };
import { emfMetrics } from '../../adapters/cloudwatch/emf-metrics.ts';
import { powertoolsLogger } from '../../adapters/cloudwatch/powertools-logger.ts';
import { envSecretSource } from '../../adapters/env/secrets.ts';
import { MemoryKeyStore } from '../../adapters/memory/index.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { logUsageLedger } from '../../adapters/system/log-ledger.ts';
import { createNodeHttpUpstream } from '../../adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../../core/config.ts';
import { createGateway } from '../../core/pipeline.ts';
import { createLambdaHandler } from './handler.ts';

const config = parseGatewayConfig(
  process.env.GATEWAY_CONFIG ? JSON.parse(process.env.GATEWAY_CONFIG) : configDocument,
);
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'llm-gateway';
const logger = powertoolsLogger(new Logger({ serviceName }));

// Until the DynamoDB key store lands, the function accepts one key from its environment.
const keys = new MemoryKeyStore();
if (process.env.GATEWAY_DEV_KEY) keys.add(process.env.GATEWAY_DEV_KEY, { tenantId: 'dev', keyId: 'dev' });

const gateway = createGateway({
  config,
  keys,
  secrets: envSecretSource(process.env),
  upstream: createNodeHttpUpstream(),
  // Until the DynamoDB ledger lands, usage records go to the log, from where they can be recovered.
  ledger: logUsageLedger(logger),
  metrics: emfMetrics(
    new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'LlmGateway', serviceName }),
  ),
  logger,
  clock: systemClock,
});

export const handler = createLambdaHandler(gateway, {
  flushPaddingBytes: config.streaming.flushPaddingBytes,
  flushPaddingAfterIdleMs: config.streaming.flushPaddingAfterIdleMs,
  now: systemClock.now,
});
