// The environment contract between the stack and its Lambda functions: the names of the variables the constructs
// of lib/constructs set and the entry points of lambda/entrypoints read, and which function needs which.
// No imports, on purpose: the constructs load it at synth without the SDK, the bundles carry it without CDK.
// test/infra/environment.test.ts checks the synthesized stack against it.

/** The variables the stack sets on its functions. */
export const EnvVar = {
  /**
   * Name of the Keys table (DynamoDB). Set by GatewayData (`grantGatewayAccess`, `grantAuthorizerAccess`,
   * `grantJobTrackerAccess`); required by the gateway, the authorizer and the job tracker.
   */
  KEYS_TABLE: 'KEYS_TABLE',
  /** Name of the Usage table. Set by GatewayData on the gateway and the job tracker; required by both. */
  USAGE_TABLE: 'USAGE_TABLE',
  /** Name of the Budgets table. Set by GatewayData on the gateway and the job tracker; required by both. */
  BUDGETS_TABLE: 'BUDGETS_TABLE',
  /**
   * Name of the Ownership table (files and fine-tuning jobs). Set by GatewayData on the gateway and the job
   * tracker; required by the job tracker; the gateway serves files and fine-tuning only when it is set.
   */
  OWNERSHIP_TABLE: 'OWNERSHIP_TABLE',
  /**
   * ARN of the key pepper secret (Secrets Manager). Set by GatewaySecrets (`grantGatewayAccess`,
   * `grantAuthorizerAccess`); required by the gateway and the authorizer.
   */
  PEPPER_SECRET_ID: 'PEPPER_SECRET_ID',
  /**
   * JSON object: secret name in the config → Secrets Manager id of each upstream key. Set by GatewaySecrets
   * (`grantUpstreamAccess`) on the gateway and the job tracker; read by both, as `{}` when unset.
   */
  SECRET_IDS: 'SECRET_IDS',
  /**
   * `host:port` of the serverless Valkey cache. Set by GatewayCache (`grantConnect`) on the gateway unless the
   * cache mode is `off`; read by the gateway, which caches responses only when it is set.
   */
  CACHE_ENDPOINT: 'CACHE_ENDPOINT',
  /**
   * Name of the serverless cache, which IAM auth tokens are signed for. Set by GatewayCache (`grantConnect`);
   * required by the gateway when `CACHE_ENDPOINT` is set.
   */
  CACHE_NAME: 'CACHE_NAME',
  /**
   * The IAM-auth ElastiCache user (its name is its id). Set by GatewayCache (`grantConnect`); required by the
   * gateway when `CACHE_ENDPOINT` is set.
   */
  CACHE_USER: 'CACHE_USER',
  /**
   * The cache mode (`public-iam` or `vpc`). Set by GatewayCache (`grantConnect`) on the gateway; read by no code:
   * it tells whoever looks at the function's configuration how it reaches the cache.
   */
  CACHE_MODE: 'CACHE_MODE',
  /**
   * Name of the job event bus (EventBridge). Set by GatewayJobs (`grantPublishJobEvents`) on the gateway and the
   * job tracker; required by the job tracker; the gateway publishes job status changes only when it is set.
   */
  JOB_EVENTS_BUS: 'JOB_EVENTS_BUS',
  /**
   * The config document (JSON), read instead of the one compiled into the bundle. Set by GatewayEdge on the
   * authorizer only when given `configDocument`; read by every function (`loadGatewayConfig`), never required.
   */
  GATEWAY_CONFIG: 'GATEWAY_CONFIG',
  /**
   * Powertools service name of the logs and metrics. Set by GatewayFunction, GatewayEdge (the authorizer) and
   * GatewayJobs (the job tracker); read by each entry point, with the same default, and by Powertools.
   */
  POWERTOOLS_SERVICE_NAME: 'POWERTOOLS_SERVICE_NAME',
  /**
   * CloudWatch namespace of the EMF metrics. Set by GatewayFunction and GatewayJobs; read by the gateway and the
   * job tracker (default `LlmGateway`), and by Powertools.
   */
  POWERTOOLS_METRICS_NAMESPACE: 'POWERTOOLS_METRICS_NAMESPACE',
  /**
   * `--enable-source-maps`, so stack traces point into the sources. Set on every function by the construct that
   * creates it; read by Node, not by the entry points.
   */
  NODE_OPTIONS: 'NODE_OPTIONS',
} as const;
export type EnvVarName = (typeof EnvVar)[keyof typeof EnvVar];

