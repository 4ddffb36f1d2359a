// The gateway function's Bedrock grant: exactly the configured models and inference profiles, no secret, and the
// stack still clean under cdk-nag and cfn-lint.
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ConfigError } from '../../lambda/core/config.ts';
import { parseStackConfig } from '../../lib/config.ts';
import { GatewayStack } from '../../lib/gateway-stack.ts';
import { cfnLint } from '../fixtures/cfn-lint.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';
import { testStackConfig } from '../fixtures/stack-config.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const noBundling = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };
const env = { account: '123456789012', region: 'us-east-1' };

const bedrockRoutes = [
  {
    model: 'claude',
    targets: [
      {
        id: 'profile',
        provider: 'bedrock',
        region: 'us-east-1',
        model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      },
      {
        id: 'direct',
        provider: 'bedrock',
        region: 'eu-west-1',
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        priority: 1,
      },
    ],
  },
  // No target model on an exact route: the route's model is the id.
  {
    model: 'amazon.titan-embed-text-v2:0',
    targets: [{ id: 'titan', provider: 'bedrock', region: 'us-east-1' }],
  },
  {
    model: 'llama',
    targets: [
      {
        id: 'app-profile',
        provider: 'bedrock',
        region: 'us-west-2',
        model: 'arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abc123',
      },
    ],
  },
];

const stackWith = (routes: unknown[], app = new App({ context: noBundling })) =>
  new GatewayStack(app, 'LlmGateway', {
    env,
    stage: 'test',
    stackName: 'LlmGateway-test',
    config: testStackConfig({ routes }),
  });

const bedrockStatements = (template: Template) =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>).filter(
      (statement) => JSON.stringify(statement.Action).includes('bedrock:'),
    ),
  );

describe('the Bedrock grant', () => {
  it('lets the gateway function invoke exactly the configured models, profiles and ARNs', () => {
    // Act
    const template = Template.fromStack(stackWith(bedrockRoutes));

    // Assess
    const statements = bedrockStatements(template);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({
      Action: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
      Effect: 'Allow',
    });
    const resources = JSON.stringify(statements[0]!.Resource);
    expect(statements[0]!.Resource).toHaveLength(5);
    for (const arn of [
      ':bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      ':bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0',
      ':bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
      ':bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0',
      'arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abc123',
    ])
      expect(resources).toContain(arn);
    expect(resources).not.toMatch(/foundation-model\/\*|bedrock:\*"/);
  });

  it('is absent without bedrock targets, and needs no secret for them', () => {
    // Act
    const without = Template.fromStack(stackWith(testStackConfig().gateway.routes as unknown[]));
    const withBedrock = Template.fromStack(stackWith(bedrockRoutes));

    // Assess
    expect(bedrockStatements(without)).toEqual([]);
    // The key pepper only: a bedrock target signs with the function's role, it has no provider key.
    withBedrock.resourceCountIs('AWS::SecretsManager::Secret', 1);
  });

  it('refuses a bedrock target on a prefix route without a model: it could not be granted', () => {
    expect(() =>
      parseStackConfig({
        routes: [
          {
            model: 'claude-',
            match: 'prefix',
            targets: [{ id: 'b', provider: 'bedrock', region: 'us-east-1' }],
          },
        ],
      }),
    ).toThrow(ConfigError);
  });

  it('keeps the stack clean under cdk-nag', () => {
    // Prepare
    const app = nagApp({ context: noBundling });
    stackWith(bedrockRoutes, app);

    // Act and assess
    expect(unacknowledgedFindings(app)).toEqual([]);
  });

  it('passes cfn-lint with no errors', async () => {
    // Act
    const findings = await cfnLint(Template.fromStack(stackWith(bedrockRoutes)).toJSON());

    // Assess
    expect(findings.filter((line) => /:E\d{4}:/.test(line))).toEqual([]);
  }, 120_000);
});
