// The WAF web ACL in front of the API Gateway stage: per-IP rate limit, AWS managed rules, optional IP allowlist, logs.
import { ArnFormat, Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { isCidr } from '../../lambda/core/keys.ts';
import { WAF_RATE_LIMIT } from '../service-limits.ts';

/** What the common rule set's body-inspecting content rules do on a match. */
export const WafBodyRules = { count: 'count', block: 'block' } as const;
export type WafBodyRuleAction = (typeof WafBodyRules)[keyof typeof WafBodyRules];

/**
 * The rules of `AWSManagedRulesCommonRuleSet` that inspect the request body for attack patterns (AWS WAF
 * developer guide, "Core rule set (CRS) managed rule group"). A prompt is text, not markup or a path: asking
 * about code puts `<script>`, `../../etc/passwd`, `http://…` or `169.254.169.254` in it legitimately.
 */
export const COMMON_RULE_SET_BODY_CONTENT_RULES = [
  'CrossSiteScripting_BODY',
  'GenericLFI_BODY',
  'GenericRFI_BODY',
  'EC2MetaDataSSRF_BODY',
] as const;

export interface GatewayWafProps {
  /**
   * ARN of the API Gateway stage to protect (`stage.stageArn`:
   * `arn:aws:apigateway:<region>::/restapis/<id>/stages/<stage>`).
   */
  readonly stageArn: string;
  /**
   * CIDRs (IPv4 and IPv6) that may call the API; every other address is blocked. A single address without a
   * prefix length stands for that host (/32 or /128).
   * @default - no allowlist: all IPs pass
   */
  readonly allowlist?: readonly string[];
  /**
   * Requests one client IP may send in a 5-minute window before WAF blocks it.
   * @default 2000
   */
  readonly rateLimitPer5Minutes?: number;
  /**
   * What the common rule set's body content rules (`COMMON_RULE_SET_BODY_CONTENT_RULES`) do on a match:
   * `count` records the match (in metrics, sampled requests and the WAF log) and lets the request through,
   * `block` refuses it. `SizeRestrictions_BODY` is counted either way, since ordinary prompts exceed 8 KB.
   * @default 'count' - prompts about code match these rules; the gateway's content filters judge prompts
   */
  readonly bodyRules?: WafBodyRuleAction;
  /**
   * How long WAF's request logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

const { min: RATE_LIMIT_MIN, max: RATE_LIMIT_MAX } = WAF_RATE_LIMIT;
/** WAF only delivers logs to destinations whose name starts with this. */
const LOG_GROUP_PREFIX = 'aws-waf-logs-';
const LOG_GROUP_NAME_MAX = 512;
/** Request headers that carry gateway keys: kept out of WAF's logs. */
const REDACTED_HEADERS = ['authorization', 'x-api-key'] as const;

type Family = 'IPV4' | 'IPV6';

interface Cidr {
  readonly family: Family;
  readonly text: string;
}

const ipv4Value = (address: string): bigint =>
  address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);

/** The 128-bit value of an IPv6 address (with `::` and an optional dotted IPv4 tail). */
const ipv6Value = (address: string): bigint => {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Value(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
};

const formatAddress = (value: bigint, family: Family): string => {
  if (family === 'IPV4') return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 0xffn).join('.');
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  // The URL parser prints an IPv6 host in its canonical, compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
};

/**
 * Parses allowlist entry `index` into what a WAF IP set accepts, or throws naming the entry. WAF refuses /0 and
 * ranges with bits set after the prefix (`10.0.0.1/24`) at deploy time; failing at synth names the entry instead.
 */
const parseCidr = (entry: string, index: number): Cidr => {
  const field = `\`allowlist.${index}\``;
  if (!isCidr(entry)) {
    throw new Error(`${field} must be an IPv4 or IPv6 CIDR, got: ${JSON.stringify(entry)}`);
  }
  const [address = '', bits] = entry.split('/');
  const family: Family = address.includes(':') ? 'IPV6' : 'IPV4';
  const width = family === 'IPV4' ? 32 : 128;
  const prefix = bits === undefined ? width : Number(bits);
  if (prefix === 0) {
    throw new Error(
      `${field} must not be a /0 range (WAF rejects it; leave the allowlist empty to let every address pass), got: ${JSON.stringify(entry)}`,
    );
  }
  // An IPv4 client reaches WAF with an IPv4 address, to be looked up in the IPv4 set, not the IPv6 one.
  if (family === 'IPV6' && address.toLowerCase().startsWith('::ffff:')) {
    const v4 = formatAddress(ipv6Value(address) & 0xffffffffn, 'IPV4');
    throw new Error(
      `${field} must be written as IPv4, not as an IPv4-mapped IPv6 address, got: ${JSON.stringify(entry)}; use "${v4}/${prefix - 96}"`,
    );
  }
  const value = family === 'IPV4' ? ipv4Value(address) : ipv6Value(address);
  const hostMask = (1n << BigInt(width - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = `${formatAddress(value & ~hostMask, family)}/${prefix}`;
    throw new Error(
      `${field} must have no address bits set after the prefix length (WAF rejects it), got: ${JSON.stringify(entry)}; use "${network}"`,
    );
  }
  return { family, text: `${address}/${prefix}` };
};

const validateRateLimit = (limit: number): void => {
  if (
    !Token.isUnresolved(limit) &&
    (!Number.isInteger(limit) || limit < RATE_LIMIT_MIN || limit > RATE_LIMIT_MAX)
  ) {
    throw new Error(
      `\`rateLimitPer5Minutes\` must be an integer from ${RATE_LIMIT_MIN} to ${RATE_LIMIT_MAX} (WAF's bounds for a rate-based rule), got: ${limit}`,
    );
  }
};

const validateBodyRules = (bodyRules: string): void => {
  const actions: readonly string[] = Object.values(WafBodyRules);
  if (!actions.includes(bodyRules)) {
    throw new Error(
      `\`bodyRules\` must be one of ${actions.map((a) => `'${a}'`).join(', ')}, got: ${JSON.stringify(bodyRules)}`,
    );
  }
};

const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
  cloudWatchMetricsEnabled: true,
  sampledRequestsEnabled: true,
  metricName,
});

