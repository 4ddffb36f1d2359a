// Names of the stack outputs the admin CLI reads to find a deployed stack's resources: a contract between the two.
export const StackOutput = {
  KeysTableName: 'KeysTableName',
  UsageTableName: 'UsageTableName',
  BudgetsTableName: 'BudgetsTableName',
  KeyPepperSecretArn: 'KeyPepperSecretArn',
  /** A JSON object: tier name → API Gateway usage plan id. */
  UsagePlanIds: 'UsagePlanIds',
  RestApiId: 'RestApiId',
} as const;
export type StackOutputName = (typeof StackOutput)[keyof typeof StackOutput];