/**
 * The variables Lambda sets on every function itself: an entry point may read them, the stack must never set
 * them (they are reserved: Lambda refuses a function whose environment names one, at deploy time, not synth).
 */
export const LambdaEnvVar = {
  /** The function's region. Required by the gateway when `CACHE_ENDPOINT` is set: it signs the cache's tokens. */
  AWS_REGION: 'AWS_REGION',
} as const;
export type LambdaEnvVarName = (typeof LambdaEnvVar)[keyof typeof LambdaEnvVar];

/** What one function reads from its environment. */
export interface FunctionEnvContract {
  /** Read with `requiredEnv`: the cold start fails without any of them. */
  readonly required: readonly EnvVarName[];
  /** Required as soon as the variable they are listed under is set. */
  readonly requiredWith: { readonly [Name in EnvVarName]?: readonly (EnvVarName | LambdaEnvVarName)[] };
  /** Read when set: without them the function uses a default or goes without a feature. */
  readonly optional: readonly EnvVarName[];
  /** Set by the stack but not read by the entry point (Node reads them, or no code does). */
  readonly notRead: readonly EnvVarName[];
}

/** Each function's contract, by entry point: what lambda/entrypoints/<entry>/index.ts may read. */
export const FunctionEnv = {
  /** The gateway (entry point `lambda`). */
  gateway: {
    required: [EnvVar.KEYS_TABLE, EnvVar.USAGE_TABLE, EnvVar.BUDGETS_TABLE, EnvVar.PEPPER_SECRET_ID],
    requiredWith: {
      [EnvVar.CACHE_ENDPOINT]: [EnvVar.CACHE_NAME, EnvVar.CACHE_USER, LambdaEnvVar.AWS_REGION],
    },
    optional: [
      EnvVar.SECRET_IDS,
      EnvVar.CACHE_ENDPOINT,
      EnvVar.OWNERSHIP_TABLE,
      EnvVar.JOB_EVENTS_BUS,
      EnvVar.GATEWAY_CONFIG,
      EnvVar.POWERTOOLS_SERVICE_NAME,
      EnvVar.POWERTOOLS_METRICS_NAMESPACE,
    ],
    notRead: [EnvVar.NODE_OPTIONS, EnvVar.CACHE_MODE],
  },
  /** The REQUEST authorizer (entry point `authorizer`). */
  authorizer: {
    required: [EnvVar.KEYS_TABLE, EnvVar.PEPPER_SECRET_ID],
    requiredWith: {},
    optional: [EnvVar.GATEWAY_CONFIG, EnvVar.POWERTOOLS_SERVICE_NAME],
    notRead: [EnvVar.NODE_OPTIONS],
  },
  /** The fine-tuning job tracker (entry point `job-tracker`). */
  jobTracker: {
    required: [
      EnvVar.KEYS_TABLE,
      EnvVar.USAGE_TABLE,
      EnvVar.BUDGETS_TABLE,
      EnvVar.OWNERSHIP_TABLE,
      EnvVar.JOB_EVENTS_BUS,
    ],
    requiredWith: {},
    optional: [
      EnvVar.SECRET_IDS,
      EnvVar.GATEWAY_CONFIG,
      EnvVar.POWERTOOLS_SERVICE_NAME,
      EnvVar.POWERTOOLS_METRICS_NAMESPACE,
    ],
    notRead: [EnvVar.NODE_OPTIONS],
  },
} as const satisfies Record<string, FunctionEnvContract>;
export type FunctionName = keyof typeof FunctionEnv;

type NamesIn<List> = List extends readonly (infer Name extends EnvVarName | LambdaEnvVarName)[]
  ? Name
  : never;
/** The names a contract's function may require: its required ones and those required with another. */
export type RequiredEnvOf<C extends FunctionEnvContract> =
  | C['required'][number]
  | NamesIn<C['requiredWith'][keyof C['requiredWith']]>;
/** The names a contract's function may read when set. */
export type OptionalEnvOf<C extends FunctionEnvContract> = C['optional'][number];
