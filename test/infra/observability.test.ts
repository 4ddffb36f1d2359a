import { readFileSync } from 'node:fs';
import { App, type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { GatewayObservability, type GatewayObservabilityProps } from '../../lib/constructs/observability.ts';
import { cfnLint } from '../fixtures/cfn-lint.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const env = { account: '123456789012', region: 'eu-west-1' };

// A new topic drops every confirmed email subscription, so the topic (and its key) keep their logical IDs.
const TOPIC_ID = 'ObservabilityAlarmTopicF724909D';
const TOPIC_KEY_ID = 'ObservabilityTopicKey41264573';

const WAF_BLOCKED = new cloudwatch.Metric({
  namespace: 'AWS/WAFV2',
  metricName: 'BlockedRequests',
  dimensionsMap: { WebACL: 'gateway-acl', Rule: 'ALL', Region: 'eu-west-1' },
  statistic: 'Sum',
});

// What GatewayEdge.metricAuthorizerFailures() gives: 500s API Gateway answered because the authorizer failed.
const AUTHORIZER_FAILURES = new cloudwatch.Metric({
  namespace: 'LlmGateway/Edge',
  metricName: 'AuthorizerFailures',
  dimensionsMap: { ApiId: 'api-id' },
  statistic: 'Sum',
  period: Duration.minutes(5),
});

type Overrides = Partial<Omit<GatewayObservabilityProps, 'api' | 'gatewayFunction' | 'authorizerFunction'>>;

const standInFunction = (stack: Stack, id: string): lambda.Function =>
  new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });

/** The construct over minimal stand-ins: a one-method API, two functions, a TableV2 plus an imported table, a log group. */
const build = (overrides: Overrides = {}, app: App = new App({ context: cdkJson.context })) => {
  const stack = new Stack(app, 'Test', { env });
  const api = new apigateway.RestApi(stack, 'Api');
  api.root.addMethod('GET', new apigateway.MockIntegration());
  const standIns = {
    gatewayFunction: standInFunction(stack, 'GatewayFn'),
    authorizerFunction: standInFunction(stack, 'AuthorizerFn'),
    table: new dynamodb.TableV2(stack, 'Keys', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    }),
    logGroup: new logs.LogGroup(stack, 'GatewayLogs'),
  };
  const observability = new GatewayObservability(stack, 'Observability', {
    api,
    gatewayFunction: standIns.gatewayFunction,
    authorizerFunction: standIns.authorizerFunction,
    authorizerFailuresMetric: AUTHORIZER_FAILURES,
    tables: [standIns.table, dynamodb.Table.fromTableName(stack, 'Imported', 'imported-usage')],
    gatewayLogGroup: standIns.logGroup,
    cacheEnabled: true,
    ...overrides,
  });
  return { app, stack, observability, standIns };
};

/** `build`, synthesized. */
const synth = (overrides: Overrides = {}) => {
  const built = build(overrides);
  return { ...built, template: Template.fromStack(built.stack) };
};

/** The logical ID of a stand-in, as Refs name it. */
const idOf = (construct: IConstruct): string => {
  const resource = construct.node.defaultChild as CfnElement;
  return Stack.of(resource).getLogicalId(resource);
};

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly markdown?: string;
    readonly query?: string;
    readonly view?: string;
    readonly alarms?: string[];
    readonly annotations?: { readonly alarms?: string[] };
    readonly metrics?: unknown[][];
  };
}

/** A CloudFormation intrinsic as a readable placeholder that is safe inside a JSON string. */
const placeholder = (part: Record<string, unknown>): string => {
  if ('Ref' in part) return `<Ref:${String(part.Ref)}>`;
  if ('Fn::GetAtt' in part) return `<GetAtt:${(part['Fn::GetAtt'] as string[]).join('.')}>`;
  return `<${JSON.stringify(part).replaceAll('"', "'")}>`;
};

/** The dashboard's widgets: its body is an Fn::Join of JSON text and intrinsics, flattened to placeholders. */
const widgetsOf = (template: Template): Widget[] => {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]?.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1]
          .map((part) => (typeof part === 'string' ? part : placeholder(part as Record<string, unknown>)))
          .join(body['Fn::Join'][0]);
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
};

