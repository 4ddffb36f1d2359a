// The gateway's stack: composes the constructs of lib/constructs and exposes what operators need as outputs.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { GatewayFunction } from './constructs/gateway-function.ts';

export interface GatewayStackProps extends StackProps {
  /** Deployment stage (`dev`, `prod`, …): lowercase letters, digits and "-", starting with a letter. */
  readonly stage: string;
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

  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    const stage = checkStage(props.stage);
    super(scope, id, {
      ...props,
      description: props.description ?? `OpenAI-compatible LLM gateway (stage: ${stage})`,
    });

    this.gatewayFunction = new GatewayFunction(this, 'Gateway');

    new CfnOutput(this, 'FunctionUrl', {
      description: 'Function URL of the gateway function (response streaming)',
      value: this.gatewayFunction.url.url,
    });
  }
}
