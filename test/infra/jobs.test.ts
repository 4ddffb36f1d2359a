// GatewayJobs: the job event bus, the scheduled tracker function with its grants, retries and dead-letter queue,
// the example rule on final job statuses and the tracker's alarms.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { IConstruct } from 'constructs';
import { JobStatusEvent, jobStatusEventDetail } from '../../lambda/adapters/eventbridge/job-events.ts';
import { isFinalStatus, JobStatus } from '../../lambda/core/jobs.ts';
import { GatewayData } from '../../lib/constructs/data.ts';
import {
  FINAL_JOB_STATUSES,
  GatewayJobs,
  type GatewayJobsProps,
  JOB_EVENT_DETAIL_TYPE,
  JOB_EVENT_SOURCE,
} from '../../lib/constructs/jobs.ts';
import { GatewaySecrets } from '../../lib/constructs/secrets.ts';
import { cfnLint } from '../fixtures/cfn-lint.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
// Most tests look at the template, not the bundle: bundling is skipped except where a test needs it.
const noBundling = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };
const env = { account: '123456789012', region: 'eu-west-1' };

// Logical IDs are a contract: operators attach their own rules to the bus (a new one drops them), the queue
// holds the dead letters, the log group is retained.
const BUS_ID = 'JobsEventBus5BBD903A';
const DLQ_ID = 'JobsDeadLetterQueue8CC426EE';
const LOG_GROUP_ID = 'JobsTrackerLogGroup95369450';

const KEYS_ID = 'DataKeysACA0E3B2';
const USAGE_ID = 'DataUsage79DD4968';
const BUDGETS_ID = 'DataBudgets6827D36C';
const OWNERSHIP_ID = 'DataOwnership9298F7D3';
const OPENAI_ID = 'SecretsUpstreamopenaiapikey076371ED';
const AZURE_ID = 'SecretsUpstreamazurekeyBAB7E5F5';

const TABLE_READ_WRITE = [
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];

/** The tables, the upstream secrets and an encrypted alarm topic: what the stack gives GatewayJobs. */
const build = (props: Partial<GatewayJobsProps> = {}, app: App = new App({ context: noBundling })) => {
  const stack = new Stack(app, 'Test', { env, stackName: 'LlmGateway-test' });
  const data = new GatewayData(stack, 'Data', { production: false });
  const secrets = new GatewaySecrets(stack, 'Secrets', {
    upstreamSecretNames: ['openai-api-key', 'azure/key'],
    pepperSecretName: 'gateway-key-pepper',
    production: false,
  });
  const topicKey = new kms.Key(stack, 'TopicKey', { enableKeyRotation: true });
  const alarmTopic = new sns.Topic(stack, 'AlarmTopic', { masterKey: topicKey, enforceSSL: true });
  const jobs = new GatewayJobs(stack, 'Jobs', { data, secrets, alarmTopic, ...props });
  return { app, stack, data, secrets, alarmTopic, topicKey, jobs };
};

const idOf = (construct: IConstruct | undefined): string => {
  const resource = (construct?.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(resource).getLogicalId(resource);
};

/** The statements of the IAM policies attached to a role. */
const statementsOf = (template: Template, role: iam.IRole | undefined): unknown[] => {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: idOf(role) }] },
  });
  return Object.values(policies).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
};

const resourceOf = (template: Template, id: string): { Properties: Record<string, unknown> } =>
  template.toJSON().Resources[id];

const { stack, jobs, alarmTopic, topicKey } = build();
const template = Template.fromStack(stack);
const TRACKER_ID = idOf(jobs.trackerFunction);
const TOPIC_ID = idOf(alarmTopic);
const TOPIC_KEY_ID = idOf(topicKey);
const trackerArn = { 'Fn::GetAtt': [TRACKER_ID, 'Arn'] };
const dlqArn = { 'Fn::GetAtt': [DLQ_ID, 'Arn'] };
const busArn = { 'Fn::GetAtt': [BUS_ID, 'Arn'] };

