// GatewayCache (ElastiCache Serverless Valkey 9, IAM auth) in both network modes, and the GatewayNetwork of `vpc` mode.
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  type CacheNetworkModeName,
  GatewayCache,
  type GatewayCacheProps,
} from '../../lib/constructs/cache.ts';
import { GatewayNetwork, type GatewayNetworkProps } from '../../lib/constructs/network.ts';
import { nagApp, unacknowledgedFindings } from '../fixtures/nag.ts';

// The feature flags of cdk.json (e.g. restrictDefaultSecurityGroup), plus the AZs a `cdk synth` with this
// account and region would have looked up, so the tests see the template a deploy would get.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};
const ENV = { account: '123456789012', region: 'eu-west-1' };
const context = {
  ...cdkJson.context,
  [`availability-zones:account=${ENV.account}:region=${ENV.region}`]: [
    'eu-west-1a',
    'eu-west-1b',
    'eu-west-1c',
  ],
};

// Logical IDs are a contract: a new ID means a new (empty) cache and a new user the function is not granted.
const CACHE_ID = 'CacheDAF337C5';
const USER_ID = 'CacheUser72FA2B22';
const USER_GROUP_ID = 'CacheUserGroup978A79CF';
const CACHE_SG_ID = 'CacheSecurityGroup79A9F160';
const FUNCTION_SG_ID = 'NetworkFunctionSecurityGroup04BC7CB9';

interface Built {
  readonly stack: Stack;
  readonly cache: GatewayCache;
  readonly network?: GatewayNetwork;
  readonly fn: lambda.Function;
}

/** A stack with the cache (and in `vpc` mode the network) and a stand-in gateway function granted access. */
const build = (
  app: App,
  mode: CacheNetworkModeName,
  props: Partial<GatewayCacheProps> = {},
  stackName?: string,
): Built => {
  const stack = new Stack(app, 'Test', { env: ENV, stackName });
  const network = mode === 'vpc' ? new GatewayNetwork(stack, 'Network') : undefined;
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('export const handler = async () => {};'),
    // An own role without the AWS managed logging policy keeps cdk-nag's IAM4 off the stand-in.
    role: new iam.Role(stack, 'FnRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }),
    ...(network && {
      vpc: network.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [network.functionSecurityGroup],
    }),
  });
  const cache = new GatewayCache(stack, 'Cache', { mode, network, production: false, ...props });
  cache.grantConnect(fn);
  return { stack, cache, network, fn };
};

