// CDK app entry: the only place that reads CDK context, the environment and the config file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, Errors } from 'aws-cdk-lib';
import { ConfigError } from '../lambda/core/config.ts';
import { parseStackConfig, type StackConfig } from '../lib/config.ts';
import { GatewayStack } from '../lib/gateway-stack.ts';

const app = new App();

const stageContext: unknown = app.node.tryGetContext('stage');
const stage = stageContext === undefined ? 'dev' : String(stageContext);

// The same document is bundled into the functions, so the stack and the runtime read one config.
const configFile = fileURLToPath(new URL('../config/gateway.json', import.meta.url));

let config: StackConfig;
try {
  config = parseStackConfig(JSON.parse(readFileSync(configFile, 'utf8')));
} catch (error) {
  // Synth fails with every problem listed as `field`: message, got: value.
  process.stderr.write(`${configFile}: ${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
}

/**
 * Whether an error is a refused value rather than a bug: the constructs' checks throw plain Errors naming the
 * prop and the bad value, CDK's own a ValidationError. For those a stack trace only buries the message.
 */
const isRefusal = (error: unknown): error is Error =>
  error instanceof Error && (error.constructor === Error || Errors.isValidationError(error));

try {
  new GatewayStack(app, 'LlmGateway', {
    // One CloudFormation stack per stage, so that stages can share an account and region.
    stackName: `LlmGateway-${stage}`,
    stage,
    config,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    tags: { project: 'llm-gateway', stage },
  });
  app.synth();
} catch (error) {
  // `cdk --debug` sets CDK_DEBUG: then, and for anything that looks like a bug, the trace is kept.
  if (!isRefusal(error) || process.env.CDK_DEBUG === 'true') throw error;
  process.stderr.write(`Synth failed: ${error.message}\n`);
  process.exit(1);
}
