import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { GatewayEdge, type GatewayEdgeProps, type TierUsagePlan } from '../../lib/constructs/edge.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

const ENV = { account: '123456789012', region: 'eu-west-1' };
const GATEWAY_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:gateway';
const TIERS: Record<string, TierUsagePlan> = {
  default: { rateLimit: 10, burstLimit: 20 },
  pro: { rateLimit: 50, burstLimit: 100, quota: { limit: 100_000, period: 'MONTH' } },
};

// Logical IDs are a contract: a new API is a new URL, a new usage plan loses its tenants' key associations.
const API_ID = 'EdgeApi65822B7B';
const STAGE_ID = 'EdgeApiDeploymentStagev10F786812';
const USAGE_PLAN_IDS = { default: 'EdgeUsagePlandefault7A4CA6DC', pro: 'EdgeUsagePlanproDE2BE98C' };
const ACCESS_LOG_GROUP_ID = 'EdgeAccessLogGroup3D2C599C';
const AUTHORIZER_LOG_GROUP_ID = 'EdgeAuthorizerLogGroupFF8A36B5';
const AUTHORIZER_FUNCTION_ID = 'EdgeAuthorizerFunction11C87892';
const AUTHORIZER_ID = 'EdgeAuthorizer038C1D69';
const MESSAGES_AUTHORIZER_ID = 'EdgeMessagesAuthorizer4E2A6AD5';

/** The stack a test builds: the construct and an imported gateway function (no role, so no nag findings). */
const edgeStack = (app: App, id: string, props: Partial<GatewayEdgeProps> = {}) => {
  const stack = new Stack(app, id, { env: ENV });
  const gatewayFunction = lambda.Function.fromFunctionAttributes(stack, 'Gateway', {
    functionArn: GATEWAY_ARN,
    sameEnvironment: true,
  });
  const edge = new GatewayEdge(stack, 'Edge', { gatewayFunction, tiers: TIERS, ...props });
  return { stack, edge };
};

/** Joins an Fn::Join of literals and pseudo parameters into the string CloudFormation would produce. */
const flatten = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const object = value as Record<string, unknown>;
  if (object.Ref === 'AWS::Partition') return 'aws';
  if (object.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
  if (typeof object.Ref === 'string') return `{${object.Ref}}`;
  const join = object['Fn::Join'] as [string, unknown[]] | undefined;
  if (join !== undefined) return join[1].map(flatten).join(join[0]);
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
};

/** A gateway response template or access log format with API Gateway's substitutions made with sample values. */
const substitute = (template: string): string =>
  template
    .replaceAll('$context.error.messageString', '"Sample message"')
    .replaceAll(/\$context\.[A-Za-z.]+/g, 'sample-value');

let assemblyDir: string;
let template: Template;
let custom: Template;
let defaults: ReturnType<typeof edgeStack>;

beforeAll(() => {
  // Prepare: one app, synthesized once; both authorizer functions share one esbuild bundle.
  const app = new App({ context: cdkJson.context });
  defaults = edgeStack(app, 'Test');
  const customStack = edgeStack(app, 'Custom', {
    authorizerResultTtl: Duration.hours(1),
    accessLogRetention: RetentionDays.ONE_WEEK,
    authorizerLogRetention: RetentionDays.TWO_WEEKS,
    configDocument: '{\n  "tiers": { "pro": {} },\n  "routes": []\n}\n',
    accountCloudWatchRole: false,
  });

  // Act
  assemblyDir = app.synth().directory;
  template = Template.fromStack(defaults.stack);
  custom = Template.fromStack(customStack.stack);
});

