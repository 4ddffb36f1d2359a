// The response cache: ElastiCache Serverless for Valkey 9 behind IAM auth, reached publicly (TLS) or inside the VPC.
import { createHash } from 'node:crypto';
import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { EnvVar } from '../../lambda/environment.ts';
import { CACHE_ECPU_PER_SECOND, CACHE_STORAGE_GB } from '../service-limits.ts';
import type { GatewayNetwork } from './network.ts';

/** How the function reaches the cache. The config's third mode, `off`, means no GatewayCache at all. */
export const CacheNetworkMode = {
  /** Public endpoint, IAM auth and TLS mandatory; the function stays outside any VPC (no NAT to pay for). */
  publicIam: 'public-iam',
  /** VPC-only endpoint in the private subnets, reachable from the function's security group alone. */
  vpc: 'vpc',
} as const;
export type CacheNetworkModeName = (typeof CacheNetworkMode)[keyof typeof CacheNetworkMode];

export interface GatewayCacheProps {
  readonly mode: CacheNetworkModeName;
  /**
   * The VPC and the function's security group; required in `vpc` mode, and must be left out otherwise.
   * @default - none: only valid in `public-iam` mode
   */
  readonly network?: GatewayNetwork;
  /**
   * Usage limit: the most data the cache holds, in GB. Past it, Valkey evicts keys (a response cache can lose
   * any entry), which also caps the storage bill.
   * @default 1
   */
  readonly maxDataStorageGb?: number;
  /**
   * Usage limit: the most ElastiCache Processing Units per second; beyond it requests are throttled.
   * @default 5000
   */
  readonly maxEcpuPerSecond?: number;
  /**
   * A production cache keeps one daily snapshot (retained one day) to seed a replacement by hand; other stages
   * keep none. Every stage deletes the cache with the stack (see the class comment).
   */
  readonly production: boolean;
}

const { min: STORAGE_MIN_GB, max: STORAGE_MAX_GB } = CACHE_STORAGE_GB;
const { min: ECPU_MIN, max: ECPU_MAX } = CACHE_ECPU_PER_SECOND;
/** Valkey on the primary endpoint; serverless caches serve reads from replicas on the next port. */
const PRIMARY_PORT = 6379;
const READER_PORT = 6380;
/** Cache names, user IDs and user group IDs: lowercase letters, digits and single hyphens, at most 40. */
const MAX_NAME_LENGTH = 40;

const validate = (props: GatewayCacheProps): void => {
  const modes: readonly string[] = Object.values(CacheNetworkMode);
  if (!modes.includes(props.mode)) {
    throw new Error(
      `\`mode\` must be one of ${modes.map((m) => `'${m}'`).join(', ')}, got: ${JSON.stringify(props.mode)}`,
    );
  }
  if (props.mode === CacheNetworkMode.vpc && props.network === undefined) {
    throw new Error("`network` is required when `mode` is 'vpc', got: undefined");
  }
  if (props.mode === CacheNetworkMode.publicIam && props.network !== undefined) {
    throw new Error(
      "`network` must be left out when `mode` is 'public-iam' (the cache has a public endpoint and the function no VPC), got: a GatewayNetwork",
    );
  }
  const { maxDataStorageGb, maxEcpuPerSecond } = props;
  const outside = (value: number, min: number, max: number): boolean =>
    !Token.isUnresolved(value) && (!Number.isInteger(value) || value < min || value > max);
  if (maxDataStorageGb !== undefined && outside(maxDataStorageGb, STORAGE_MIN_GB, STORAGE_MAX_GB)) {
    throw new Error(
      `\`maxDataStorageGb\` must be an integer from ${STORAGE_MIN_GB} to ${STORAGE_MAX_GB} (GB), got: ${maxDataStorageGb}`,
    );
  }
  if (maxEcpuPerSecond !== undefined && outside(maxEcpuPerSecond, ECPU_MIN, ECPU_MAX)) {
    throw new Error(
      `\`maxEcpuPerSecond\` must be an integer from ${ECPU_MIN} to ${ECPU_MAX}, got: ${maxEcpuPerSecond}`,
    );
  }
};

/**
 * A physical name that is the same at every synth (the function must know its user ID and cache name before
 * deploy, so nothing random) and differs per stack: stages share the construct path but not the stack name,
 * and these names are unique per account and region. `salt` changes the name when a create-only property
 * changes, so CloudFormation can create the replacement before it deletes the original.
 */
const physicalName = (scope: Construct, kind: string, salt = ''): string => {
  const stackName = Stack.of(scope).stackName;
  const hash = createHash('sha256')
    .update(`${stackName}/${scope.node.path}/${salt}`)
    .digest('hex')
    .slice(0, 8);
  const slug = Token.isUnresolved(stackName)
    ? ''
    : stackName
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^[^a-z]+/, '');
  const suffix = `${kind}-${hash}`;
  const prefix = slug.slice(0, MAX_NAME_LENGTH - suffix.length - 1).replace(/-+$/, '');
  return prefix === '' ? suffix : `${prefix}-${suffix}`;
};