const widgetTitled = (template: Template, title: string): Widget => {
  const widget = widgetsOf(template).find((w) => w.properties.title === title);
  if (widget === undefined) throw new Error(`no widget titled ${JSON.stringify(title)}`);
  return widget;
};

/** The metric math expressions of a graph widget. */
const expressionsOf = (widget: Widget): string[] =>
  (widget.properties.metrics ?? []).flatMap((line) =>
    line.flatMap((item) =>
      typeof item === 'object' && item !== null && 'expression' in item ? [String(item.expression)] : [],
    ),
  );

// The stand-ins' logical IDs, as Refs name them (the same in every build: same construct paths).
const { standIns } = build();
const GATEWAY_FN_ID = idOf(standIns.gatewayFunction);
const AUTHORIZER_FN_ID = idOf(standIns.authorizerFunction);
const TABLE_ID = idOf(standIns.table);
const LOG_GROUP_ID = idOf(standIns.logGroup);

const alarmIds = (template: Template): string[] =>
  Object.keys(template.findResources('AWS::CloudWatch::Alarm'));

const emfQuery = (fn: string, metric: string, namespace = 'LlmGateway', service = 'llm-gateway') =>
  `SELECT ${fn}(${metric}) FROM SCHEMA("${namespace}", model, service) WHERE service = '${service}'`;

/** One Metrics Insights query as an alarm's only data query. */
const insightsAlarmMetrics = (expression: unknown) => [
  { Id: 'expr_1', Expression: expression, Period: 300, ReturnData: true, Label: Match.anyValue() },
];

const atLeastOnce = {
  ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  Threshold: 1,
  EvaluationPeriods: 1,
  DatapointsToAlarm: 1,
};
const tenPercentOfTen = {
  ComparisonOperator: 'GreaterThanThreshold',
  Threshold: 0.05,
  EvaluationPeriods: 2,
  DatapointsToAlarm: 2,
};
const lambdaMetric = (metricName: string, functionId: string) => ({
  Namespace: 'AWS/Lambda',
  MetricName: metricName,
  Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
  Statistic: 'Sum',
  Period: 300,
});

