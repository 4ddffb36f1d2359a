// The DynamoDB adapters against the port contracts on a moto server, plus what only DynamoDB has (TTL, items).
import { randomUUID } from 'node:crypto';
import {
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  GetItemCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  createGatewayTables,
  DynamoBudgetStore,
  DynamoKeyStore,
  type DynamoTables,
  DynamoUsageLedger,
  itemKeys,
} from '../../lambda/adapters/dynamodb/index.ts';
import { dynamoClientFor, type MotoServer, startMotoServer } from '../fixtures/moto-server.ts';
import { aHold, describeBudgetStoreContract } from './contracts/budget-store.contract.ts';
import { aKey, aTenant, describeKeyStoreContract } from './contracts/key-store.contract.ts';
import { aRecord, describeUsageLedgerContract } from './contracts/usage-ledger.contract.ts';

let moto: MotoServer | undefined;
let client: DynamoDBClient;

beforeAll(async () => {
  moto = await startMotoServer();
  client = dynamoClientFor(moto.endpoint);
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await moto?.stop();
});

/** Three new tables with a random suffix, so that no test sees another's items. */
async function freshTables(): Promise<{ tables: DynamoTables; teardown: () => Promise<void> }> {
  const suffix = randomUUID().slice(0, 8);
  const tables = { keys: `keys-${suffix}`, usage: `usage-${suffix}`, budgets: `budgets-${suffix}` };
  await createGatewayTables(client, tables);
  const teardown = async () => {
    await Promise.all(
      Object.values(tables).map((TableName) => client.send(new DeleteTableCommand({ TableName }))),
    );
  };
  return { tables, teardown };
}

describeKeyStoreContract('dynamodb (moto)', async () => {
  const { tables, teardown } = await freshTables();
  return { store: new DynamoKeyStore(client, tables), teardown };
});

describeBudgetStoreContract('dynamodb (moto)', async () => {
  const { tables, teardown } = await freshTables();
  return { store: new DynamoBudgetStore(client, tables), teardown };
});

describeUsageLedgerContract('dynamodb (moto)', async () => {
  const { tables, teardown } = await freshTables();
  return {
    ledger: new DynamoUsageLedger(client, tables),
    budgets: new DynamoBudgetStore(client, tables),
    teardown,
  };
});

