// The gateway's stack: composes the constructs of lib/constructs and exposes what operators need as outputs.
import { CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CacheMode, type StackConfig } from './config.ts';
import { grantBedrockInvoke } from './constructs/bedrock.ts';
import { GatewayCache } from './constructs/cache.ts';
import { GatewayData } from './constructs/data.ts';
import { GatewayEdge } from './constructs/edge.ts';
import { FunctionUrlAuth, GatewayFunction } from './constructs/gateway-function.ts';
import { GatewayJobs } from './constructs/jobs.ts';
import { GatewayNetwork } from './constructs/network.ts';
import { GatewayObservability } from './constructs/observability.ts';
import { GatewaySecrets } from './constructs/secrets.ts';
import { GatewayWaf } from './constructs/waf.ts';
import { StackOutput } from './stack-outputs.ts';

export interface GatewayStackProps extends StackProps {
  /** Deployment stage (`dev`, `prod`, …): lowercase letters, digits and "-", starting with a letter. */
  readonly stage: string;
  /** The parsed project config (config/gateway.json): routes, tiers, prices and the deployment settings. */
  readonly config: StackConfig;
  /**
   * A production stage keeps its data: tables get deletion protection and are retained with the secrets.
   * @default - stages named `prod` or starting with `prod-` are production
   */
  readonly production?: boolean;
}

const STAGE_PATTERN = /^[a-z][a-z0-9-]*$/;

const checkStage = (stage: string): string => {
  if (!STAGE_PATTERN.test(stage)) {
    throw new Error(
      `\`stage\` must be lowercase letters, digits and "-", starting with a letter, got: ${JSON.stringify(stage)}`,
    );
  }
  return stage;
};

export class GatewayStack extends Stack {
  readonly gatewayFunction: GatewayFunction;
  readonly data: GatewayData;
  readonly secrets: GatewaySecrets;
  readonly edge: GatewayEdge;
  readonly waf: GatewayWaf;
  readonly cache: GatewayCache | undefined;
  readonly network: GatewayNetwork | undefined;
  readonly observability: GatewayObservability;
  readonly jobs: GatewayJobs;

