// Monthly budgets and the holds of requests in flight, in the budgets table (schema in tables.ts).
import {
  type AttributeValue,
  type CancellationReason,
  type DynamoDBClient,
  GetItemCommand,
  TransactGetItemsCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { BudgetHold, BudgetState, BudgetStore } from '../../ports.ts';
import { type DynamoTables, itemKeys } from './tables.ts';
import { CONDITION_FAILED, sendTransaction } from './transactions.ts';

export interface DynamoBudgetStoreOptions {
  /**
   * How often a reservation cancelled by DynamoDB with `TransactionConflict` (another transaction was writing
   * the same budget item at that instant) is tried again before the error reaches the caller.
   * @default 3
   */
  readonly conflictRetries?: number;
}

type Reservation =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly committedMicroUsd: number };

const budgetState = (item: Record<string, AttributeValue> | undefined): BudgetState => {
  const { spentMicroUsd = 0, committedMicroUsd = 0 } = item === undefined ? {} : unmarshall(item);
  return { spentMicroUsd, committedMicroUsd };
};

export class DynamoBudgetStore implements BudgetStore {
  private readonly conflictRetries: number;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tables: Pick<DynamoTables, 'budgets'>,
    options: DynamoBudgetStoreOptions = {},
  ) {
    this.conflictRetries = options.conflictRetries ?? 3;
  }

  async reserve(hold: BudgetHold): Promise<Reservation> {
    // A condition cannot add, so `committed + amount <= limit` is sent as `committed <= limit - amount`; an
    // amount above the limit could only pass where no budget item exists yet, so it never reaches the write.
    if (hold.amountMicroUsd > hold.limitMicroUsd) return this.refuseOversized(hold);
    try {
      await sendTransaction(this.client, () => this.reserveTransaction(hold), this.conflictRetries);
      return { admitted: true };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [holdReason, budgetReason] = error.CancellationReasons ?? [];
      // The request already holds: a replay of an admitted reservation.
      if (holdReason?.Code === CONDITION_FAILED) return { admitted: true };
      if (budgetReason?.Code === CONDITION_FAILED) return this.refuse(hold, budgetReason);
      throw error;
    }
  }

  async budget(tenantId: string, month: string): Promise<BudgetState> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tables.budgets,
        Key: marshall(itemKeys.budget(tenantId, month)),
        ConsistentRead: true,
      }),
    );
    return budgetState(Item);
  }

  private reserveTransaction(hold: BudgetHold): TransactWriteItemsCommand {
    const { tenantId, month, requestId, amountMicroUsd, limitMicroUsd } = hold;
    return new TransactWriteItemsCommand({
      TransactItems: [
        {
          Put: {
            TableName: this.tables.budgets,
            Item: marshall({
              ...itemKeys.hold(tenantId, month, requestId),
              amountMicroUsd,
              limitMicroUsd,
              requestId,
            }),
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Update: {
            TableName: this.tables.budgets,
            Key: marshall(itemKeys.budget(tenantId, month)),
            UpdateExpression:
              'SET committedMicroUsd = if_not_exists(committedMicroUsd, :zero) + :amount, ' +
              'spentMicroUsd = if_not_exists(spentMicroUsd, :zero)',
            ConditionExpression: 'attribute_not_exists(committedMicroUsd) OR committedMicroUsd <= :max',
            ExpressionAttributeValues: marshall({
              ':zero': 0,
              ':amount': amountMicroUsd,
              ':max': limitMicroUsd - amountMicroUsd,
            }),
            // The refusal reports the figure that refused it, without a second read.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      ],
    });
  }

  private async refuse(hold: BudgetHold, reason: CancellationReason): Promise<Reservation> {
    const { committedMicroUsd } =
      reason.Item === undefined ? await this.budget(hold.tenantId, hold.month) : budgetState(reason.Item);
    return { admitted: false, committedMicroUsd };
  }

  /** Reads the hold and the budget in one snapshot: a replay is still admitted, like any replay. */
  private async refuseOversized(hold: BudgetHold): Promise<Reservation> {
    const { Responses = [] } = await this.client.send(
      new TransactGetItemsCommand({
        TransactItems: [
          {
            Get: {
              TableName: this.tables.budgets,
              Key: marshall(itemKeys.hold(hold.tenantId, hold.month, hold.requestId)),
            },
          },
          {
            Get: {
              TableName: this.tables.budgets,
              Key: marshall(itemKeys.budget(hold.tenantId, hold.month)),
            },
          },
        ],
      }),
    );
    if (Responses[0]?.Item !== undefined) return { admitted: true };
    return { admitted: false, committedMicroUsd: budgetState(Responses[1]?.Item).committedMicroUsd };
  }
}
