// The VPC of the `vpc` cache mode: private subnets with NAT for the gateway function, a DynamoDB gateway endpoint, flow logs.
import { RemovalPolicy, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface GatewayNetworkProps {
  /**
   * Availability Zones the VPC spans; the cache and the function get a private subnet in each.
   * @default 2
   */
  readonly maxAzs?: number;
  /**
   * NAT gateways (each ~$32/month plus data). One is the cheapest; one per AZ keeps egress up when an AZ fails.
   * @default 1
   */
  readonly natGateways?: number;
}

/** Throws with the field, the bad value and what is allowed; values still unresolved at synth are left to CDK. */
const validate = ({ maxAzs, natGateways }: GatewayNetworkProps): void => {
  if (maxAzs !== undefined && !Token.isUnresolved(maxAzs) && (!Number.isInteger(maxAzs) || maxAzs < 2)) {
    // A cache in a single AZ goes down with it; ElastiCache Serverless spreads over the subnets it is given.
    throw new Error(`\`maxAzs\` must be an integer of at least 2, got: ${maxAzs}`);
  }
  const azs = maxAzs ?? 2;
  if (
    natGateways !== undefined &&
    !Token.isUnresolved(natGateways) &&
    (!Number.isInteger(natGateways) || natGateways < 1 || natGateways > azs)
  ) {
    // Without NAT the function reaches neither the upstream providers nor Secrets Manager.
    throw new Error(`\`natGateways\` must be an integer from 1 to ${azs} (maxAzs), got: ${natGateways}`);
  }
};

/**
 * Only for the `vpc` network mode: the default `public-iam` mode needs no VPC at all. The function runs in the
 * private subnets and leaves through NAT (upstream providers, Secrets Manager, CloudWatch); DynamoDB traffic
 * takes the free gateway endpoint instead. No Secrets Manager interface endpoint by default: one costs
 * ~$7/month per AZ, and the function reads its secrets once per cold start, which the NAT already carries.
 *
 * In a stack with a concrete account and region, `ec2.Vpc` asks for the region's AZ names (a context lookup the
 * CLI answers and stores in cdk.context.json); an environment-agnostic stack gets `Fn::GetAZs` instead.
 */
export class GatewayNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** The gateway function's security group: the cache admits this group only. All outbound traffic allowed. */
  readonly functionSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: GatewayNetworkProps = {}) {
    super(scope, id);
    validate(props);

    // Flow logs are the network's audit trail (cdk-nag AwsSolutions-VPC7): kept a month, and kept when the
    // stack goes, so an investigation after a teardown still has them.
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      gatewayEndpoints: {
        DynamoDb: {
          service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
          subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
        },
      },
      flowLogs: {
        FlowLog: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    this.functionSecurityGroup = new ec2.SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: this.vpc,
      description: 'LLM gateway function: reaches the cache, DynamoDB and (through NAT) upstream providers',
      allowAllOutbound: true,
    });
  }
}