describe('GatewayJobs bus and dead-letter queue', () => {
  it('keeps the logical IDs of the bus, the dead-letter queue and the tracker log group', () => {
    expect(Object.keys(template.findResources('AWS::Events::EventBus'))).toEqual([BUS_ID]);
    expect(Object.keys(template.findResources('AWS::SQS::Queue'))).toEqual([DLQ_ID]);
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup'))).toEqual([LOG_GROUP_ID]);
  });

  it('names the bus after the stack, so each stage has a bus of its own', () => {
    expect(resourceOf(template, BUS_ID).Properties).toEqual({
      Name: 'LlmGateway-test-job-events',
      Description: 'LLM gateway: fine-tuning job status changes (add rules to notify or automate)',
    });
    expect(stack.resolve(jobs.eventBus.eventBusName)).toEqual({ Ref: BUS_ID });
  });

  it('takes the bus name from props', () => {
    // Act
    const custom = Template.fromStack(build({ eventBusName: 'acme.llm-gateway_jobs' }).stack);

    // Assess
    custom.hasResourceProperties('AWS::Events::EventBus', { Name: 'acme.llm-gateway_jobs' });
  });

  it('keeps dead letters 14 days, encrypted with an SQS managed key, and refuses requests without TLS', () => {
    // Assess
    expect(resourceOf(template, DLQ_ID)).toMatchObject({
      Properties: { MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true },
      DeletionPolicy: 'Delete',
    });
    expect(resourceOf(template, DLQ_ID).Properties.KmsMasterKeyId).toBeUndefined();
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: DLQ_ID }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sqs:*',
            Resource: dlqArn,
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      },
    });
  });
});

describe('GatewayJobs schedule', () => {
  const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
  const role = jobs.node.findChild('ScheduleRole') as iam.Role;

  it('invokes the tracker every minute, retrying twice within 5 minutes, then dead-letters the invocation', () => {
    expect(schedules).toHaveLength(1);
    expect(schedules[0]?.Properties).toEqual({
      Description: 'LLM gateway: runs the fine-tuning job tracker',
      ScheduleExpression: 'rate(1 minute)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: trackerArn,
        RoleArn: { 'Fn::GetAtt': [idOf(role), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
        DeadLetterConfig: { Arn: dlqArn },
      },
    });
  });

  it("lets only Scheduler, for this account's default schedule group, use its role", () => {
    expect(resourceOf(template, idOf(role)).Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: {
            StringEquals: {
              'aws:SourceAccount': '123456789012',
              'aws:SourceArn': {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    ':scheduler:eu-west-1:123456789012:schedule-group/default',
                  ],
                ],
              },
            },
          },
        },
      ],
    });
  });

  it('lets the schedule invoke the tracker and send to the dead-letter queue, nothing else', () => {
    expect(statementsOf(template, role)).toEqual([
      {
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: [trackerArn, { 'Fn::Join': ['', [trackerArn, ':*']] }],
      },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: dlqArn },
    ]);
  });

  it('retries a failed run twice, drops a run that waited 5 minutes, and dead-letters both', () => {
    // Scheduler invokes Lambda asynchronously: a run that throws is retried by Lambda, not by Scheduler.
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig'));
    expect(configs).toHaveLength(1);
    expect(configs[0]?.Properties).toEqual({
      FunctionName: { Ref: TRACKER_ID },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 300,
      DestinationConfig: { OnFailure: { Destination: dlqArn } },
    });
  });
});