describe('GatewayEdge REST API', () => {
  it('keeps the logical IDs of the API, its stage, usage plans, log groups and authorizer function', () => {
    expect(Object.keys(template.findResources('AWS::ApiGateway::RestApi'))).toEqual([API_ID]);
    expect(Object.keys(template.findResources('AWS::ApiGateway::Stage'))).toEqual([STAGE_ID]);
    expect(Object.keys(template.findResources('AWS::ApiGateway::UsagePlan')).sort()).toEqual(
      Object.values(USAGE_PLAN_IDS).sort(),
    );
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup')).sort()).toEqual(
      [ACCESS_LOG_GROUP_ID, AUTHORIZER_LOG_GROUP_ID].sort(),
    );
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([AUTHORIZER_FUNCTION_ID]);
  });

  it('is a dual-stack REGIONAL API whose API keys come from the authorizer and whose uploads stay binary', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Name: 'Test',
      // Dual-stack: IPv6 clients arrive with IPv6 addresses, which the WAF allowlist's IPv6 set can match.
      EndpointConfiguration: { Types: ['REGIONAL'], IpAddressType: 'dualstack' },
      ApiKeySourceType: 'AUTHORIZER',
      BinaryMediaTypes: ['multipart/form-data', 'application/octet-stream'],
    });
  });

  it('exposes the v1 stage URL without a trailing slash as the SDK baseURL, and the stage ARN', () => {
    // Act
    const url = flatten(defaults.stack.resolve(defaults.edge.url));
    const stageArn = JSON.stringify(defaults.stack.resolve(defaults.edge.stageArn));

    // Assess
    expect(url).toBe(`https://{${API_ID}}.execute-api.eu-west-1.amazonaws.com/v1`);
    expect(stageArn).toContain(API_ID);
    expect(stageArn).toContain(STAGE_ID);
    expect(defaults.stack.resolve(defaults.edge.restApi.restApiId)).toEqual({ Ref: API_ID });
  });

  it('deploys one stage, v1, without tracing and without execution logging', () => {
    template.resourceCountIs('AWS::ApiGateway::Stage', 1);
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: false,
      MethodSettings: Match.absent(),
    });
  });

  it('writes a JSON access log line per request to its own log group, kept one month and retained', () => {
    // Prepare
    const destination = new Capture();
    const format = new Capture();
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: destination, Format: format },
    });

    // Act
    const line = JSON.parse(substitute(format.asString())) as Record<string, string>;

    // Assess
    expect(flatten(destination.asObject())).toBe(
      `arn:aws:logs:eu-west-1:123456789012:log-group:{${ACCESS_LOG_GROUP_ID}}`,
    );
    expect(Object.keys(line)).toEqual(
      expect.arrayContaining([
        'requestId',
        'ip',
        'caller',
        'status',
        'responseLatency',
        'integrationLatency',
      ]),
    );
    expect(Object.keys(line)).toEqual(
      expect.arrayContaining([
        'authorizerError',
        'authorizerLatency',
        'tenantId',
        'wafStatus',
        'errorMessage',
      ]),
    );
    expect(format.asString()).toContain('"apiId":"$context.apiId"');
    expect(format.asString()).toContain('"errorType":"$context.error.responseType"');
    expect(format.asString()).toContain('"tenantId":"$context.authorizer.tenantId"');
    expect(format.asString()).toContain('"wafStatus":"$context.waf.status"');
    expect(format.asString()).toContain('"errorMessage":$context.error.messageString');
    expect(format.asString()).not.toContain('$context.identity.apiKey"');
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it("sets the region's API Gateway CloudWatch Logs role that access logging needs, and retains it", () => {
    // Prepare
    const role = new Capture();

    // Assess
    template.hasResource('AWS::ApiGateway::Account', {
      Properties: { CloudWatchRoleArn: { 'Fn::GetAtt': [role, 'Arn'] } },
      DeletionPolicy: 'Retain',
    });
    template.hasResource('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })],
        }),
      },
      DeletionPolicy: 'Retain',
    });
    expect(role.asString()).toMatch(/^EdgeApiCloudWatchRole/);
  });
});

