// The gateway's alarms (all notifying one encrypted SNS topic) and its CloudWatch dashboard.
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface GatewayObservabilityProps {
  /** The public REST API (its `5XXError`, `Count` and `Latency` metrics, by API name). */
  readonly api: apigateway.RestApiBase;
  /** The gateway function: alarms on its Lambda `Errors` and `Throttles`. */
  readonly gatewayFunction: lambda.IFunction;
  /** The REQUEST authorizer function: its `Throttles` on the dashboard. */
  readonly authorizerFunction: lambda.IFunction;
  /**
   * Requests refused with a 500 because the authorizer failed (`GatewayEdge.metricAuthorizerFailures()`). Not
   * the function's Lambda `Errors`: a REQUEST authorizer answers every refused key by throwing `Unauthorized`.
   */
  readonly authorizerFailuresMetric: cloudwatch.IMetric;
  /** The gateway's DynamoDB tables: one throttle alarm each. */
  readonly tables: readonly dynamodb.ITable[];
  /** The gateway function's log group: its per-request `request` lines feed the Logs Insights widgets. */
  readonly gatewayLogGroup: logs.ILogGroup;
  /**
   * The namespace of the gateway's EMF metrics; must equal the function's `POWERTOOLS_METRICS_NAMESPACE`.
   * @default 'LlmGateway'
   */
  readonly metricsNamespace?: string;
  /**
   * The `service` dimension of the gateway's EMF metrics; must equal the function's `POWERTOOLS_SERVICE_NAME`.
   * @default 'llm-gateway'
   */
  readonly serviceName?: string;
  /** Whether the response cache is on: adds the cache error alarm and the cache widgets. */
  readonly cacheEnabled: boolean;
  /**
   * An address subscribed to the alarm topic (it must confirm the subscription by email).
   * @default - no subscription: subscribe to `topic` yourself
   */
  readonly alarmEmail?: string;
  /**
   * The API's p99 `Latency` (ms) that raises the latency alarm when exceeded for 15 minutes.
   * @default 30000 - API Gateway measures a streamed completion until its last byte, and long answers
   * legitimately take tens of seconds: a lower value would page on healthy traffic
   */
  readonly latencyP99ThresholdMs?: number;
  /**
   * The WAF web ACL's blocked-requests metric, drawn with the throttles.
   * @default - no WAF line on the dashboard
   */
  readonly wafBlockedMetric?: cloudwatch.IMetric;
}

/** What the dashboard shows of the fine-tuning job tracker (`GatewayJobs` has these). */
export interface JobTrackerMonitoring {
  readonly trackerFunction: lambda.IFunction;
  readonly deadLetterQueue: sqs.IQueue;
  /** The tracker's alarms (they notify the alarm topic themselves): listed in the alarm status widget. */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** The tracker's `POWERTOOLS_SERVICE_NAME`: the `service` dimension of its metrics. */
  readonly serviceName: string;
  /** The tracker's `POWERTOOLS_METRICS_NAMESPACE`. */
  readonly metricsNamespace: string;
}

/** The `component` dimension of the tracker's EMF metrics (lambda/core/jobs.ts trackJobs). */
const JOB_TRACKER_COMPONENT = 'job-tracker';

/**
 * The alarm status widget, rendered when the dashboard is: alarms of other constructs added after this one was
 * built (`addJobTracker`) are listed too.
 */
class AlarmStatusOfAll extends cloudwatch.ConcreteWidget {
  constructor(private readonly alarms: readonly cloudwatch.IAlarm[]) {
    super(24, 4);
  }

  toJson(): unknown[] {
    const widget = new cloudwatch.AlarmStatusWidget({
      title: 'Alarms',
      alarms: [...this.alarms],
      width: this.width,
      height: this.height,
    });
    widget.position(this.x ?? 0, this.y ?? 0);
    return widget.toJson();
  }
}

const PERIOD = Duration.minutes(5);
const PERIOD_SECONDS = PERIOD.toSeconds();
const DEFAULT_NAMESPACE = 'LlmGateway';
const DEFAULT_SERVICE = 'llm-gateway';
const DEFAULT_LATENCY_P99_MS = 30_000;
/** The 5XX ratio of the classic `rate(errors[5m]) / rate(requests[5m]) > 0.05` rule. */
const ERROR_RATE_THRESHOLD = 0.05;