const NAME_PATTERN = /^[a-z](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;

describe('GatewayCache in public-iam mode, with defaults', () => {
  let built: Built;
  let template: Template;

  beforeAll(() => {
    // Prepare / Act
    built = build(new App({ context }), 'public-iam');
    template = Template.fromStack(built.stack);
  });

  it('keeps the logical IDs of the cache, its user and its user group', () => {
    expect(Object.keys(template.findResources('AWS::ElastiCache::ServerlessCache'))).toEqual([CACHE_ID]);
    expect(Object.keys(template.findResources('AWS::ElastiCache::User'))).toEqual([USER_ID]);
    expect(Object.keys(template.findResources('AWS::ElastiCache::UserGroup'))).toEqual([USER_GROUP_ID]);
  });

  it('is a Valkey 9 serverless cache with a public endpoint, the default usage limits and no snapshots', () => {
    template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      MajorEngineVersion: '9',
      ConnectionType: 'public',
      ServerlessCacheName: built.cache.cacheName,
      CacheUsageLimits: { DataStorage: { Maximum: 1, Unit: 'GB' }, ECPUPerSecond: { Maximum: 5000 } },
      SubnetIds: Match.absent(),
      SecurityGroupIds: Match.absent(),
      SnapshotRetentionLimit: Match.absent(),
      DailySnapshotTime: Match.absent(),
    });
  });

  it('is deleted with the stack, like its user and user group', () => {
    for (const type of ['ServerlessCache', 'User', 'UserGroup']) {
      template.hasResource(`AWS::ElastiCache::${type}`, {
        DeletionPolicy: 'Delete',
        UpdateReplacePolicy: 'Delete',
      });
    }
  });

  it('admits one IAM-auth user, named as its ID, through a Valkey user group that holds it alone', () => {
    template.hasResourceProperties('AWS::ElastiCache::User', {
      Engine: 'valkey',
      UserId: built.cache.userId,
      UserName: built.cache.userId,
      AuthenticationMode: { Type: 'iam' },
      AccessString: 'on ~* +@all',
      Passwords: Match.absent(),
      NoPasswordRequired: Match.absent(),
    });
    template.hasResourceProperties('AWS::ElastiCache::UserGroup', {
      Engine: 'valkey',
      UserIds: [{ Ref: USER_ID }],
    });
    template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      UserGroupId: { Ref: USER_GROUP_ID },
    });
  });

  it('needs no VPC and no security group', () => {
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    expect(built.cache.securityGroup).toBeUndefined();
  });

  it('exposes the endpoint as the cache attributes', () => {
    expect(built.stack.resolve(built.cache.endpointAddress)).toEqual({
      'Fn::GetAtt': [CACHE_ID, 'Endpoint.Address'],
    });
    expect(built.stack.resolve(built.cache.endpointPort)).toEqual({
      'Fn::GetAtt': [CACHE_ID, 'Endpoint.Port'],
    });
  });

  it('grantConnect sets the cache environment of the function', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          CACHE_ENDPOINT: {
            'Fn::Join': [
              '',
              [
                { 'Fn::GetAtt': [CACHE_ID, 'Endpoint.Address'] },
                ':',
                { 'Fn::GetAtt': [CACHE_ID, 'Endpoint.Port'] },
              ],
            ],
          },
          CACHE_NAME: built.cache.cacheName,
          CACHE_USER: built.cache.userId,
          CACHE_MODE: 'public-iam',
        },
      },
    });
  });

  it('grantConnect allows elasticache:Connect on this cache as this user, and nothing else', () => {
    const statements = new Capture();
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: statements },
      Roles: [{ Ref: built.stack.getLogicalId(built.fn.role?.node.defaultChild as iam.CfnRole) }],
    });
    expect(statements.asArray()).toEqual([
      {
        Effect: 'Allow',
        Action: 'elasticache:Connect',
        Resource: [{ 'Fn::GetAtt': [CACHE_ID, 'ARN'] }, { 'Fn::GetAtt': [USER_ID, 'Arn'] }],
      },
    ]);
  });
});