describe('GatewayEdge methods', () => {
  /** `<HttpMethod> <path>` → the method's properties; the root resource is `/`, a nested one `/a/b`. */
  const methods = (): Map<string, Record<string, unknown>> => {
    const resources = new Map<string, { PathPart: string; ParentId: { Ref?: string } }>();
    for (const [id, resource] of Object.entries(template.findResources('AWS::ApiGateway::Resource'))) {
      resources.set(id, resource.Properties);
    }
    // A resource's parent is another resource (Ref) or the API's root (Fn::GetAtt RootResourceId).
    const pathOf = (id: string | undefined): string => {
      const resource = id === undefined ? undefined : resources.get(id);
      return resource === undefined ? '' : `${pathOf(resource.ParentId.Ref)}/${resource.PathPart}`;
    };
    const byRoute = new Map<string, Record<string, unknown>>();
    for (const method of Object.values(template.findResources('AWS::ApiGateway::Method'))) {
      const properties = method.Properties as Record<string, unknown> & { ResourceId: { Ref?: string } };
      byRoute.set(`${properties.HttpMethod} ${pathOf(properties.ResourceId.Ref) || '/'}`, properties);
    }
    return byRoute;
  };

  it('has exactly ANY /, ANY /{proxy+}, the Messages API routes and GET /health (no OPTIONS, no CORS)', () => {
    expect([...methods().keys()].sort()).toEqual([
      'ANY /',
      'ANY /messages',
      'ANY /messages/{proxy+}',
      'ANY /{proxy+}',
      'GET /health',
    ]);
  });

  it.each(['ANY /', 'ANY /{proxy+}', 'ANY /messages', 'ANY /messages/{proxy+}', 'GET /health'])(
    '%s streams from the gateway function through a Lambda proxy integration with a 15-minute timeout',
    (route) => {
      // Act
      const integration = methods().get(route)?.Integration as Record<string, unknown>;

      // Assess
      expect(integration).toMatchObject({
        Type: 'AWS_PROXY',
        IntegrationHttpMethod: 'POST',
        ResponseTransferMode: 'STREAM',
        TimeoutInMillis: 900_000,
      });
      // Streaming invokes InvokeWithResponseStream, a different API version and action than buffered proxying.
      expect(flatten(integration.Uri)).toBe(
        `arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/${GATEWAY_ARN}/response-streaming-invocations`,
      );
    },
  );

  it.each([
    ['ANY /', 'the cached', AUTHORIZER_ID],
    ['ANY /{proxy+}', 'the cached', AUTHORIZER_ID],
    ['ANY /messages', 'the uncached Messages', MESSAGES_AUTHORIZER_ID],
    ['ANY /messages/{proxy+}', 'the uncached Messages', MESSAGES_AUTHORIZER_ID],
  ])('%s requires %s REQUEST authorizer and an API key', (route, _which, authorizerId) => {
    // Act
    const method = methods().get(route);

    // Assess
    expect(method).toMatchObject({
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
      ApiKeyRequired: true,
    });
  });

  it('GET /health needs neither the authorizer nor an API key', () => {
    const health = methods().get('GET /health');
    expect(health?.AuthorizationType).toBe('NONE');
    expect(health?.AuthorizerId).toBeUndefined();
    expect(health?.ApiKeyRequired).toBe(false);
  });

  it('lets API Gateway invoke the gateway function from any method of this API only, with one permission', () => {
    // Prepare
    const sourceArn = new Capture();
    const permissions = template.findResources('AWS::Lambda::Permission', {
      Properties: { FunctionName: GATEWAY_ARN },
    });

    // Act
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: GATEWAY_ARN,
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
      SourceArn: sourceArn,
    });

    // Assess
    expect(Object.keys(permissions)).toHaveLength(1);
    expect(flatten(sourceArn.asObject())).toBe(
      `arn:aws:execute-api:eu-west-1:123456789012:{${API_ID}}/*/*/*`,
    );
  });
});

