// The whole stack in each network mode: wiring between constructs, outputs, pinned IDs, cdk-nag and cfn-lint.
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { type CacheModeName, parseStackConfig } from '../../lib/config.ts';
import { GatewayStack } from '../../lib/gateway-stack.ts';
import { StackOutput } from '../../lib/stack-outputs.ts';
import { cfnLint } from '../fixtures/cfn-lint.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';
import { testStackConfig } from '../fixtures/stack-config.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
// Most tests look at the template, not the bundles: bundling is skipped except where a test needs it.
const noBundling = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };

const stackIn = (app: App, mode: CacheModeName, overrides: Record<string, unknown> = {}, stage = 'test') =>
  new GatewayStack(app, 'LlmGateway', {
    stage,
    stackName: `LlmGateway-${stage}`,
    config: testStackConfig({ cache: { mode }, ...overrides }),
  });

const MODES: CacheModeName[] = ['public-iam', 'vpc', 'off'];

const templates = new Map<string, Template>();
beforeAll(() => {
  for (const mode of MODES)
    for (const stage of ['test', 'prod'])
      templates.set(
        `${mode}/${stage}`,
        Template.fromStack(stackIn(new App({ context: noBundling }), mode, {}, stage)),
      );
});
const templateOf = (mode: CacheModeName, stage = 'test'): Template => templates.get(`${mode}/${stage}`)!;

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly alarms?: string[];
    readonly metrics?: unknown[][];
  };
}

/** The dashboard's widgets: its body is an Fn::Join of JSON text and intrinsics, flattened to placeholders. */
const widgetsOf = (template: Template): Widget[] => {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]?.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const placeholder = (part: Record<string, unknown>): string =>
    'Fn::GetAtt' in part
      ? `<GetAtt:${(part['Fn::GetAtt'] as string[]).join('.')}>`
      : `<${JSON.stringify(part).replaceAll('"', "'")}>`;
  const text = body['Fn::Join'][1]
    .map((part) => (typeof part === 'string' ? part : placeholder(part as Record<string, unknown>)))
    .join(body['Fn::Join'][0]);
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
};

/** The logical ID of the template's only resource of a type. */
const onlyIdOf = (template: Template, type: string): string => {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0]!;
};

/** The logical ID of the job tracker function: the schedule's target. */
const trackerIdOf = (template: Template): string =>
  template.toJSON().Resources[onlyIdOf(template, 'AWS::Scheduler::Schedule')].Properties.Target.Arn[
    'Fn::GetAtt'
  ][0];

