// Usage records and monthly rollups in the usage table, and the budget they settle (schema in tables.ts).
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { addToRollup, EMPTY_ROLLUP } from '../../core/pricing.ts';
import type { MonthlyUsage, UsageLedger, UsageRecord, UsageRollup } from '../../ports.ts';
import { type DynamoTables, itemKeys } from './tables.ts';
import { CONDITION_FAILED, sendTransaction } from './transactions.ts';

export interface DynamoUsageLedgerOptions {
  /**
   * How long a usage record is kept before DynamoDB's TTL deletes it (rollups are kept). Past that a replay
   * of the same request id would be counted again, so keep it well above any retry horizon.
   * @default 400 days: a full billing year plus a month of disputes
   */
  readonly recordRetentionDays?: number;
  /** Retries of a transaction cancelled by a conflict with another on the tenant's monthly items. @default 5 */
  readonly conflictRetries?: number;
}

const SECONDS_PER_DAY = 86_400;
/** Position of the hold's item in the record transaction (after the record's put). */
const HOLD_ITEM = 1;
/** Reads of the hold again when it changed between the read and the transaction (a hold placed or settled meanwhile). */
const HOLD_CHANGE_RETRIES = 3;
/**
 * The counters of a rollup item: every field of UsageRollup. Items written before a counter existed lack its
 * attribute: it reads as 0, and the first ADD to it starts from 0.
 */
const ROLLUP_COUNTERS = Object.keys(EMPTY_ROLLUP) as ReadonlyArray<keyof UsageRollup>;

/** What one record adds to each counter: the memory twin's arithmetic, from zero. */
const increments = (record: UsageRecord): UsageRollup => addToRollup(EMPTY_ROLLUP, record);

/** `ADD requests :requests, inputTokens :inputTokens, …` and its values. */
const addCounters = (record: UsageRecord) => {
  const values = increments(record);
  return {
    expression: `ADD ${ROLLUP_COUNTERS.map((name) => `${name} :${name}`).join(', ')}`,
    values: Object.fromEntries(ROLLUP_COUNTERS.map((name) => [`:${name}`, values[name]])),
  };
};

const rollupOf = (item: Record<string, unknown>): UsageRollup => {
  const rollup: Record<string, number> = { ...EMPTY_ROLLUP };
  for (const name of ROLLUP_COUNTERS) if (typeof item[name] === 'number') rollup[name] = item[name];
  return rollup as unknown as UsageRollup;
};