describe('GatewayEdge authorizer', () => {
  /** The authorizers of a template by logical id, with their properties. */
  const authorizers = (of: Template): Record<string, Record<string, unknown>> =>
    Object.fromEntries(
      Object.entries(of.findResources('AWS::ApiGateway::Authorizer')).map(([id, resource]) => [
        id,
        resource.Properties as Record<string, unknown>,
      ]),
    );

  it('has two REQUEST authorizers, both running the one authorizer function', () => {
    // Act
    const byId = authorizers(template);

    // Assess
    expect(Object.keys(byId).sort()).toEqual([AUTHORIZER_ID, MESSAGES_AUTHORIZER_ID].sort());
    for (const properties of Object.values(byId)) {
      expect(properties.Type).toBe('REQUEST');
      expect(JSON.stringify(properties.AuthorizerUri)).toContain(AUTHORIZER_FUNCTION_ID);
    }
  });

  it('caches decisions per Authorization header and client IP, 5 minutes by default', () => {
    expect(authorizers(template)[AUTHORIZER_ID]).toMatchObject({
      IdentitySource: 'method.request.header.Authorization,context.identity.sourceIp',
      AuthorizerResultTtlInSeconds: 300,
    });
  });

  it('runs for every Messages request: no identity source (so x-api-key reaches it) and no cache', () => {
    // Act
    const messages = authorizers(template)[MESSAGES_AUTHORIZER_ID];

    // Assess: an identity source API Gateway would require, and answer 401 without it; CDK writes '' for none.
    expect(messages?.IdentitySource ?? '').toBe('');
    expect(messages?.AuthorizerResultTtlInSeconds).toBe(0);
  });

  it('applies a configured result TTL to the cached authorizer only', () => {
    // Act
    const byId = authorizers(custom);

    // Assess
    expect(byId[AUTHORIZER_ID]?.AuthorizerResultTtlInSeconds).toBe(3600);
    expect(byId[MESSAGES_AUTHORIZER_ID]?.AuthorizerResultTtlInSeconds).toBe(0);
  });

  it('runs Node.js 24 on arm64 with 512 MB and a 10 s timeout, logging to its own log group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 10,
      Handler: 'index.handler',
      LoggingConfig: { LogGroup: { Ref: AUTHORIZER_LOG_GROUP_ID } },
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'llm-gateway-authorizer',
        },
      },
    });
  });

  it('may write only to its own log group: no managed policy on its role', () => {
    // Prepare
    const roleRef = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', { Role: { 'Fn::GetAtt': [roleRef, 'Arn'] } });
    const role = template.findResources('AWS::IAM::Role')[roleRef.asString()];
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: roleRef.asString() }] },
    });

    // Assess
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = Object.values(policies).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
    );
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [AUTHORIZER_LOG_GROUP_ID, 'Arn'] },
      },
    ]);
  });

  it('may be invoked by API Gateway for its two authorizers only, one permission each', () => {
    // Prepare
    const permissions = Object.values(
      template.findResources('AWS::Lambda::Permission', {
        Properties: { FunctionName: { 'Fn::GetAtt': [AUTHORIZER_FUNCTION_ID, 'Arn'] } },
      }),
    ).map((resource) => resource.Properties as Record<string, unknown>);

    // Act
    const sourceArns = permissions.map((permission) => flatten(permission.SourceArn)).sort();

    // Assess
    expect(permissions.map((permission) => permission.Principal)).toEqual([
      'apigateway.amazonaws.com',
      'apigateway.amazonaws.com',
    ]);
    expect(sourceArns).toEqual(
      [AUTHORIZER_ID, MESSAGES_AUTHORIZER_ID]
        .map((id) => `arn:aws:execute-api:eu-west-1:123456789012:{${API_ID}}/authorizers/{${id}}`)
        .sort(),
    );
  });

  it('reads the bundled config unless a config document is given, which it gets minified', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { GATEWAY_CONFIG: Match.absent() } },
    });
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ GATEWAY_CONFIG: '{"tiers":{"pro":{}},"routes":[]}' }) },
    });
  });

  it('is an ES module bundle that exports the handler and carries no tokenizer', () => {
    // Prepare
    const s3Key = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', { Code: { S3Key: s3Key } });
    const assetDir = join(assemblyDir, `asset.${s3Key.asString().replace(/\.zip$/, '')}`);

    // Act
    const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');

    // Assess
    expect(bundle.split('\n', 1)[0]).toBe(
      "import { createRequire as __gwCreateRequire } from 'node:module'; const require = __gwCreateRequire(import.meta.url);",
    );
    expect(bundle).toMatch(/export\s*\{[^}]*\bas handler\b[^}]*\}/);
    expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    expect(existsSync(join(assetDir, 'node_modules'))).toBe(false);
    expect(bundle).not.toContain('gpt-tokenizer');
  });
});

