// Transactions on hot items: DynamoDB cancels one of two transactions that touch the same item at once.
import {
  type CancellationReason,
  type DynamoDBClient,
  TransactionCanceledException,
  type TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';

export const CONDITION_FAILED = 'ConditionalCheckFailed';
const TRANSACTION_CONFLICT = 'TransactionConflict';

export const isConflict = (reasons: CancellationReason[] | undefined): boolean =>
  reasons?.some((reason) => reason.Code === TRANSACTION_CONFLICT) ?? false;

/**
 * Sends a transaction built afresh for each attempt (so each gets its own client request token), retrying
 * with jittered exponential backoff while it is cancelled only for a conflict with another transaction.
 * Every usage record and budget hold of a tenant touches the tenant's monthly items, so concurrent requests
 * of one tenant conflict; a condition failure is an answer, not a conflict, and is thrown at once.
 */
export const sendTransaction = async (
  client: DynamoDBClient,
  build: () => TransactWriteItemsCommand,
  retries: number,
): Promise<void> => {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await client.send(build());
      return;
    } catch (error) {
      const retryable =
        error instanceof TransactionCanceledException &&
        isConflict(error.CancellationReasons) &&
        !error.CancellationReasons?.some((reason) => reason.Code === CONDITION_FAILED);
      if (!retryable || attempt >= retries) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * 2 ** attempt));
    }
  }
};
