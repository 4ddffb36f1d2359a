import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { GatewayFunction, type GatewayFunctionProps } from '../../lib/constructs/gateway-function.ts';
import { GatewayStack } from '../../lib/gateway-stack.ts';
import { testStackConfig } from '../fixtures/stack-config.ts';

// Synthesize with the feature flags of cdk.json, so the tests see the template `cdk synth` produces.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

// Logical IDs are a contract: a new function ID means a new function, and with it a new Function URL.
const FUNCTION_ID = 'GatewayFunctionB2DE2221';
const FUNCTION_URL_ID = 'GatewayFunctionFunctionUrlA2EE4D6D';
const LOG_GROUP_ID = 'GatewayLogGroup8257D8DD';

let assemblyDir: string;
let template: Template;
let custom: Template;
let customStack: Stack;

beforeAll(() => {
  // Prepare: one app, synthesized once; both functions share one esbuild bundle (same entry and options).
  const app = new App({ context: cdkJson.context });
  const stack = new GatewayStack(app, 'LlmGateway', { stage: 'test', config: testStackConfig() });
  customStack = new Stack(app, 'Custom');
  new GatewayFunction(customStack, 'Gateway', {
    functionUrlAuth: 'none',
    memorySize: 2048,
    reservedConcurrentExecutions: 10,
    logRetention: RetentionDays.ONE_WEEK,
    logRemovalPolicy: RemovalPolicy.DESTROY,
    serviceName: 'gw-test',
    metricsNamespace: 'GwTest',
  });

  // Act
  assemblyDir = app.synth().directory;
  template = Template.fromStack(stack);
  custom = Template.fromStack(customStack);
});

describe('GatewayFunction with defaults (in GatewayStack)', () => {
  it('keeps the logical IDs of the function, its URL and its log group', () => {
    // The stack holds other functions and log groups (authorizer, API access log, WAF): these are the gateway's.
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toContain(FUNCTION_ID);
    expect(Object.keys(template.findResources('AWS::Lambda::Url'))).toEqual([FUNCTION_URL_ID]);
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup'))).toContain(LOG_GROUP_ID);
  });

  it('runs Node.js 24 on arm64 with 1024 MB, a 15-minute timeout and no reserved concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 900,
      ReservedConcurrentExecutions: Match.absent(),
    });
  });

  it('sets source maps and the Powertools service name and namespace in the environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'llm-gateway',
          POWERTOOLS_METRICS_NAMESPACE: 'LlmGateway',
        },
      },
    });
  });

  it('serves a streaming Function URL that requires IAM auth, with no public invoke permission', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      InvokeMode: 'RESPONSE_STREAM',
      TargetFunctionArn: { 'Fn::GetAtt': [FUNCTION_ID, 'Arn'] },
    });
    // The only invoke permissions are API Gateway's; nothing lets anyone call the URL unsigned.
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
    expect(permissions.map((permission) => permission.Properties.Principal)).toEqual(
      permissions.map(() => 'apigateway.amazonaws.com'),
    );
  });

  it('logs to its own log group, kept one month and retained when removed from the stack', () => {
    const logGroup = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogGroup: logGroup } });
    expect(logGroup.asObject()).toEqual({ Ref: LOG_GROUP_ID });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('outputs the Function URL', () => {
    template.hasOutput('FunctionUrl', { Value: { 'Fn::GetAtt': [FUNCTION_URL_ID, 'FunctionUrl'] } });
  });

  it('deploys an ES module bundle that exports the handler and can require() CJS dependencies', () => {
    const s3Key = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Code: { S3Key: s3Key },
    });
    const assetDir = join(assemblyDir, `asset.${s3Key.asString().replace(/\.zip$/, '')}`);
    expect(existsSync(join(assetDir, 'index.js'))).toBe(false);
    expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    expect(bundle.split('\n', 1)[0]).toBe(
      "import { createRequire as __gwCreateRequire } from 'node:module'; const require = __gwCreateRequire(import.meta.url);",
    );
    expect(bundle).toMatch(/export\s*\{[^}]*\bas handler\b[^}]*\}/);
  });

  it('compiles the deployment’s config document into the bundle, in place of the repository’s', () => {
    // Prepare
    const s3Key = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Code: { S3Key: s3Key },
    });
    const bundle = readFileSync(
      join(assemblyDir, `asset.${s3Key.asString().replace(/\.zip$/, '')}`, 'index.mjs'),
      'utf8',
    );

    // Assess: the stack's document (the test config's tiers) is in it, config/gateway.json's seed rules are not.
    expect(bundle).toContain(testStackConfig().document);
    expect(bundle).not.toContain('cloud-access-keys');
  });

  it('ships the tokenizer beside the bundle, not inside it, and the bundle stays under 600 KB', () => {
    // Prepare
    const s3Key = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', { Code: { S3Key: s3Key } });
    const assetDir = join(assemblyDir, `asset.${s3Key.asString().replace(/\.zip$/, '')}`);

    // Assess: the dynamic import stays an import, and resolves to the package copied into node_modules
    const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    expect(bundle).toContain('import("gpt-tokenizer/encoding/o200k_base")');
    expect(Buffer.byteLength(bundle)).toBeLessThan(600 * 1024);
    const tokenizer = join(assetDir, 'node_modules', 'gpt-tokenizer');
    expect(existsSync(join(tokenizer, 'package.json'))).toBe(true);
    expect(existsSync(join(tokenizer, 'esm', 'encoding', 'o200k_base.js'))).toBe(true);
    expect(existsSync(join(tokenizer, 'esm', 'bpeRanks', 'o200k_base.js'))).toBe(true);
    expect(existsSync(join(tokenizer, 'esm', 'main.js.map'))).toBe(false);
  });

  it('ships the regex engine of content rules beside the bundle, importable as the function imports it', async () => {
    // Prepare
    const s3Key = new Capture();
    template.hasResourceProperties('AWS::Lambda::Function', { Code: { S3Key: s3Key } });
    const assetDir = join(assemblyDir, `asset.${s3Key.asString().replace(/\.zip$/, '')}`);

    // Assess: a dynamic import in the bundle, and a package in the asset that resolves and compiles
    const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    expect(bundle).toContain('import("re2js")');
    expect(bundle).not.toContain('RE2JSSyntaxException');
    const { RE2JS } = (await import(
      join(assetDir, 'node_modules', 're2js', 'build', 'index.js')
    )) as typeof import('re2js');
    expect(RE2JS.compile('a+b').matches('aab')).toBe(true);
    expect(existsSync(join(assetDir, 'node_modules', 're2js', 'build', 'index.cjs'))).toBe(false);
  });
});

