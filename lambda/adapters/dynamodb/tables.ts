// The gateway's DynamoDB tables: names, key schema, item keys, and a helper that creates them.
//
// Schema (the CDK data construct mirrors it; every key attribute is a string):
//
//   keys     pk                              what
//            tenant#<tenantId>               a TenantRecord, plus type = 'tenant'
//            key#<keyId>                     a KeyRecord, plus type = 'key'
//
//   usage    pk                              sk                 what
//            request#<requestId>             record             a UsageRecord, plus expiresAt (TTL, epoch s)
//            rollup#<tenantId>#<month>       total              monthly counters of the tenant
//            rollup#<tenantId>#<month>       model#<model>      monthly counters of the tenant × model, + model
//
//   budgets  pk                              sk                 what
//            budget#<tenantId>#<month>       budget             spentMicroUsd, committedMicroUsd
//            budget#<tenantId>#<month>       hold#<requestId>   amountMicroUsd, limitMicroUsd, requestId
//
//   ownership  pk                         sk                              what
//              obj#<kind>#<id>            obj                             an OwnedObject (object, parts and
//                                                                         tracking as maps): the one copy of it
//              list#<tenantId>#<kind>     <createdAt>#<id>                a pointer (kind, id) for the tenant's
//                                                                         newest-first pages; never changes
//              due                        <nextPollAt>#<kind>#<id>        a pointer (kind, id) to a record whose
//                                                                         tracking is not done, soonest first
//
//   Only listed kinds (files, uploads, jobs, models) have list pointers. Records of what an answer created
//   (responses, items, containers, audio) carry `ttl` (epoch s), the ownership table's TTL attribute.
//
//   Times in sort keys are whole ms, zero-padded to 16 digits so that they sort as strings. The pointers are
//   written and deleted in the same transaction as the record they point to (the due one moves with its
//   nextPollAt), and readers fetch the record itself, so an update writes only the record and, when its
//   next poll moves, the due pointer.
//
// All are on-demand (PAY_PER_REQUEST); the usage table's TTL attribute is `expiresAt`, the ownership table's `ttl`.
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

/** The physical table names. */
export interface DynamoTables {
  readonly keys: string;
  readonly usage: string;
  readonly budgets: string;
}

/** What createGatewayTables creates: the three tables, and the ownership table when it is named. */
export interface GatewayTableNames extends DynamoTables {
  /** @default - no ownership table is created */
  readonly ownership?: string | undefined;
}

/** Attribute names of the key schema and of the TTL. */
export const TableKey = {
  partition: 'pk',
  sort: 'sk',
  timeToLive: 'expiresAt',
} as const;

/**
 * The ownership table's TTL attribute (epoch seconds): records of what answers created (responses, their items)
 * carry it, files and jobs do not.
 */
export const OWNERSHIP_TTL_ATTRIBUTE = 'ttl';

/** Discriminator values of the keys table's `type` attribute. */
export const KeyItemType = { tenant: 'tenant', key: 'key' } as const;

/** Whole ms since the epoch, zero-padded to 16 digits: string order is time order for 300,000 years. */
export const sortableTime = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(16, '0');

export const itemKeys = {
  tenant: (tenantId: string) => `tenant#${tenantId}`,
  key: (keyId: string) => `key#${keyId}`,
  usageRecord: (requestId: string) => ({ pk: `request#${requestId}`, sk: 'record' }),
  rollupPartition: (tenantId: string, month: string) => `rollup#${tenantId}#${month}`,
  rollupTotalSort: 'total',
  rollupModelSort: (model: string) => `model#${model}`,
  budget: (tenantId: string, month: string) => ({ pk: `budget#${tenantId}#${month}`, sk: 'budget' }),
  hold: (tenantId: string, month: string, requestId: string) => ({
    pk: `budget#${tenantId}#${month}`,
    sk: `hold#${requestId}`,
  }),
  ownedObject: (kind: string, id: string) => ({ pk: `obj#${kind}#${id}`, sk: 'obj' }),
  ownedListPartition: (tenantId: string, kind: string) => `list#${tenantId}#${kind}`,
  ownedListSort: (createdAt: number, id: string) => `${sortableTime(createdAt)}#${id}`,
  duePartition: 'due',
  dueSort: (nextPollAt: number, kind: string, id: string) => `${sortableTime(nextPollAt)}#${kind}#${id}`,
  /** Every due sort key of a time at or before `now` is below this one. */
  dueBound: (now: number) => sortableTime(Math.floor(now) + 1),
} as const;

const tableInput = (name: string, withSortKey: boolean): CreateTableCommandInput => ({
  TableName: name,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [
    { AttributeName: TableKey.partition, AttributeType: 'S' },
    ...(withSortKey ? [{ AttributeName: TableKey.sort, AttributeType: 'S' as const }] : []),
  ],
  KeySchema: [
    { AttributeName: TableKey.partition, KeyType: 'HASH' },
    ...(withSortKey ? [{ AttributeName: TableKey.sort, KeyType: 'RANGE' as const }] : []),
  ],
});

/** Creates the tables and waits until they are active (tests and local tooling; AWS gets them from CDK). */
export async function createGatewayTables(client: DynamoDBClient, tables: GatewayTableNames): Promise<void> {
  const inputs = [
    tableInput(tables.keys, false),
    tableInput(tables.usage, true),
    tableInput(tables.budgets, true),
    ...(tables.ownership === undefined ? [] : [tableInput(tables.ownership, true)]),
  ];
  await Promise.all(inputs.map((input) => client.send(new CreateTableCommand(input))));
  await Promise.all(
    inputs.map((input) =>
      waitUntilTableExists(
        { client, minDelay: 1, maxDelay: 5, maxWaitTime: 120 },
        { TableName: input.TableName },
      ),
    ),
  );
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tables.usage,
      TimeToLiveSpecification: { AttributeName: TableKey.timeToLive, Enabled: true },
    }),
  );
  if (tables.ownership !== undefined) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tables.ownership,
        TimeToLiveSpecification: { AttributeName: OWNERSHIP_TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  }
}
