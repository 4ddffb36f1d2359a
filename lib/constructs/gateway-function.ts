// The gateway Lambda: an ESM esbuild bundle of lambda/entrypoints/lambda, its log group and its streaming Function URL.
import { Annotations, Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SubnetType as ec2Subnet } from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EnvVar } from '../../lambda/environment.ts';
import { LAMBDA_MEMORY_MB } from '../service-limits.ts';
import { bundling, depsLockFilePath, entryPoint, projectRoot } from './bundling.ts';

/** Who may call the Function URL. */
export const FunctionUrlAuth = {
  /** Callers sign requests with SigV4 (`lambda:InvokeFunctionUrl`); the gateway key still goes in `x-api-key`. */
  iam: 'iam',
  /** Anyone on the internet reaches the function directly: no WAF, no usage plan, only the gateway key. */
  none: 'none',
} as const;
export type FunctionUrlAuthName = (typeof FunctionUrlAuth)[keyof typeof FunctionUrlAuth];

export interface GatewayFunctionProps {
  /**
   * Memory of the function in MB; Lambda allots CPU in proportion to it.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Concurrent executions reserved for the function (and the most it may run at once).
   * @default - none reserved: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Authentication of the Function URL.
   * @default 'iam' - callers must sign requests with SigV4
   */
  readonly functionUrlAuth?: FunctionUrlAuthName;
  /**
   * The deployment's config document (JSON), compiled into the function.
   * @default - the repository's config/gateway.json
   */
  readonly config?: string;
  /**
   * How long the function's log events are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN - the log group outlives the stack: a usage record the ledger refused is
   * kept only in the log (`usage record not stored`), from where it can be replayed
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * The VPC to run in (network mode `vpc`), in its private subnets with egress.
   * @default - no VPC: the function reaches AWS services and upstreams over the internet
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Security groups of the function in the VPC (the cache admits only these).
   * @default - none: only meaningful with `vpc`
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * `POWERTOOLS_SERVICE_NAME`: the `service` field of log lines and the service dimension of metrics.
   * @default 'llm-gateway'
   */
  readonly serviceName?: string;
  /**
   * `POWERTOOLS_METRICS_NAMESPACE`: the CloudWatch namespace of the gateway's EMF metrics.
   * @default 'LlmGateway'
   */
  readonly metricsNamespace?: string;
}

const entry = entryPoint('lambda');

const { min: MEMORY_MIN_MB, max: MEMORY_MAX_MB } = LAMBDA_MEMORY_MB;

/** Throws with the field, the bad value and what is allowed; values still unresolved at synth are left to CloudFormation. */
const validate = (props: GatewayFunctionProps): void => {
  const { memorySize, reservedConcurrentExecutions, functionUrlAuth } = props;
  if (
    memorySize !== undefined &&
    !Token.isUnresolved(memorySize) &&
    (!Number.isInteger(memorySize) || memorySize < MEMORY_MIN_MB || memorySize > MEMORY_MAX_MB)
  ) {
    throw new Error(
      `\`memorySize\` must be an integer from ${MEMORY_MIN_MB} to ${MEMORY_MAX_MB} (MB), got: ${memorySize}`,
    );
  }
  if (
    reservedConcurrentExecutions !== undefined &&
    !Token.isUnresolved(reservedConcurrentExecutions) &&
    (!Number.isInteger(reservedConcurrentExecutions) || reservedConcurrentExecutions < 0)
  ) {
    throw new Error(
      `\`reservedConcurrentExecutions\` must be a non-negative integer, got: ${reservedConcurrentExecutions}`,
    );
  }
  const auths: readonly string[] = Object.values(FunctionUrlAuth);
  if (functionUrlAuth !== undefined && !auths.includes(functionUrlAuth)) {
    throw new Error(
      `\`functionUrlAuth\` must be one of ${auths.map((a) => `'${a}'`).join(', ')}, got: ${JSON.stringify(functionUrlAuth)}`,
    );
  }
};

export class GatewayFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly url: lambda.FunctionUrl;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: GatewayFunctionProps = {}) {
    super(scope, id);
    validate(props);

    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.logGroup = logGroup;
    // An inline policy on its own log group instead of AWSLambdaBasicExecutionRole (logs on every group).
    // Tables, secrets and the cache are granted by the stack, each with the environment variable naming it.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description:
        'LLM gateway function: writes its own log; data, secrets and cache access are granted by the stack',
    });
    logGroup.grantWrite(role);

    this.fn = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      projectRoot,
      depsLockFilePath,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // A streamed completion can run for minutes; API Gateway's STREAM integration allows 15 as well.
      timeout: Duration.minutes(15),
      logGroup,
      role,
      ...(props.vpc === undefined
        ? {}
        : {
            vpc: props.vpc,
            vpcSubnets: { subnetType: ec2Subnet.PRIVATE_WITH_EGRESS },
            securityGroups: props.securityGroups,
          }),
      environment: {
        [EnvVar.NODE_OPTIONS]: '--enable-source-maps',
        [EnvVar.POWERTOOLS_SERVICE_NAME]: props.serviceName ?? 'llm-gateway',
        [EnvVar.POWERTOOLS_METRICS_NAMESPACE]: props.metricsNamespace ?? 'LlmGateway',
      },
      bundling: bundling({ withTokenizer: true, config: props.config }),
    });

    if (props.vpc !== undefined) {
      // Lambda adds AWSLambdaVPCAccessExecutionRole to the role of a function in a VPC.
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'Network mode vpc: Lambda must create, describe and delete the network interfaces that attach the function ' +
          'to its private subnets. These EC2 actions cannot be scoped to resources before the interfaces exist; the ' +
          'AWS managed policy grants exactly them (and log writes), and only lambda.amazonaws.com can assume the role.',
      });
    }

    const authType =
      props.functionUrlAuth === FunctionUrlAuth.none
        ? lambda.FunctionUrlAuthType.NONE
        : lambda.FunctionUrlAuthType.AWS_IAM;
    if (authType === lambda.FunctionUrlAuthType.NONE) {
      Annotations.of(this).addWarningV2(
        'llm-gateway:publicFunctionUrl',
        'The Function URL is public (functionUrlAuth: none): requests bypass WAF and usage plans; only the gateway key protects it.',
      );
    }
    this.url = this.fn.addFunctionUrl({ authType, invokeMode: lambda.InvokeMode.RESPONSE_STREAM });
  }
}