describe('GatewayObservability alarms', () => {
  const { template } = synth();

  it.each([
    {
      alarm: 'API 5XX rate: 5XXError / Count above 0.05 in two consecutive 5-minute periods',
      properties: {
        ...tenPercentOfTen,
        Metrics: [
          { Id: 'expr_1', Expression: 'errors / requests', ReturnData: true, Label: 'API 5XX ratio' },
          ...[
            { id: 'errors', name: '5XXError' },
            { id: 'requests', name: 'Count' },
          ].map(({ id, name }) => ({
            Id: id,
            ReturnData: false,
            MetricStat: {
              Metric: {
                Namespace: 'AWS/ApiGateway',
                MetricName: name,
                Dimensions: [{ Name: 'ApiName', Value: 'Api' }],
              },
              Period: 300,
              Stat: 'Sum',
            },
          })),
        ],
      },
    },
    {
      alarm: 'gateway error rate: the average 0/1 ServerErrors over all models above 0.05, twice',
      properties: { ...tenPercentOfTen, Metrics: insightsAlarmMetrics(emfQuery('AVG', 'ServerErrors')) },
    },
    {
      alarm: 'gateway function errors',
      properties: { ...atLeastOnce, ...lambdaMetric('Errors', GATEWAY_FN_ID) },
    },
    {
      alarm: 'gateway function throttles',
      properties: { ...atLeastOnce, ...lambdaMetric('Throttles', GATEWAY_FN_ID) },
    },
    {
      alarm: 'authorizer failures (500s from API Gateway), not the Lambda Errors every refused key adds',
      properties: {
        ...atLeastOnce,
        Namespace: 'LlmGateway/Edge',
        MetricName: 'AuthorizerFailures',
        Dimensions: [{ Name: 'ApiId', Value: 'api-id' }],
        Statistic: 'Sum',
        Period: 300,
        AlarmDescription:
          'API Gateway answered requests with 500 because the authorizer failed: it threw (e.g. it could not ' +
          'read DynamoDB or Secrets Manager), timed out or was throttled. Refused or denied keys do not count. ' +
          "The authorizer's log has the cause in its 'authorizer failed' lines.",
      },
    },
    {
      alarm: 'API p99 latency above 30 s for three 5-minute periods',
      properties: {
        Namespace: 'AWS/ApiGateway',
        MetricName: 'Latency',
        Dimensions: [{ Name: 'ApiName', Value: 'Api' }],
        ExtendedStatistic: 'p99',
        Period: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 30_000,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      },
    },
    {
      alarm: 'throttles of the stack table, every operation',
      properties: {
        ...atLeastOnce,
        Metrics: insightsAlarmMetrics({
          'Fn::Join': [
            '',
            [
              `SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) WHERE TableName = '`,
              { Ref: TABLE_ID },
              "'",
            ],
          ],
        }),
      },
    },
    {
      alarm: 'throttles of the imported table',
      properties: {
        ...atLeastOnce,
        Metrics: insightsAlarmMetrics(
          `SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) WHERE TableName = 'imported-usage'`,
        ),
      },
    },
    {
      alarm: 'usage records not stored',
      properties: { ...atLeastOnce, Metrics: insightsAlarmMetrics(emfQuery('SUM', 'UsageRecordsNotStored')) },
    },
    {
      alarm: 'cache errors in two consecutive periods',
      properties: {
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        Metrics: insightsAlarmMetrics(
          `SELECT SUM(CacheErrors) FROM "LlmGateway" WHERE service = 'llm-gateway'`,
        ),
      },
    },
  ])('alarms on $alarm, with missing data not breaching', ({ properties }) => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...properties,
      TreatMissingData: 'notBreaching',
    });
  });

  it("has no alarm on the authorizer function's Lambda Errors, which count every refused key", () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm', {
      Properties: {
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: AUTHORIZER_FN_ID } }],
      },
    });
    expect(Object.keys(alarms)).toEqual([]);
  });

  it('creates exactly those alarms: seven, one per table and the cache one, all exposed', () => {
    // Prepare
    const { observability, template: built } = synth();

    // Act
    const ids = alarmIds(built);

    // Assess
    expect(ids).toHaveLength(10);
    expect(observability.alarms).toHaveLength(10);
  });

  it('notifies the topic of every alarm and of every recovery', () => {
    // Act
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));

    // Assess
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: TOPIC_ID }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: TOPIC_ID }]);
    }
  });

  it.each([
    { cacheEnabled: true, alarms: 10 },
    { cacheEnabled: false, alarms: 9 },
  ])(
    'has a cache error alarm only when the cache is on (cacheEnabled: $cacheEnabled)',
    ({ cacheEnabled, alarms }) => {
      // Act
      const { template: built } = synth({ cacheEnabled });

      // Assess
      expect(alarmIds(built)).toHaveLength(alarms);
      const cacheAlarms = built.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Metrics: [Match.objectLike({ Expression: Match.stringLikeRegexp('CacheErrors') })] },
      });
      expect(Object.keys(cacheAlarms)).toHaveLength(cacheEnabled ? 1 : 0);
    },
  );

  it('takes the latency threshold, the namespace and the service name from props', () => {
    // Act
    const { template: built } = synth({
      latencyP99ThresholdMs: 12_000,
      metricsNamespace: 'GwTest',
      serviceName: 'gw-test',
    });

    // Assess
    built.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Latency', Threshold: 12_000 });
    built.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: insightsAlarmMetrics(emfQuery('AVG', 'ServerErrors', 'GwTest', 'gw-test')),
    });
    built.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: insightsAlarmMetrics(emfQuery('SUM', 'UsageRecordsNotStored', 'GwTest', 'gw-test')),
    });
    const dashboard = JSON.stringify(widgetsOf(built));
    expect(dashboard).not.toContain('LlmGateway');
    expect(dashboard).not.toContain('llm-gateway');
    expect(dashboard).toContain(
      '{\\"GwTest\\",model,service} MetricName=\\"Requests\\" service=\\"gw-test\\"',
    );
  });
});