describe('GatewayEdge usage plans', () => {
  it.each([
    ['default', { RateLimit: 10, BurstLimit: 20 }, undefined],
    ['pro', { RateLimit: 50, BurstLimit: 100 }, { Limit: 100_000, Period: 'MONTH' }],
  ])('tier %s has its own plan with throttle %j and quota %j on the v1 stage', (tier, throttle, quota) => {
    // Prepare
    const logicalId = USAGE_PLAN_IDS[tier as keyof typeof USAGE_PLAN_IDS];

    // Act
    const plan = template.findResources('AWS::ApiGateway::UsagePlan')[logicalId]?.Properties;

    // Assess
    expect(plan).toEqual({
      UsagePlanName: `Test-${tier}`,
      Description: expect.stringContaining(`'${tier}'`),
      Throttle: throttle,
      ...(quota === undefined ? {} : { Quota: quota }),
      // No per-method throttle: the plan's throttle applies to every method of the stage.
      ApiStages: [{ ApiId: { Ref: API_ID }, Stage: { Ref: STAGE_ID }, Throttle: {} }],
    });
    expect(defaults.stack.resolve(defaults.edge.usagePlanIds[tier])).toEqual({ Ref: logicalId });
  });

  it('exposes one usage plan id per tier', () => {
    expect(Object.keys(defaults.edge.usagePlanIds).sort()).toEqual(['default', 'pro']);
  });
});

describe('GatewayEdge gateway responses', () => {
  it.each([
    ['UNAUTHORIZED', '401', 'invalid_request_error', 'invalid_api_key'],
    ['ACCESS_DENIED', '403', 'permission_error', 'sample-value'],
    ['INVALID_API_KEY', '403', 'permission_error', 'usage_plan_key_invalid'],
    ['THROTTLED', '429', 'rate_limit_error', 'rate_limit_exceeded'],
    ['QUOTA_EXCEEDED', '429', 'insufficient_quota', 'insufficient_quota'],
    ['WAF_FILTERED', '403', 'permission_error', 'request_blocked'],
    ['AUTHORIZER_FAILURE', '500', 'server_error', 'authorizer_failed'],
    ['AUTHORIZER_CONFIGURATION_ERROR', '500', 'server_error', 'authorizer_failed'],
    ['INTEGRATION_TIMEOUT', '504', 'server_error', 'timeout'],
    ['REQUEST_TOO_LARGE', '413', 'invalid_request_error', 'request_too_large'],
    ['MISSING_AUTHENTICATION_TOKEN', '404', 'invalid_request_error', 'unknown_url'],
    ['DEFAULT_4XX', '400', 'invalid_request_error', null],
    ['DEFAULT_5XX', '500', 'server_error', null],
  ])('%s answers %s with an OpenAI error of type %s and code %s', (responseType, status, type, code) => {
    // Prepare
    const body = new Capture();
    const headers = new Capture();
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: responseType,
      StatusCode: status,
      RestApiId: { Ref: API_ID },
      ResponseParameters: headers,
      ResponseTemplates: { 'application/json': body },
    });

    // Act: API Gateway substitutes variables without escaping, so the template must be JSON around them.
    const parsed = JSON.parse(substitute(body.asString())) as { error: Record<string, unknown> };

    // Assess
    expect(Object.keys(parsed)).toEqual(['error']);
    expect(parsed.error).toEqual({
      message: expect.any(String),
      type,
      param: null,
      code,
      request_id: expect.any(String),
    });
    expect(body.asString()).toContain('"request_id":"$context.requestId"');
    expect((parsed.error.message as string).length).toBeGreaterThan(5);
    expect(headers.asObject()).toMatchObject({ 'gatewayresponse.header.Content-Type': "'application/json'" });
    // Header mappings take request parameters or static values only (the documented sources): a `context.…`
    // source could fail the deploy of every gateway response.
    for (const source of Object.values(headers.asObject() as Record<string, string>))
      expect(source).toMatch(
        /^(?:'[^']*'|method\.request\.(?:header|querystring|path|multivalueheader|multivaluequerystring)\.[\w-]+|stageVariables\.\w+)$/,
      );
  });

  it('covers exactly those response types', () => {
    template.resourceCountIs('AWS::ApiGateway::GatewayResponse', 13);
  });

  it('passes the Deny reason of the authorizer, and API Gateway’s own message for the defaults', () => {
    const templates = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map(
      (resource) =>
        [
          resource.Properties.ResponseType,
          resource.Properties.ResponseTemplates['application/json'],
        ] as const,
    );
    const byType = new Map(templates);
    expect(byType.get('ACCESS_DENIED')).toContain(
      '"message":"$context.authorizer.message","type":"permission_error","param":null,"code":"$context.authorizer.code"',
    );
    expect(byType.get('DEFAULT_4XX')).toContain('"message":$context.error.messageString,');
    expect(byType.get('DEFAULT_5XX')).toContain('"message":$context.error.messageString,');
    expect(byType.get('UNAUTHORIZED')).toContain("'Authorization: Bearer <key>'");
    expect(byType.get('UNAUTHORIZED')).toContain("on /v1/messages also as 'x-api-key: <key>'");
  });

  it('tells the SDKs when to retry: after a second when throttled, not at all when the quota is spent', () => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.Retry-After': "'1'" }),
    });
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'QUOTA_EXCEEDED',
      ResponseParameters: Match.objectLike({ 'gatewayresponse.header.x-should-retry': "'false'" }),
    });
  });
});

