import { App } from 'aws-cdk-lib';
import { GatewayStack } from '../../lib/gateway-stack.ts';

// These tests look at the stack object, not the template: skip bundling the function.
const noBundling = { 'aws:cdk:bundling-stacks': [] };

describe('GatewayStack', () => {
  it('describes itself with its stage', () => {
    const stack = new GatewayStack(new App({ context: noBundling }), 'LlmGateway', { stage: 'prod' });

    expect(stack.templateOptions.description).toBe('OpenAI-compatible LLM gateway (stage: prod)');
  });

  it.each(['', 'Prod', '1st', 'dev_2', 'dev stage'])(
    'rejects the stage name %j, even with a description',
    (stage) => {
      const app = new App({ context: noBundling });

      expect(() => new GatewayStack(app, 'LlmGateway', { stage, description: 'given' })).toThrow(
        `\`stage\` must be lowercase letters, digits and "-", starting with a letter, got: ${JSON.stringify(stage)}`,
      );
    },
  );
});