describe('GatewayObservability topic', () => {
  it('keeps the logical IDs of the topic and its key', () => {
    // Act
    const { template } = synth();

    // Assess
    expect(Object.keys(template.findResources('AWS::SNS::Topic'))).toEqual([TOPIC_ID]);
    expect(Object.keys(template.findResources('AWS::KMS::Key'))).toEqual([TOPIC_KEY_ID]);
  });

  it('is encrypted with a rotated key that CloudWatch alarms of this account may use', () => {
    // Act
    const { template } = synth();

    // Assess
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [TOPIC_KEY_ID, 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: { 'aws:SourceArn': Match.anyValue() },
            },
          },
        ]),
      },
    });
  });

  it('lets only TLS publishers in, and CloudWatch alarms of this account publish', () => {
    // Act
    const { template } = synth();

    // Assess
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: TOPIC_ID }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Principal: '*',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: TOPIC_ID },
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:eu-west-1:123456789012:alarm:*'],
                  ],
                },
              },
            },
          }),
        ],
      },
    });
  });

  it.each([
    { given: 'given', alarmEmail: 'oncall@example.com', subscriptions: 1 },
    { given: 'not given', alarmEmail: undefined, subscriptions: 0 },
  ])(
    'has $subscriptions email subscription(s) when alarmEmail is $given',
    ({ alarmEmail, subscriptions }) => {
      // Act
      const { template } = synth({ alarmEmail });

      // Assess
      template.resourceCountIs('AWS::SNS::Subscription', subscriptions);
      if (alarmEmail !== undefined) {
        template.hasResourceProperties('AWS::SNS::Subscription', {
          Protocol: 'email',
          Endpoint: alarmEmail,
          TopicArn: { Ref: TOPIC_ID },
        });
      }
    },
  );
});

