import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EnvVar } from '../../lambda/environment.ts';
import { bundling, depsLockFilePath, entryPoint, projectRoot } from './bundling.ts';

export type QuotaPeriod = 'DAY' | 'WEEK' | 'MONTH';

/** API Gateway's limits for the API keys (one per tenant) of a tier. */
export interface TierUsagePlan {
  /** Steady-state requests per second per API key: the refill rate of API Gateway's token bucket. */
  readonly rateLimit: number;
  /** Requests per API key that may arrive at once: the size of the token bucket. */
  readonly burstLimit: number;
  /**
   * Requests per API key and period.
   * @default - no quota: token and dollar budgets limit spend
   */
  readonly quota?: { readonly limit: number; readonly period: QuotaPeriod };
}

export interface GatewayEdgeProps {
  /** The streaming gateway function every route is proxied to. */
  readonly gatewayFunction: lambda.IFunction;
  /** One usage plan per tier name (letters, digits, "_" and "-"), as in the config's `tiers`. */
  readonly tiers: Readonly<Record<string, TierUsagePlan>>;
  /**
   * How long API Gateway reuses an authorizer decision for one key from one client IP; 0 turns caching off.
   * A revoked key keeps working (and a denied one stays denied) until its cached decision expires. The Messages
   * API's routes (`/v1/messages…`) never cache: their authorizer runs for every request.
   * @default Duration.minutes(5)
   */
  readonly authorizerResultTtl?: Duration;
  /**
   * How long the access log (one JSON line per request) is kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: logs.RetentionDays;
  /**
   * How long the authorizer function's log is kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly authorizerLogRetention?: logs.RetentionDays;
  /**
   * The config document (JSON) the authorizer verifies keys with, passed as `GATEWAY_CONFIG`, so it reads the
   * same tiers as the stack was built with. It must fit in Lambda's 4 KB of environment variables.
   * @default - the config/gateway.json bundled into the authorizer
   */
  readonly configDocument?: string;
  /**
   * The deployment's config document (JSON), compiled into the authorizer (no size limit, unlike
   * `configDocument`, which overrides it).
   * @default - the repository's config/gateway.json
   */
  readonly config?: string;
  /**
   * Whether this API sets the region's API Gateway CloudWatch Logs role (an account-wide setting), which
   * access logging needs. Turn it off where the account already has one that must not be replaced (e.g. set
   * by a landing zone). The role and the setting are retained when the stack is deleted, so other APIs of
   * the region keep logging.
   * @default true
   */
  readonly accountCloudWatchRole?: boolean;
}

/** The REST API's only stage: `https://<api>/v1` is the OpenAI SDK's baseURL, as `https://api.openai.com/v1`. */
export const STAGE_NAME = 'v1';
/** Unauthenticated health check, at `/v1/health` like the gateway's own route. */
export const HEALTH_PATH = 'health';
/** Anthropic's Messages API, at `/v1/messages` and under it: its clients may send the key as `x-api-key`. */
export const MESSAGES_PATH = 'messages';

const AUTHORIZER_TTL_MAX_SECONDS = 3600;
/** Lambda allows 4 KB for all variables; the rest is left for the table, secret and runtime settings. */
const CONFIG_DOCUMENT_MAX_BYTES = 3_000;
const TIER_NAME = /^[A-Za-z0-9_-]+$/;
const QUOTA_PERIODS: readonly QuotaPeriod[] = ['DAY', 'WEEK', 'MONTH'];

const entry = entryPoint('authorizer');

const show = (value: unknown): string =>
  typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
const known = (value: number): boolean => !Token.isUnresolved(value);
const isPositiveNumber = (value: number): boolean => Number.isFinite(value) && value > 0;
const isPositiveInteger = (value: number): boolean => Number.isInteger(value) && value > 0;