describe('GatewayCache in vpc mode, with props', () => {
  let built: Built;
  let template: Template;

  beforeAll(() => {
    // Prepare / Act
    built = build(new App({ context }), 'vpc', {
      production: true,
      maxDataStorageGb: 10,
      maxEcpuPerSecond: 20_000,
    });
    template = Template.fromStack(built.stack);
  });

  it('keeps the logical IDs of the cache, its user, its user group and its security group', () => {
    expect(Object.keys(template.findResources('AWS::ElastiCache::ServerlessCache'))).toEqual([CACHE_ID]);
    expect(Object.keys(template.findResources('AWS::ElastiCache::User'))).toEqual([USER_ID]);
    expect(Object.keys(template.findResources('AWS::ElastiCache::UserGroup'))).toEqual([USER_GROUP_ID]);
    expect(
      built.stack.getLogicalId(built.cache.securityGroup?.node.defaultChild as ec2.CfnSecurityGroup),
    ).toBe(CACHE_SG_ID);
  });

  it('is a VPC-only Valkey 9 cache in the private subnets, behind its own security group', () => {
    const privateSubnets = built.network?.vpc.privateSubnets.map((s) => built.stack.resolve(s.subnetId));
    expect(privateSubnets).toHaveLength(2);
    template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      MajorEngineVersion: '9',
      ConnectionType: 'vpc',
      SubnetIds: privateSubnets,
      SecurityGroupIds: [{ 'Fn::GetAtt': [CACHE_SG_ID, 'GroupId'] }],
      UserGroupId: { Ref: USER_GROUP_ID },
    });
  });

  it('applies the usage limits, and keeps one daily snapshot in production', () => {
    template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      CacheUsageLimits: { DataStorage: { Maximum: 10, Unit: 'GB' }, ECPUPerSecond: { Maximum: 20000 } },
      SnapshotRetentionLimit: 1,
      DailySnapshotTime: '04:00',
    });
    template.hasResource('AWS::ElastiCache::ServerlessCache', { DeletionPolicy: 'Delete' });
  });

  it('admits Valkey (6379) and its reader endpoint (6380) from the function security group only', () => {
    // Prepare
    const fromFunction = {
      IpProtocol: 'tcp',
      GroupId: { 'Fn::GetAtt': [CACHE_SG_ID, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [FUNCTION_SG_ID, 'GroupId'] },
    };

    // Act
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (resource) => resource.Properties,
    );
    const cacheGroup = template.findResources('AWS::EC2::SecurityGroup')[CACHE_SG_ID];

    // Assess: these two rules and nothing else; no inline rule opens the cache to anything, and the cache
    // starts no connection of its own (CDK's placeholder rule that matches no traffic is its only egress).
    expect(ingress).toEqual([
      { ...fromFunction, FromPort: 6379, ToPort: 6379, Description: 'Valkey from the gateway function' },
      {
        ...fromFunction,
        FromPort: 6380,
        ToPort: 6380,
        Description: 'Valkey reader endpoint from the gateway function',
      },
    ]);
    template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
    expect(cacheGroup?.Properties).toEqual({
      GroupDescription: 'LLM gateway cache: Valkey from the gateway function only',
      VpcId: { Ref: built.stack.getLogicalId(built.network?.vpc.node.defaultChild as ec2.CfnVPC) },
      SecurityGroupEgress: [
        {
          CidrIp: '255.255.255.255/32',
          Description: 'Disallow all traffic',
          IpProtocol: 'icmp',
          FromPort: 252,
          ToPort: 86,
        },
      ],
    });
  });

  it('grantConnect tells the function it runs in vpc mode, with the cache endpoint, name and user', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          CACHE_ENDPOINT: {
            'Fn::Join': [
              '',
              [
                { 'Fn::GetAtt': [CACHE_ID, 'Endpoint.Address'] },
                ':',
                { 'Fn::GetAtt': [CACHE_ID, 'Endpoint.Port'] },
              ],
            ],
          },
          CACHE_NAME: built.cache.cacheName,
          CACHE_USER: built.cache.userId,
          CACHE_MODE: 'vpc',
        },
      },
      VpcConfig: { SecurityGroupIds: [{ 'Fn::GetAtt': [FUNCTION_SG_ID, 'GroupId'] }] },
    });
  });

  it('grantConnect allows elasticache:Connect on this cache as this user, and nothing else, in vpc mode too', () => {
    // Act
    const role = { Ref: built.stack.getLogicalId(built.fn.role?.node.defaultChild as iam.CfnRole) };
    const policies = Object.values(template.findResources('AWS::IAM::Policy'))
      .map((resource) => resource.Properties)
      .filter((properties) => JSON.stringify(properties.Roles) === JSON.stringify([role]));

    // Assess: the security groups open the network path; IAM still authenticates the connection
    expect(policies.map((properties) => properties.PolicyDocument.Statement)).toEqual([
      [
        {
          Effect: 'Allow',
          Action: 'elasticache:Connect',
          Resource: [{ 'Fn::GetAtt': [CACHE_ID, 'ARN'] }, { 'Fn::GetAtt': [USER_ID, 'Arn'] }],
        },
      ],
    ]);
  });

  it('grantConnect refuses a function outside the network, which could not reach the cache', () => {
    // Prepare
    const outside = new lambda.Function(built.stack, 'Outside', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => {};'),
    });

    // Act / Assess
    expect(() => built.cache.grantConnect(outside)).toThrow(
      new Error(
        "`grantConnect`: in 'vpc' mode the function must run in the network's VPC with `network.functionSecurityGroup` (the only group the cache admits), got: Test/Outside",
      ),
    );
  });
});