describe('GatewayJobs tracker function', () => {
  const tracker = resourceOf(template, TRACKER_ID).Properties;

  it('runs Node.js 24 on arm64 with 256 MB and a 5-minute timeout', () => {
    expect(tracker).toMatchObject({
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 300,
      Role: { 'Fn::GetAtt': [idOf(jobs.trackerFunction.role), 'Arn'] },
    });
  });

  it('reserves no concurrency: a new account (quota 10) cannot reserve any below its unreserved minimum', () => {
    expect(tracker.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('logs to its own log group, kept one month and retained when removed from the stack', () => {
    expect(tracker.LoggingConfig).toEqual({ LogGroup: { Ref: LOG_GROUP_ID } });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('gets the tables, the upstream secrets, the bus and the Powertools names in its environment, nothing else', () => {
    // Prepare
    const variables = (tracker.Environment as { Variables: Record<string, unknown> }).Variables;

    // Assess: no pepper and no cache, which the tracker never uses
    expect(variables).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'llm-gateway-job-tracker',
      POWERTOOLS_METRICS_NAMESPACE: 'LlmGateway',
      KEYS_TABLE: { Ref: KEYS_ID },
      USAGE_TABLE: { Ref: USAGE_ID },
      BUDGETS_TABLE: { Ref: BUDGETS_ID },
      OWNERSHIP_TABLE: { Ref: OWNERSHIP_ID },
      SECRET_IDS: {
        'Fn::Join': [
          '',
          ['{"openai-api-key":"', { Ref: OPENAI_ID }, '","azure/key":"', { Ref: AZURE_ID }, '"}'],
        ],
      },
      JOB_EVENTS_BUS: { Ref: BUS_ID },
    });
  });

  it('may write its log, read Keys, read/write the other tables, read the upstream secrets, publish on the bus', () => {
    expect(statementsOf(template, jobs.trackerFunction.role)).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [LOG_GROUP_ID, 'Arn'] },
      },
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [KEYS_ID, 'Arn'] } },
      {
        Effect: 'Allow',
        Action: TABLE_READ_WRITE,
        Resource: [
          { 'Fn::GetAtt': [BUDGETS_ID, 'Arn'] },
          { 'Fn::GetAtt': [OWNERSHIP_ID, 'Arn'] },
          { 'Fn::GetAtt': [USAGE_ID, 'Arn'] },
        ],
      },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Resource: [{ Ref: AZURE_ID }, { Ref: OPENAI_ID }],
      },
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn },
      // Lambda sends a run that failed every attempt to the dead-letter queue with the function's role.
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: dlqArn,
      },
    ]);
  });

  it('has a role only Lambda can assume, with no managed policy', () => {
    expect(resourceOf(template, idOf(jobs.trackerFunction.role)).Properties).toMatchObject({
      AssumeRolePolicyDocument: {
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      },
    });
    expect(
      resourceOf(template, idOf(jobs.trackerFunction.role)).Properties.ManagedPolicyArns,
    ).toBeUndefined();
  });

  it('takes memory, log retention, service name and namespace from props', () => {
    // Act
    const custom = Template.fromStack(
      build({ memorySize: 512, logRetention: 7, serviceName: 'tracker-svc', metricsNamespace: 'TrackerNs' })
        .stack,
    );

    // Assess
    custom.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'tracker-svc',
          POWERTOOLS_METRICS_NAMESPACE: 'TrackerNs',
          KEYS_TABLE: { Ref: KEYS_ID },
          USAGE_TABLE: { Ref: USAGE_ID },
          BUDGETS_TABLE: { Ref: BUDGETS_ID },
          OWNERSHIP_TABLE: { Ref: OWNERSHIP_ID },
          SECRET_IDS: Match.anyValue(),
          JOB_EVENTS_BUS: { Ref: BUS_ID },
        },
      },
    });
    custom.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });
});

describe('GatewayJobs grantPublishJobEvents', () => {
  it('gives a function JOB_EVENTS_BUS and events:PutEvents on this bus only', () => {
    // Prepare
    const built = build();
    const fn = new lambda.Function(built.stack, 'Gateway', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({});'),
    });

    // Act
    built.jobs.grantPublishJobEvents(fn);
    const granted = Template.fromStack(built.stack);

    // Assess
    expect(resourceOf(granted, idOf(fn)).Properties.Environment).toEqual({
      Variables: { JOB_EVENTS_BUS: { Ref: BUS_ID } },
    });
    expect(statementsOf(granted, fn.role)).toEqual([
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn },
    ]);
  });
});