const validateTier = (name: string, plan: TierUsagePlan): void => {
  if (!TIER_NAME.test(name)) {
    throw new Error(`\`tiers\` names use letters, digits, "_" and "-", got: ${show(name)}`);
  }
  const at = `tiers.${name}.usagePlan`;
  const { rateLimit, burstLimit, quota } = plan;
  if (known(rateLimit) && !isPositiveNumber(rateLimit)) {
    throw new Error(
      `\`${at}.rateLimit\` must be a positive number (requests per second), got: ${show(rateLimit)}`,
    );
  }
  if (known(burstLimit) && !isPositiveInteger(burstLimit)) {
    throw new Error(`\`${at}.burstLimit\` must be a positive integer, got: ${show(burstLimit)}`);
  }
  if (known(rateLimit) && known(burstLimit) && burstLimit < rateLimit) {
    throw new Error(
      `\`${at}.burstLimit\` must be at least rateLimit (${rateLimit}), got: ${show(burstLimit)}`,
    );
  }
  if (quota === undefined) return;
  if (known(quota.limit) && !isPositiveInteger(quota.limit)) {
    throw new Error(`\`${at}.quota.limit\` must be a positive integer, got: ${show(quota.limit)}`);
  }
  if (!QUOTA_PERIODS.includes(quota.period)) {
    throw new Error(
      `\`${at}.quota.period\` must be one of ${QUOTA_PERIODS.map((p) => `'${p}'`).join(', ')}, got: ${show(quota.period)}`,
    );
  }
};

/** The config document minified (it counts against the environment's 4 KB), or an error naming the problem. */
const minifiedConfig = (document: string): string => {
  let minified: string;
  try {
    minified = JSON.stringify(JSON.parse(document));
  } catch {
    throw new Error(`\`configDocument\` must be a JSON document, got: ${show(document.slice(0, 40))}`);
  }
  const bytes = Buffer.byteLength(minified);
  if (bytes > CONFIG_DOCUMENT_MAX_BYTES) {
    throw new Error(
      `\`configDocument\` must be at most ${CONFIG_DOCUMENT_MAX_BYTES} bytes minified to fit in the authorizer's environment, got: ${bytes} bytes`,
    );
  }
  return minified;
};

/** Throws with the field, the bad value and what is allowed; values unresolved at synth are left to CloudFormation. */
const validate = (props: GatewayEdgeProps): void => {
  const tiers = Object.entries(props.tiers);
  if (tiers.length === 0) throw new Error('`tiers` must name at least one tier, got: {}');
  for (const [name, plan] of tiers) validateTier(name, plan);
  const ttl = props.authorizerResultTtl;
  if (ttl !== undefined && !ttl.isUnresolved()) {
    const seconds = ttl.toSeconds({ integral: false });
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > AUTHORIZER_TTL_MAX_SECONDS) {
      throw new Error(
        `\`authorizerResultTtl\` must be whole seconds from 0 to ${AUTHORIZER_TTL_MAX_SECONDS}, got: ${seconds} seconds`,
      );
    }
  }
};

// Gateway response templates are not VTL: API Gateway only substitutes variables, without escaping. So a
// message is either a literal (no `$`, `"` or `\`), `$context.error.messageString` (already a quoted JSON
// string) or a `$context` value known to hold no quote or backslash.
const literal = (text: string): string => JSON.stringify(text);
// The request id goes in the body: a template may use `$context` variables, while header mappings may take only
// request parameters and static values (the gateway-responses documentation shows no other source).
const openAiError = (type: string, code: string | null, message: string): string =>
  `{"error":{"message":${message},"type":${literal(type)},"param":null,"code":${code === null ? 'null' : code},"request_id":"$context.requestId"}}`;