describe('GatewayNetwork', () => {
  let template: Template;

  beforeAll(() => {
    // Prepare / Act
    template = Template.fromStack(build(new App({ context }), 'vpc').stack);
  });

  it('spans two AZs with a public and a private subnet each, and one NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 4);
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    template.hasResourceProperties('AWS::EC2::Subnet', {
      AvailabilityZone: 'eu-west-1a',
      MapPublicIpOnLaunch: false,
    });
    template.hasResourceProperties('AWS::EC2::Subnet', {
      AvailabilityZone: 'eu-west-1b',
      MapPublicIpOnLaunch: false,
    });
  });

  it('routes DynamoDB through a gateway endpoint on the private route tables', () => {
    const privateRouteTables = Object.keys(template.findResources('AWS::EC2::RouteTable')).filter((id) =>
      id.includes('PrivateSubnet'),
    );
    expect(privateRouteTables).toHaveLength(2);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.dynamodb']] },
      RouteTableIds: privateRouteTables.map((id) => ({ Ref: id })),
    });
  });

  it('logs all traffic to a log group kept for a month and retained', () => {
    const logGroup = new Capture();
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: { Ref: logGroup },
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
    });
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup'))).toContain(logGroup.asString());
  });

  it('gives the function a security group that may reach anything outbound', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^LLM gateway function'),
      SecurityGroupEgress: [
        { CidrIp: '0.0.0.0/0', Description: 'Allow all outbound traffic by default', IpProtocol: '-1' },
      ],
    });
  });

  it('applies maxAzs and natGateways', () => {
    // Prepare
    const stack = new Stack(new App({ context }), 'Test', { env: ENV });

    // Act
    new GatewayNetwork(stack, 'Network', { maxAzs: 3, natGateways: 3 });

    // Assess
    const custom = Template.fromStack(stack);
    custom.resourceCountIs('AWS::EC2::Subnet', 6);
    custom.resourceCountIs('AWS::EC2::NatGateway', 3);
  });

  it.each<[GatewayNetworkProps, string]>([
    [{ maxAzs: 1 }, '`maxAzs` must be an integer of at least 2, got: 1'],
    [{ maxAzs: 2.5 }, '`maxAzs` must be an integer of at least 2, got: 2.5'],
    [{ natGateways: 0 }, '`natGateways` must be an integer from 1 to 2 (maxAzs), got: 0'],
    [{ maxAzs: 3, natGateways: 4 }, '`natGateways` must be an integer from 1 to 3 (maxAzs), got: 4'],
  ])('rejects %j', (props, message) => {
    // Prepare
    const stack = new Stack(new App(), 'Invalid', { env: ENV });

    // Act / Assess
    expect(() => new GatewayNetwork(stack, 'Network', props)).toThrow(new Error(message));
  });
});

describe('GatewayCache physical names', () => {
  const namesOf = (stackName: string, mode: CacheNetworkModeName = 'public-iam') => {
    const { cache } = build(new App({ context }), mode, {}, stackName);
    return { cacheName: cache.cacheName, userId: cache.userId };
  };

  it('are readable, and the same at every synth so the function can be told them', () => {
    // Act
    const first = namesOf('LlmGateway-dev');
    const second = namesOf('LlmGateway-dev');

    // Assess
    expect(first).toEqual(second);
    expect(first.cacheName).toMatch(/^llmgateway-dev-cache-[0-9a-f]{8}$/);
    expect(first.userId).toMatch(/^llmgateway-dev-gateway-fn-[0-9a-f]{8}$/);
  });

  it('differ between stages, which share the construct path but not the stack name', () => {
    const dev = namesOf('LlmGateway-dev');
    const prod = namesOf('LlmGateway-prod');

    expect(prod.cacheName).not.toBe(dev.cacheName);
    expect(prod.userId).not.toBe(dev.userId);
  });

  it('change the cache name, not the user, when the mode changes, so the replacement can be created first', () => {
    const pub = namesOf('LlmGateway-dev', 'public-iam');
    const vpc = namesOf('LlmGateway-dev', 'vpc');

    expect(vpc.cacheName).not.toBe(pub.cacheName);
    expect(vpc.userId).toBe(pub.userId);
  });

  it.each(['LlmGateway-dev', `Gateway-${'x'.repeat(100)}`, 'A--B--C'])(
    'fit the ElastiCache rules for the stack name %j',
    (stackName) => {
      const { cacheName, userId } = namesOf(stackName);

      for (const name of [cacheName, userId]) {
        expect(name.length).toBeLessThanOrEqual(40);
        expect(name).toMatch(NAME_PATTERN);
      }
    },
  );
});