// CloudWatch's namespace characters; the value is quoted inside SEARCH and Metrics Insights queries.
const NAMESPACE_PATTERN = /^[A-Za-z0-9.\-_/#: ]{1,255}$/;
// The service name goes inside '…' (Metrics Insights) and "…" (SEARCH): no quotes or backslashes.
const SERVICE_PATTERN = /^[A-Za-z0-9._\-:/]{1,255}$/;
const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Throws with the field, the bad value and what is allowed; values still unresolved at synth are left alone. */
const validate = (props: GatewayObservabilityProps): void => {
  const { metricsNamespace, serviceName, alarmEmail, latencyP99ThresholdMs } = props;
  if (
    metricsNamespace !== undefined &&
    !Token.isUnresolved(metricsNamespace) &&
    (!NAMESPACE_PATTERN.test(metricsNamespace) || metricsNamespace.startsWith('AWS/'))
  ) {
    throw new Error(
      "`metricsNamespace` must be 1-255 letters, digits, spaces or . - _ / # : and not start with 'AWS/', " +
        `got: ${JSON.stringify(metricsNamespace)}`,
    );
  }
  if (serviceName !== undefined && !Token.isUnresolved(serviceName) && !SERVICE_PATTERN.test(serviceName)) {
    throw new Error(
      `\`serviceName\` must be 1-255 letters, digits or . _ - : /, got: ${JSON.stringify(serviceName)}`,
    );
  }
  if (alarmEmail !== undefined && !Token.isUnresolved(alarmEmail) && !EMAIL_PATTERN.test(alarmEmail)) {
    throw new Error(`\`alarmEmail\` must be an email address, got: ${JSON.stringify(alarmEmail)}`);
  }
  if (
    latencyP99ThresholdMs !== undefined &&
    !Token.isUnresolved(latencyP99ThresholdMs) &&
    !(Number.isFinite(latencyP99ThresholdMs) && latencyP99ThresholdMs > 0)
  ) {
    throw new Error(
      `\`latencyP99ThresholdMs\` must be a positive number of milliseconds, got: ${latencyP99ThresholdMs}`,
    );
  }
};

/**
 * Queries over the gateway's EMF metrics. Powertools writes every per-model batch with the one dimension set
 * [service, model] (the circuit breaker's with [service, target]): no series without `model` exists, so a
 * total must aggregate over models. Alarms cannot use SEARCH, but accept one Metrics Insights query each;
 * dashboards use SEARCH, which also gives one line per model.
 */
class EmfQueries {
  constructor(
    private readonly namespace: string,
    private readonly service: string,
  ) {}

  /** One series over all models, for an alarm: `SELECT fn(metric) FROM SCHEMA(ns, model, service)`. */
  insights(fn: 'AVG' | 'SUM', metric: string, label: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SELECT ${fn}(${metric}) FROM SCHEMA("${this.namespace}", model, service) WHERE service = '${this.service}'`,
      label,
      period: PERIOD,
    });
  }

  /** The metric's per-model series with the given statistic, labelled by model. */
  byModel(metric: string, statistic: string, label: string): cloudwatch.MathExpression {
    return this.search(
      `{"${this.namespace}",model,service}`,
      metric,
      statistic,
      `${label} \${PROP('Dim.model')}`,
    );
  }

  /** The sum over all models, one series. */
  total(metric: string, label: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SUM(${this.searchTerm(`{"${this.namespace}",model,service}`, metric, 'Sum')})`,
      label,
      period: PERIOD,
    });
  }

  /** The circuit breaker's series, one per upstream target. */
  byTarget(metric: string, label: string): cloudwatch.MathExpression {
    return this.search(
      `{"${this.namespace}",service,target}`,
      metric,
      'Sum',
      `${label} \${PROP('Dim.target')}`,
    );
  }

  /** The content rules' series, one per rule. */
  byRule(metric: string, label: string): cloudwatch.MathExpression {
    return this.search(`{"${this.namespace}",rule,service}`, metric, 'Sum', `${label} \${PROP('Dim.rule')}`);
  }

  /**
   * The sum of a metric over any dimension set carrying this service (the cache metrics, emitted today with
   * [service, model] only). Should one metric come under several dimension sets, pin the schema here, or the
   * sum counts each value once per set.
   */
  anySchemaTotal(metric: string, label: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SUM(${this.searchTerm(`Namespace="${this.namespace}"`, metric, 'Sum')})`,
      label,
      period: PERIOD,
    });
  }

  /** A Metrics Insights query over any dimension set carrying this service (see `anySchemaTotal`). */
  anySchemaInsights(metric: string, label: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SELECT SUM(${metric}) FROM "${this.namespace}" WHERE service = '${this.service}'`,
      label,
      period: PERIOD,
    });
  }

  private search(
    schema: string,
    metric: string,
    statistic: string,
    label: string,
  ): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: this.searchTerm(schema, metric, statistic),
      label,
      period: PERIOD,
    });
  }

  private searchTerm(schema: string, metric: string, statistic: string): string {
    return `SEARCH('${schema} MetricName="${metric}" service="${this.service}"', '${statistic}', ${PERIOD_SECONDS})`;
  }
}

