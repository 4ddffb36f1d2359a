// Fine-tuning job tracking: the job event bus, the scheduled tracker function, its dead-letter queue, an example
// notification rule and the tracker's alarms.
import { type CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EnvVar } from '../../lambda/environment.ts';
import { LAMBDA_MEMORY_MB } from '../service-limits.ts';
import { bundling, depsLockFilePath, entryPoint, projectRoot } from './bundling.ts';
import type { GatewayData } from './data.ts';
import type { GatewaySecrets } from './secrets.ts';

// The event the tracker (and the gateway, when a client retrieves a job) publishes on every status change.
// Spelled out here rather than imported from lambda/adapters/eventbridge/job-events.ts (its JobStatusEvent), which
// imports the EventBridge SDK client: synth would load it. test/infra/jobs.test.ts checks that both agree.
/** `source` of the job status events. */
export const JOB_EVENT_SOURCE = 'llm-gateway';
/** `detail-type` of the job status events. */
export const JOB_EVENT_DETAIL_TYPE = 'Fine-tuning job status changed';
/** The final statuses of a fine-tuning job: the example rule notifies on these. */
export const FINAL_JOB_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;

export interface GatewayJobsProps {
  /** The tables: the tracker reads tenants, meters through the ledger and records job status. */
  readonly data: GatewayData;
  /** The upstream key secrets: the tracker polls the providers with them (it never needs the pepper). */
  readonly secrets: GatewaySecrets;
  /**
   * The gateway's alarm topic (`GatewayObservability.topic`): the tracker's alarms notify it, and so does the
   * example rule on final job statuses.
   */
  readonly alarmTopic: sns.ITopic;
  /**
   * The name of the job event bus. Operators attach their rules to it by this name.
   * @default - `<stack name>-job-events` (e.g. `LlmGateway-dev-job-events`): stack names are unique per
   * account and region, so each stage gets a bus of its own
   */
  readonly eventBusName?: string;
  /**
   * Memory of the tracker in MB. A run reads due jobs and polls a few at a time: I/O, not CPU.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Concurrency reserved for the tracker, to keep two runs from polling the same jobs at once. Left out, runs may
   * overlap (one starts each minute; a slow run can still be going): the tracker's lease keeps them from
   * publishing or metering anything twice, so this only saves upstream calls. A reservation takes concurrency
   * from the account's unreserved pool, which CloudFormation refuses to bring below 10: new accounts, whose quota
   * is often 10, cannot reserve any.
   * @default - no reservation
   */
  readonly reservedConcurrency?: number;
  /**
   * The deployment's config document (JSON), compiled into the tracker.
   * @default - the repository's config/gateway.json
   */
  readonly config?: string;
  /**
   * How long the tracker's log events are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * `POWERTOOLS_SERVICE_NAME` of the tracker: the `service` field of its log lines and the service dimension of
   * its metrics.
   * @default 'llm-gateway-job-tracker'
   */
  readonly serviceName?: string;
  /**
   * `POWERTOOLS_METRICS_NAMESPACE` of the tracker; the gateway's namespace, so its metrics sit beside the
   * gateway's.
   * @default 'LlmGateway'
   */
  readonly metricsNamespace?: string;
}

const entry = entryPoint('job-tracker');

/** The tracker runs once a minute: the job polling backoff (lambda/core/jobs.ts) decides which jobs are due. */
const SCHEDULE_RATE = Duration.minutes(1);
/** An invocation not delivered (or not run) within this is superseded by a later scheduled run anyway. */
const MAX_EVENT_AGE = Duration.minutes(5);
const RETRY_ATTEMPTS = 2;
const TIMEOUT = Duration.minutes(5);
const ALARM_PERIOD = Duration.minutes(5);
const DEFAULT_SERVICE = 'llm-gateway-job-tracker';
const DEFAULT_NAMESPACE = 'LlmGateway';
const DEFAULT_MEMORY_MB = 256;

// A custom bus name: 1-256 of these characters (a "/" is only in partner event source names), and `default` is the
// account's own bus.
const EVENT_BUS_NAME_PATTERN = /^[.\-_A-Za-z0-9]{1,256}$/;
const { min: MEMORY_MIN_MB, max: MEMORY_MAX_MB } = LAMBDA_MEMORY_MB;

/** Throws with the field, the bad value and what is allowed; values still unresolved at synth are left alone. */
const validate = (props: GatewayJobsProps): void => {
  const { eventBusName, memorySize } = props;
  if (
    eventBusName !== undefined &&
    !Token.isUnresolved(eventBusName) &&
    (!EVENT_BUS_NAME_PATTERN.test(eventBusName) || eventBusName === 'default')
  ) {
    throw new Error(
      '`eventBusName` must be 1-256 letters, digits or . - _ and not "default", ' +
        `got: ${JSON.stringify(eventBusName)}`,
    );
  }
  if (
    memorySize !== undefined &&
    !Token.isUnresolved(memorySize) &&
    (!Number.isInteger(memorySize) || memorySize < MEMORY_MIN_MB || memorySize > MEMORY_MAX_MB)
  ) {
    throw new Error(
      `\`memorySize\` must be an integer from ${MEMORY_MIN_MB} to ${MEMORY_MAX_MB} (MB), got: ${memorySize}`,
    );
  }
  const reserved = props.reservedConcurrency;
  if (
    reserved !== undefined &&
    !Token.isUnresolved(reserved) &&
    (!Number.isInteger(reserved) || reserved < 1)
  ) {
    throw new Error(`\`reservedConcurrency\` must be a positive integer, got: ${reserved}`);
  }
};

