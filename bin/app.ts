// CDK app entry: the only place that reads CDK context, the environment and the config file.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Errors } from 'aws-cdk-lib';
import { parseStackConfig, type StackConfig } from '../lib/config.ts';
import { GatewayStack } from '../lib/gateway-stack.ts';

const app = new App();

const stageContext: unknown = app.node.tryGetContext('stage');
const stage = stageContext === undefined ? 'dev' : String(stageContext);

// Which config this deployment uses: `-c config=<path>` (relative to where cdk runs), else config/<stage>.json
// when it exists, else config/gateway.json. The stack compiles the same document into its functions, so the
// stack and the runtime read one config.
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const configContext: unknown = app.node.tryGetContext('config');
const stageFile = join(repoRoot, 'config', `${stage}.json`);
const configFile =
  configContext !== undefined && configContext !== ''
    ? resolve(String(configContext))
    : existsSync(stageFile)
      ? stageFile
      : join(repoRoot, 'config', 'gateway.json');

let config: StackConfig;
try {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (error) {
    throw new Error(`cannot read it: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`not a JSON document: ${error instanceof Error ? error.message : String(error)}`);
  }
  config = parseStackConfig(document);
} catch (error) {
  // Synth fails with every problem listed as `field`: message, got: value.
  process.stderr.write(`${configFile}: ${error instanceof Error ? error.message : String(error)}\n`);
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
    // Which file built this stack: `cdk diff` shows a change of config file as a change of description.
    description: `OpenAI-compatible LLM gateway (stage: ${stage}, config: ${relative(repoRoot, configFile) || configFile})`,
  });
  app.synth();
} catch (error) {
  // `cdk --debug` sets CDK_DEBUG: then, and for anything that looks like a bug, the trace is kept.
  if (!isRefusal(error) || process.env.CDK_DEBUG === 'true') throw error;
  process.stderr.write(`Synth failed: ${error.message}\n`);
  process.exit(1);
}