export class GatewayObservability extends Construct {
  /** Every alarm notifies it, on ALARM and on OK. */
  readonly topic: sns.ITopic;
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;
  /** The dashboard in the CloudWatch console (a token until deploy). */
  readonly dashboardUrl: string;

  private readonly alarmList: cloudwatch.Alarm[] = [];
  /** This construct's alarms and those added later: what the alarm status widget lists. */
  private readonly statusAlarms: cloudwatch.IAlarm[] = [];
  private readonly action: cloudwatch.IAlarmAction;

  constructor(scope: Construct, id: string, props: GatewayObservabilityProps) {
    super(scope, id);
    validate(props);
    const emf = new EmfQueries(
      props.metricsNamespace ?? DEFAULT_NAMESPACE,
      props.serviceName ?? DEFAULT_SERVICE,
    );

    const topic = this.createTopic();
    if (props.alarmEmail !== undefined)
      topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    this.topic = topic;
    this.action = new cloudwatchActions.SnsAction(topic);

    const { api, gatewayFunction } = props;
    const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };

    // The Prometheus rule `rate(errors[5m]) / rate(requests[5m]) > 0.05 for: 10m`: the ratio of two 5-minute
    // sums above 0.05 in two consecutive periods. No traffic means no data, which must not page.
    const apiErrorRate = this.addAlarm('ApiServerErrorRate', {
      alarmDescription:
        'More than 5% of API requests ended in a 5XX for 10 minutes (API Gateway 5XXError / Count). ' +
        'Look at the gateway error rate alarm and the function errors to see which layer fails.',
      metric: new cloudwatch.MathExpression({
        expression: 'errors / requests',
        usingMetrics: { errors: api.metricServerError(sum), requests: api.metricCount(sum) },
        label: 'API 5XX ratio',
        period: PERIOD,
      }),
      threshold: ERROR_RATE_THRESHOLD,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
    });

    // Every request emits exactly one `ServerErrors` observation (0 or 1, in core/telemetry.ts settle()), so the
    // average of all observations is ServerErrors / Requests: one query, which is all an alarm may hold.
    const gatewayErrorRate = this.addAlarm('GatewayServerErrorRate', {
      alarmDescription:
        "More than 5% of the gateway's requests answered a 5xx for 10 minutes (EMF ServerErrors / Requests, all " +
        'models); includes Function URL traffic. See the failover and circuit widgets for failing upstreams.',
      metric: emf.insights('AVG', 'ServerErrors', 'Gateway 5xx ratio'),
      threshold: ERROR_RATE_THRESHOLD,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
    });

