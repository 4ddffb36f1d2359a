import { readFileSync } from 'node:fs';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { GatewaySecrets, type GatewaySecretsProps } from '../../lib/constructs/secrets.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const env = { account: '123456789012', region: 'eu-west-1' };

// Logical IDs are a contract: a new pepper ID means a new pepper, and every stored key hash stops matching.
const PEPPER_ID = 'SecretsPepperC047F0EC';
const OPENAI_ID = 'SecretsUpstreamopenaiapikey076371ED';
const AZURE_ID = 'SecretsUpstreamazurekeyBAB7E5F5';

const READ_ACTIONS = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];

const defaults: GatewaySecretsProps = {
  upstreamSecretNames: ['openai-api-key', 'azure/key', 'openai-api-key'],
  pepperSecretName: 'gateway-key-pepper',
  production: true,
};

const build = (
  props: Partial<GatewaySecretsProps> = {},
  app: App = new App({ context: cdkJson.context }),
) => {
  const stack = new Stack(app, 'Test', { env });
  const secrets = new GatewaySecrets(stack, 'Secrets', { ...defaults, ...props });
  return { app, stack, secrets };
};

const standIn = (scope: Stack, id: string): lambda.Function =>
  new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });

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

describe('GatewaySecrets', () => {
  it('creates the pepper and one secret per distinct upstream name, with pinned logical IDs', () => {
    // Act
    const { secrets, stack } = build();
    const template = Template.fromStack(stack);

    // Assess
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret'))).toEqual([
      PEPPER_ID,
      OPENAI_ID,
      AZURE_ID,
    ]);
    expect([...secrets.upstream.keys()]).toEqual(['openai-api-key', 'azure/key']);
    expect(stack.resolve(secrets.pepper.secretArn)).toEqual({ Ref: PEPPER_ID });
    expect(stack.resolve(secrets.upstream.get('azure/key')?.secretArn)).toEqual({ Ref: AZURE_ID });
  });

  it('generates the pepper at deploy as a plain 64-character string of letters and digits', () => {
    // Act
    const template = Template.fromStack(build().stack);

    // Assess
    const pepper = template.toJSON().Resources[PEPPER_ID];
    expect(pepper.Properties.GenerateSecretString).toEqual({ PasswordLength: 64, ExcludePunctuation: true });
    expect(pepper.Properties.SecretString).toBeUndefined();
    expect(pepper.Properties.Name).toBeUndefined();
    expect(pepper.Properties.Description).toContain('config keys.pepperSecretName "gateway-key-pepper"');
  });

  it('creates each upstream secret with a generated placeholder, a generated name and a description naming it', () => {
    // Act
    const template = Template.fromStack(build().stack);

    // Assess
    const resources = template.toJSON().Resources;
    for (const [id, name] of [
      [OPENAI_ID, 'openai-api-key'],
      [AZURE_ID, 'azure/key'],
    ]) {
      const { Properties } = resources[id as string];
      expect(Properties.GenerateSecretString).toEqual({ PasswordLength: 32, ExcludePunctuation: true });
      expect(Properties.SecretString).toBeUndefined();
      expect(Properties.Name).toBeUndefined();
      expect(Properties.Description).toContain(`config secretName "${name}"`);
      expect(Properties.Description).toContain('aws secretsmanager put-secret-value --secret-id');
    }
  });

  it.each([
    { stage: 'production', production: true, upstreamPolicy: 'Retain' },
    { stage: 'non-production', production: false, upstreamPolicy: 'Delete' },
  ])(
    'in a $stage stage retains the pepper and sets $upstreamPolicy on upstream secrets',
    ({ production, upstreamPolicy }) => {
      // Act
      const template = Template.fromStack(build({ production }).stack);

      // Assess
      const resources = template.toJSON().Resources;
      expect(resources[PEPPER_ID]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      for (const id of [OPENAI_ID, AZURE_ID]) {
        expect(resources[id]).toMatchObject({
          DeletionPolicy: upstreamPolicy,
          UpdateReplacePolicy: upstreamPolicy,
        });
      }
    },
  );

  it.each([
    {
      props: { pepperSecretName: '' },
      message: '`pepperSecretName` must not be empty, got: ""',
    },
    {
      props: { upstreamSecretNames: ['openai-api-key', ' '] },
      message: '`upstreamSecretNames[1]` must not be empty, got: " "',
    },
    {
      props: { upstreamSecretNames: ['gateway-key-pepper'] },
      message: '`upstreamSecretNames[0]` must differ from `pepperSecretName`, got: "gateway-key-pepper"',
    },
  ])('rejects $props with: $message', ({ props, message }) => {
    expect(() => build(props)).toThrow(new Error(message));
  });
});