interface ErrorResponse {
  readonly type: apigateway.ResponseType;
  readonly statusCode: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const SERVER_ERROR_HINT = 'If it persists, report request id $context.requestId.';

/** API Gateway's own refusals as the OpenAI SDKs expect them: status, `error.type` and `error.code`. */
const ERROR_RESPONSES: readonly ErrorResponse[] = [
  {
    type: apigateway.ResponseType.UNAUTHORIZED,
    statusCode: '401',
    body: openAiError(
      'invalid_request_error',
      literal('invalid_api_key'),
      literal(
        "Incorrect or missing API key. Send your gateway key as 'Authorization: Bearer <key>' (on /v1/messages also as 'x-api-key: <key>').",
      ),
    ),
  },
  {
    // A Deny from the authorizer: its context says why (tenant suspended, IP not allowed, …). The authorizer's
    // messages carry no quotes or backslashes (tenant ids, key prefixes, IP addresses).
    type: apigateway.ResponseType.ACCESS_DENIED,
    statusCode: '403',
    body: openAiError('permission_error', '"$context.authorizer.code"', '"$context.authorizer.message"'),
  },
  {
    // The authorizer's usage-plan key is not in a usage plan of this stage: an operator must re-issue it.
    type: apigateway.ResponseType.INVALID_API_KEY,
    statusCode: '403',
    body: openAiError(
      'permission_error',
      literal('usage_plan_key_invalid'),
      literal(`Your tenant has no valid usage plan on this gateway; ask its operator. ${SERVER_ERROR_HINT}`),
    ),
  },
  {
    type: apigateway.ResponseType.THROTTLED,
    statusCode: '429',
    body: openAiError(
      'rate_limit_error',
      literal('rate_limit_exceeded'),
      literal("Rate limit reached for your tier's requests per second. Slow down and retry shortly."),
    ),
    headers: { 'Retry-After': "'1'" },
  },
  {
    type: apigateway.ResponseType.QUOTA_EXCEEDED,
    statusCode: '429',
    body: openAiError(
      'insufficient_quota',
      literal('insufficient_quota'),
      literal("You exceeded your tier's request quota for the current period."),
    ),
    // Retrying cannot help before the period ends; the OpenAI SDKs honour this header.
    headers: { 'x-should-retry': "'false'" },
  },
  {
    type: apigateway.ResponseType.WAF_FILTERED,
    statusCode: '403',
    body: openAiError(
      'permission_error',
      literal('request_blocked'),
      literal(
        "The request was blocked by the gateway's firewall (address not allowed, rate or content rule).",
      ),
    ),
  },
  {
    type: apigateway.ResponseType.AUTHORIZER_FAILURE,
    statusCode: '500',
    body: openAiError(
      'server_error',
      literal('authorizer_failed'),
      literal(`The gateway could not verify the API key right now. Retry shortly. ${SERVER_ERROR_HINT}`),
    ),
  },
  {
    type: apigateway.ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
    statusCode: '500',
    body: openAiError(
      'server_error',
      literal('authorizer_failed'),
      literal(`The gateway could not verify the API key right now. Retry shortly. ${SERVER_ERROR_HINT}`),
    ),
  },
  {
    type: apigateway.ResponseType.INTEGRATION_TIMEOUT,
    statusCode: '504',
    body: openAiError(
      'server_error',
      literal('timeout'),
      literal(`The gateway timed out before the response started. ${SERVER_ERROR_HINT}`),
    ),
  },
  {
    type: apigateway.ResponseType.REQUEST_TOO_LARGE,
    statusCode: '413',
    body: openAiError(
      'invalid_request_error',
      literal('request_too_large'),
      literal('The request is larger than API Gateway accepts (10 MB).'),
    ),
  },
  {
    // With `/{proxy+}` on every method, this is a wrong stage or a method /health does not serve.
    type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: '404',
    body: openAiError(
      'invalid_request_error',
      literal('unknown_url'),
      literal(`Unknown request URL. The gateway serves the OpenAI API under /${STAGE_NAME}.`),
    ),
  },
  {
    type: apigateway.ResponseType.DEFAULT_4XX,
    statusCode: '400',
    body: openAiError('invalid_request_error', null, '$context.error.messageString'),
  },
  {
    type: apigateway.ResponseType.DEFAULT_5XX,
    statusCode: '500',
    body: openAiError('server_error', null, '$context.error.messageString'),
  },
];

/** Headers on every gateway response: static values only (the request id is in the body, `error.request_id`). */
const ERROR_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': "'application/json'",
};

// Access log: one JSON line per request. Values are quoted strings, so an empty one ("-") keeps the line valid;
// `$context.error.messageString` is already quoted. API Gateway does not escape values: a rare integration error
// message with a double quote makes its line unparseable as JSON (it is still stored). No bodies, no keys.
const F = apigateway.AccessLogField;
const ACCESS_LOG_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['apiId', F.contextApiId()],
  ['requestId', F.contextRequestId()],
  ['extendedRequestId', F.contextExtendedRequestId()],
  ['ip', F.contextIdentitySourceIp()],
  ['caller', F.contextIdentityCaller()],
  ['userAgent', F.contextIdentityUserAgent()],
  ['requestTime', F.contextRequestTime()],
  ['httpMethod', F.contextHttpMethod()],
  ['resourcePath', F.contextResourcePath()],
  ['path', F.contextPath()],
  ['protocol', F.contextProtocol()],
  ['status', F.contextStatus()],
  ['responseLength', F.contextResponseLength()],
  ['responseLatency', F.contextResponseLatency()],
  ['integrationStatus', F.contextIntegrationStatus()],
  ['integrationLatency', F.contextIntegrationLatency()],
  ['integrationError', F.contextIntegrationErrorMessage()],
  ['errorType', F.contextErrorResponseType()],
  ['authorizerStatus', F.contextAuthorizerStatus()],
  ['authorizerLatency', F.contextAuthorizerLatency()],
  ['authorizerError', F.contextAuthorizerError()],
  ['tenantId', F.contextAuthorizer('tenantId')],
  ['keyId', F.contextAuthorizer('keyId')],
  ['tier', F.contextAuthorizer('tier')],
  ['denyCode', F.contextAuthorizer('code')],
  ['apiKeyId', F.contextIdentityApiKeyId()],
  ['wafStatus', F.contextWafStatus()],
  ['wafError', F.contextWafError()],
  ['wafLatency', F.contextWafLatency()],
];
const ACCESS_LOG_FORMAT = `{${[
  ...ACCESS_LOG_FIELDS.map(([name, value]) => `"${name}":"${value}"`),
  `"errorMessage":${F.contextErrorMessageString()}`,
].join(',')}}`;