    const atLeastOnce = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
    };
    this.addAlarm('GatewayFunctionErrors', {
      alarmDescription:
        'The gateway function failed an invocation (Lambda Errors): a crash, not an error response.',
      metric: gatewayFunction.metricErrors(sum),
      ...atLeastOnce,
    });
    this.addAlarm('GatewayFunctionThrottles', {
      alarmDescription: 'Lambda throttled the gateway function: raise its concurrency or the account limit.',
      metric: gatewayFunction.metricThrottles(sum),
      ...atLeastOnce,
    });
    this.addAlarm('AuthorizerFailures', {
      alarmDescription:
        'API Gateway answered requests with 500 because the authorizer failed: it threw (e.g. it could not ' +
        'read DynamoDB or Secrets Manager), timed out or was throttled. Refused or denied keys do not count. ' +
        "The authorizer's log has the cause in its 'authorizer failed' lines.",
      metric: props.authorizerFailuresMetric,
      ...atLeastOnce,
    });

    const latencyThreshold = props.latencyP99ThresholdMs ?? DEFAULT_LATENCY_P99_MS;
    this.addAlarm('ApiLatencyP99', {
      alarmDescription: `The API's p99 latency stayed above ${latencyThreshold} ms for 15 minutes (streams count to their last byte).`,
      metric: api.metricLatency({ period: PERIOD, statistic: cloudwatch.Stats.p(99) }),
      threshold: latencyThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
    });

    // `metricThrottledRequestsForOperations()` adds one metric per operation (14), more than the 10 an alarm
    // takes; one Metrics Insights query covers every operation of the table and its indexes.
    for (const table of props.tables) {
      this.addAlarm(`${table.node.id}Throttles`, {
        alarmDescription: `DynamoDB throttled requests to table ${table.node.id}: the gateway retried or failed them.`,
        metric: new cloudwatch.MathExpression({
          expression: `SELECT SUM(ThrottledRequests) FROM SCHEMA("AWS/DynamoDB", Operation, TableName) WHERE TableName = '${table.tableName}'`,
          label: `${table.node.id} throttled requests`,
          period: PERIOD,
        }),
        ...atLeastOnce,
      });
    }

    this.addAlarm('UsageRecordsNotStored', {
      alarmDescription:
        'A usage record could not be written to the ledger and went to the log instead (`usage record not stored`): ' +
        'money is at stake. Replay the logged records once the ledger works.',
      metric: emf.insights('SUM', 'UsageRecordsNotStored', 'Usage records not stored'),
      ...atLeastOnce,
    });

    if (props.cacheEnabled) {
      // The pipeline counts every failed cache read or write as `CacheErrors`, by model.
      // A cache error costs a hit, not a request: page only when errors persist for 10 minutes.
      this.addAlarm('CacheErrors', {
        alarmDescription:
          'The response cache failed in two consecutive 5-minute periods; requests still went upstream.',
        metric: emf.anySchemaInsights('CacheErrors', 'Cache errors'),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
      });
    }
    this.alarms = this.alarmList;
    this.statusAlarms.push(...this.alarmList);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.addDashboardRows(props, emf, apiErrorRate, gatewayErrorRate);
    this.dashboardUrl = `https://console.aws.amazon.com/cloudwatch/home?region=${Stack.of(this).region}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  /**
   * The fine-tuning job tracker: its alarms join the alarm status widget, and a row shows its EMF metrics (one
   * batch per run with the dimension set [service, component]; both values are known, so plain metrics rather
   * than SEARCH) beside its Lambda errors and dead letters.
   */
  addJobTracker(tracker: JobTrackerMonitoring): void {
    this.statusAlarms.push(...tracker.alarms);
    const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
    const emf = (metricName: string, label: string) =>
      new cloudwatch.Metric({
        namespace: tracker.metricsNamespace,
        metricName,
        dimensionsMap: { service: tracker.serviceName, component: JOB_TRACKER_COMPONENT },
        label,
        ...sum,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Fine-tuning job tracker: jobs looked at, status changes and failures',
        left: [
          emf('JobsTracked', 'Jobs tracked'),
          emf('JobStatusChanges', 'Status changes'),
          emf('JobTrackingFailures', 'Jobs not tracked'),
        ],
        width: 16,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Job tracker errors (left) and dead letters (right)',
        left: [tracker.trackerFunction.metricErrors({ ...sum, label: 'Tracker errors' })],
        right: [
          tracker.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: cloudwatch.Stats.MAXIMUM,
            label: 'Dead letters',
          }),
        ],
        width: 8,
        height: 6,
      }),
    );
  }

  /**
   * SNS3: only TLS publishers. SNS2: encrypted at rest with a key of our own, because CloudWatch can publish to
   * an encrypted topic only when the key policy lets it use the key, and the AWS managed `alias/aws/sns` key's
   * policy cannot be changed: alarms would fail to notify, silently.
   */
  private createTopic(): sns.Topic {
    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the LLM gateway alarm notifications held by SNS',
      enableKeyRotation: true,
      // The key protects only notifications in transit through SNS; none outlive the topic.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'LLM gateway alarms',
      enforceSSL: true,
      masterKey: key,
    });
    // The explicit topic policy (from enforceSSL) replaces SNS's default one, so CloudWatch needs a grant;
    // the conditions keep other accounts' alarms (confused deputy) out. grantPublish also grants the key.
    const { account, region, partition } = Stack.of(this);
    topic.grantPublish(
      new iam.ServicePrincipal('cloudwatch.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': account },
        ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
      }),
    );
    return topic;
  }

  private addAlarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...props,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarmList.push(alarm);
    return alarm;
  }

  private addDashboardRows(
    props: GatewayObservabilityProps,
    emf: EmfQueries,
    apiErrorRate: cloudwatch.Alarm,
    gatewayErrorRate: cloudwatch.Alarm,
  ): void {
    const { api, gatewayFunction, authorizerFunction } = props;
    const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
    const logGroupNames = [props.gatewayLogGroup.logGroupName];
    const third = { width: 8, height: 6 };

    this.dashboard.addWidgets(new AlarmStatusOfAll(this.statusAlarms));

    // Requests and errors by class: API Gateway's view (includes authorizer and usage-plan refusals) and
    // the gateway's own (includes Function URL traffic and failures after the first byte).
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API requests and errors',
        left: [
          api.metricCount({ ...sum, label: 'Requests' }),
          api.metricClientError({ ...sum, label: '4XX (incl. usage-plan 429)' }),
          api.metricServerError({ ...sum, label: '5XX' }),
        ],
        ...third,
      }),
      new cloudwatch.GraphWidget({
        title: 'Gateway requests and errors by class',
        left: [
          emf.total('Requests', 'Requests'),
          emf.total('ClientErrors', 'Client errors (4xx)'),
          emf.total('ServerErrors', 'Server errors (5xx)'),
          emf.total('StreamFailures', 'Stream failures'),
        ],
        ...third,
      }),
      new cloudwatch.AlarmWidget({
        title: 'API 5XX ratio (alarm)',
        alarm: apiErrorRate,
        width: 4,
        height: 6,
      }),
      new cloudwatch.AlarmWidget({
        title: 'Gateway 5xx ratio (alarm)',
        alarm: gatewayErrorRate,
        width: 4,
        height: 6,
      }),
    );

    // Latency and time to first byte. Percentiles do not add up across models, so the exact overall ones
    // come from the per-request log line; the metrics give them per model.
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API latency (ms)',
        left: [50, 90, 99].map((p) =>
          api.metricLatency({ period: PERIOD, statistic: cloudwatch.Stats.p(p), label: `p${p}` }),
        ),
        ...third,
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Gateway latency and TTFB percentiles (ms, from request logs)',
        logGroupNames,
        view: cloudwatch.LogQueryVisualizationType.LINE,
        queryLines: [
          'filter message = "request"',
          'stats pct(latencyMs, 50) as latencyP50, pct(latencyMs, 90) as latencyP90, pct(latencyMs, 99) as latencyP99, ' +
            'pct(ttfbMs, 50) as ttfbP50, pct(ttfbMs, 90) as ttfbP90, pct(ttfbMs, 99) as ttfbP99 by bin(5m)',
        ],
        ...third,
      }),
      new cloudwatch.GraphWidget({
        title: 'Gateway p99 latency (left) and TTFB (right) by model (ms)',
        left: [emf.byModel('Latency', 'p99', 'Latency p99')],
        right: [emf.byModel('TimeToFirstByte', 'p99', 'TTFB p99')],
        ...third,
      }),
    );

    // Tokens by model, from the request log's `tokens` field: the usage the upstream reported. Cost is not a
    // log field; it comes from the per-record EMF metrics in the next widget.
    this.dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Tokens by model (upstream-reported usage, from request logs)',
        logGroupNames,
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        queryLines: [
          'filter message = "request" and ispresent(tokens.inputTokens)',
          'stats count(*) as requests, sum(tokens.inputTokens) as inputTokens, ' +
            'sum(tokens.cachedInputTokens) as cachedInputTokens, sum(tokens.outputTokens) as outputTokens, ' +
            'sum(tokens.reasoningTokens) as reasoningTokens by model',
          'sort outputTokens desc',
        ],
        width: 16,
        height: 6,
      }),
      // Every usage record is also emitted as EMF (`CostMicroUsd`, `InputTokens`, `OutputTokens` by model),
      // estimates included; the ledger (gateway-admin usage / invoice) stays the billing record.
      new cloudwatch.GraphWidget({
        title: 'Cost by model (µUSD, left) and tokens (right), every record incl. estimates',
        left: [emf.byModel('CostMicroUsd', 'Sum', 'Cost')],
        right: [emf.byModel('InputTokens', 'Sum', 'Input'), emf.byModel('OutputTokens', 'Sum', 'Output')],
        width: 8,
        height: 6,
      }),
    );

    if (props.cacheEnabled) {
      // One `CacheHits` or `CacheMisses` per cacheable request that looked the cache up.
      const hits = emf.anySchemaTotal('CacheHits', 'Hits');
      const misses = emf.anySchemaTotal('CacheMisses', 'Misses');
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Cache hit ratio (%, left) and lookups (right)',
          left: [
            new cloudwatch.MathExpression({
              expression: '100 * hits / (hits + misses)',
              usingMetrics: { hits, misses },
              label: 'Hit ratio',
              period: PERIOD,
            }),
          ],
          right: [hits, misses, emf.anySchemaTotal('CacheErrors', 'Errors')],
          leftYAxis: { min: 0, max: 100 },
          width: 24,
          height: 6,
        }),
      );
    }

    // Failovers, circuit breakers and metering health.
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Failovers and circuits opened',
        left: [emf.total('Failovers', 'Failovers')],
        right: [emf.byTarget('CircuitOpened', 'Circuit opened')],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Metering',
        left: [
          emf.total('UsageRecordsNotStored', 'Usage records not stored'),
          emf.total('BudgetHoldExceeded', 'Cost above budget hold'),
          emf.total('UnpricedRequests', 'Unpriced requests'),
        ],
        width: 12,
        height: 6,
      }),
    );

    // Content rules: what they blocked and redacted, by rule (requests and answers together).
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Content rules: blocked (left) and redacted (right) by rule',
        left: [emf.byRule('ContentBlocked', 'Blocked')],
        right: [emf.byRule('ContentRedacted', 'Redacted')],
        width: 24,
        height: 6,
      }),
    );

    // Throttles. API Gateway publishes no count of usage-plan 429s (they are in 4XX above).
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Throttles and WAF blocks',
        left: [
          gatewayFunction.metricThrottles({ ...sum, label: 'Gateway function throttles' }),
          authorizerFunction.metricThrottles({ ...sum, label: 'Authorizer throttles' }),
          ...props.tables.map(
            (table) =>
              new cloudwatch.MathExpression({
                expression: `SUM(SEARCH('{AWS/DynamoDB,Operation,TableName} MetricName="ThrottledRequests" TableName="${table.tableName}"', 'Sum', ${PERIOD_SECONDS}))`,
                label: `${table.node.id} throttled requests`,
                period: PERIOD,
              }),
          ),
          ...(props.wafBlockedMetric === undefined ? [] : [props.wafBlockedMetric]),
        ],
        width: 24,
        height: 6,
      }),
    );
  }
}
