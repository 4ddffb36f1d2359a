// The DynamoDB adapters against the port contracts on a moto server, plus what only DynamoDB has (TTL, items).
import { randomUUID } from 'node:crypto';
import {
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  createGatewayTables,
  DynamoBudgetStore,
  DynamoKeyStore,
  DynamoOwnershipStore,
  type DynamoTables,
  DynamoUsageLedger,
  itemKeys,
} from '../../lambda/adapters/dynamodb/index.ts';
import { EMPTY_ROLLUP } from '../../lambda/core/pricing.ts';
import { OwnedKind, type OwnedObject, StoreConflictError } from '../../lambda/ports.ts';
import { dynamoClientFor, type MotoServer, startMotoServer } from '../fixtures/moto-server.ts';
import { aHold, describeBudgetStoreContract } from './contracts/budget-store.contract.ts';
import { aKey, aTenant, describeKeyStoreContract } from './contracts/key-store.contract.ts';
import { anOwned, aTracking, describeOwnershipStoreContract } from './contracts/ownership-store.contract.ts';
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

/** New tables with a random suffix, so that no test sees another's items. */
async function freshTables(): Promise<{
  tables: DynamoTables & { readonly ownership: string };
  teardown: () => Promise<void>;
}> {
  const suffix = randomUUID().slice(0, 8);
  const tables = {
    keys: `keys-${suffix}`,
    usage: `usage-${suffix}`,
    budgets: `budgets-${suffix}`,
    ownership: `ownership-${suffix}`,
  };
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

describeOwnershipStoreContract('dynamodb (moto)', async () => {
  const { tables, teardown } = await freshTables();
  return { store: new DynamoOwnershipStore(client, tables.ownership), teardown };
});

describe('DynamoDB adapters', () => {
  let tables: DynamoTables & { readonly ownership: string };
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
      [tables.keys, tables.usage, tables.budgets, tables.ownership].map((TableName) =>
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
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    ]);
    expect(described.map(({ Table }) => Table?.BillingModeSummary?.BillingMode)).toStrictEqual([
      'PAY_PER_REQUEST',
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

  it('reads the outcome counters a rollup item written before them lacks as 0, and adds to them from 0', async () => {
    // Prepare: the rollup items of a month as written before refusedRequests, failedRequests and abortedRequests.
    const ledger = new DynamoUsageLedger(client, tables);
    const counters = {
      requests: 3,
      inputTokens: 300,
      cachedInputTokens: 60,
      outputTokens: 150,
      reasoningTokens: 0,
      trainedTokens: 0,
      costMicroUsd: 3_600,
      cacheHits: 1,
      estimatedRequests: 1,
    };
    const pk = itemKeys.rollupPartition('acme', '2025-03');
    await client.send(
      new PutItemCommand({
        TableName: tables.usage,
        Item: marshall({ pk, sk: itemKeys.rollupTotalSort, ...counters }),
      }),
    );
    await client.send(
      new PutItemCommand({
        TableName: tables.usage,
        Item: marshall({
          pk,
          sk: itemKeys.rollupModelSort('gpt-4o-mini'),
          model: 'gpt-4o-mini',
          ...counters,
        }),
      }),
    );

    // Act
    const before = await ledger.monthlyUsage('acme', '2025-03');
    await ledger.record(
      aRecord({
        requestId: 'r-timeout',
        status: 504,
        outcome: 'timeout',
        usage: { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
        costMicroUsd: 0,
      }),
    );
    const after = await ledger.monthlyUsage('acme', '2025-03');

    // Assess
    const old = { ...EMPTY_ROLLUP, ...counters };
    expect(before).toStrictEqual({ total: old, byModel: new Map([['gpt-4o-mini', old]]) });
    const added = { ...old, requests: 4, failedRequests: 1 };
    expect(after).toStrictEqual({ total: added, byModel: new Map([['gpt-4o-mini', added]]) });
    expect(await getItem(tables.usage, { pk, sk: itemKeys.rollupTotalSort })).toMatchObject({
      refusedRequests: 0,
      failedRequests: 1,
      abortedRequests: 0,
    });
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
      [
        'OwnershipStore.create',
        () => new DynamoOwnershipStore(client, 'no-such-ownership').create(anOwned()),
      ],
      [
        'OwnershipStore.get',
        () => new DynamoOwnershipStore(client, 'no-such-ownership').get(OwnedKind.file, 'file-1'),
      ],
      [
        'OwnershipStore.list',
        () =>
          new DynamoOwnershipStore(client, 'no-such-ownership').list('acme', OwnedKind.file, { limit: 5 }),
      ],
      ['OwnershipStore.dueJobs', () => new DynamoOwnershipStore(client, 'no-such-ownership').dueJobs(1, 5)],
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

describe('DynamoOwnershipStore', () => {
  let table: string;
  let store: DynamoOwnershipStore;
  let teardown: () => Promise<void>;

  beforeEach(async () => {
    let tables: { readonly ownership: string };
    ({ tables, teardown } = await freshTables());
    table = tables.ownership;
    store = new DynamoOwnershipStore(client, table);
  });

  afterEach(async () => {
    await teardown();
  });

  /** Every item of the table, as `pk | sk` → its other attributes. */
  const items = async (): Promise<Record<string, Record<string, unknown>>> => {
    const { Items = [] } = await client.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
    return Object.fromEntries(
      Items.map((item) => {
        const { pk, sk, ...rest } = unmarshall(item);
        return [`${pk} | ${sk}`, rest];
      }),
    );
  };

  const aJob = (id: string, nextPollAt: number, done = false): OwnedObject =>
    anOwned({
      kind: OwnedKind.job,
      id,
      object: { id, object: 'fine_tuning.job', status: 'running' },
      tracking: aTracking({ status: 'running', nextPollAt, done }),
    });

  it('keeps what an answer created as one item, without a list pointer, with the TTL attribute in epoch seconds', async () => {
    // Prepare
    const item = anOwned({
      kind: OwnedKind.item,
      id: 'msg_1',
      object: { id: 'msg_1', type: 'message' },
      expiresAt: 1_700_000_000_500,
    });

    // Act
    await store.create(item);

    // Assess
    expect(Object.keys(await items())).toEqual(['obj#item#msg_1 | obj']);
    expect((await items())['obj#item#msg_1 | obj']).toMatchObject({
      ttl: 1_700_000_001,
      expiresAt: 1_700_000_000_500,
    });
    expect(await store.get(OwnedKind.item, 'msg_1')).toStrictEqual(item);
    await store.remove(OwnedKind.item, 'msg_1');
    expect(await items()).toEqual({});
  });

  it('keeps a record, its place in the list and its place among the due jobs, and moves that with the record', async () => {
    // Prepare
    const job = aJob('ftjob-1', 5_000);

    // Act
    await store.create(job);
    const created = await items();
    await store.update({
      ...job,
      version: 2,
      tracking: aTracking({ status: 'running', nextPollAt: 65_000 }),
    });
    const moved = await items();
    await store.update({
      ...job,
      version: 3,
      tracking: aTracking({ status: 'succeeded', nextPollAt: 65_000, done: true }),
    });
    const done = await items();
    await store.remove(OwnedKind.job, 'ftjob-1');

    // Assess
    const { kind: _kind, id: _id, tracking, ...record } = job;
    expect(created).toStrictEqual({
      'obj#job#ftjob-1 | obj': {
        ...record,
        kind: 'job',
        id: 'ftjob-1',
        // marshall leaves out undefined values; get puts announcedStatus back
        tracking: {
          status: 'running',
          metered: false,
          done: false,
          nextPollAt: 5_000,
          pollIntervalMs: 60_000,
        },
      },
      'list#acme#job | 0000000000001000#ftjob-1': { kind: 'job', id: 'ftjob-1' },
      'due | 0000000000005000#job#ftjob-1': { kind: 'job', id: 'ftjob-1' },
    });
    expect(Object.keys(moved)).toStrictEqual(
      expect.arrayContaining([
        'due | 0000000000065000#job#ftjob-1',
        'list#acme#job | 0000000000001000#ftjob-1',
      ]),
    );
    expect(Object.keys(moved)).toHaveLength(3);
    expect(Object.keys(done).sort()).toStrictEqual([
      'list#acme#job | 0000000000001000#ftjob-1',
      'obj#job#ftjob-1 | obj',
    ]);
    expect(await items()).toStrictEqual({});
  });

  it('lets one of two creates of the same id win, and lists it only for the winner', async () => {
    // Act
    const results = await Promise.allSettled([
      store.create(anOwned({ id: 'file-1', tenantId: 'acme' })),
      store.create(anOwned({ id: 'file-1', tenantId: 'globex' })),
    ]);

    // Assess
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(StoreConflictError);
    const owner = (await store.get(OwnedKind.file, 'file-1'))?.tenantId;
    const loser = owner === 'acme' ? 'globex' : 'acme';
    expect(
      (await store.list(owner ?? '', OwnedKind.file, { limit: 5 })).items.map((i) => i.id),
    ).toStrictEqual(['file-1']);
    expect(await store.list(loser, OwnedKind.file, { limit: 5 })).toStrictEqual({
      items: [],
      hasMore: false,
    });
  });

  it.each([
    ['all of them fit exactly', 4, undefined, ['f4', 'f3', 'f2', 'f1'], false],
    ['one is left', 3, undefined, ['f4', 'f3', 'f2'], true],
    ['the rest fits exactly', 2, 'f3', ['f2', 'f1'], false],
    ['nothing is left', 2, 'f1', [], false],
  ])('pages at the limit: %s', async (_case, limit, after, expected, hasMore) => {
    // Prepare
    for (const [index, id] of ['f1', 'f2', 'f3', 'f4'].entries())
      await store.create(anOwned({ id, createdAt: 1_000 + index }));

    // Act
    const page = await store.list('acme', OwnedKind.file, { after, limit });

    // Assess
    expect(page.items.map((item) => item.id)).toStrictEqual(expected);
    expect(page.hasMore).toBe(hasMore);
  });

  it('pages through 250 objects, in pages larger than one BatchGetItem, each once and newest first', async () => {
    // Prepare: created 25 at a time; every two share a createdAt, so ids order them
    const ids = Array.from({ length: 250 }, (_, index) => `file-${String(index).padStart(3, '0')}`);
    for (let start = 0; start < ids.length; start += 25)
      await Promise.all(
        ids
          .slice(start, start + 25)
          .map((id, offset) =>
            store.create(anOwned({ id, createdAt: 10_000 + Math.floor((start + offset) / 2) * 10 })),
          ),
      );

    // Act
    const pages: string[][] = [];
    let after: string | undefined;
    for (let hasMore = true; hasMore; ) {
      const page = await store.list('acme', OwnedKind.file, { after, limit: 120 });
      pages.push(page.items.map((item) => item.id));
      after = page.items.at(-1)?.id;
      hasMore = page.hasMore;
    }

    // Assess
    expect(pages.map((page) => page.length)).toStrictEqual([120, 120, 10]);
    expect(pages.flat()).toStrictEqual([...ids].reverse());
  }, 60_000);

  it('does not let an update from a stale read win, and leaves the winner its due item', async () => {
    // Prepare: another update lands between this update's read and its transaction
    await store.create(aJob('ftjob-1', 5_000));
    const stored = (await store.get(OwnedKind.job, 'ftjob-1'))!;
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (command instanceof TransactWriteItemsCommand && !raced) {
          raced = true;
          await store.update({ ...stored, version: 2, tracking: aTracking({ nextPollAt: 7_000 }) });
        }
        return client.send(command as never);
      },
    } as unknown as DynamoDBClient;

    // Act
    const result = await new DynamoOwnershipStore(racing, table).update({
      ...stored,
      version: 2,
      tracking: aTracking({ nextPollAt: 9_000 }),
    });

    // Assess
    expect(result).toBe(false);
    expect((await store.get(OwnedKind.job, 'ftjob-1'))?.tracking?.nextPollAt).toBe(7_000);
    expect(Object.keys(await items()).filter((key) => key.startsWith('due'))).toStrictEqual([
      'due | 0000000000007000#job#ftjob-1',
    ]);
  });

  it('removes the due item a job has when an update moved it after the read', async () => {
    // Prepare
    await store.create(aJob('ftjob-1', 5_000));
    const stored = (await store.get(OwnedKind.job, 'ftjob-1'))!;
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (command instanceof TransactWriteItemsCommand && !raced) {
          raced = true;
          await store.update({ ...stored, version: 2, tracking: aTracking({ nextPollAt: 7_000 }) });
        }
        return client.send(command as never);
      },
    } as unknown as DynamoDBClient;

    // Act
    await new DynamoOwnershipStore(racing, table).remove(OwnedKind.job, 'ftjob-1');

    // Assess
    expect(await items()).toStrictEqual({});
  });

  it('lists as due only what is due to the ms, though sort keys hold whole ms', async () => {
    // Prepare
    await store.create(aJob('ftjob-1', 5_000.5));

    // Act / Assess
    expect(await store.dueJobs(5_000.25, 10)).toStrictEqual([]);
    expect((await store.dueJobs(5_000.5, 10)).map((job) => job.id)).toStrictEqual(['ftjob-1']);
  });
});

const anyRotation = { expectedSecretHash: 'a', secretHash: 'b', previousValidUntil: 2, rotatedAt: 1 };
