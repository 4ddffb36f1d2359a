// The gateway function's access to Amazon Bedrock: InvokeModel and InvokeModelWithResponseStream on exactly the
// models and inference profiles its bedrock targets name, nothing else.
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';

/** A model a bedrock target calls: its id, inference profile id or ARN, in the target's region. */
export interface BedrockModel {
  readonly region: string;
  readonly model: string;
}

/** Cross-region inference profiles are named for their geography: `us.anthropic.claude-…`, `global.…`. */
const PROFILE = /^(us|us-gov|eu|apac|ca|jp|au|global)\.(.+)$/;

/**
 * The ARNs a model needs: a foundation model's ARN in its region; for a cross-region inference profile, the
 * profile's ARN and its model's ARN in every region (the profile routes each call to one of them); an ARN as is.
 */
export const bedrockResourceArns = (
  models: readonly BedrockModel[],
  stack: Stack,
): { readonly exact: string[]; readonly anyRegion: string[] } => {
  const exact = new Set<string>();
  const anyRegion = new Set<string>();
  const { partition, account } = stack;
  for (const { region, model } of models) {
    if (model.startsWith('arn:')) {
      exact.add(model);
      continue;
    }
    const profile = PROFILE.exec(model);
    if (profile === null) {
      exact.add(`arn:${partition}:bedrock:${region}::foundation-model/${model}`);
      continue;
    }
    exact.add(`arn:${partition}:bedrock:${region}:${account}:inference-profile/${model}`);
    anyRegion.add(`arn:${partition}:bedrock:*::foundation-model/${profile[2]}`);
  }
  return { exact: [...exact].sort(), anyRegion: [...anyRegion].sort() };
};

export const BEDROCK_INVOKE_ACTIONS = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

/** Lets `fn` invoke the models of `models` (no statement when there are none). */
export const grantBedrockInvoke = (fn: lambda.IFunction, models: readonly BedrockModel[]): void => {
  if (models.length === 0) return;
  const role = fn.role;
  if (role === undefined) throw new Error('The gateway function has no role to grant Bedrock access to.');
  const { exact, anyRegion } = bedrockResourceArns(models, Stack.of(fn));
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: BEDROCK_INVOKE_ACTIONS, resources: [...exact, ...anyRegion] }),
  );
  for (const arn of anyRegion) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arn.replace(Stack.of(fn).partition, '<AWS::Partition>')}]`,
      reason:
        'A cross-region inference profile sends each call to its model in one of the regions of its geography, ' +
        'which AWS documents as needing InvokeModel on that model in every region: only the region is a wildcard, ' +
        'the model id is exact.',
    });
  }
};