describe('GatewayJobs example rule', () => {
  const rule = resourceOf(template, idOf(jobs.finalStatusRule)).Properties;
  const role = jobs.finalStatusRule.node.findChild('EventsRole') as iam.Role;

  it('matches the status events of jobs that reached a final status, on the job bus', () => {
    expect(rule.EventBusName).toEqual({ Ref: BUS_ID });
    expect(rule.State).toBe('ENABLED');
    expect(rule.EventPattern).toEqual({
      source: ['llm-gateway'],
      'detail-type': ['Fine-tuning job status changed'],
      detail: { status: ['succeeded', 'failed', 'cancelled'] },
    });
  });

  it('sends the whole event to the alarm topic, publishing with a role of its own', () => {
    expect(rule.Targets).toEqual([
      { Id: 'Target0', Arn: { Ref: TOPIC_ID }, RoleArn: { 'Fn::GetAtt': [idOf(role), 'Arn'] } },
    ]);
  });

  it("lets that role only publish to the topic and use the topic's key", () => {
    expect(resourceOf(template, idOf(role)).Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ],
    });
    expect(statementsOf(template, role)).toEqual([
      { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: TOPIC_ID } },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: { 'Fn::GetAtt': [TOPIC_KEY_ID, 'Arn'] },
      },
    ]);
  });

  it("opens neither the topic's policy nor its key's policy to EventBridge", () => {
    expect(JSON.stringify(template.findResources('AWS::SNS::TopicPolicy'))).not.toContain(
      'events.amazonaws.com',
    );
    expect(JSON.stringify(template.findResources('AWS::KMS::Key'))).not.toContain('events.amazonaws.com');
  });
});