describe('GatewayCache props validation', () => {
  it.each<[string, (stack: Stack) => GatewayCacheProps, string]>([
    [
      'an unknown mode',
      () => ({ mode: 'off' as CacheNetworkModeName, production: false }),
      "`mode` must be one of 'public-iam', 'vpc', got: \"off\"",
    ],
    [
      'vpc mode without a network',
      () => ({ mode: 'vpc', production: false }),
      "`network` is required when `mode` is 'vpc', got: undefined",
    ],
    [
      'public-iam mode with a network',
      (stack) => ({ mode: 'public-iam', network: new GatewayNetwork(stack, 'Network'), production: false }),
      "`network` must be left out when `mode` is 'public-iam' (the cache has a public endpoint and the function no VPC), got: a GatewayNetwork",
    ],
    [
      'no storage',
      () => ({ mode: 'public-iam', maxDataStorageGb: 0, production: false }),
      '`maxDataStorageGb` must be an integer from 1 to 5000 (GB), got: 0',
    ],
    [
      'too much storage',
      () => ({ mode: 'public-iam', maxDataStorageGb: 5001, production: false }),
      '`maxDataStorageGb` must be an integer from 1 to 5000 (GB), got: 5001',
    ],
    [
      'fractional storage',
      () => ({ mode: 'public-iam', maxDataStorageGb: 1.5, production: false }),
      '`maxDataStorageGb` must be an integer from 1 to 5000 (GB), got: 1.5',
    ],
    [
      'too few ECPUs',
      () => ({ mode: 'public-iam', maxEcpuPerSecond: 999, production: false }),
      '`maxEcpuPerSecond` must be an integer from 1000 to 15000000, got: 999',
    ],
    [
      'too many ECPUs',
      () => ({ mode: 'public-iam', maxEcpuPerSecond: 15_000_001, production: false }),
      '`maxEcpuPerSecond` must be an integer from 1000 to 15000000, got: 15000001',
    ],
  ])('rejects %s', (_case, propsFor, message) => {
    // Prepare
    const stack = new Stack(new App({ context }), 'Invalid', { env: ENV });
    const props = propsFor(stack);

    // Act / Assess
    expect(() => new GatewayCache(stack, 'Cache', props)).toThrow(new Error(message));
  });

  it.each<[number, number]>([
    [1, 1000],
    [5000, 15_000_000],
  ])('accepts the bounds: %i GB and %i ECPU/s', (maxDataStorageGb, maxEcpuPerSecond) => {
    const stack = new Stack(new App({ context }), 'Bounds', { env: ENV });

    expect(
      () =>
        new GatewayCache(stack, 'Cache', {
          mode: 'public-iam',
          maxDataStorageGb,
          maxEcpuPerSecond,
          production: false,
        }),
    ).not.toThrow();
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each<CacheNetworkModeName>(['public-iam', 'vpc'])('finds nothing unacknowledged in %s mode', (mode) => {
    // Prepare
    const app = nagApp({ context });
    build(app, mode, { production: mode === 'vpc' });

    // Act
    const findings = unacknowledgedFindings(app);

    // Assess
    expect(findings).toEqual([]);
  });
});