describe('GatewaySecrets grants', () => {
  // Prepare
  const { stack, secrets } = build();
  const gateway = standIn(stack, 'Gateway');
  const authorizer = standIn(stack, 'Authorizer');
  const tracker = standIn(stack, 'Tracker');

  // Act
  secrets.grantGatewayAccess(gateway);
  secrets.grantAuthorizerAccess(authorizer);
  secrets.grantUpstreamAccess(tracker);
  const template = Template.fromStack(stack);

  it('gives the gateway the pepper ARN and a SECRET_IDS JSON of config name → ARN', () => {
    // Assess
    const variables = envOf(template, gateway);
    expect(Object.keys(variables).sort()).toEqual(['PEPPER_SECRET_ID', 'SECRET_IDS']);
    expect(variables.PEPPER_SECRET_ID).toEqual({ Ref: PEPPER_ID });
    // Substitute each Ref by a stand-in ARN, as CloudFormation would, and parse what the function gets.
    const joined = variables.SECRET_IDS as { 'Fn::Join': [string, Array<string | { Ref: string }>] };
    const deployed = joined['Fn::Join'][1]
      .map((part) =>
        typeof part === 'string' ? part : `arn:aws:secretsmanager:eu-west-1:1:secret:${part.Ref}`,
      )
      .join(joined['Fn::Join'][0]);
    expect(JSON.parse(deployed)).toEqual({
      'openai-api-key': `arn:aws:secretsmanager:eu-west-1:1:secret:${OPENAI_ID}`,
      'azure/key': `arn:aws:secretsmanager:eu-west-1:1:secret:${AZURE_ID}`,
    });
  });

  it('lets the gateway read the pepper and every upstream secret', () => {
    expect(statementsOf(template, gateway)).toEqual([
      {
        Effect: 'Allow',
        Action: READ_ACTIONS,
        Resource: [{ Ref: PEPPER_ID }, { Ref: AZURE_ID }, { Ref: OPENAI_ID }],
      },
    ]);
  });

  it('gives the authorizer only PEPPER_SECRET_ID and read on the pepper', () => {
    expect(envOf(template, authorizer)).toEqual({ PEPPER_SECRET_ID: { Ref: PEPPER_ID } });
    expect(statementsOf(template, authorizer)).toEqual([
      { Effect: 'Allow', Action: READ_ACTIONS, Resource: { Ref: PEPPER_ID } },
    ]);
  });

  it('gives the job tracker SECRET_IDS and read on the upstream secrets, not the pepper', () => {
    // Assess
    const variables = envOf(template, tracker);
    expect(Object.keys(variables)).toEqual(['SECRET_IDS']);
    expect(variables.SECRET_IDS).toEqual(envOf(template, gateway).SECRET_IDS);
    expect(statementsOf(template, tracker)).toEqual([
      { Effect: 'Allow', Action: READ_ACTIONS, Resource: [{ Ref: AZURE_ID }, { Ref: OPENAI_ID }] },
    ]);
  });

  it('sets SECRET_IDS to an empty JSON object when no route has a secret', () => {
    // Prepare
    const bare = build({ upstreamSecretNames: [] });
    const fn = standIn(bare.stack, 'Gateway');

    // Act
    bare.secrets.grantGatewayAccess(fn);

    // Assess
    expect(envOf(Template.fromStack(bare.stack), fn).SECRET_IDS).toBe('{}');
  });
});

describe('GatewaySecrets and cdk-nag', () => {
  it.each([true, false])('has no unacknowledged AwsSolutions findings (production: %s)', (production) => {
    // Prepare
    const app = nagApp({ context: cdkJson.context });
    build({ production }, app);

    // Act
    const findings = unacknowledgedFindings(app);

    // Assess
    expect(findings).toEqual([]);
  });
});