describe('GatewayJobs alarms', () => {
  const alarms = template.findResources('AWS::CloudWatch::Alarm');
  const notifies = {
    AlarmActions: [{ Ref: TOPIC_ID }],
    OKActions: [{ Ref: TOPIC_ID }],
    TreatMissingData: 'notBreaching',
  };

  it('has two, both exposed', () => {
    expect(Object.keys(alarms).sort()).toEqual(jobs.alarms.map((alarm) => idOf(alarm)).sort());
    expect(jobs.alarms).toHaveLength(2);
  });

  it('alarms when the tracker failed in each of three consecutive 5-minute periods', () => {
    expect(alarms[idOf(jobs.alarms[0])]?.Properties).toEqual({
      ...notifies,
      AlarmDescription: expect.stringContaining('three consecutive 5-minute periods'),
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: TRACKER_ID } }],
      Statistic: 'Sum',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  it('alarms as soon as a message is in the dead-letter queue', () => {
    expect(alarms[idOf(jobs.alarms[1])]?.Properties).toEqual({
      ...notifies,
      AlarmDescription: expect.stringContaining('dead-letter queue'),
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [DLQ_ID, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
    });
  });
});

describe('GatewayJobs event names', () => {
  it('are the ones the rule matches', () => {
    expect([JOB_EVENT_SOURCE, JOB_EVENT_DETAIL_TYPE, FINAL_JOB_STATUSES]).toEqual([
      'llm-gateway',
      'Fine-tuning job status changed',
      ['succeeded', 'failed', 'cancelled'],
    ]);
  });

  // The adapter publishing the events (lambda/adapters/eventbridge/job-events.ts) imports the EventBridge SDK
  // client, so the construct keeps its own copy of the names, held to the adapter's here.
  it('are the ones the EventBridge adapter publishes, and the detail field the rule matches is in its events', () => {
    // Prepare
    const detail = jobStatusEventDetail({
      jobId: 'ftjob-1',
      tenantId: 'acme',
      targetId: 'openai',
      model: 'gpt-4o-mini',
      status: 'succeeded',
      previousStatus: 'running',
      fineTunedModel: 'ft:gpt-4o-mini:acme',
      trainedTokens: 1000,
      observedAt: 0,
    });

    // Assess
    expect([JobStatusEvent.source, JobStatusEvent.detailType]).toEqual([
      JOB_EVENT_SOURCE,
      JOB_EVENT_DETAIL_TYPE,
    ]);
    expect(detail.status).toBe('succeeded');
  });

  it("lists exactly the tracker's final statuses", () => {
    expect(FINAL_JOB_STATUSES.every(isFinalStatus)).toBe(true);
    expect(Object.values(JobStatus).filter(isFinalStatus).sort()).toEqual([...FINAL_JOB_STATUSES].sort());
  });
});

describe('GatewayJobs props validation', () => {
  it.each<[Partial<GatewayJobsProps>, string]>([
    [
      { eventBusName: 'default' },
      '`eventBusName` must be 1-256 letters, digits or . - _ and not "default", got: "default"',
    ],
    [
      { eventBusName: 'job events' },
      '`eventBusName` must be 1-256 letters, digits or . - _ and not "default", got: "job events"',
    ],
    [
      { eventBusName: 'partner/jobs' },
      '`eventBusName` must be 1-256 letters, digits or . - _ and not "default", got: "partner/jobs"',
    ],
    [
      { eventBusName: '' },
      '`eventBusName` must be 1-256 letters, digits or . - _ and not "default", got: ""',
    ],
    [{ memorySize: 64 }, '`memorySize` must be an integer from 128 to 10240 (MB), got: 64'],
    [{ memorySize: 300.5 }, '`memorySize` must be an integer from 128 to 10240 (MB), got: 300.5'],
    [{ reservedConcurrency: 0 }, '`reservedConcurrency` must be a positive integer, got: 0'],
  ])('rejects %j', (props, message) => {
    expect(() => build(props)).toThrow(new Error(message));
  });
});

describe('GatewayJobs with a reservation', () => {
  it('reserves the concurrency it is given, when an operator opts in', () => {
    // Act
    const { stack } = build({ reservedConcurrency: 1 });

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Description:
        'LLM gateway: polls active fine-tuning jobs, meters succeeded ones, publishes status changes',
      ReservedConcurrentExecutions: 1,
    });
  });
});

describe('GatewayJobs checks', () => {
  it('has no unacknowledged cdk-nag AwsSolutions finding', () => {
    // Prepare
    const app = nagApp({ context: noBundling });
    build({}, app);

    // Act
    const findings = unacknowledgedFindings(app);

    // Assess
    expect(findings).toEqual([]);
  });

  it('passes cfn-lint', async () => {
    // Act
    const findings = await cfnLint(template.toJSON());

    // Assess: W3005 is CDK's own explicit DependsOn from the tracker function to its role.
    expect(findings.filter((finding) => !/:W3005:'JobsTrackerRole[0-9A-F]{8}'/.test(finding))).toEqual([]);
  }, 120_000);
});

describe('GatewayJobs bundle', () => {
  it('deploys an ES module bundle of the tracker that exports the handler, without the tokenizer', () => {
    // Prepare
    const built = build({}, new App({ context: cdkJson.context }));
    const assembly = built.app.synth();
    const s3Key = new Capture();
    Template.fromStack(built.stack).hasResourceProperties('AWS::Lambda::Function', {
      Code: { S3Key: s3Key },
    });

    // Act
    const assetDir = join(assembly.directory, `asset.${s3Key.asString().replace(/\.zip$/, '')}`);
    const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');

    // Assess
    expect(bundle).toMatch(/export\s*\{[^}]*\bas handler\b[^}]*\}/);
    expect(bundle).not.toContain('gpt-tokenizer');
    expect(existsSync(join(assetDir, 'node_modules'))).toBe(false);
  });
});