describe('GatewayEdge with props', () => {
  it('applies the log retentions', () => {
    custom.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    custom.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 14 });
  });

  it('leaves the account CloudWatch Logs role alone when accountCloudWatchRole is false', () => {
    custom.resourceCountIs('AWS::ApiGateway::Account', 0);
    custom.resourceCountIs('AWS::IAM::Role', 1);
  });
});

describe('GatewayEdge props validation', () => {
  const plan = (overrides: Partial<TierUsagePlan>): Record<string, TierUsagePlan> => ({
    pro: { rateLimit: 10, burstLimit: 20, ...overrides },
  });
  it.each<[string, Partial<GatewayEdgeProps>, string]>([
    ['no tier', { tiers: {} }, '`tiers` must name at least one tier, got: {}'],
    [
      'a tier name with a space',
      { tiers: { 'pro tier': { rateLimit: 1, burstLimit: 1 } } },
      '`tiers` names use letters, digits, "_" and "-", got: "pro tier"',
    ],
    [
      'a negative rate limit',
      { tiers: plan({ rateLimit: -5 }) },
      '`tiers.pro.usagePlan.rateLimit` must be a positive number (requests per second), got: -5',
    ],
    [
      'a zero rate limit',
      { tiers: plan({ rateLimit: 0 }) },
      '`tiers.pro.usagePlan.rateLimit` must be a positive number (requests per second), got: 0',
    ],
    [
      'a fractional burst limit',
      { tiers: plan({ burstLimit: 1.5 }) },
      '`tiers.pro.usagePlan.burstLimit` must be a positive integer, got: 1.5',
    ],
    [
      'a burst limit below the rate limit',
      { tiers: plan({ rateLimit: 50, burstLimit: 20 }) },
      '`tiers.pro.usagePlan.burstLimit` must be at least rateLimit (50), got: 20',
    ],
    [
      'a zero quota',
      { tiers: plan({ quota: { limit: 0, period: 'DAY' } }) },
      '`tiers.pro.usagePlan.quota.limit` must be a positive integer, got: 0',
    ],
    [
      'an unknown quota period',
      { tiers: plan({ quota: { limit: 10, period: 'YEAR' as 'DAY' } }) },
      "`tiers.pro.usagePlan.quota.period` must be one of 'DAY', 'WEEK', 'MONTH', got: \"YEAR\"",
    ],
    [
      'an authorizer TTL above an hour',
      { authorizerResultTtl: Duration.hours(2) },
      '`authorizerResultTtl` must be whole seconds from 0 to 3600, got: 7200 seconds',
    ],
    [
      'an authorizer TTL in fractions of a second',
      { authorizerResultTtl: Duration.millis(1500) },
      '`authorizerResultTtl` must be whole seconds from 0 to 3600, got: 1.5 seconds',
    ],
    [
      'a config document that is not JSON',
      { configDocument: 'tiers: {}' },
      '`configDocument` must be a JSON document, got: "tiers: {}"',
    ],
    [
      'a config document too large for the environment',
      { configDocument: JSON.stringify({ routes: 'x'.repeat(3_000) }) },
      "`configDocument` must be at most 3000 bytes minified to fit in the authorizer's environment, got: 3013 bytes",
    ],
  ])('rejects %s', (_case, props, message) => {
    // Prepare: validation runs before bundling, so these stacks never reach esbuild.
    const app = new App();

    // Act / Assess
    expect(() => edgeStack(app, 'Invalid', props)).toThrow(new Error(message));
  });

  it('accepts a zero TTL, which turns the authorizer cache off', () => {
    // Prepare
    const app = new App({ context: cdkJson.context });

    // Act
    const { stack } = edgeStack(app, 'NoCache', { authorizerResultTtl: Duration.seconds(0) });

    // Assess
    const cached = Template.fromStack(stack).findResources('AWS::ApiGateway::Authorizer')[AUTHORIZER_ID];
    expect(cached?.Properties).toMatchObject({
      IdentitySource: 'method.request.header.Authorization,context.identity.sourceIp',
      AuthorizerResultTtlInSeconds: 0,
    });
  });
});