const managedRuleGroup = (
  name: string,
  priority: number,
  ruleActionOverrides?: wafv2.CfnWebACL.RuleActionOverrideProperty[],
): wafv2.CfnWebACL.RuleProperty => ({
  name,
  priority,
  // `none`: the group's own actions apply (block), apart from the rule-level overrides.
  overrideAction: { none: {} },
  statement: { managedRuleGroupStatement: { vendorName: 'AWS', name, ruleActionOverrides } },
  visibilityConfig: visibility(name),
});

/**
 * A REGIONAL web ACL associated with the API stage. Rules run in priority order and the first terminating
 * action wins, so the order is the policy:
 *   0. `RateLimitPerIp` blocks a client IP above `rateLimitPer5Minutes`;
 *   1. `AWSManagedRulesCommonRuleSet` (OWASP-style checks), with `SizeRestrictions_BODY` only counted: it blocks
 *      bodies over 8 KB, and ordinary prompts are larger; its body content rules are counted too unless
 *      `bodyRules` is `block`;
 *   2. `AWSManagedRulesKnownBadInputsRuleSet` (exploit payloads such as Log4Shell);
 *   3. with an allowlist only, `Allowlist` allows the listed CIDRs.
 * The default action is Block with an allowlist and Allow without one. An allowlisted IP is therefore still
 * rate-limited and filtered by the managed rules before it is allowed, and any other IP falls to the default
 * Block. Without an allowlist, whatever passes rules 0-2 is allowed.
 */