describe('DynamoDB adapters', () => {
  let tables: DynamoTables;
  let teardown: () => Promise<void>;

  beforeEach(async () => {
    ({ tables, teardown } = await freshTables());
  });

  afterEach(async () => {
    await teardown();
  });

  const getItem = async (TableName: string, key: Record<string, string>) => {
    const { Item } = await client.send(
      new GetItemCommand({ TableName, Key: marshall(key), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : unmarshall(Item);
  };

  it('creates the tables on demand, keyed by pk (and sk), with a TTL on the usage table', async () => {
    // Act
    const described = await Promise.all(
      [tables.keys, tables.usage, tables.budgets].map((TableName) =>
        client.send(new DescribeTableCommand({ TableName })),
      ),
    );
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tables.usage }));

    // Assess
    expect(described.map(({ Table }) => Table?.KeySchema)).toStrictEqual([
      [{ AttributeName: 'pk', KeyType: 'HASH' }],
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    ]);
    expect(described.map(({ Table }) => Table?.BillingModeSummary?.BillingMode)).toStrictEqual([
      'PAY_PER_REQUEST',
      'PAY_PER_REQUEST',
      'PAY_PER_REQUEST',
    ]);
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe('expiresAt');
  });

  it('stores a key with its type and without attributes for absent optional fields', async () => {
    // Prepare
    const store = new DynamoKeyStore(client, tables);

    // Act
    await store.createKey(aKey({ name: undefined, models: ['gpt-4o'] }));

    // Assess
    expect(await getItem(tables.keys, { pk: 'key#k1' })).toStrictEqual({
      ...aKey({ models: ['gpt-4o'] }),
      pk: 'key#k1',
      type: 'key',
    });
  });

  it.each([
    ['by default', undefined, 400],
    ['with recordRetentionDays 30', 30, 30],
  ])(
    'writes the usage record with expiresAt = startedAt + retention %s',
    async (_case, days, expectedDays) => {
      // Prepare
      const ledger = new DynamoUsageLedger(
        client,
        tables,
        days === undefined ? {} : { recordRetentionDays: days },
      );
      const record = aRecord({ startedAt: Date.UTC(2025, 2, 14, 12, 0, 0, 750), targetId: undefined });

      // Act
      await ledger.record(record);

      // Assess
      const { targetId: _absent, ...stored } = record;
      expect(await getItem(tables.usage, itemKeys.usageRecord(record.requestId))).toStrictEqual({
        ...stored,
        pk: 'request#req-1',
        sk: 'record',
        expiresAt: Date.UTC(2025, 2, 14, 12) / 1000 + expectedDays * 86_400,
      });
    },
  );

  it('writes a record of a request refused before any spend without touching the budget item', async () => {
    // Prepare
    const ledger = new DynamoUsageLedger(client, tables);

    // Act
    await ledger.record(aRecord({ requestId: 'r1', status: 429, costMicroUsd: 0, reservedMicroUsd: 0 }));

    // Assess: an ADD of zeros would have created the item.
    expect(await getItem(tables.budgets, itemKeys.budget('acme', '2025-03'))).toBeUndefined();
    expect((await ledger.monthlyUsage('acme', '2025-03')).total.requests).toBe(1);
  });

  it('releases a hold placed between its read and the record transaction', async () => {
    // Prepare: a client that lets the hold's read answer "none", then places the hold before the transaction.
    const budgets = new DynamoBudgetStore(client, tables);
    let placed = false;
    const racing = {
      send: async (command: unknown) => {
        if (command instanceof TransactWriteItemsCommand && !placed) {
          placed = true;
          await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
        }
        return client.send(command as never);
      },
    } as unknown as DynamoDBClient;
    const ledger = new DynamoUsageLedger(racing, tables);

    // Act
    const result = await ledger.record(
      aRecord({ requestId: 'r1', costMicroUsd: 1_200, reservedMicroUsd: 0 }),
    );

    // Assess
    expect(result).toBe('recorded');
    expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
      spentMicroUsd: 1_200,
      committedMicroUsd: 1_200,
    });
    expect(await getItem(tables.budgets, itemKeys.hold('acme', '2025-03', 'r1'))).toBeUndefined();
  });

  it('deletes the hold item when the request is recorded', async () => {
    // Prepare
    const budgets = new DynamoBudgetStore(client, tables);
    const ledger = new DynamoUsageLedger(client, tables);
    await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
    const holdKey = itemKeys.hold('acme', '2025-03', 'r1');
    const held = await getItem(tables.budgets, holdKey);

    // Act
    await ledger.record(aRecord({ requestId: 'r1', reservedMicroUsd: 5_000 }));

    // Assess
    expect(held).toStrictEqual({ ...holdKey, requestId: 'r1', amountMicroUsd: 5_000, limitMicroUsd: 10_000 });
    expect(await getItem(tables.budgets, holdKey)).toBeUndefined();
  });

  describe('when a table is missing', () => {
    const missing: DynamoTables = {
      keys: 'no-such-keys',
      usage: 'no-such-usage',
      budgets: 'no-such-budgets',
    };

    it.each([
      ['KeyStore.getKey', () => new DynamoKeyStore(client, missing).getKey('k1')],
      ['KeyStore.createTenant', () => new DynamoKeyStore(client, missing).createTenant(aTenant())],
      ['KeyStore.listTenants', () => new DynamoKeyStore(client, missing).listTenants()],
      ['KeyStore.rotateKey', () => new DynamoKeyStore(client, missing).rotateKey('k1', anyRotation)],
      ['KeyStore.revokeKey', () => new DynamoKeyStore(client, missing).revokeKey('k1', 1)],
      ['BudgetStore.reserve', () => new DynamoBudgetStore(client, missing).reserve(aHold())],
      ['BudgetStore.budget', () => new DynamoBudgetStore(client, missing).budget('acme', '2025-03')],
      ['UsageLedger.record', () => new DynamoUsageLedger(client, missing).record(aRecord())],
      [
        'UsageLedger.monthlyUsage',
        () => new DynamoUsageLedger(client, missing).monthlyUsage('acme', '2025-03'),
      ],
    ])('%s rejects with the error instead of swallowing it', async (_case, act) => {
      // Act
      const error = await act().then(
        () => undefined,
        (reason: unknown) => reason,
      );

      // Assess
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toMatch(/ResourceNotFoundException|TransactionCanceledException/);
    });
  });
});

const anyRotation = { expectedSecretHash: 'a', secretHash: 'b', previousValidUntil: 2, rotatedAt: 1 };
