// The environment contract (lambda/environment.ts) against the synthesized stack and the entry points: every
// variable set on a function is a name of the contract that its function expects, every variable a function
// requires is set on it, and each contract lists what its entry point reads. A renamed or forgotten variable fails
// here rather than at a cold start.
import { readFileSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  EnvVar,
  FunctionEnv,
  type FunctionEnvContract,
  type FunctionName,
  LambdaEnvVar,
} from '../../lambda/environment.ts';
import type { CacheModeName } from '../../lib/config.ts';
import { GatewayStack } from '../../lib/gateway-stack.ts';
import { testStackConfig } from '../fixtures/stack-config.ts';

// Synthesize with the feature flags of cdk.json and without bundling, as test/infra/gateway-stack.test.ts does.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const noBundling = { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] };

const MODES: CacheModeName[] = ['public-iam', 'vpc', 'off'];
const FUNCTIONS = Object.keys(FunctionEnv) as FunctionName[];
/** The directory of lambda/entrypoints each function is bundled from. */
const ENTRY_POINTS: Record<FunctionName, string> = {
  gateway: 'lambda',
  authorizer: 'authorizer',
  jobTracker: 'job-tracker',
};

const contractOf = (name: FunctionName): FunctionEnvContract => FunctionEnv[name];
const stackNames: readonly string[] = Object.values(EnvVar);
const lambdaNames: readonly string[] = Object.values(LambdaEnvVar);
const requiredWithOf = (contract: FunctionEnvContract): Array<[string, readonly string[]]> =>
  Object.entries(contract.requiredWith) as Array<[string, readonly string[]]>;

interface Synthesized {
  readonly template: Template;
  /** Each function's logical ID. */
  readonly ids: Record<FunctionName, string>;
  /** Each function's environment variables in the template. */
  readonly variables: Record<FunctionName, Record<string, unknown>>;
}

const synthesized = new Map<CacheModeName, Synthesized>();
beforeAll(() => {
  for (const mode of MODES) {
    const stack = new GatewayStack(new App({ context: noBundling }), 'LlmGateway', {
      stage: 'test',
      stackName: 'LlmGateway-test',
      config: testStackConfig({ cache: { mode } }),
    });
    const template = Template.fromStack(stack);
    const resources = template.toJSON().Resources as Record<
      string,
      { Properties: { Environment?: { Variables?: Record<string, unknown> } } }
    >;
    const idOf = (fn: lambda.IFunction): string => stack.getLogicalId(fn.node.defaultChild as CfnElement);
    const ids: Record<FunctionName, string> = {
      gateway: idOf(stack.gatewayFunction.fn),
      authorizer: idOf(stack.edge.authorizerFunction),
      jobTracker: idOf(stack.jobs.trackerFunction),
    };
    const variablesOf = (id: string): Record<string, unknown> => {
      expect(resources[id]).toBeDefined();
      return resources[id]?.Properties.Environment?.Variables ?? {};
    };
    synthesized.set(mode, {
      template,
      ids,
      variables: {
        gateway: variablesOf(ids.gateway),
        authorizer: variablesOf(ids.authorizer),
        jobTracker: variablesOf(ids.jobTracker),
      },
    });
  }
});
const synthesizedIn = (mode: CacheModeName): Synthesized => synthesized.get(mode)!;

describe('the environment contract', () => {
  it('names each variable after itself, and none that Lambda reserves', () => {
    for (const [key, name] of Object.entries({ ...EnvVar, ...LambdaEnvVar })) expect(name).toBe(key);
    expect(stackNames.filter((name) => lambdaNames.includes(name))).toEqual([]);
  });

  it('has a use for every variable the stack sets: some function reads it or is given it', () => {
    const listed = new Set<string>(
      FUNCTIONS.flatMap((name) => {
        const contract = contractOf(name);
        return [
          ...contract.required,
          ...contract.optional,
          ...contract.notRead,
          ...requiredWithOf(contract).flatMap(([, names]) => names),
        ];
      }),
    );
    expect(stackNames.filter((name) => !listed.has(name))).toEqual([]);
  });

  it.each(FUNCTIONS)('lists what the %s entry point reads, no more and no less', (name) => {
    const source = readFileSync(
      new URL(`../../lambda/entrypoints/${ENTRY_POINTS[name]}/index.ts`, import.meta.url),
      'utf8',
    );
    const reads = (how: 'required' | 'optional') =>
      [...source.matchAll(new RegExp(`env\\.${how}\\(\\s*(?:EnvVar|LambdaEnvVar)\\.(\\w+)\\s*\\)`, 'g'))]
        .map((match) => match[1])
        .sort();
    const contract = contractOf(name);
    expect(reads('required')).toEqual(
      [...contract.required, ...requiredWithOf(contract).flatMap(([, names]) => names)].sort(),
    );
    // GATEWAY_CONFIG is read for every function by loadGatewayConfig (lambda/entrypoints/aws-environment.ts).
    expect(reads('optional')).toEqual(contract.optional.filter((v) => v !== EnvVar.GATEWAY_CONFIG).sort());
    expect(contract.optional).toContain(EnvVar.GATEWAY_CONFIG);
  });
});

describe.each(MODES)('the stack with the cache %s', (mode) => {
  it('sets only names of the contract, and only on functions that have one', () => {
    const { template, ids } = synthesizedIn(mode);
    const withVariables: string[] = [];
    for (const [id, fn] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
      const names = Object.keys(fn.Properties?.Environment?.Variables ?? {});
      // Not one Lambda reserves (AWS_REGION): those are not contract names of the stack.
      expect(names.filter((variable) => !stackNames.includes(variable))).toEqual([]);
      if (names.length > 0) withVariables.push(id);
    }
    // A new function with an environment needs a contract (and an entry in FunctionEnv) of its own.
    expect(withVariables.sort()).toEqual(Object.values(ids).sort());
  });

  it.each(FUNCTIONS)('sets every variable the %s requires', (name) => {
    const contract = contractOf(name);
    const set = Object.keys(synthesizedIn(mode).variables[name]);
    expect(contract.required.filter((variable) => !set.includes(variable))).toEqual([]);
    for (const [trigger, names] of requiredWithOf(contract)) {
      if (!set.includes(trigger)) continue;
      // What Lambda sets itself (AWS_REGION) is not the stack's to set.
      const fromStack = names.filter((variable) => stackNames.includes(variable));
      expect(fromStack.filter((variable) => !set.includes(variable))).toEqual([]);
    }
  });

  it.each(FUNCTIONS)('sets on the %s only what its contract lists', (name) => {
    const contract = contractOf(name);
    const listed = new Set<string>([
      ...contract.required,
      ...contract.optional,
      ...contract.notRead,
      ...requiredWithOf(contract).flatMap(([, names]) => names),
    ]);
    const set = Object.keys(synthesizedIn(mode).variables[name]);
    expect(set.filter((variable) => !listed.has(variable))).toEqual([]);
  });

  it('gives the gateway the response cache exactly when there is one', () => {
    const set = Object.keys(synthesizedIn(mode).variables.gateway);
    expect(set.includes(EnvVar.CACHE_ENDPOINT)).toBe(mode !== 'off');
  });
});