describe('GatewayEdge authorizer failures', () => {
  it('counts, from the access log, the requests API Gateway answered with 500 because the authorizer failed', () => {
    template.resourceCountIs('AWS::Logs::MetricFilter', 1);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: ACCESS_LOG_GROUP_ID },
      // Not UNAUTHORIZED (a refused key: the authorizer throws `Unauthorized`) nor ACCESS_DENIED (a Deny).
      FilterPattern:
        '{ ($.errorType = "AUTHORIZER_FAILURE") || ($.errorType = "AUTHORIZER_CONFIGURATION_ERROR") }',
      MetricTransformations: [
        {
          MetricNamespace: 'LlmGateway/Edge',
          MetricName: 'AuthorizerFailures',
          MetricValue: '1',
          Dimensions: [{ Key: 'ApiId', Value: '$.apiId' }],
          Unit: 'Count',
        },
      ],
    });
  });

  it('offers that count as a metric of this API, summed per 5 minutes', () => {
    // Act
    const metric = defaults.edge.metricAuthorizerFailures();

    // Assess
    expect(metric.namespace).toBe('LlmGateway/Edge');
    expect(metric.metricName).toBe('AuthorizerFailures');
    expect(metric.statistic).toBe('Sum');
    expect(metric.period.toMinutes()).toBe(5);
    expect(defaults.stack.resolve(metric.dimensions)).toEqual({ ApiId: { Ref: API_ID } });
  });
});

describe('GatewayEdge cdk-nag', () => {
  it('has no unacknowledged AwsSolutions findings', () => {
    // Prepare
    const app = nagApp({ context: cdkJson.context });
    const { edge } = edgeStack(app, 'Nag');
    // The construct has no WAF of its own: the gateway stack associates one with the stage, and its test
    // asserts both the association and that APIG3 passes there unacknowledged.
    Validations.of(edge.restApi.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason: 'The edge alone, without the GatewayWaf that the gateway stack associates with this stage.',
    });

    // Act
    const findings = unacknowledgedFindings(app);

    // Assess
    expect(findings).toEqual([]);
  });
});
