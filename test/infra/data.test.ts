import { readFileSync } from 'node:fs';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { OWNERSHIP_TTL_ATTRIBUTE, TableKey } from '../../lambda/adapters/dynamodb/tables.ts';
import { GatewayData } from '../../lib/constructs/data.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const env = { account: '123456789012', region: 'eu-west-1' };

// Logical IDs are a contract: a new ID means a new, empty table.
const KEYS_ID = 'DataKeysACA0E3B2';
const USAGE_ID = 'DataUsage79DD4968';
const BUDGETS_ID = 'DataBudgets6827D36C';
const OWNERSHIP_ID = 'DataOwnership9298F7D3';

const READ_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:Query',
  'dynamodb:Scan',
];
const WRITE_ACTIONS = [
  'dynamodb:BatchWriteItem',
  'dynamodb:DeleteItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
];

const standIn = (scope: Stack, id: string): lambda.Function =>
  new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });

const build = (production: boolean, app: App = new App({ context: cdkJson.context })) => {
  const stack = new Stack(app, 'Test', { env });
  const data = new GatewayData(stack, 'Data', { production });
  return { app, stack, data };
};

const logicalId = (construct: Construct | undefined): string =>
  Stack.of(construct as Construct).getLogicalId(construct as CfnElement);

/** The environment variables of the function. */
const envOf = (template: Template, fn: lambda.Function): Record<string, unknown> =>
  template.toJSON().Resources[logicalId(fn.node.defaultChild)].Properties.Environment.Variables;

/** The statements of the IAM policies attached to the function's role. */
const statementsOf = (template: Template, fn: lambda.Function): unknown[] => {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: logicalId(fn.role?.node.defaultChild) }] },
  });
  return Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
};

describe('GatewayData tables', () => {
  const template = Template.fromStack(build(true).stack);

  it('keeps the logical IDs of the four tables', () => {
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual([
      KEYS_ID,
      USAGE_ID,
      BUDGETS_ID,
      OWNERSHIP_ID,
    ]);
  });

  it('uses the attribute names of the runtime schema', () => {
    expect(TableKey).toEqual({ partition: 'pk', sort: 'sk', timeToLive: 'expiresAt' });
    expect(OWNERSHIP_TTL_ATTRIBUTE).toBe('ttl');
  });

  it.each([
    { table: 'Keys', id: KEYS_ID, keys: 'pk', sortKey: false, ttl: undefined },
    { table: 'Usage', id: USAGE_ID, keys: 'pk + sk', sortKey: true, ttl: 'expiresAt' },
    { table: 'Budgets', id: BUDGETS_ID, keys: 'pk + sk', sortKey: true, ttl: undefined },
    { table: 'Ownership', id: OWNERSHIP_ID, keys: 'pk + sk', sortKey: true, ttl: 'ttl' },
  ])('$table is keyed by $keys (strings), TTL attribute: $ttl', ({ id, sortKey, ttl }) => {
    // Prepare
    const resource = template.toJSON().Resources[id] as { Properties: Record<string, unknown> };

    // Assess
    expect(resource.Properties.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      ...(sortKey ? [{ AttributeName: 'sk', KeyType: 'RANGE' }] : []),
    ]);
    expect(resource.Properties.AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      ...(sortKey ? [{ AttributeName: 'sk', AttributeType: 'S' }] : []),
    ]);
    expect(resource.Properties.TimeToLiveSpecification).toEqual(
      ttl === undefined ? undefined : { AttributeName: ttl, Enabled: true },
    );
    expect(resource.Properties.GlobalSecondaryIndexes).toBeUndefined();
    expect(resource.Properties.TableName).toBeUndefined();
  });

  it.each([KEYS_ID, USAGE_ID, BUDGETS_ID, OWNERSHIP_ID])(
    '%s is on-demand, with point-in-time recovery and SSE under the AWS managed key',
    (id) => {
      expect(template.toJSON().Resources[id].Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
      // SSEEnabled without an SSEType or a key: KMS with the AWS managed aws/dynamodb key.
      expect(template.toJSON().Resources[id].Properties.SSESpecification).toEqual({ SSEEnabled: true });
    },
  );
});

describe.each([
  { stage: 'production', production: true, protection: true, policy: 'Retain' },
  { stage: 'non-production', production: false, protection: false, policy: 'Delete' },
])('GatewayData in a $stage stage', ({ production, protection, policy }) => {
  it(`sets deletion protection ${protection} and DeletionPolicy/UpdateReplacePolicy ${policy} on every table`, () => {
    // Act
    const template = Template.fromStack(build(production).stack);

    // Assess
    const tables = Object.values(template.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(4);
    for (const table of tables) {
      expect(table).toMatchObject({
        Properties: { DeletionProtectionEnabled: protection },
        DeletionPolicy: policy,
        UpdateReplacePolicy: policy,
      });
    }
  });
});

describe('GatewayData grants', () => {
  // Prepare
  const { stack, data } = build(false);
  const gateway = standIn(stack, 'Gateway');
  const authorizer = standIn(stack, 'Authorizer');
  const tracker = standIn(stack, 'Tracker');

  // Act
  data.grantGatewayAccess(gateway);
  data.grantAuthorizerAccess(authorizer);
  data.grantJobTrackerAccess(tracker);
  const template = Template.fromStack(stack);

  it('exposes the physical table names shaped as the runtime DynamoTables', () => {
    expect(stack.resolve(data.tableNames)).toEqual({
      keys: { Ref: KEYS_ID },
      usage: { Ref: USAGE_ID },
      budgets: { Ref: BUDGETS_ID },
    });
  });

  // The gateway records the files and jobs it creates; the tracker reads tenants, meters and records job status.
  it.each([
    ['gateway', gateway],
    ['job tracker', tracker],
  ])('gives the %s the four table names in its environment', (_name, fn) => {
    expect(envOf(template, fn)).toEqual({
      KEYS_TABLE: { Ref: KEYS_ID },
      USAGE_TABLE: { Ref: USAGE_ID },
      BUDGETS_TABLE: { Ref: BUDGETS_ID },
      OWNERSHIP_TABLE: { Ref: OWNERSHIP_ID },
    });
  });

  it.each([
    ['gateway', gateway],
    ['job tracker', tracker],
  ])('lets the %s read Keys (GetItem only) and read/write Usage, Budgets and Ownership', (_name, fn) => {
    expect(statementsOf(template, fn)).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [KEYS_ID, 'Arn'] } },
      {
        Effect: 'Allow',
        Action: [...READ_ACTIONS, ...WRITE_ACTIONS].sort(),
        Resource: [
          { 'Fn::GetAtt': [BUDGETS_ID, 'Arn'] },
          { 'Fn::GetAtt': [OWNERSHIP_ID, 'Arn'] },
          { 'Fn::GetAtt': [USAGE_ID, 'Arn'] },
        ],
      },
    ]);
  });

  it('gives the authorizer only KEYS_TABLE and read on Keys', () => {
    expect(envOf(template, authorizer)).toEqual({ KEYS_TABLE: { Ref: KEYS_ID } });
    expect(statementsOf(template, authorizer)).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [KEYS_ID, 'Arn'] } },
    ]);
  });
});

describe('GatewayData and cdk-nag', () => {
  it.each([true, false])('has no unacknowledged AwsSolutions findings (production: %s)', (production) => {
    // Prepare
    const app = nagApp({ context: cdkJson.context });
    build(production, app);

    // Act
    const findings = unacknowledgedFindings(app);

    // Assess
    expect(findings).toEqual([]);
  });
});
