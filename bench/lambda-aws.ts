// The AWS side of the Lambda cold-start probe: a moto server (a real DynamoDB / Secrets Manager API on
// loopback) with the gateway's tables, the key pepper secret and the bench tenant, and the env that points
// the bundled handler at it.
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  createGatewayTables,
  DynamoKeyStore,
  type DynamoTables,
  itemKeys,
} from '../lambda/adapters/dynamodb/index.ts';
import { EnvVar } from '../lambda/environment.ts';
import { startMotoServer } from '../test/fixtures/moto-server.ts';
import { BENCH_PEPPER, seedBenchTenant } from './shared.ts';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;
const TABLES: DynamoTables = { keys: 'bench-keys', usage: 'bench-usage', budgets: 'bench-budgets' };
const PEPPER_SECRET_ID = 'bench-gateway-key-pepper';

export interface LambdaAws {
  /** What the Lambda entry needs besides GATEWAY_CONFIG; the SDK clients take the endpoint from AWS_ENDPOINT_URL. */
  readonly env: Readonly<Record<string, string>>;
  /** Usage records stored so far: one per metered request the probes made. */
  usageRecords(): Promise<number>;
  stop(): Promise<void>;
}

/** Throws moto's install hint when moto_server is missing: the cold-start section cannot run without it. */
export const startLambdaAws = async (): Promise<LambdaAws> => {
  const moto = await startMotoServer();
  const options = { region: REGION, endpoint: moto.endpoint, credentials: CREDENTIALS, maxAttempts: 2 };
  const dynamodb = new DynamoDBClient(options);
  const secrets = new SecretsManagerClient(options);
  try {
    await createGatewayTables(dynamodb, TABLES);
    await secrets.send(new CreateSecretCommand({ Name: PEPPER_SECRET_ID, SecretString: BENCH_PEPPER }));
    await seedBenchTenant(new DynamoKeyStore(dynamodb, TABLES));
  } catch (error) {
    dynamodb.destroy();
    secrets.destroy();
    await moto.stop();
    throw error;
  }
  return {
    env: {
      // What the stack sets (lambda/environment.ts), then what Lambda sets, pointed at moto.
      [EnvVar.KEYS_TABLE]: TABLES.keys,
      [EnvVar.USAGE_TABLE]: TABLES.usage,
      [EnvVar.BUDGETS_TABLE]: TABLES.budgets,
      [EnvVar.PEPPER_SECRET_ID]: PEPPER_SECRET_ID,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_REGION: REGION,
    },
    async usageRecords() {
      let count = 0;
      let startKey: Record<string, AttributeValue> | undefined;
      do {
        const page = await dynamodb.send(
          new ScanCommand({
            TableName: TABLES.usage,
            FilterExpression: 'begins_with(pk, :request)',
            ExpressionAttributeValues: { ':request': { S: itemKeys.usageRecord('').pk } },
            ExclusiveStartKey: startKey,
          }),
        );
        count += page.Count ?? 0;
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return count;
    },
    async stop() {
      dynamodb.destroy();
      secrets.destroy();
      await moto.stop();
    },
  };
};
