// Ownership records of files, uploads, jobs and fine-tuned models in the ownership table (schema in tables.ts).
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type JobTracking,
  LISTED_KINDS,
  type OwnedKindName,
  type OwnedObject,
  type OwnedPage,
  type OwnershipStore,
  StoreConflictError,
} from '../../ports.ts';
import { itemKeys, OWNERSHIP_TTL_ATTRIBUTE } from './tables.ts';
import { CONDITION_FAILED, sendTransaction } from './transactions.ts';

type Item = Record<string, AttributeValue>;

/** What a list or due item holds: where its record is. */
interface Pointer {
  readonly kind: OwnedKindName;
  readonly id: string;
}

/** A stored record: an absent `announcedStatus` was an undefined one (marshall drops undefined values). */
type StoredObject = Omit<OwnedObject, 'tracking'> & {
  readonly tracking?: Omit<JobTracking, 'announcedStatus'> & { readonly announcedStatus?: string };
};

/** Retries of a transaction cancelled only by a conflict with another transaction on the same items. */
const CONFLICT_RETRIES = 3;
/** Reads of the record again when it changed between the read and the removing transaction. */
const REMOVE_ATTEMPTS = 5;
/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;
/** Requests of the keys BatchGetItem left unprocessed (throttled) before giving up. */
const UNPROCESSED_RETRIES = 5;
/** Position of the record's own item in every transaction. */
const OBJECT_ITEM = 0;
const POINTER_NAMES = { '#kind': 'kind', '#id': 'id' };

const recordItem = (object: OwnedObject): Item =>
  marshall(
    {
      ...object,
      ...itemKeys.ownedObject(object.kind, object.id),
      // DynamoDB's TTL deletes the item (within days) once this epoch second has passed; readers ignore it before.
      ...(object.expiresAt === undefined
        ? {}
        : { [OWNERSHIP_TTL_ATTRIBUTE]: Math.ceil(object.expiresAt / 1000) }),
    },
    { removeUndefinedValues: true },
  );

const recordOf = (item: Item): OwnedObject => {
  const {
    pk: _pk,
    sk: _sk,
    [OWNERSHIP_TTL_ATTRIBUTE]: _ttl,
    ...stored
  } = unmarshall(item) as StoredObject & { pk: string; sk: string; [OWNERSHIP_TTL_ATTRIBUTE]?: number };
  const { tracking, ...record } = stored;
  return tracking === undefined
    ? record
    : { ...record, tracking: { ...tracking, announcedStatus: tracking.announcedStatus } };
};

const pointerItem = (key: { pk: string; sk: string }, object: OwnedObject): Item =>
  marshall({ ...key, kind: object.kind, id: object.id });

const listKey = (object: OwnedObject) => ({
  pk: itemKeys.ownedListPartition(object.tenantId, object.kind),
  sk: itemKeys.ownedListSort(object.createdAt, object.id),
});

/** The due item of a record whose tracking is not done; undefined for the others. */
const dueKey = (object: OwnedObject) =>
  object.tracking === undefined || object.tracking.done
    ? undefined
    : {
        pk: itemKeys.duePartition,
        sk: itemKeys.dueSort(object.tracking.nextPollAt, object.kind, object.id),
      };

const isDue = (object: OwnedObject, now: number): boolean =>
  object.tracking !== undefined && !object.tracking.done && object.tracking.nextPollAt <= now;

/** The transaction was cancelled because the record's own item failed its condition. */
const recordConditionFailed = (error: unknown): boolean =>
  error instanceof TransactionCanceledException &&
  error.CancellationReasons?.[OBJECT_ITEM]?.Code === CONDITION_FAILED;