/** The namespace of the metrics the edge derives from its access log. */
export const EDGE_METRICS_NAMESPACE = 'LlmGateway/Edge';
/**
 * API Gateway answers 500 with one of these when the authorizer fails: it threw anything but `Unauthorized`
 * (e.g. it could not read DynamoDB or Secrets Manager), timed out, was throttled or returned no valid policy.
 * A refused key (`Unauthorized`, 401) and a Deny (403) have other types: they are the authorizer working.
 */
const AUTHORIZER_FAILURE_TYPES = ['AUTHORIZER_FAILURE', 'AUTHORIZER_CONFIGURATION_ERROR'] as const;

const PERIOD: Readonly<Record<QuotaPeriod, apigateway.Period>> = {
  DAY: apigateway.Period.DAY,
  WEEK: apigateway.Period.WEEK,
  MONTH: apigateway.Period.MONTH,
};

export class GatewayEdge extends Construct {
  readonly restApi: apigateway.RestApi;
  /** `https://<api>.execute-api.<region>.amazonaws.com/v1`, without a trailing slash: the OpenAI SDK baseURL. */
  readonly url: string;
  /** The v1 stage's ARN, for the WAF association. */
  readonly stageArn: string;
  readonly accessLogGroup: logs.LogGroup;
  /** The REQUEST authorizer's function; the stack grants it the keys table and the pepper. */
  readonly authorizerFunction: lambda.Function;
  /** Tier name → usage plan id: the admin CLI adds a tenant's API key to its tier's plan. */
  readonly usagePlanIds: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: GatewayEdgeProps) {
    super(scope, id);
    validate(props);
    const configDocument =
      props.configDocument === undefined ? undefined : minifiedConfig(props.configDocument);
    const stackName = Stack.of(this).stackName;

    this.authorizerFunction = this.createAuthorizerFunction(props, configDocument);

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH,
      // Who called, from where and with what result: kept when the stack goes, like other audit trails.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const accountCloudWatchRole = props.accountCloudWatchRole ?? true;
    const api = new apigateway.RestApi(this, 'Api', {
      restApiName: stackName,
      description: 'OpenAI-compatible LLM gateway: the OpenAI SDK baseURL is this API stage URL',
      // Edge-optimized endpoints drop idle streams after 30 s; REGIONAL ones allow 5 minutes. Dual-stack, so
      // IPv6 clients connect with their own addresses, which the WAF allowlist's IPv6 set can then match.
      endpointConfiguration: {
        types: [apigateway.EndpointType.REGIONAL],
        ipAddressType: apigateway.IpAddressType.DUAL_STACK,
      },
      // The tenant's usage-plan key comes from the authorizer, not from an x-api-key header.
      apiKeySourceType: apigateway.ApiKeySourceType.AUTHORIZER,
      // REST APIs reject access log settings until the region has an API Gateway CloudWatch Logs role.
      cloudWatchRole: accountCloudWatchRole,
      cloudWatchRoleRemovalPolicy: accountCloudWatchRole ? RemovalPolicy.RETAIN : undefined,
      // Without these, Lambda proxy integrations pass uploads (audio, files) as text and corrupt binary bytes.
      binaryMediaTypes: ['multipart/form-data', 'application/octet-stream'],
      deployOptions: {
        stageName: STAGE_NAME,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigateway.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
        // The functions emit no X-Ray segments: a trace would only repeat the latencies of the access log.
        tracingEnabled: false,
      },
    });
    this.restApi = api;
    // RestApi adds an `Endpoint` output (with a trailing slash); the stack outputs the SDK baseURL itself.
    api.node.tryRemoveChild('Endpoint');
    this.stageArn = api.deploymentStage.stageArn;
    this.url = `https://${api.restApiId}.execute-api.${Stack.of(this).region}.${Stack.of(this).urlSuffix}/${STAGE_NAME}`;

    // Every path but the Messages API's: the key comes as `Authorization: Bearer` (what the OpenAI SDKs send).
    const authorizer = new apigateway.RequestAuthorizer(this, 'Authorizer', {
      handler: this.authorizerFunction,
      // The cache key: one decision per key and client IP, because a key's CIDR allowlist depends on the IP.
      identitySources: [
        apigateway.IdentitySource.header('Authorization'),
        apigateway.IdentitySource.context('identity.sourceIp'),
      ],
      resultsCacheTtl: props.authorizerResultTtl ?? Duration.minutes(5),
    });
    // Anthropic's Messages API: Claude Code's ANTHROPIC_API_KEY and older Anthropic SDKs send the key as `x-api-key`,
    // the current SDK and ANTHROPIC_AUTH_TOKEN as `Authorization: Bearer`. API Gateway answers 401 itself, without
    // calling the authorizer, to a request missing any identity source, and cannot accept one header or another; so
    // these routes get an authorizer with no identity source, which API Gateway allows only without a results cache
    // (CDK refuses it otherwise). The cost: one authorizer invocation per Messages request, a short one, since the
    // function keeps key and tenant records in memory (keys.cacheTtlMs) rather than reading the store each time.
    // The authorizer reads x-api-key only when there is no Authorization header, so the cached authorizer's
    // decisions still depend on nothing but its identity sources.
    const messagesAuthorizer = new apigateway.RequestAuthorizer(this, 'MessagesAuthorizer', {
      handler: this.authorizerFunction,
      identitySources: [],
      resultsCacheTtl: Duration.seconds(0),
    });

    const integration = new apigateway.LambdaIntegration(props.gatewayFunction, {
      proxy: true,
      responseTransferMode: apigateway.ResponseTransferMode.STREAM,
      timeout: Duration.minutes(15),
      // One permission for the whole API rather than two per method: every method targets this function.
      scopePermissionToMethod: false,
    });
    // Usage plans only meter and throttle methods that require an API key (here: the authorizer's).
    // No CORS and no OPTIONS method: clients are server-side OpenAI SDKs, so an OPTIONS request is keyed like
    // any other and is answered by the gateway function.
    const keyed: apigateway.MethodOptions = {
      authorizer,
      authorizationType: apigateway.AuthorizationType.CUSTOM,
      apiKeyRequired: true,
    };
    const rootMethod = api.root.addMethod('ANY', integration, keyed);
    const proxyMethod = api.root.addResource('{proxy+}').addMethod('ANY', integration, keyed);
    // `/messages` and everything under it (count_tokens, and paths the gateway answers 404), more specific than
    // `/{proxy+}`, so API Gateway routes them here.
    const messagesKeyed: apigateway.MethodOptions = { ...keyed, authorizer: messagesAuthorizer };
    const messages = api.root.addResource(MESSAGES_PATH);
    const messagesMethod = messages.addMethod('ANY', integration, messagesKeyed);
    const messagesProxyMethod = messages.addResource('{proxy+}').addMethod('ANY', integration, messagesKeyed);
    const healthMethod = api.root.addResource(HEALTH_PATH).addMethod('GET', integration, {
      authorizationType: apigateway.AuthorizationType.NONE,
      apiKeyRequired: false,
    });

    const usagePlanIds: Record<string, string> = {};
    for (const [tier, plan] of Object.entries(props.tiers)) {
      // The id is a contract: the admin CLI's key associations live in the plan, and a new id loses them.
      const usagePlan = new apigateway.UsagePlan(this, `UsagePlan-${tier}`, {
        name: `${stackName}-${tier}`,
        description: `LLM gateway tier '${tier}': request throttle and quota per tenant API key`,
        throttle: { rateLimit: plan.rateLimit, burstLimit: plan.burstLimit },
        quota: plan.quota && { limit: plan.quota.limit, period: PERIOD[plan.quota.period] },
        apiStages: [{ api, stage: api.deploymentStage }],
      });
      usagePlanIds[tier] = usagePlan.usagePlanId;
    }
    this.usagePlanIds = usagePlanIds;

    ERROR_RESPONSES.forEach(({ type, statusCode, body, headers }) => {
      api.addGatewayResponse(type.responseType, {
        type,
        statusCode,
        responseHeaders: { ...ERROR_HEADERS, ...headers },
        templates: { 'application/json': body },
      });
    });

    // The authorizer's Lambda `Errors` count every refused key (a REQUEST authorizer answers 401 by throwing
    // `Unauthorized`), so real failures are counted from the access log instead: one per request API Gateway
    // answered with 500 because of the authorizer. The dimension keeps stages sharing a region apart.
    new logs.MetricFilter(this, 'AuthorizerFailuresFilter', {
      logGroup: this.accessLogGroup,
      filterPattern: logs.FilterPattern.any(
        ...AUTHORIZER_FAILURE_TYPES.map((type) => logs.FilterPattern.stringValue('$.errorType', '=', type)),
      ),
      metricNamespace: EDGE_METRICS_NAMESPACE,
      metricName: 'AuthorizerFailures',
      metricValue: '1',
      dimensions: { ApiId: '$.apiId' },
      unit: cloudwatch.Unit.COUNT,
    });

    this.acknowledgeFindings(
      api,
      [rootMethod, proxyMethod, messagesMethod, messagesProxyMethod],
      healthMethod,
    );
  }

  /**
   * Requests API Gateway answered with 500 because the authorizer failed (threw, timed out, was throttled or
   * returned no valid policy); refused and denied keys do not count. Sum per 5 minutes unless overridden.
   */
  metricAuthorizerFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: EDGE_METRICS_NAMESPACE,
      metricName: 'AuthorizerFailures',
      dimensionsMap: { ApiId: this.restApi.restApiId },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  private createAuthorizerFunction(
    props: GatewayEdgeProps,
    configDocument: string | undefined,
  ): NodejsFunction {
    const logGroup = new logs.LogGroup(this, 'AuthorizerLogGroup', {
      retention: props.authorizerLogRetention ?? logs.RetentionDays.ONE_MONTH,
      // Refused and denied keys are logged here: kept when the stack goes, like the access log.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // An inline policy on its own log group instead of AWSLambdaBasicExecutionRole (logs on every group).
    const role = new iam.Role(this, 'AuthorizerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description:
        'LLM gateway REQUEST authorizer: writes its own log; reads keys and the pepper (granted by the stack)',
    });
    logGroup.grantWrite(role);

    return new NodejsFunction(this, 'AuthorizerFunction', {
      entry,
      handler: 'handler',
      projectRoot,
      depsLockFilePath,
      description: 'LLM gateway: verifies gateway keys for API Gateway (REQUEST authorizer)',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      // A cache miss waits on this function: more memory means more CPU for a faster cold start.
      memorySize: 512,
      // API Gateway gives an authorizer at most 10 s.
      timeout: Duration.seconds(10),
      role,
      logGroup,
      environment: {
        [EnvVar.NODE_OPTIONS]: '--enable-source-maps',
        [EnvVar.POWERTOOLS_SERVICE_NAME]: 'llm-gateway-authorizer',
        ...(configDocument === undefined ? {} : { [EnvVar.GATEWAY_CONFIG]: configDocument }),
      },
      // The gateway function's bundling, without the tokenizer the authorizer never loads.
      bundling: bundling({ withTokenizer: false, config: props.config }),
    });
  }

  private acknowledgeFindings(
    api: apigateway.RestApi,
    keyedMethods: readonly apigateway.Method[],
    healthMethod: apigateway.Method,
  ): void {
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Every route is a Lambda proxy to the gateway, which validates content type, size and JSON shape of each ' +
        'OpenAI request itself and answers with OpenAI-shaped errors; an API Gateway model would duplicate that ' +
        'schema and answer in a shape the SDKs do not parse.',
    });
    Validations.of(api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG6',
      reason:
        'Execution logging is off on purpose: at INFO it records request and response data, i.e. tenants’ ' +
        'prompts and completions. Access logs (JSON, per request: caller, tenant, status, latencies, ' +
        'authorizer and WAF results) and API Gateway metrics are on.',
    });
    for (const method of keyedMethods) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'Callers are OpenAI and Anthropic SDKs sending a gateway key (as a Bearer token or x-api-key), which ' +
          'Cognito cannot verify; a Lambda REQUEST authorizer verifies the key (hash, status, expiry, CIDR ' +
          'allowlist) on this method.',
      });
    }
    for (const rule of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(healthMethod).acknowledge({
        id: rule,
        reason:
          'GET /health is public on purpose, for load balancer and uptime checks: it returns a fixed status and ' +
          'no tenant data, never calls a provider, and stays behind the WAF web ACL of the stage.',
      });
    }
    const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole !== undefined) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the account-level API Gateway ' +
          'logging role; only apigateway.amazonaws.com can assume the role, and it can only write logs.',
      });
    }
  }
}