describe('GatewayStack', () => {
  it('describes itself with its stage', () => {
    const stack = stackIn(new App({ context: noBundling }), 'off', {}, 'prod');
    expect(stack.templateOptions.description).toBe('OpenAI-compatible LLM gateway (stage: prod)');
  });

  it.each(['', 'Prod', '1st', 'dev_2', 'dev stage'])('rejects the stage name %j', (stage) => {
    const app = new App({ context: noBundling });
    expect(
      () => new GatewayStack(app, 'LlmGateway', { stage, description: 'given', config: testStackConfig() }),
    ).toThrow(
      new Error(
        `\`stage\` must be lowercase letters, digits and "-", starting with a letter, got: ${JSON.stringify(stage)}`,
      ),
    );
  });

  it.each(MODES)('outputs what operators and the admin CLI need (%s)', (mode) => {
    const outputs = templateOf(mode).findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AlarmTopicArn',
        'ApiUrl',
        'DashboardUrl',
        'FunctionUrl',
        'GatewayFunctionArn',
        'JobEventBusName',
        'JobTrackerFunctionName',
        'UpstreamSecretArns',
        ...Object.values(StackOutput),
      ].sort(),
    );
  });

  it('gives the SDK baseURL as the API URL: the v1 stage, no trailing slash', () => {
    const url = templateOf('public-iam').findOutputs('ApiUrl').ApiUrl?.Value;
    expect(JSON.stringify(url)).toMatch(/execute-api/);
    expect(JSON.stringify(url)).toMatch(/\/v1"/);
    expect(JSON.stringify(url)).not.toMatch(/\/v1\/"/);
  });

  it('wires the gateway function to its tables, secrets and cache with environment and grants together', () => {
    const template = templateOf('public-iam');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          KEYS_TABLE: Match.anyValue(),
          USAGE_TABLE: Match.anyValue(),
          BUDGETS_TABLE: Match.anyValue(),
          PEPPER_SECRET_ID: Match.anyValue(),
          SECRET_IDS: Match.anyValue(),
          CACHE_ENDPOINT: Match.anyValue(),
          CACHE_USER: Match.anyValue(),
          CACHE_MODE: 'public-iam',
        }),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'elasticache:Connect' })]),
      },
    });
  });

  it('outputs the job event bus name and the tracker function name, and names the bus after the stage', () => {
    // Prepare
    const template = templateOf('off');
    const trackerId = trackerIdOf(template);

    // Assess
    expect(trackerId).toMatch(/^JobsTrackerFunction/);
    template.hasOutput('JobEventBusName', { Value: { Ref: 'JobsEventBus5BBD903A' } });
    template.hasOutput('JobTrackerFunctionName', { Value: { Ref: trackerId } });
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'LlmGateway-test-job-events' });
    templateOf('off', 'prod').hasResourceProperties('AWS::Events::EventBus', {
      Name: 'LlmGateway-prod-job-events',
    });
  });

  it.each(MODES)(
    'gives the gateway function OWNERSHIP_TABLE and JOB_EVENTS_BUS with read/write on Ownership and PutEvents on the bus (%s)',
    (mode) => {
      // Prepare
      const template = templateOf(mode);
      const gateway = template.toJSON().Resources.GatewayFunctionB2DE2221.Properties;
      const roleId = gateway.Role['Fn::GetAtt'][0] as string;
      const statements = Object.values(
        template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }),
      ).flatMap((policy) => policy.Properties.PolicyDocument.Statement);

      // Assess
      expect(gateway.Environment.Variables).toMatchObject({
        OWNERSHIP_TABLE: { Ref: 'DataOwnership9298F7D3' },
        JOB_EVENTS_BUS: { Ref: 'JobsEventBus5BBD903A' },
      });
      expect(statements).toContainEqual({
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: { 'Fn::GetAtt': ['JobsEventBus5BBD903A', 'Arn'] },
      });
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']),
          Resource: expect.arrayContaining([{ 'Fn::GetAtt': ['DataOwnership9298F7D3', 'Arn'] }]),
        }),
      );
    },
  );

  it('lets only the gateway and the tracker put events, and only on the job bus', () => {
    // Prepare
    const template = templateOf('public-iam');
    const putEvents = Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([id, policy]) =>
      (policy.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>)
        .filter((statement) => JSON.stringify(statement.Action).includes('events:'))
        .map((statement) => ({ id, action: statement.Action, resource: statement.Resource })),
    );

    // Assess
    expect(putEvents).toEqual([
      {
        id: expect.stringMatching(/^GatewayRoleDefaultPolicy/),
        action: 'events:PutEvents',
        resource: { 'Fn::GetAtt': ['JobsEventBus5BBD903A', 'Arn'] },
      },
      {
        id: expect.stringMatching(/^JobsTrackerRoleDefaultPolicy/),
        action: 'events:PutEvents',
        resource: { 'Fn::GetAtt': ['JobsEventBus5BBD903A', 'Arn'] },
      },
    ]);
  });

  it.each(MODES)(
    'notifies the alarm topic of the tracker alarms and final job statuses, and lists every alarm on the dashboard (%s)',
    (mode) => {
      // Prepare
      const template = templateOf(mode);
      const topicId = onlyIdOf(template, 'AWS::SNS::Topic');
      const alarms = template.findResources('AWS::CloudWatch::Alarm');
      const widgets = widgetsOf(template);

      // Assess: the tracker's two alarms notify the stack's topic, like every other alarm
      expect(Object.keys(alarms).filter((id) => id.startsWith('Jobs'))).toEqual([
        expect.stringMatching(/^JobsTrackerErrors/),
        expect.stringMatching(/^JobsDeadLetters/),
      ]);
      for (const alarm of Object.values(alarms)) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
      }
      template.hasResourceProperties('AWS::Events::Rule', {
        Targets: [Match.objectLike({ Arn: { Ref: topicId } })],
      });
      // The alarm status widget lists every alarm of the stack, the tracker's included.
      const status = widgets.find((widget) => widget.type === 'alarm');
      expect(status?.properties.alarms).toEqual(Object.keys(alarms).map((id) => `<GetAtt:${id}.Arn>`));
      // The tracker's metrics, with its service name.
      const tracker = widgets.find((widget) =>
        widget.properties.title?.startsWith('Fine-tuning job tracker'),
      );
      expect(tracker?.properties.metrics?.map((line) => line.slice(0, 6))).toEqual(
        ['JobsTracked', 'JobStatusChanges', 'JobTrackingFailures'].map((name) => [
          'LlmGateway',
          name,
          'component',
          'job-tracker',
          'service',
          'llm-gateway-job-tracker',
        ]),
      );
    },
  );

  it('gives the authorizer only the keys table and the pepper', () => {
    const template = templateOf('public-iam');
    const authorizers = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) =>
        fn.Properties?.Environment?.Variables?.PEPPER_SECRET_ID !== undefined &&
        fn.Properties?.Environment?.Variables?.USAGE_TABLE === undefined,
    );
    expect(authorizers).toHaveLength(1);
    expect(Object.keys(authorizers[0]?.Properties.Environment.Variables).sort()).toEqual(
      expect.arrayContaining(['KEYS_TABLE', 'PEPPER_SECRET_ID']),
    );
  });

  it.each([
    ['public-iam', 1, 0],
    ['vpc', 1, 1],
    ['off', 0, 0],
  ] as const)('in %s mode has %d cache and %d VPC', (mode, caches, vpcs) => {
    const template = templateOf(mode);
    template.resourceCountIs('AWS::ElastiCache::ServerlessCache', caches);
    template.resourceCountIs('AWS::EC2::VPC', vpcs);
    if (mode === 'vpc') {
      template.hasResourceProperties('AWS::Lambda::Function', {
        VpcConfig: Match.objectLike({ SecurityGroupIds: Match.anyValue(), SubnetIds: Match.anyValue() }),
      });
    }
  });

  it.each(['public-iam', 'vpc'] as const)(
    'wires the cache to the gateway function in %s mode: endpoint, name, user, IAM connect',
    (mode) => {
      const template = templateOf(mode);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            CACHE_ENDPOINT: Match.anyValue(),
            CACHE_NAME: Match.anyValue(),
            CACHE_USER: Match.anyValue(),
            CACHE_MODE: mode,
          }),
        },
      });
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: 'elasticache:Connect', Resource: Match.anyValue() }),
          ]),
        },
      });
    },
  );

  it('in vpc mode admits cache traffic only from the function security group', () => {
    const template = templateOf('vpc');
    const ingress = template.findResources('AWS::EC2::SecurityGroupIngress');
    const cachePorts = Object.values(ingress).filter((rule) =>
      [6379, 6380].includes(rule.Properties.FromPort),
    );
    expect(cachePorts.length).toBeGreaterThan(0);
    for (const rule of cachePorts) {
      expect(rule.Properties.SourceSecurityGroupId).toBeDefined();
      expect(rule.Properties.CidrIp).toBeUndefined();
    }
  });

  it('with the cache off sets no cache settings and grants no cache access', () => {
    const template = templateOf('off');
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment?.Variables?.CACHE_ENDPOINT).toBeUndefined();
    }
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('elasticache:Connect');
  });

  it('keeps the logical IDs of its stateful resources', () => {
    const template = templateOf('public-iam');
    const ids = (type: string) => Object.keys(template.findResources(type)).sort();
    expect(ids('AWS::DynamoDB::Table')).toEqual([
      'DataBudgets6827D36C',
      'DataKeysACA0E3B2',
      'DataOwnership9298F7D3',
      'DataUsage79DD4968',
    ]);
    expect(ids('AWS::SecretsManager::Secret')).toEqual([
      'SecretsPepperC047F0EC',
      'SecretsUpstreamopenaiapikey076371ED',
    ]);
    expect(ids('AWS::ElastiCache::ServerlessCache')).toEqual(['CacheDAF337C5']);
    expect(ids('AWS::Lambda::Function')).toEqual(expect.arrayContaining(['GatewayFunctionB2DE2221']));
    // Operators attach their own rules to the bus; the queue holds the tracker's dead letters.
    expect(ids('AWS::Events::EventBus')).toEqual(['JobsEventBus5BBD903A']);
    expect(ids('AWS::SQS::Queue')).toEqual(['JobsDeadLetterQueue8CC426EE']);
  });

  it('protects production data: deletion protection and Retain on every table', () => {
    const prod = templateOf('off', 'prod');
    const tables = prod.findResources('AWS::DynamoDB::Table');
    expect(Object.keys(tables)).toHaveLength(4);
    for (const table of Object.values(tables)) {
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    }
  });

  it('fails synth on an invalid config field with its name and value', () => {
    expect(() => parseStackConfig({ routes: [], cache: { mode: 'redis' } })).toThrow(
      new Error(
        'Invalid gateway config:\n' +
          '  - `routes`: routes must list at least one route, got: []\n' +
          '  - `cache.mode`: mode must be one of public-iam, vpc, off, got: "redis"',
      ),
    );
  });

  it.each(MODES)(
    'associates the WAF web ACL with the API stage: the v1 stage of this REST API (%s)',
    (mode) => {
      // Prepare
      const template = templateOf(mode);
      const apiId = onlyIdOf(template, 'AWS::ApiGateway::RestApi');
      const stageId = onlyIdOf(template, 'AWS::ApiGateway::Stage');
      const aclId = onlyIdOf(template, 'AWS::WAFv2::WebACL');
      const resourceArn = new Capture();

      // Act
      template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
        ResourceArn: resourceArn,
        WebACLArn: { 'Fn::GetAtt': [aclId, 'Arn'] },
      });

      // Assess: arn:<partition>:apigateway:<region>::/restapis/<api id>/stages/<stage name>
      template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
      expect(resourceArn.asObject()).toEqual({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':apigateway:',
            { Ref: 'AWS::Region' },
            '::/restapis/',
            { Ref: apiId },
            '/stages/',
            { Ref: stageId },
          ],
        ],
      });
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'v1',
        RestApiId: { Ref: apiId },
      });
    },
  );

  it('counts WAF body content rule matches by default, and blocks on them with edge.wafBodyRules "block"', () => {
    // Prepare
    const overridesOf = (template: Template): unknown => {
      const overrides = new Capture();
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Rules: Match.arrayWith([
          Match.objectLike({
            Name: 'AWSManagedRulesCommonRuleSet',
            Statement: { ManagedRuleGroupStatement: Match.objectLike({ RuleActionOverrides: overrides }) },
          }),
        ]),
      });
      return (overrides.asArray() as Array<{ Name: string }>).map(({ Name }) => Name);
    };

    // Act
    const blocking = Template.fromStack(
      stackIn(new App({ context: noBundling }), 'off', { edge: { wafBodyRules: 'block' } }),
    );

    // Assess
    expect(overridesOf(templateOf('off'))).toEqual([
      'SizeRestrictions_BODY',
      'CrossSiteScripting_BODY',
      'GenericLFI_BODY',
      'GenericRFI_BODY',
      'EC2MetaDataSSRF_BODY',
    ]);
    expect(overridesOf(blocking)).toEqual(['SizeRestrictions_BODY']);
  });

  it('alarms on authorizer failures counted from the access log of this API, not on its Lambda Errors', () => {
    // Prepare
    const template = templateOf('public-iam');
    const apiId = onlyIdOf(template, 'AWS::ApiGateway::RestApi');

    // Assess
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      MetricTransformations: [
        Match.objectLike({ MetricNamespace: 'LlmGateway/Edge', MetricName: 'AuthorizerFailures' }),
      ],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'LlmGateway/Edge',
      MetricName: 'AuthorizerFailures',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: apiId } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it.each([
    ['iam', 'Function URL (IAM auth: SigV4-signed requests; gateway key in x-api-key)'],
    ['none', 'Function URL (no auth: public, without WAF or usage plans; gateway key as Bearer token)'],
  ])('describes the Function URL output by its auth (%s)', (auth, description) => {
    // Act
    const template =
      auth === 'iam'
        ? templateOf('off')
        : Template.fromStack(stackIn(new App({ context: noBundling }), 'off', { functionUrl: { auth } }));

    // Assess
    template.hasOutput('FunctionUrl', { Description: description });
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: auth === 'iam' ? 'AWS_IAM' : 'NONE' });
  });

  it('grants a Function URL with IAM auth to no one: callers bring both actions in their own policy', () => {
    // Prepare
    const template = templateOf('off');
    const functionArn = template.findOutputs('GatewayFunctionArn').GatewayFunctionArn?.Value;

    // Assess: the deploy guide's caller policy names this ARN in both statements; the function's own resource policy
    // lets no one in through the URL (the API Gateway permission is for the REST API's invocations only).
    expect(functionArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^GatewayFunction/), 'Arn'] });
    const urlPermissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (permission) =>
        permission.Properties.FunctionUrlAuthType !== undefined ||
        permission.Properties.InvokedViaFunctionUrl !== undefined,
    );
    expect(urlPermissions).toEqual([]);
  });
});

describe.each(MODES)('GatewayStack checks (%s)', (mode) => {
  it('has no unacknowledged cdk-nag AwsSolutions finding', () => {
    const app = nagApp({ context: noBundling });
    stackIn(app, mode);
    expect(unacknowledgedFindings(app)).toEqual([]);
  });

  it.each(['test', 'prod'])(
    'passes cfn-lint with no errors (stage %s)',
    async (stage) => {
      const findings = await cfnLint(templateOf(mode, stage).toJSON());
      expect(findings.filter((line) => /:E\d{4}:/.test(line))).toEqual([]);
    },
    120_000,
  );
});