describe('GatewayFunction with props', () => {
  it('applies memory and reserved concurrency', () => {
    custom.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 2048,
      ReservedConcurrentExecutions: 10,
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'gw-test',
          POWERTOOLS_METRICS_NAMESPACE: 'GwTest',
        }),
      },
    });
  });

  it('serves a public streaming Function URL when functionUrlAuth is none, and warns about it', () => {
    custom.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', InvokeMode: 'RESPONSE_STREAM' });
    custom.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      Principal: '*',
      FunctionUrlAuthType: 'NONE',
    });
    // Since October 2025 a public URL also needs lambda:InvokeFunction, limited to calls through the URL.
    custom.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: '*',
      InvokedViaFunctionUrl: true,
    });
    Annotations.fromStack(customStack).hasWarning(
      '/Custom/Gateway',
      Match.stringLikeRegexp('^The Function URL is public \\(functionUrlAuth: none\\)'),
    );
  });

  it('applies log retention and removal policy', () => {
    custom.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 7 },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });
});

describe('GatewayFunction props validation', () => {
  it.each<[GatewayFunctionProps, string]>([
    [{ memorySize: 64 }, '`memorySize` must be an integer from 128 to 10240 (MB), got: 64'],
    [{ memorySize: 10_241 }, '`memorySize` must be an integer from 128 to 10240 (MB), got: 10241'],
    [{ memorySize: 1536.5 }, '`memorySize` must be an integer from 128 to 10240 (MB), got: 1536.5'],
    [
      { reservedConcurrentExecutions: -1 },
      '`reservedConcurrentExecutions` must be a non-negative integer, got: -1',
    ],
    [
      { functionUrlAuth: 'public' as GatewayFunctionProps['functionUrlAuth'] },
      "`functionUrlAuth` must be one of 'iam', 'none', got: \"public\"",
    ],
  ])('rejects %j', (props, message) => {
    // Prepare: validation runs before bundling, so these stacks never reach esbuild.
    const stack = new Stack(new App(), 'Invalid');

    // Act / Assess
    expect(() => new GatewayFunction(stack, 'Gateway', props)).toThrow(new Error(message));
  });
});