export class DynamoOwnershipStore implements OwnershipStore {
  constructor(
    readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async create(object: OwnedObject): Promise<void> {
    const due = dueKey(object);
    const items: TransactWriteItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: recordItem(object),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      // The pointers follow their record: only its item needs a condition.
      ...(LISTED_KINDS.has(object.kind)
        ? [{ Put: { TableName: this.tableName, Item: pointerItem(listKey(object), object) } }]
        : []),
      ...(due === undefined ? [] : [{ Put: { TableName: this.tableName, Item: pointerItem(due, object) } }]),
    ];
    if (items.length === 1) {
      // An unlisted record with nothing to track (a response, an item): one conditional write, not a transaction.
      try {
        await this.client.send(new PutItemCommand(items[0]!.Put!));
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException)
          throw new StoreConflictError(`${object.kind} ${object.id} is already recorded`);
        throw error;
      }
      return;
    }
    try {
      await sendTransaction(
        this.client,
        () => new TransactWriteItemsCommand({ TransactItems: items }),
        CONFLICT_RETRIES,
      );
    } catch (error) {
      if (recordConditionFailed(error))
        throw new StoreConflictError(`${object.kind} ${object.id} is already recorded`);
      throw error;
    }
  }

  async get(kind: OwnedKindName, id: string): Promise<OwnedObject | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall(itemKeys.ownedObject(kind, id)),
        ConsistentRead: true,
      }),
    );
    return Item === undefined ? undefined : recordOf(Item);
  }

  async list(
    tenantId: string,
    kind: OwnedKindName,
    page: { readonly after?: string | undefined; readonly limit: number },
  ): Promise<OwnedPage> {
    const limit = Math.max(0, Math.floor(page.limit));
    const values: Record<string, string> = { ':pk': itemKeys.ownedListPartition(tenantId, kind) };
    if (page.after !== undefined) {
      const cursor = await this.get(kind, page.after);
      if (cursor === undefined || cursor.tenantId !== tenantId) return { items: [], hasMore: false };
      values[':after'] = itemKeys.ownedListSort(cursor.createdAt, cursor.id);
    }
    // One more than the page: whether there is more is whether it came.
    const pointers = await this.pointers(
      values[':after'] === undefined ? 'pk = :pk' : 'pk = :pk AND sk < :after',
      values,
      false,
      limit + 1,
    );
    const records = await this.records(pointers.slice(0, limit));
    return {
      items: records.filter((record) => record.tenantId === tenantId),
      hasMore: pointers.length > limit,
    };
  }

  async update(object: OwnedObject): Promise<boolean> {
    const stored = await this.get(object.kind, object.id);
    if (stored === undefined || stored.version !== object.version - 1) return false;
    const next: OwnedObject = {
      ...object,
      tenantId: stored.tenantId,
      keyId: stored.keyId,
      targetId: stored.targetId,
      createdAt: stored.createdAt,
    };
    try {
      await sendTransaction(this.client, () => this.updateTransaction(stored, next), CONFLICT_RETRIES);
      return true;
    } catch (error) {
      // Another update won since the read: the due item that was read is not the one to move any more.
      if (recordConditionFailed(error)) return false;
      throw error;
    }
  }

  async remove(kind: OwnedKindName, id: string): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const stored = await this.get(kind, id);
      if (stored === undefined) return;
      try {
        await sendTransaction(this.client, () => this.removeTransaction(stored), CONFLICT_RETRIES);
        return;
      } catch (error) {
        // Updated since the read (its due item may have moved): read it again.
        if (!recordConditionFailed(error) || attempt >= REMOVE_ATTEMPTS) throw error;
      }
    }
  }

  async dueJobs(now: number, limit: number): Promise<OwnedObject[]> {
    if (limit < 1) return [];
    const pointers = await this.pointers(
      'pk = :pk AND sk < :bound',
      { ':pk': itemKeys.duePartition, ':bound': itemKeys.dueBound(now) },
      true,
      Math.floor(limit),
    );
    // The sort key holds whole ms; the record says exactly, and may have moved since the query.
    return (await this.records(pointers)).filter((record) => isDue(record, now));
  }

  /** Replaces the record on condition that it is still the version read, and moves its due item with it. */
  private updateTransaction(stored: OwnedObject, next: OwnedObject): TransactWriteItemsCommand {
    const items: TransactWriteItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: recordItem(next),
          ConditionExpression: '#version = :previous',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: marshall({ ':previous': stored.version }),
        },
      },
    ];
    const before = dueKey(stored);
    const after = dueKey(next);
    if (before?.sk !== after?.sk) {
      if (before !== undefined) items.push({ Delete: { TableName: this.tableName, Key: marshall(before) } });
      if (after !== undefined)
        items.push({ Put: { TableName: this.tableName, Item: pointerItem(after, next) } });
    }
    return new TransactWriteItemsCommand({ TransactItems: items });
  }

  private removeTransaction(stored: OwnedObject): TransactWriteItemsCommand {
    const due = dueKey(stored);
    return new TransactWriteItemsCommand({
      TransactItems: [
        {
          Delete: {
            TableName: this.tableName,
            Key: marshall(itemKeys.ownedObject(stored.kind, stored.id)),
            ConditionExpression: '#version = :read',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: marshall({ ':read': stored.version }),
          },
        },
        ...(LISTED_KINDS.has(stored.kind)
          ? [{ Delete: { TableName: this.tableName, Key: marshall(listKey(stored)) } }]
          : []),
        ...(due === undefined ? [] : [{ Delete: { TableName: this.tableName, Key: marshall(due) } }]),
      ],
    });
  }

  /** Up to `limit` pointers of one partition, in sort key order (`forward`) or the reverse. */
  private async pointers(
    condition: string,
    values: Record<string, string>,
    forward: boolean,
    limit: number,
  ): Promise<Pointer[]> {
    const found: Pointer[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: condition,
          ExpressionAttributeValues: marshall(values),
          ExpressionAttributeNames: POINTER_NAMES,
          ProjectionExpression: '#kind, #id',
          ScanIndexForward: forward,
          Limit: limit - found.length,
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) found.push(unmarshall(item) as Pointer);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && found.length < limit);
    return found;
  }

  /** The records the pointers point to, in their order; a record removed meanwhile is left out. */
  private async records(pointers: readonly Pointer[]): Promise<OwnedObject[]> {
    const name = (pointer: Pointer) => `${pointer.kind}#${pointer.id}`;
    const unique = [...new Map(pointers.map((pointer) => [name(pointer), pointer])).values()];
    const found = new Map<string, OwnedObject>();
    for (let start = 0; start < unique.length; start += BATCH_GET_KEYS) {
      let keys: Item[] = unique
        .slice(start, start + BATCH_GET_KEYS)
        .map((pointer) => marshall(itemKeys.ownedObject(pointer.kind, pointer.id)));
      for (let attempt = 0; keys.length > 0; attempt += 1) {
        if (attempt > UNPROCESSED_RETRIES)
          throw new Error(`DynamoDB left ${keys.length} ownership records unread after ${attempt} requests`);
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * 2 ** attempt));
        const { Responses, UnprocessedKeys } = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of Responses?.[this.tableName] ?? []) {
          const record = recordOf(item);
          found.set(name(record), record);
        }
        keys = UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return unique.flatMap((pointer) => found.get(name(pointer)) ?? []);
  }
}