describe('GatewayObservability dashboard', () => {
  const { stack, observability, template } = synth({ wafBlockedMetric: WAF_BLOCKED });

  it('has the rows of the issue, in order', () => {
    // Act
    const titles = widgetsOf(template).map(
      (w) => w.properties.title ?? w.properties.markdown?.split('\n')[0],
    );

    // Assess
    expect(titles).toEqual([
      'Alarms',
      'API requests and errors',
      'Gateway requests and errors by class',
      'API 5XX ratio (alarm)',
      'Gateway 5xx ratio (alarm)',
      'API latency (ms)',
      'Gateway latency and TTFB percentiles (ms, from request logs)',
      'Gateway p99 latency (left) and TTFB (right) by model (ms)',
      'Tokens by model (upstream-reported usage, from request logs)',
      'Cost by model (µUSD, left) and tokens (right), every record incl. estimates',
      'Cache hit ratio (%, left) and lookups (right)',
      'Failovers and circuits opened',
      'Metering',
      'Content rules: blocked (left) and redacted (right) by rule',
      'Throttles and WAF blocks',
    ]);
  });

  it('shows the status of every alarm', () => {
    // Act
    const widget = widgetTitled(template, 'Alarms');

    // Assess
    expect(widget.type).toBe('alarm');
    expect(widget.properties.alarms).toEqual(alarmIds(template).map((id) => `<GetAtt:${id}.Arn>`));
  });

  it('counts API requests, 4XX and 5XX', () => {
    // Act
    const widget = widgetTitled(template, 'API requests and errors');

    // Assess
    expect(widget.properties.metrics?.map((line) => line.slice(0, 4))).toEqual(
      ['Count', '4XXError', '5XXError'].map((name) => ['AWS/ApiGateway', name, 'ApiName', 'Api']),
    );
  });

  it('sums the EMF request and error classes over all models, on the exact [model, service] dimension set', () => {
    // Act
    const expressions = expressionsOf(widgetTitled(template, 'Gateway requests and errors by class'));

    // Assess
    expect(expressions).toEqual(
      ['Requests', 'ClientErrors', 'ServerErrors', 'StreamFailures'].map(
        (name) =>
          `SUM(SEARCH('{"LlmGateway",model,service} MetricName="${name}" service="llm-gateway"', 'Sum', 300))`,
      ),
    );
  });

  it.each([
    { title: 'API 5XX ratio (alarm)', alarm: /ApiServerErrorRate/ },
    { title: 'Gateway 5xx ratio (alarm)', alarm: /GatewayServerErrorRate/ },
  ])('draws $title with its threshold', ({ title, alarm }) => {
    // Act
    const alarms = widgetTitled(template, title).properties.annotations?.alarms ?? [];

    // Assess
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatch(alarm);
  });

  it('draws API latency p50, p90 and p99', () => {
    // Act
    const widget = widgetTitled(template, 'API latency (ms)');

    // Assess
    expect(widget.properties.metrics).toEqual(
      ['p50', 'p90', 'p99'].map((p) => [
        'AWS/ApiGateway',
        'Latency',
        'ApiName',
        'Api',
        expect.objectContaining({ stat: p }),
      ]),
    );
  });

  it('takes overall latency and TTFB percentiles from the request log line', () => {
    // Act
    const widget = widgetTitled(template, 'Gateway latency and TTFB percentiles (ms, from request logs)');

    // Assess
    expect(widget.type).toBe('log');
    expect(widget.properties.query).toContain(`SOURCE '<Ref:${LOG_GROUP_ID}>'`);
    expect(widget.properties.query).toContain('filter message = "request"');
    for (const field of ['latencyMs', 'ttfbMs']) {
      for (const p of [50, 90, 99]) expect(widget.properties.query).toContain(`pct(${field}, ${p})`);
    }
    expect(widget.properties.query).toContain('by bin(5m)');
  });

  it('draws p99 latency and time to first byte per model', () => {
    // Act
    const expressions = expressionsOf(
      widgetTitled(template, 'Gateway p99 latency (left) and TTFB (right) by model (ms)'),
    );

    // Assess
    expect(expressions).toEqual(
      ['Latency', 'TimeToFirstByte'].map(
        (name) =>
          `SEARCH('{"LlmGateway",model,service} MetricName="${name}" service="llm-gateway"', 'p99', 300)`,
      ),
    );
  });

  it('sums the reported tokens by model from the request log line', () => {
    // Act
    const widget = widgetTitled(template, 'Tokens by model (upstream-reported usage, from request logs)');

    // Assess
    expect(widget.properties.view).toBe('table');
    expect(widget.properties.query).toContain(`SOURCE '<Ref:${LOG_GROUP_ID}>'`);
    expect(widget.properties.query).toContain('filter message = "request" and ispresent(tokens.inputTokens)');
    for (const field of ['inputTokens', 'cachedInputTokens', 'outputTokens', 'reasoningTokens']) {
      expect(widget.properties.query).toContain(`sum(tokens.${field}) as ${field}`);
    }
    expect(widget.properties.query).toMatch(/ by model\n/);
  });

  it('graphs cost and tokens by model from the metered records', () => {
    // Act
    const expressions = expressionsOf(
      widgetTitled(template, 'Cost by model (µUSD, left) and tokens (right), every record incl. estimates'),
    );

    // Assess
    expect(expressions).toEqual(
      ['CostMicroUsd', 'InputTokens', 'OutputTokens'].map(
        (name) =>
          `SEARCH('{"LlmGateway",model,service} MetricName="${name}" service="llm-gateway"', 'Sum', 300)`,
      ),
    );
  });

  it('computes the cache hit ratio from CacheHits and CacheMisses', () => {
    // Act
    const expressions = expressionsOf(
      widgetTitled(template, 'Cache hit ratio (%, left) and lookups (right)'),
    );

    // Assess
    expect(expressions).toEqual([
      '100 * hits / (hits + misses)',
      ...['CacheHits', 'CacheMisses', 'CacheErrors'].map(
        (name) =>
          `SUM(SEARCH('Namespace="LlmGateway" MetricName="${name}" service="llm-gateway"', 'Sum', 300))`,
      ),
    ]);
  });

  it('has no cache widget when the cache is off', () => {
    // Act
    const titles = widgetsOf(synth({ cacheEnabled: false }).template).map((w) => w.properties.title);

    // Assess
    expect(titles).not.toContain('Cache hit ratio (%, left) and lookups (right)');
    expect(titles).toContain('Failovers and circuits opened');
  });

  it('draws failovers over all models and circuit opens per target', () => {
    // Act
    const expressions = expressionsOf(widgetTitled(template, 'Failovers and circuits opened'));

    // Assess
    expect(expressions).toEqual([
      `SUM(SEARCH('{"LlmGateway",model,service} MetricName="Failovers" service="llm-gateway"', 'Sum', 300))`,
      `SEARCH('{"LlmGateway",service,target} MetricName="CircuitOpened" service="llm-gateway"', 'Sum', 300)`,
    ]);
  });

  it('draws content rule blocks and redactions per rule', () => {
    // Act
    const expressions = expressionsOf(
      widgetTitled(template, 'Content rules: blocked (left) and redacted (right) by rule'),
    );

    // Assess
    expect(expressions).toEqual([
      `SEARCH('{"LlmGateway",rule,service} MetricName="ContentBlocked" service="llm-gateway"', 'Sum', 300)`,
      `SEARCH('{"LlmGateway",rule,service} MetricName="ContentRedacted" service="llm-gateway"', 'Sum', 300)`,
    ]);
  });

  it('draws the metering metrics', () => {
    // Act
    const expressions = expressionsOf(widgetTitled(template, 'Metering'));

    // Assess
    expect(expressions.map((e) => /MetricName="(\w+)"/.exec(e)?.[1])).toEqual([
      'UsageRecordsNotStored',
      'BudgetHoldExceeded',
      'UnpricedRequests',
    ]);
  });

  it('draws Lambda, DynamoDB and WAF throttling', () => {
    // Act
    const widget = widgetTitled(template, 'Throttles and WAF blocks');

    // Assess
    const metrics = widget.properties.metrics ?? [];
    expect(metrics.filter((line) => line[0] === 'AWS/Lambda').map((line) => line.slice(0, 4))).toEqual([
      ['AWS/Lambda', 'Throttles', 'FunctionName', `<Ref:${GATEWAY_FN_ID}>`],
      ['AWS/Lambda', 'Throttles', 'FunctionName', `<Ref:${AUTHORIZER_FN_ID}>`],
    ]);
    expect(expressionsOf(widget)).toEqual(
      [`<Ref:${TABLE_ID}>`, 'imported-usage'].map(
        (table) =>
          `SUM(SEARCH('{AWS/DynamoDB,Operation,TableName} MetricName="ThrottledRequests" TableName="${table}"', 'Sum', 300))`,
      ),
    );
    expect(metrics.filter((line) => line[0] === 'AWS/WAFV2').map((line) => line.slice(0, 2))).toEqual([
      ['AWS/WAFV2', 'BlockedRequests'],
    ]);
  });

  it('has no WAF line without a WAF metric', () => {
    // Act
    const widget = widgetTitled(synth().template, 'Throttles and WAF blocks');

    // Assess
    expect(JSON.stringify(widget)).not.toContain('AWS/WAFV2');
  });

  it('exposes a console URL of the dashboard', () => {
    // Act
    const url = stack.resolve(observability.dashboardUrl);

    // Assess
    const [dashboardId] = Object.keys(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(url).toEqual({
      'Fn::Join': [
        '',
        [
          'https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=',
          { Ref: dashboardId },
        ],
      ],
    });
  });
});

describe('GatewayObservability with the job tracker', () => {
  // Prepare
  const { stack, observability } = build();
  const trackerFunction = standInFunction(stack, 'TrackerFn');
  const deadLetterQueue = new sqs.Queue(stack, 'TrackerDlq');
  const trackerAlarm = new cloudwatch.Alarm(stack, 'TrackerAlarm', {
    metric: trackerFunction.metricErrors(),
    threshold: 0,
    evaluationPeriods: 1,
  });

  // Act
  observability.addJobTracker({
    trackerFunction,
    deadLetterQueue,
    alarms: [trackerAlarm],
    serviceName: 'tracker-svc',
    metricsNamespace: 'TrackerNs',
  });
  const template = Template.fromStack(stack);

  it('lists the tracker alarms in the alarm status widget, after its own, and does not expose them as its own', () => {
    // Prepare
    const own = observability.alarms.map((alarm) => `<GetAtt:${idOf(alarm)}.Arn>`);

    // Assess
    expect(widgetTitled(template, 'Alarms').properties.alarms).toEqual([
      ...own,
      `<GetAtt:${idOf(trackerAlarm)}.Arn>`,
    ]);
    expect(own).toHaveLength(10);
  });

  it('adds a row for the tracker at the end of the dashboard', () => {
    expect(
      widgetsOf(template)
        .map((w) => w.properties.title)
        .slice(-2),
    ).toEqual([
      'Fine-tuning job tracker: jobs looked at, status changes and failures',
      'Job tracker errors (left) and dead letters (right)',
    ]);
  });

  it('graphs the EMF metrics of each run on their dimension set [service, component = job-tracker]', () => {
    // Act
    const widget = widgetTitled(
      template,
      'Fine-tuning job tracker: jobs looked at, status changes and failures',
    );

    // Assess
    expect(widget.properties.metrics).toEqual(
      [
        ['JobsTracked', 'Jobs tracked'],
        ['JobStatusChanges', 'Status changes'],
        ['JobTrackingFailures', 'Jobs not tracked'],
      ].map(([name, label]) => [
        'TrackerNs',
        name,
        'component',
        'job-tracker',
        'service',
        'tracker-svc',
        { label, stat: 'Sum' },
      ]),
    );
  });

  it("graphs the tracker's Lambda errors and the dead-letter queue's visible messages", () => {
    // Act
    const widget = widgetTitled(template, 'Job tracker errors (left) and dead letters (right)');

    // Assess
    expect(widget.properties.metrics).toEqual([
      [
        'AWS/Lambda',
        'Errors',
        'FunctionName',
        `<Ref:${idOf(trackerFunction)}>`,
        { label: 'Tracker errors', stat: 'Sum' },
      ],
      [
        'AWS/SQS',
        'ApproximateNumberOfMessagesVisible',
        'QueueName',
        `<GetAtt:${idOf(deadLetterQueue)}.QueueName>`,
        { label: 'Dead letters', stat: 'Maximum', yAxis: 'right' },
      ],
    ]);
  });
});

describe('GatewayObservability props validation', () => {
  it.each([
    {
      overrides: { metricsNamespace: 'AWS/Gateway' },
      message:
        "`metricsNamespace` must be 1-255 letters, digits, spaces or . - _ / # : and not start with 'AWS/', " +
        'got: "AWS/Gateway"',
    },
    {
      overrides: { metricsNamespace: 'Llm"Gateway' },
      message:
        "`metricsNamespace` must be 1-255 letters, digits, spaces or . - _ / # : and not start with 'AWS/', " +
        'got: "Llm\\"Gateway"',
    },
    {
      overrides: { serviceName: "llm'gateway" },
      message: '`serviceName` must be 1-255 letters, digits or . _ - : /, got: "llm\'gateway"',
    },
    {
      overrides: { alarmEmail: 'oncall.example.com' },
      message: '`alarmEmail` must be an email address, got: "oncall.example.com"',
    },
    {
      overrides: { latencyP99ThresholdMs: 0 },
      message: '`latencyP99ThresholdMs` must be a positive number of milliseconds, got: 0',
    },
    {
      overrides: { latencyP99ThresholdMs: Number.NaN },
      message: '`latencyP99ThresholdMs` must be a positive number of milliseconds, got: NaN',
    },
  ])('rejects $overrides', ({ overrides, message }) => {
    // Act
    const act = () => build(overrides);

    // Assess
    expect(act).toThrow(new Error(message));
  });
});

describe('GatewayObservability checks', () => {
  it('has no unacknowledged AwsSolutions findings', () => {
    // Prepare
    const app = nagApp({ context: cdkJson.context });
    build({ alarmEmail: 'oncall@example.com', wafBlockedMetric: WAF_BLOCKED }, app);

    // Act
    const findings = unacknowledgedFindings(app);

    // Assess: the stand-ins (an open API, functions with managed policies) are not under test, but their
    // findings prove that the checks ran.
    expect(findings.length).toBeGreaterThan(0);
    expect(findings.filter((finding) => finding.includes(' Test/Observability/'))).toEqual([]);
  });

  it('passes cfn-lint', async () => {
    // Prepare
    const { template } = synth({ alarmEmail: 'oncall@example.com', wafBlockedMetric: WAF_BLOCKED });

    // Act
    const findings = await cfnLint(template.toJSON());

    // Assess: W3005 is CDK's own explicit DependsOn from a stand-in function to its role.
    expect(findings.filter((finding) => !/:W3005:.*ServiceRole/.test(finding))).toEqual([]);
  }, 120_000);
});