/**
 * ElastiCache Serverless is cluster-mode only and always TLS. Access goes through one IAM-auth ElastiCache user:
 * the function signs a 15-minute token with its role (`elasticache:Connect` on the cache and the user), so no
 * password exists anywhere. Its user group holds that user alone: a public endpoint requires every user of
 * the group to use IAM auth, and Valkey user groups (unlike Redis OSS ones) need no `default` user.
 *
 * The cache holds only what can be rebuilt (cached responses, circuit-breaker state), so every stage DESTROYs
 * it with the stack: retaining it would keep billing for data nobody reads, and a new cache warms up from
 * upstream responses within minutes.
 */
export class GatewayCache extends Construct {
  readonly mode: CacheNetworkModeName;
  /** The cache's host name (a token at synth). */
  readonly endpointAddress: string;
  /** The cache's port (a token at synth; 6379). */
  readonly endpointPort: string;
  /** The serverless cache name, lowercase: IAM auth tokens are signed for it. */
  readonly cacheName: string;
  /** The ElastiCache user ID (equal to its user name, as IAM auth requires) the function authenticates as. */
  readonly userId: string;
  /** The cache's security group in `vpc` mode. */
  readonly securityGroup?: ec2.SecurityGroup;
  private readonly cache: elasticache.CfnServerlessCache;
  private readonly user: elasticache.CfnUser;
  private readonly network?: GatewayNetwork;

  constructor(scope: Construct, id: string, props: GatewayCacheProps) {
    super(scope, id);
    validate(props);
    this.mode = props.mode;
    this.network = props.network;
    const connectionType = props.mode === CacheNetworkMode.vpc ? 'vpc' : 'public';

    this.userId = physicalName(this, 'gateway-fn');
    this.user = new elasticache.CfnUser(this, 'User', {
      engine: 'valkey',
      userId: this.userId,
      userName: this.userId,
      authenticationMode: { Type: 'iam' },
      // The cache serves this gateway alone, and serverless caches already refuse administrative commands;
      // narrower ACL categories risk breaking the client's cluster discovery (CLUSTER SLOTS/SHARDS, INFO).
      accessString: 'on ~* +@all',
    });
    const userGroup = new elasticache.CfnUserGroup(this, 'UserGroup', {
      engine: 'valkey',
      userGroupId: physicalName(this, 'users'),
      userIds: [this.user.ref],
    });

    let subnetIds: string[] | undefined;
    if (props.network !== undefined) {
      const { vpc, functionSecurityGroup } = props.network;
      this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc,
        description: 'LLM gateway cache: Valkey from the gateway function only',
        allowAllOutbound: false,
      });
      this.securityGroup.addIngressRule(
        functionSecurityGroup,
        ec2.Port.tcp(PRIMARY_PORT),
        'Valkey from the gateway function',
      );
      this.securityGroup.addIngressRule(
        functionSecurityGroup,
        ec2.Port.tcp(READER_PORT),
        'Valkey reader endpoint from the gateway function',
      );
      subnetIds = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds;
    }

    // ConnectionType and SubnetIds are create-only: switching mode replaces the cache, under a new name.
    this.cacheName = physicalName(this, 'cache', connectionType);
    this.cache = new elasticache.CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: this.cacheName,
      description: 'LLM gateway response cache',
      engine: 'valkey',
      majorEngineVersion: '9',
      connectionType,
      userGroupId: userGroup.ref,
      subnetIds,
      securityGroupIds: this.securityGroup ? [this.securityGroup.securityGroupId] : undefined,
      cacheUsageLimits: {
        dataStorage: { maximum: props.maxDataStorageGb ?? 1, unit: 'GB' },
        ecpuPerSecond: { maximum: props.maxEcpuPerSecond ?? 5_000 },
      },
      // Snapshots cost storage and copy tenants' cached answers; only production keeps one, for a day.
      ...(props.production ? { snapshotRetentionLimit: 1, dailySnapshotTime: '04:00' } : {}),
    });
    for (const resource of [this.cache, userGroup, this.user])
      resource.applyRemovalPolicy(RemovalPolicy.DESTROY);

    this.endpointAddress = this.cache.attrEndpointAddress;
    this.endpointPort = this.cache.attrEndpointPort;
  }

  /**
   * The gateway function: `CACHE_ENDPOINT` (`host:port`), `CACHE_NAME`, `CACHE_USER` and `CACHE_MODE`, and
   * `elasticache:Connect` on this cache as this user (what signing an IAM auth token needs). In `vpc` mode the
   * function must already run in the network's VPC with its function security group.
   */
  grantConnect(fn: lambda.Function): void {
    if (this.network !== undefined) {
      const inGroup =
        fn.isBoundToVpc && fn.connections.securityGroups.includes(this.network.functionSecurityGroup);
      if (!inGroup) {
        throw new Error(
          `\`grantConnect\`: in 'vpc' mode the function must run in the network's VPC with \`network.functionSecurityGroup\` (the only group the cache admits), got: ${fn.node.path}`,
        );
      }
    }
    fn.addEnvironment(EnvVar.CACHE_ENDPOINT, `${this.endpointAddress}:${this.endpointPort}`);
    fn.addEnvironment(EnvVar.CACHE_NAME, this.cacheName);
    fn.addEnvironment(EnvVar.CACHE_USER, this.userId);
    fn.addEnvironment(EnvVar.CACHE_MODE, this.mode);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['elasticache:Connect'],
        resources: [this.cache.attrArn, this.user.attrArn],
      }),
    );
  }
}