  /**
   * Two AZs as deploy-time values (Fn::GetAZs), never a context lookup, so `cdk synth` works offline and
   * with or without credentials (the vpc network mode spreads its subnets over these).
   */
  override get availabilityZones(): string[] {
    return [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())];
  }

  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    const stage = checkStage(props.stage);
    super(scope, id, {
      ...props,
      description: props.description ?? `OpenAI-compatible LLM gateway (stage: ${stage})`,
    });
    const { gateway, deployment, upstreamSecretNames } = props.config;
    const production = props.production ?? (stage === 'prod' || stage.startsWith('prod-'));
    const cacheMode = deployment.cache.mode;

    this.data = new GatewayData(this, 'Data', { production });
    this.secrets = new GatewaySecrets(this, 'Secrets', {
      upstreamSecretNames,
      pepperSecretName: gateway.keys.pepperSecretName,
      production,
    });
    this.network = cacheMode === CacheMode.vpc ? new GatewayNetwork(this, 'Network') : undefined;

    this.gatewayFunction = new GatewayFunction(this, 'Gateway', {
      memorySize: deployment.function.memoryMb,
      reservedConcurrentExecutions: deployment.function.reservedConcurrency,
      functionUrlAuth: deployment.functionUrl.auth === 'none' ? FunctionUrlAuth.none : FunctionUrlAuth.iam,
      config: props.config.document,
      ...(this.network === undefined
        ? {}
        : { vpc: this.network.vpc, securityGroups: [this.network.functionSecurityGroup] }),
    });
    const fn = this.gatewayFunction.fn;
    this.data.grantGatewayAccess(fn);
    this.secrets.grantGatewayAccess(fn);
    grantBedrockInvoke(fn, props.config.bedrockModels);

    this.cache =
      cacheMode === CacheMode.off
        ? undefined
        : new GatewayCache(this, 'Cache', {
            mode: cacheMode,
            network: this.network,
            maxDataStorageGb: deployment.cache.maxDataStorageGb,
            maxEcpuPerSecond: deployment.cache.maxEcpuPerSecond,
            production,
          });
    this.cache?.grantConnect(fn);

    this.edge = new GatewayEdge(this, 'Edge', {
      gatewayFunction: fn,
      tiers: Object.fromEntries(
        Object.entries(deployment.tiers).map(([tier, { usagePlan }]) => [tier, usagePlan]),
      ),
      authorizerResultTtl: Duration.seconds(deployment.edge.authorizerCacheTtlSeconds),
      config: props.config.document,
    });
    this.data.grantAuthorizerAccess(this.edge.authorizerFunction);
    this.secrets.grantAuthorizerAccess(this.edge.authorizerFunction);

    this.waf = new GatewayWaf(this, 'Waf', {
      stageArn: this.edge.stageArn,
      allowlist: deployment.allowlist,
      rateLimitPer5Minutes: deployment.edge.wafRateLimitPer5Minutes,
      bodyRules: deployment.edge.wafBodyRules,
    });

    this.observability = new GatewayObservability(this, 'Observability', {
      api: this.edge.restApi,
      gatewayFunction: fn,
      authorizerFunction: this.edge.authorizerFunction,
      authorizerFailuresMetric: this.edge.metricAuthorizerFailures(),
      tables: [this.data.keys, this.data.usage, this.data.budgets, this.data.ownership],
      gatewayLogGroup: this.gatewayFunction.logGroup,
      cacheEnabled: this.cache !== undefined,
      alarmEmail: deployment.alarms.email,
      latencyP99ThresholdMs: deployment.alarms.latencyP99Ms,
      wafBlockedMetric: this.waf.metricBlockedRequests(),
    });

    // Fine-tuning job tracking: after observability, whose alarm topic its alarms and example rule notify.
    this.jobs = new GatewayJobs(this, 'Jobs', {
      data: this.data,
      secrets: this.secrets,
      alarmTopic: this.observability.topic,
      config: props.config.document,
    });
    // The gateway publishes a status change too, when a client's retrieve is the first to see it.
    this.jobs.grantPublishJobEvents(fn);
    this.observability.addJobTracker(this.jobs);

    const output = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });
    output('ApiUrl', this.edge.url, 'OpenAI SDK baseURL: the REST API stage (WAF, usage plans, authorizer)');
    output(
      'FunctionUrl',
      this.gatewayFunction.url.url,
      deployment.functionUrl.auth === 'none'
        ? 'Function URL (no auth: public, without WAF or usage plans; gateway key as Bearer token)'
        : 'Function URL (IAM auth: SigV4-signed requests; gateway key in x-api-key)',
    );
    output(
      'GatewayFunctionArn',
      this.gatewayFunction.fn.functionArn,
      'The gateway function: the Resource of a Function URL caller policy (lambda:InvokeFunctionUrl and lambda:InvokeFunction)',
    );
    output('DashboardUrl', this.observability.dashboardUrl, 'CloudWatch dashboard of the gateway');
    output('AlarmTopicArn', this.observability.topic.topicArn, 'SNS topic the alarms notify');
    output(
      'JobEventBusName',
      this.jobs.eventBus.eventBusName,
      'EventBridge bus of fine-tuning job status changes: add rules to it',
    );
    output(
      'JobTrackerFunctionName',
      this.jobs.trackerFunction.functionName,
      'Lambda function that tracks fine-tuning jobs (runs every minute)',
    );
    output(StackOutput.KeysTableName, this.data.keys.tableName, 'DynamoDB table of tenants and keys');
    output(
      StackOutput.UsageTableName,
      this.data.usage.tableName,
      'DynamoDB table of usage records and rollups',
    );
    output(StackOutput.BudgetsTableName, this.data.budgets.tableName, 'DynamoDB table of monthly budgets');
    output(StackOutput.KeyPepperSecretArn, this.secrets.pepper.secretArn, 'Secret: the pepper of key hashes');
    output(
      StackOutput.UsagePlanIds,
      Stack.of(this).toJsonString(this.edge.usagePlanIds),
      'API Gateway usage plan id by tier (JSON)',
    );
    output(StackOutput.RestApiId, this.edge.restApi.restApiId, 'API Gateway REST API id');
    output(
      'UpstreamSecretArns',
      Stack.of(this).toJsonString(
        Object.fromEntries(
          [...this.secrets.upstream.entries()].map(([name, secret]) => [name, secret.secretArn]),
        ),
      ),
      'Secrets to put the upstream provider keys into (JSON: config secret name → ARN)',
    );
  }
}
