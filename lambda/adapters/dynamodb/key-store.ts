// Tenants and gateway keys in the keys table (schema in tables.ts); every write is conditional.
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  StoreConflictError,
  type TenantRecord,
} from '../../ports.ts';
import { type DynamoTables, itemKeys, KeyItemType } from './tables.ts';

type Item = Record<string, AttributeValue>;

const toItem = (pk: string, type: string, record: TenantRecord | KeyRecord): Item =>
  marshall({ ...record, pk, type }, { removeUndefinedValues: true });

function fromItem<T>(item: Item): T {
  const { pk: _pk, type: _type, ...record } = unmarshall(item);
  return record as T;
}

export class DynamoKeyStore implements KeyAdminStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tables: Pick<DynamoTables, 'keys'>,
  ) {}

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    return this.get<KeyRecord>(itemKeys.key(keyId));
  }

  async getTenant(tenantId: string): Promise<TenantRecord | undefined> {
    return this.get<TenantRecord>(itemKeys.tenant(tenantId));
  }

  async createTenant(tenant: TenantRecord): Promise<void> {
    await this.conditionalPut(
      toItem(itemKeys.tenant(tenant.tenantId), KeyItemType.tenant, tenant),
      'attribute_not_exists(pk)',
      `tenant ${tenant.tenantId} already exists`,
    );
  }

  async updateTenant(tenant: TenantRecord): Promise<void> {
    await this.conditionalPut(
      toItem(itemKeys.tenant(tenant.tenantId), KeyItemType.tenant, tenant),
      'attribute_exists(pk)',
      `tenant ${tenant.tenantId} does not exist`,
    );
  }

  async deleteTenant(tenantId: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({
        TableName: this.tables.keys,
        Key: marshall({ pk: itemKeys.tenant(tenantId) }),
      }),
    );
  }

  async listTenants(): Promise<TenantRecord[]> {
    const tenants = await this.scan<TenantRecord>('#type = :type', { ':type': KeyItemType.tenant });
    return tenants.sort((a, b) => a.tenantId.localeCompare(b.tenantId));
  }

  async createKey(key: KeyRecord): Promise<void> {
    await this.conditionalPut(
      toItem(itemKeys.key(key.keyId), KeyItemType.key, key),
      'attribute_not_exists(pk)',
      `key ${key.keyId} already exists`,
    );
  }

  async listKeys(tenantId: string): Promise<KeyRecord[]> {
    const keys = await this.scan<KeyRecord>('#type = :type AND tenantId = :tenantId', {
      ':type': KeyItemType.key,
      ':tenantId': tenantId,
    });
    return keys.sort((a, b) => a.createdAt - b.createdAt || a.keyId.localeCompare(b.keyId));
  }

  async rotateKey(
    keyId: string,
    change: { expectedSecretHash: string; secretHash: string; previousValidUntil: number; rotatedAt: number },
  ): Promise<KeyRecord> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tables.keys,
          Key: marshall({ pk: itemKeys.key(keyId) }),
          UpdateExpression:
            'SET secretHash = :secretHash, previousSecretHash = :expected, ' +
            'previousValidUntil = :previousValidUntil, rotatedAt = :rotatedAt',
          ConditionExpression: 'attribute_exists(pk) AND #status = :active AND secretHash = :expected',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall({
            ':secretHash': change.secretHash,
            ':expected': change.expectedSecretHash,
            ':previousValidUntil': change.previousValidUntil,
            ':rotatedAt': change.rotatedAt,
            ':active': KeyStatus.active,
          }),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return fromItem<KeyRecord>(Attributes ?? {});
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (error.Item === undefined) throw new StoreConflictError(`key ${keyId} does not exist`);
      const current = fromItem<KeyRecord>(error.Item);
      if (current.status !== KeyStatus.active)
        throw new StoreConflictError(`key ${keyId} is ${current.status}`);
      throw new StoreConflictError(`key ${keyId} was changed by someone else meanwhile`);
    }
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<KeyRecord> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tables.keys,
          Key: marshall({ pk: itemKeys.key(keyId) }),
          UpdateExpression: 'SET #status = :revoked, revokedAt = :revokedAt',
          ConditionExpression: 'attribute_exists(pk) AND #status <> :revoked',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall({ ':revoked': KeyStatus.revoked, ':revokedAt': revokedAt }),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return fromItem<KeyRecord>(Attributes ?? {});
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (error.Item === undefined) throw new StoreConflictError(`key ${keyId} does not exist`);
      // Already revoked: revoking is idempotent, so the stored record (and its first revokedAt) stands.
      return fromItem<KeyRecord>(error.Item);
    }
  }

  private async get<T>(pk: string): Promise<T | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tables.keys, Key: marshall({ pk }), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : fromItem<T>(Item);
  }

  private async conditionalPut(item: Item, condition: string, conflict: string): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({ TableName: this.tables.keys, Item: item, ConditionExpression: condition }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new StoreConflictError(conflict);
      throw error;
    }
  }

  /**
   * A full Scan: admin-only (the CLI), never on the request path, and the table stays small — at most ~10,000
   * tenants (API Gateway's limit on API keys, one per tenant) and their keys.
   */
  private async scan<T>(filter: string, values: Record<string, string>): Promise<T[]> {
    const records: T[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tables.keys,
          FilterExpression: filter,
          ExpressionAttributeNames: { '#type': 'type' },
          ExpressionAttributeValues: marshall(values),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) records.push(fromItem<T>(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return records;
  }
}