export class DynamoUsageLedger implements UsageLedger {
  private readonly retentionSeconds: number;
  private readonly conflictRetries: number;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tables: Pick<DynamoTables, 'usage' | 'budgets'>,
    options: DynamoUsageLedgerOptions = {},
  ) {
    this.retentionSeconds = (options.recordRetentionDays ?? 400) * SECONDS_PER_DAY;
    this.conflictRetries = options.conflictRetries ?? 5;
  }

  /**
   * The hold is read first, and the transaction releases the amount stored in it (not the record's
   * `reservedMicroUsd`, which is 0 when the reservation failed ambiguously although its write landed), on
   * condition that the hold still holds that amount, or, when there was none, that there still is none.
   */
  async record(record: UsageRecord): Promise<'recorded' | 'duplicate'> {
    for (let attempt = 0; ; attempt += 1) {
      const held = await this.heldFor(record);
      try {
        // The SDK gives each call a fresh ClientRequestToken and resends it on its own retries, so a retry of a
        // write that did land is answered as a success. A token derived from the request id would also make a
        // caller's replay within 10 minutes "succeed" (answer 'recorded'), hiding the duplicate the port reports.
        await sendTransaction(this.client, () => this.recordTransaction(record, held), this.conflictRetries);
        return 'recorded';
      } catch (error) {
        const reasons = error instanceof TransactionCanceledException ? error.CancellationReasons : undefined;
        if (reasons?.[0]?.Code === CONDITION_FAILED) return 'duplicate';
        const holdChanged = reasons?.[HOLD_ITEM]?.Code === CONDITION_FAILED;
        if (!holdChanged || attempt >= HOLD_CHANGE_RETRIES) throw error;
      }
    }
  }

  async monthlyUsage(tenantId: string, month: string): Promise<MonthlyUsage> {
    let total = EMPTY_ROLLUP;
    const byModel = new Map<string, UsageRollup>();
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tables.usage,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: marshall({ ':pk': itemKeys.rollupPartition(tenantId, month) }),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const rollup = unmarshall(item);
        if (rollup.sk === itemKeys.rollupTotalSort) total = rollupOf(rollup);
        else if (typeof rollup.model === 'string') byModel.set(rollup.model, rollupOf(rollup));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return { total, byModel };
  }

  /** The amount the request's hold item holds, or undefined when it has none. */
  private async heldFor(record: UsageRecord): Promise<number | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tables.budgets,
        Key: marshall(itemKeys.hold(record.tenantId, record.month, record.holdId ?? record.requestId)),
        ProjectionExpression: 'amountMicroUsd',
        ConsistentRead: true,
      }),
    );
    if (Item === undefined) return undefined;
    const { amountMicroUsd } = unmarshall(Item);
    return typeof amountMicroUsd === 'number' ? amountMicroUsd : 0;
  }

  private recordTransaction(record: UsageRecord, held: number | undefined): TransactWriteItemsCommand {
    const { tenantId, month, requestId } = record;
    const counters = addCounters(record);
    const rollupPk = itemKeys.rollupPartition(tenantId, month);
    const expiresAt = Math.floor(record.startedAt / 1000) + this.retentionSeconds;
    const holdKey = marshall(itemKeys.hold(tenantId, month, record.holdId ?? requestId));
    const hold: TransactWriteItem =
      held === undefined
        ? // A hold placed after the read would otherwise be left behind, committed for good.
          {
            ConditionCheck: {
              TableName: this.tables.budgets,
              Key: holdKey,
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          }
        : {
            Delete: {
              TableName: this.tables.budgets,
              Key: holdKey,
              ConditionExpression: 'amountMicroUsd = :held',
              ExpressionAttributeValues: marshall({ ':held': held }),
            },
          };
    const released = held ?? 0;
    // A request refused before any spend (no hold, no cost) leaves the tenant's hot budget item alone.
    const budget: TransactWriteItem[] =
      held === undefined && record.costMicroUsd === 0
        ? []
        : [
            {
              Update: {
                TableName: this.tables.budgets,
                Key: marshall(itemKeys.budget(tenantId, month)),
                UpdateExpression: 'ADD spentMicroUsd :cost, committedMicroUsd :delta',
                ExpressionAttributeValues: marshall({
                  ':cost': record.costMicroUsd,
                  ':delta': record.costMicroUsd - released,
                }),
              },
            },
          ];
    return new TransactWriteItemsCommand({
      TransactItems: [
        {
          Put: {
            TableName: this.tables.usage,
            Item: marshall(
              { ...record, ...itemKeys.usageRecord(requestId), expiresAt },
              { removeUndefinedValues: true },
            ),
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        hold,
        {
          Update: {
            TableName: this.tables.usage,
            Key: marshall({ pk: rollupPk, sk: itemKeys.rollupTotalSort }),
            UpdateExpression: counters.expression,
            ExpressionAttributeValues: marshall(counters.values),
          },
        },
        {
          Update: {
            TableName: this.tables.usage,
            Key: marshall({ pk: rollupPk, sk: itemKeys.rollupModelSort(record.model) }),
            UpdateExpression: `SET model = :model ${counters.expression}`,
            ExpressionAttributeValues: marshall({ ...counters.values, ':model': record.model }),
          },
        },
        ...budget,
      ],
    });
  }
}
