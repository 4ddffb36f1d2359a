// Lambda entry of the REQUEST authorizer: composes key verification from the bundled config and AWS adapters.
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { powertoolsLogger } from '../../adapters/cloudwatch/powertools-logger.ts';
import { DynamoKeyStore } from '../../adapters/dynamodb/index.ts';
import { secretsManagerSource } from '../../adapters/secrets-manager/secret-source.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { createKeyVerifier } from '../../core/keys.ts';
import { EnvVar, FunctionEnv } from '../../environment.ts';
import { environmentOf, loadGatewayConfig } from '../aws-environment.ts';
import { createAuthorizer } from './authorize.ts';

const env = environmentOf(FunctionEnv.authorizer);
const config = loadGatewayConfig();
const logger = powertoolsLogger(
  new Logger({ serviceName: env.optional(EnvVar.POWERTOOLS_SERVICE_NAME) ?? 'llm-gateway-authorizer' }),
);

// The authorizer only reads keys and tenants: it needs neither the usage nor the budgets table.
const store = new DynamoKeyStore(new DynamoDBClient({}), { keys: env.required(EnvVar.KEYS_TABLE) });
const secrets = secretsManagerSource(new SecretsManagerClient({}), {
  secretIds: { [config.keys.pepperSecretName]: env.required(EnvVar.PEPPER_SECRET_ID) },
});

const verifier = createKeyVerifier({
  store,
  secrets,
  pepperSecretName: config.keys.pepperSecretName,
  tiers: config.tiers,
  clock: systemClock,
  cacheTtlMs: config.keys.cacheTtlMs,
});

export const handler = createAuthorizer({ verify: verifier.verify, logger });
