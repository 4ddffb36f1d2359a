// Conflict retries of DynamoDB transactions. moto never reports a TransactionConflict, so the client is a stub
// that answers as DynamoDB does when two transactions touch the same item at once.
import {
  type DynamoDBClient,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { sendTransaction } from '../../lambda/adapters/dynamodb/transactions.ts';

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

/** A client whose n-th send answers the n-th entry (an error to throw, or undefined for success). */
const scriptedClient = (answers: Array<Error | undefined>) => {
  const sent: unknown[] = [];
  const client = {
    send: async (command: unknown) => {
      sent.push(command);
      const answer = answers[sent.length - 1];
      if (answer !== undefined) throw answer;
      return {};
    },
  } as unknown as DynamoDBClient;
  return { client, sent };
};

const build = () => new TransactWriteItemsCommand({ TransactItems: [] });

describe('sendTransaction', () => {
  it('retries a transaction cancelled by a conflict, with a new command each time, until it goes through', async () => {
    // Prepare
    const { client, sent } = scriptedClient([
      cancelled('None', 'TransactionConflict'),
      cancelled('TransactionConflict'),
    ]);

    // Act
    await sendTransaction(client, build, 5);

    // Assess
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(3);
  });

  it('gives up after the retries and rethrows the conflict', async () => {
    const conflict = cancelled('TransactionConflict');
    const { client, sent } = scriptedClient([conflict, conflict, conflict, conflict]);
    await expect(sendTransaction(client, build, 2)).rejects.toBe(conflict);
    expect(sent).toHaveLength(3);
  });

  it.each([
    [
      'a failed condition (an answer, even beside a conflict)',
      cancelled('ConditionalCheckFailed', 'TransactionConflict'),
    ],
    ['any other error', new Error('ResourceNotFoundException')],
  ])('does not retry %s', async (_case, error) => {
    const { client, sent } = scriptedClient([error]);
    await expect(sendTransaction(client, build, 5)).rejects.toBe(error);
    expect(sent).toHaveLength(1);
  });
});