/**
 * EventBridge Scheduler invokes the tracker once a minute. Scheduler invokes Lambda asynchronously, so two
 * retry layers apply, with the same bounds (2 retries, 5 minutes) and the same dead-letter queue:
 * - the schedule's retry policy covers invocations Scheduler could not hand to Lambda;
 * - the function's asynchronous invoke config covers runs that failed (a run fails when any due job could not
 *   be tracked) or waited too long behind a running one (reserved concurrency 1).
 * A dropped run loses nothing: the next one starts from the Ownership table, and a job is metered once however
 * often it is looked at. The dead-letter queue and the error alarm make persistent failure visible.
 */
export class GatewayJobs extends Construct {
  /** The bus the job status events are published on; add rules to it (see the README). */
  readonly eventBus: events.EventBus;
  readonly trackerFunction: NodejsFunction;
  readonly logGroup: logs.LogGroup;
  readonly schedule: scheduler.Schedule;
  /** Invocations of the tracker that were not delivered, or failed every attempt, or expired. */
  readonly deadLetterQueue: sqs.Queue;
  /** The example rule: a job reached a final status → the alarm topic. */
  readonly finalStatusRule: events.Rule;
  readonly alarms: readonly cloudwatch.Alarm[];
  /** The tracker's `POWERTOOLS_SERVICE_NAME`: the `service` dimension of its metrics. */
  readonly serviceName: string;
  /** The tracker's `POWERTOOLS_METRICS_NAMESPACE`. */
  readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: GatewayJobsProps) {
    super(scope, id);
    validate(props);
    this.serviceName = props.serviceName ?? DEFAULT_SERVICE;
    this.metricsNamespace = props.metricsNamespace ?? DEFAULT_NAMESPACE;

    this.eventBus = new events.EventBus(this, 'EventBus', {
      eventBusName: props.eventBusName ?? `${Stack.of(this).stackName}-job-events`,
      description: 'LLM gateway: fine-tuning job status changes (add rules to notify or automate)',
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      // SQS-managed keys: Scheduler and Lambda may send to the queue without KMS grants, at no key fee.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS keeps a message: time to read what failed, and why, after the alarm.
      retentionPeriod: Duration.days(14),
      // Dead letters are diagnostics of invocations that carry no data; the next run redoes their work.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue: of the job tracker schedule (EventBridge Scheduler) and of ' +
        "the tracker's asynchronous invocations. Nothing consumes it; a message raises the DeadLetters alarm and " +
        'is read by an operator. A dead-letter queue of its own would only move the messages again.',
    });

    this.logGroup = new logs.LogGroup(this, 'TrackerLogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      // Why a job was not tracked or metered is logged here: kept when the stack goes, like the gateway's log.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.trackerFunction = this.createTrackerFunction(props);
    props.data.grantJobTrackerAccess(this.trackerFunction);
    props.secrets.grantUpstreamAccess(this.trackerFunction);
    this.grantPublishJobEvents(this.trackerFunction);

    this.trackerFunction.configureAsyncInvoke({
      retryAttempts: RETRY_ATTEMPTS,
      maxEventAge: MAX_EVENT_AGE,
      onFailure: new lambdaDestinations.SqsDestination(this.deadLetterQueue),
    });
    this.schedule = this.createSchedule();

    this.finalStatusRule = this.createFinalStatusRule(props.alarmTopic);
    this.alarms = this.createAlarms(props.alarmTopic);
  }

  /** `JOB_EVENTS_BUS` (the bus name) and events:PutEvents on this bus only. */
  grantPublishJobEvents(fn: lambda.Function): void {
    fn.addEnvironment(EnvVar.JOB_EVENTS_BUS, this.eventBus.eventBusName);
    this.eventBus.grantPutEventsTo(fn);
  }

  /**
   * The schedule, with a role of its own here rather than the one LambdaInvoke would add at the stack's top
   * level: the same trust (Scheduler, only for schedules of this account's default group), under this construct.
   */
  private createSchedule(): scheduler.Schedule {
    const { account, region, partition } = Stack.of(this);
    const role = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: {
          'aws:SourceAccount': account,
          'aws:SourceArn': `arn:${partition}:scheduler:${region}:${account}:schedule-group/default`,
        },
      }),
      description:
        'LLM gateway: lets EventBridge Scheduler invoke the job tracker and dead-letter what it cannot',
    });
    const schedule = new scheduler.Schedule(this, 'Schedule', {
      schedule: scheduler.ScheduleExpression.rate(SCHEDULE_RATE),
      description: 'LLM gateway: runs the fine-tuning job tracker',
      target: new schedulerTargets.LambdaInvoke(this.trackerFunction, {
        role,
        retryAttempts: RETRY_ATTEMPTS,
        maxEventAge: MAX_EVENT_AGE,
        deadLetterQueue: this.deadLetterQueue,
      }),
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.logicalIdOf(this.trackerFunction)}.Arn>:*]`,
      reason:
        "lambda:InvokeFunction on the tracker's ARN and its qualified ARNs (`:*`, versions and aliases) is what " +
        "CDK's grantInvoke gives; it names this one function, and Scheduler invokes its unqualified ARN.",
    });
    return schedule;
  }

  private logicalIdOf(construct: Construct): string {
    return Stack.of(this).getLogicalId(construct.node.defaultChild as CfnElement);
  }

  private createTrackerFunction(props: GatewayJobsProps): NodejsFunction {
    // An inline policy on its own log group instead of AWSLambdaBasicExecutionRole (logs on every group).
    const role = new iam.Role(this, 'TrackerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description:
        'LLM gateway fine-tuning job tracker: writes its own log; tables, upstream secrets and the job event bus ' +
        'are granted with the environment variables naming them',
    });
    this.logGroup.grantWrite(role);

    return new NodejsFunction(this, 'TrackerFunction', {
      entry,
      handler: 'handler',
      projectRoot,
      depsLockFilePath,
      description:
        'LLM gateway: polls active fine-tuning jobs, meters succeeded ones, publishes status changes',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      // A run polls at most 50 jobs, 4 at a time, each bounded by the targets' timeouts: minutes at worst.
      timeout: TIMEOUT,
      ...(props.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
      role,
      logGroup: this.logGroup,
      environment: {
        [EnvVar.NODE_OPTIONS]: '--enable-source-maps',
        [EnvVar.POWERTOOLS_SERVICE_NAME]: this.serviceName,
        [EnvVar.POWERTOOLS_METRICS_NAMESPACE]: this.metricsNamespace,
      },
      // The gateway function's bundling, without the tokenizer the tracker never loads.
      bundling: bundling({ withTokenizer: false, config: props.config }),
    });
  }

  /**
   * The example: a job reached a final status → the alarm topic. The topic is the gateway's alarm topic rather
   * than one of this construct's: the people who read alarms are the operators, a topic of its own would need a
   * second customer managed key ($1 a month) for EventBridge to publish encrypted, and operators who want job
   * notifications elsewhere add their own rule on the bus. EventBridge publishes with a role of its own (sns:Publish
   * on the topic, use of its key), not through the topic policy, so no other rule or account can publish.
   */
  private createFinalStatusRule(topic: sns.ITopic): events.Rule {
    const rule = new events.Rule(this, 'FinalStatusRule', {
      eventBus: this.eventBus,
      description: 'LLM gateway: a fine-tuning job succeeded, failed or was cancelled → the alarm topic',
      eventPattern: {
        source: [JOB_EVENT_SOURCE],
        detailType: [JOB_EVENT_DETAIL_TYPE],
        detail: { status: [...FINAL_JOB_STATUSES] },
      },
    });
    rule.addTarget(new eventTargets.SnsTopic(topic, { authorizeUsingRole: true }));
    const role = rule.node.tryFindChild('EventsRole');
    if (role !== undefined) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason:
          "The topic's grantPublish: SNS encrypts what this role publishes under the alarm topic's key, which needs " +
          'kms:GenerateDataKey and kms:Decrypt. The wildcard adds only the other data-key operations ' +
          '(GenerateDataKeyPair, …WithoutPlaintext), on that one key ARN. Only principals of this account allowed ' +
          'to pass the role can attach it to a rule.',
      });
    }
    return rule;
  }

  private createAlarms(topic: sns.ITopic): cloudwatch.Alarm[] {
    const action = new cloudwatchActions.SnsAction(topic);
    const alarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...alarmProps,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      return created;
    };
    return [
      // Three 5-minute periods rather than three 1-minute ones: job tracking is not urgent (a fine-tuning job runs
      // for minutes to hours, and a run that fails is redone a minute later), so a blip must not page; and a
      // tracker that fails every other run never has three failing minutes in a row, but does fail in every
      // 5-minute period. 15 minutes of failures is worth a look.
      alarm('TrackerErrors', {
        alarmDescription:
          'The fine-tuning job tracker failed in each of three consecutive 5-minute periods (Lambda Errors): job ' +
          "statuses, metering and job events are behind. Its log ('fine-tuning job tracking failed') names the jobs.",
        metric: this.trackerFunction.metricErrors({ period: ALARM_PERIOD, statistic: cloudwatch.Stats.SUM }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
      }),
      alarm('DeadLetters', {
        alarmDescription:
          'An invocation of the fine-tuning job tracker reached its dead-letter queue: Scheduler could not deliver ' +
          'it, or every attempt failed, or it waited 5 minutes behind a running one. The message says which. ' +
          'CloudWatch may stop reporting on a queue nothing touched for 6 hours: an OK then is not a drained queue.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: ALARM_PERIOD,
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
      }),
    ];
  }
}
