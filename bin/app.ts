// CDK app entry: the only place that reads CDK context and the environment.
import { App } from 'aws-cdk-lib';
import { GatewayStack } from '../lib/gateway-stack.ts';

const app = new App();

const stageContext: unknown = app.node.tryGetContext('stage');
const stage = stageContext === undefined ? 'dev' : String(stageContext);

new GatewayStack(app, 'LlmGateway', {
  // One CloudFormation stack per stage, so that stages can share an account and region.
  stackName: `LlmGateway-${stage}`,
  stage,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  tags: { project: 'llm-gateway', stage },
});
