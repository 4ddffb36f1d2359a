// The admin CLI on a deployed stack: its resources found from the stack outputs, DynamoDB stores, the pepper
// in Secrets Manager, and tenants' API keys in API Gateway usage plans. Clients are built by the caller.
import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
} from '@aws-sdk/client-api-gateway';
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DynamoBudgetStore,
  DynamoKeyStore,
  type DynamoTables,
  DynamoUsageLedger,
} from '../../lambda/adapters/dynamodb/index.ts';
import { secretsManagerSource } from '../../lambda/adapters/secrets-manager/secret-source.ts';
import type { BudgetStore, KeyAdminStore, UsageLedger } from '../../lambda/ports.ts';
import { StackOutput } from '../../lib/stack-outputs.ts';
import { AdminError, type UsagePlanProvisioner } from './service.ts';

/** What the CLI needs to know about a deployed stack. */
export interface DeployedStack {
  readonly stackName: string;
  readonly tables: DynamoTables;
  readonly keyPepperSecretArn: string;
  /** Tier name → API Gateway usage plan id. */
  readonly usagePlanIds: Readonly<Record<string, string>>;
  readonly restApiId: string;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Reads the stack's outputs; an error names the stack and any missing output. */
export const discoverStack = async (cfn: CloudFormationClient, stackName: string): Promise<DeployedStack> => {
  let outputs: ReadonlyArray<{ OutputKey?: string | undefined; OutputValue?: string | undefined }>;
  try {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    throw new AdminError(`Could not read the stack '${stackName}': ${messageOf(error)}`, { cause: error });
  }
  const output = (name: string): string => {
    const value = outputs.find((o) => o.OutputKey === name)?.OutputValue;
    if (value === undefined || value === '') {
      throw new AdminError(
        `The stack '${stackName}' has no output '${name}': is it a gateway stack, deployed with this version?`,
      );
    }
    return value;
  };
  const tables: DynamoTables = {
    keys: output(StackOutput.KeysTableName),
    usage: output(StackOutput.UsageTableName),
    budgets: output(StackOutput.BudgetsTableName),
  };
  const keyPepperSecretArn = output(StackOutput.KeyPepperSecretArn);
  const plansText = output(StackOutput.UsagePlanIds);
  let usagePlanIds: unknown;
  try {
    usagePlanIds = JSON.parse(plansText);
  } catch {}
  if (
    typeof usagePlanIds !== 'object' ||
    usagePlanIds === null ||
    Array.isArray(usagePlanIds) ||
    Object.values(usagePlanIds).some((id) => typeof id !== 'string')
  ) {
    throw new AdminError(
      `The output '${StackOutput.UsagePlanIds}' of the stack '${stackName}' must be a JSON object of tier name to usage plan id, got: ${plansText}`,
    );
  }
  return {
    stackName,
    tables,
    keyPepperSecretArn,
    usagePlanIds: usagePlanIds as Record<string, string>,
    restApiId: output(StackOutput.RestApiId),
  };
};

/** Tenants' API keys in API Gateway, each attached to the usage plan of its tier. */
export const apiGatewayProvisioner = (
  client: APIGatewayClient,
  usagePlanIds: Readonly<Record<string, string>>,
): UsagePlanProvisioner => ({
  async createTenantApiKey(tenantId, tier) {
    const usagePlanId = usagePlanIds[tier];
    if (usagePlanId === undefined) {
      throw new AdminError(
        `The tier '${tier}' has no usage plan in the stack (usage plans: ${Object.keys(usagePlanIds).join(', ')}).`,
      );
    }
    const { id, value } = await client.send(
      new CreateApiKeyCommand({
        name: `llm-gateway-${tenantId}`,
        description: `LLM gateway tenant ${tenantId}`,
        enabled: true,
      }),
    );
    if (id === undefined || value === undefined)
      throw new AdminError('API Gateway returned an API key without id or value.');
    try {
      await client.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId: id, keyType: 'API_KEY' }));
    } catch (error) {
      try {
        await client.send(new DeleteApiKeyCommand({ apiKey: id }));
      } catch (cleanup) {
        throw new AdminError(
          `Could not attach the API key ${id} of tenant '${tenantId}' to the usage plan ${usagePlanId} (${messageOf(error)}), nor delete it (${messageOf(cleanup)}): delete it by hand.`,
          { cause: error },
        );
      }
      throw new AdminError(
        `Could not attach the API key of tenant '${tenantId}' to the usage plan ${usagePlanId}: ${messageOf(error)}`,
        { cause: error },
      );
    }
    return { id, value };
  },

  async deleteTenantApiKey(id) {
    await client.send(new DeleteApiKeyCommand({ apiKey: id }));
  },
});

export interface AwsStores {
  readonly keys: KeyAdminStore;
  readonly budgets: BudgetStore;
  readonly ledger: UsageLedger;
  readonly pepper: () => Promise<string>;
}

const PEPPER = 'key-pepper';

/** The stack's stores; the pepper is read as the gateway reads it (trimmed SecretString). */
export const awsStores = (
  clients: { readonly dynamodb: DynamoDBClient; readonly secretsManager: SecretsManagerClient },
  stack: DeployedStack,
): AwsStores => {
  const secrets = secretsManagerSource(clients.secretsManager, {
    secretIds: { [PEPPER]: stack.keyPepperSecretArn },
  });
  return {
    keys: new DynamoKeyStore(clients.dynamodb, stack.tables),
    budgets: new DynamoBudgetStore(clients.dynamodb, stack.tables),
    ledger: new DynamoUsageLedger(clients.dynamodb, stack.tables),
    pepper: () => secrets.get(PEPPER),
  };
};
