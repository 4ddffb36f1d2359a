// The gateway's DynamoDB tables (keys, usage, budgets, ownership) and the grants the functions need on them.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { DynamoTables } from '../../lambda/adapters/dynamodb/tables.ts';
import { EnvVar } from '../../lambda/environment.ts';

export interface GatewayDataProps {
  /**
   * A production stage keeps its data: deletion protection on, and every table RETAINed when it leaves the
   * stack or is replaced. Other stages (dev, test, previews) drop their tables with the stack, so a
   * `cdk destroy` leaves nothing behind that costs money or blocks a redeploy.
   */
  readonly production: boolean;
}

// The schema is the runtime's (lambda/adapters/dynamodb/tables.ts, whose createGatewayTables builds the same
// tables for tests and local mode): every key attribute is a string. Spelled out here rather than imported,
// so synth does not load the DynamoDB SDK client that module imports; test/infra/data.test.ts pins it.
const PARTITION_KEY = { name: 'pk', type: dynamodb.AttributeType.STRING } as const;
const SORT_KEY = { name: 'sk', type: dynamodb.AttributeType.STRING } as const;
const USAGE_TTL_ATTRIBUTE = 'expiresAt';
const OWNERSHIP_TTL_ATTRIBUTE = 'ttl';

/**
 * Why `Table` (AWS::DynamoDB::Table) rather than the newer `TableV2` (AWS::DynamoDB::GlobalTable):
 * - cdk-nag's AwsSolutions pack checks point-in-time recovery (AwsSolutions-DDB3) on CfnTable only; a
 *   TableV2 would pass every check unseen.
 * - moto's CloudFormation, which local end-to-end tests can deploy to, knows AWS::DynamoDB::Table only.
 * - One stack serves one account and region (docs/ARCHITECTURE.md), so the replicas TableV2 is built for are not needed.
 * Switching later changes the resource type, i.e. a retain-and-import migration: decide before the first deploy.
 */
/** Key verification reads one key and one tenant by id: no Scan or Query of other tenants' records. */
const KEY_LOOKUP_ACTIONS = ['dynamodb:GetItem'] as const;

export class GatewayData extends Construct {
  /** Tenants and gateway keys (stored as HMAC hashes): partition key `pk`. */
  readonly keys: dynamodb.ITable;
  /** Usage records (TTL `expiresAt`) and the monthly rollups per tenant and tenant × model: `pk` + `sk`. */
  readonly usage: dynamodb.ITable;
  /** Monthly budget state per tenant and the in-flight holds of reserved cost: `pk` + `sk`. */
  readonly budgets: dynamodb.ITable;
  /**
   * Ownership records of files, uploads and fine-tuning jobs (tenant, upstream target, upstream id), read
   * before every use of such an id so a tenant only reaches its own, and the tracking state of fine-tuning
   * jobs (the tracker's due-job pointers live here too): `pk` + `sk`.
   */
  readonly ownership: dynamodb.ITable;
  /** The physical table names (tokens at synth), shaped as the runtime's `DynamoTables`. */
  readonly tableNames: DynamoTables;

  constructor(scope: Construct, id: string, props: GatewayDataProps) {
    super(scope, id);
    const table = (tableId: string, extra: Partial<dynamodb.TableProps> = {}): dynamodb.Table =>
      new dynamodb.Table(this, tableId, {
        partitionKey: PARTITION_KEY,
        // Traffic follows client requests, bursty and unknown in advance: on-demand needs no capacity planning.
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        // AWS managed key (aws/dynamodb): every use of it is in CloudTrail and no key policy is ours to get
        // wrong, at no monthly key fee. A customer managed key would add the power to revoke access by
        // disabling the key, which this gateway does not need; it would also have to outlive the PITR backups.
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        deletionProtection: props.production,
        removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        ...extra,
      });

    const keys = table('Keys');
    const usage = table('Usage', { sortKey: SORT_KEY, timeToLiveAttribute: USAGE_TTL_ATTRIBUTE });
    const budgets = table('Budgets', { sortKey: SORT_KEY });
    // Records of what answers created (responses, their items) expire with the upstream's copies.
    const ownership = table('Ownership', { sortKey: SORT_KEY, timeToLiveAttribute: OWNERSHIP_TTL_ATTRIBUTE });

    this.keys = keys;
    this.usage = usage;
    this.budgets = budgets;
    this.ownership = ownership;
    this.tableNames = { keys: keys.tableName, usage: usage.tableName, budgets: budgets.tableName };
  }

  /**
   * The gateway function: `KEYS_TABLE`, `USAGE_TABLE`, `BUDGETS_TABLE`, `OWNERSHIP_TABLE`, GetItem on Keys (it
   * looks up one key and one tenant by id; listing and changing them is the admin CLI's job) and read/write on
   * Usage, Budgets and Ownership (GetItem, Query, PutItem, UpdateItem, DeleteItem, and the items of
   * TransactWriteItems / TransactGetItems): it records the files and jobs it creates, and what it sees of a job
   * when a client retrieves it.
   */
  grantGatewayAccess(fn: lambda.Function): void {
    this.grantMeteringAccess(fn);
    this.grantOwnershipAccess(fn);
  }

  /**
   * The fine-tuning job tracker: the same as the gateway's. It reads the owning tenant of a job (GetItem on
   * Keys), meters a succeeded job through the ledger (Usage and Budgets) and records job status (Ownership).
   */
  grantJobTrackerAccess(fn: lambda.Function): void {
    this.grantMeteringAccess(fn);
    this.grantOwnershipAccess(fn);
  }

  /** The REQUEST authorizer: `KEYS_TABLE` and GetItem on Keys, nothing else. */
  grantAuthorizerAccess(fn: lambda.Function): void {
    fn.addEnvironment(EnvVar.KEYS_TABLE, this.tableNames.keys);
    this.keys.grant(fn, ...KEY_LOOKUP_ACTIONS);
  }

  /** `KEYS_TABLE`, `USAGE_TABLE`, `BUDGETS_TABLE`: GetItem on Keys, read/write on Usage and Budgets. */
  private grantMeteringAccess(fn: lambda.Function): void {
    fn.addEnvironment(EnvVar.KEYS_TABLE, this.tableNames.keys);
    fn.addEnvironment(EnvVar.USAGE_TABLE, this.tableNames.usage);
    fn.addEnvironment(EnvVar.BUDGETS_TABLE, this.tableNames.budgets);
    this.keys.grant(fn, ...KEY_LOOKUP_ACTIONS);
    this.usage.grantReadWriteData(fn);
    this.budgets.grantReadWriteData(fn);
  }

  /** `OWNERSHIP_TABLE`: read/write on Ownership. */
  private grantOwnershipAccess(fn: lambda.Function): void {
    fn.addEnvironment(EnvVar.OWNERSHIP_TABLE, this.ownership.tableName);
    this.ownership.grantReadWriteData(fn);
  }
}