export class GatewayWaf extends Construct {
  readonly webAcl: wafv2.CfnWebACL;
  readonly logGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: GatewayWafProps) {
    super(scope, id);
    const rateLimit = props.rateLimitPer5Minutes ?? 2000;
    validateRateLimit(rateLimit);
    const bodyRules = props.bodyRules ?? WafBodyRules.count;
    validateBodyRules(bodyRules);
    const counted = [
      'SizeRestrictions_BODY',
      ...(bodyRules === WafBodyRules.count ? COMMON_RULE_SET_BODY_CONTENT_RULES : []),
    ];
    const cidrs = (props.allowlist ?? []).map(parseCidr);

    const rules: wafv2.CfnWebACL.RuleProperty[] = [
      {
        name: 'RateLimitPerIp',
        priority: 0,
        action: { block: {} },
        statement: {
          rateBasedStatement: { aggregateKeyType: 'IP', limit: rateLimit, evaluationWindowSec: 300 },
        },
        visibilityConfig: visibility('RateLimitPerIp'),
      },
      managedRuleGroup(
        'AWSManagedRulesCommonRuleSet',
        1,
        counted.map((name) => ({ name, actionToUse: { count: {} } })),
      ),
      managedRuleGroup('AWSManagedRulesKnownBadInputsRuleSet', 2),
    ];
    const allowlisted = this.allowlistStatement(cidrs);
    if (allowlisted !== undefined) {
      rules.push({
        name: 'Allowlist',
        priority: rules.length,
        action: { allow: {} },
        statement: allowlisted,
        visibilityConfig: visibility('Allowlist'),
      });
    }

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: allowlisted === undefined ? { allow: {} } : { block: {} },
      rules,
      visibilityConfig: visibility('GatewayWebAcl'),
    });

    new wafv2.CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: props.stageArn,
      webAclArn: this.webAcl.attrArn,
    });

    // uniqueResourceName, unlike uniqueId, includes the stack name: every stage's stack has the construct id
    // `LlmGateway`, and two stages may share an account and region, where log group names must be unique.
    const logGroupName = `${LOG_GROUP_PREFIX}${Names.uniqueResourceName(this, {
      separator: '-',
      allowedSpecialCharacters: '-',
      maxLength: LOG_GROUP_NAME_MAX - LOG_GROUP_PREFIX.length,
    })}`;
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      // The name is fixed, so a retained group would make the next deployment of a deleted stack fail on
      // "already exists". These are firewall diagnostics, not records the business depends on.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      // The log group's ARN without the `:*` that its CloudFormation Arn attribute ends with, as WAF documents it.
      logDestinationConfigs: [
        Stack.of(this).formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: this.logGroup.logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      redactedFields: REDACTED_HEADERS.map((name) => ({ singleHeader: { Name: name } })),
    });
  }

  /** Requests the web ACL blocked, over all rules and the default action (sum per 5 minutes unless overridden). */
  metricBlockedRequests(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/WAFV2',
      metricName: 'BlockedRequests',
      dimensionsMap: {
        // WAF names this dimension after the web ACL; CloudFormation generates the name, readable from its Ref.
        WebACL: this.webAcl.webAclRef.webAclName,
        Region: Stack.of(this).region,
        Rule: 'ALL',
      },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** An IP set per address family present, and the statement matching any of them. */
  private allowlistStatement(cidrs: readonly Cidr[]): wafv2.CfnWebACL.StatementProperty | undefined {
    const statements = (['IPV4', 'IPV6'] as const).flatMap((family) => {
      const addresses = [...new Set(cidrs.filter((c) => c.family === family).map((c) => c.text))];
      if (addresses.length === 0) return [];
      const ipSet = new wafv2.CfnIPSet(this, `Allowlist${family === 'IPV4' ? 'V4' : 'V6'}`, {
        scope: 'REGIONAL',
        ipAddressVersion: family,
        addresses,
      });
      return [{ ipSetReferenceStatement: { arn: ipSet.attrArn } }];
    });
    if (statements.length <= 1) return statements[0];
    return { orStatement: { statements } };
  }
}
