// The deployment config: the project's config document (config/gateway.json) as the stack reads it.
// The runtime part (routes, tiers, prices, …) is validated by the same parser the function uses; the
// deployment part (usage plans, allowlist, cache, alarms, …) is validated here. Both fail synth with
// every problem as `field`: message, got: value.
import { isIP } from 'node:net';
import * as v from 'valibot';
import {
  ConfigError,
  describeIssue,
  type GatewayConfig,
  parseGatewayConfig,
  positiveInt,
} from '../lambda/core/config.ts';
import { isCidr } from '../lambda/core/keys.ts';

const positiveNumber = (what: string) =>
  v.pipe(v.number(`${what} must be a number`), v.minValue(0.000001, `${what} must be above 0`));

export const CacheMode = { publicIam: 'public-iam', vpc: 'vpc', off: 'off' } as const;
export type CacheModeName = (typeof CacheMode)[keyof typeof CacheMode];

const UsagePlanSchema = v.object({
  /** Steady-state requests per second for the tier's keys (API Gateway token bucket). */
  rateLimit: v.optional(positiveNumber('rateLimit'), 50),
  burstLimit: v.optional(positiveInt('burstLimit'), 100),
  /** Requests per period; left out: no quota (budgets limit spend). */
  quota: v.optional(
    v.object({
      limit: positiveInt('limit'),
      period: v.picklist(['DAY', 'WEEK', 'MONTH'], 'period must be DAY, WEEK or MONTH'),
    }),
  ),
});

const DeploymentSchema = v.object({
  tiers: v.optional(v.record(v.string(), v.object({ usagePlan: v.optional(UsagePlanSchema, {}) })), {
    default: { usagePlan: {} },
  }),
  /** CIDRs (IPv4 and IPv6) allowed through WAF; empty: every address passes. */
  allowlist: v.optional(
    v.array(
      v.pipe(
        v.string('allowlist entries must be strings'),
        v.check(isCidr, 'allowlist entries must be IPv4 or IPv6 CIDRs (e.g. 203.0.113.0/24, 2001:db8::/32)'),
      ),
      'allowlist must be an array of CIDRs',
    ),
    [],
  ),
  cache: v.optional(
    v.object({
      mode: v.optional(
        v.picklist(Object.values(CacheMode), `mode must be one of ${Object.values(CacheMode).join(', ')}`),
        CacheMode.publicIam,
      ),
      maxDataStorageGb: v.optional(positiveInt('maxDataStorageGb'), 1),
      maxEcpuPerSecond: v.optional(positiveInt('maxEcpuPerSecond'), 5_000),
    }),
    {},
  ),
  function: v.optional(
    v.object({
      memoryMb: v.optional(positiveInt('memoryMb'), 1024),
      reservedConcurrency: v.optional(positiveInt('reservedConcurrency')),
    }),
    {},
  ),
  functionUrl: v.optional(
    v.object({ auth: v.optional(v.picklist(['iam', 'none'], 'auth must be "iam" or "none"'), 'iam') }),
    {},
  ),
  edge: v.optional(
    v.object({
      /** How long API Gateway reuses an authorizer decision per key and client IP; 0 turns caching off. */
      authorizerCacheTtlSeconds: v.optional(
        v.pipe(
          v.number('authorizerCacheTtlSeconds must be a number'),
          v.integer('authorizerCacheTtlSeconds must be an integer'),
          v.minValue(0, 'authorizerCacheTtlSeconds must be at least 0'),
          v.maxValue(3600, 'authorizerCacheTtlSeconds must be at most 3600'),
        ),
        300,
      ),
      /** WAF rate-based rule: requests per client IP per 5 minutes. */
      wafRateLimitPer5Minutes: v.optional(
        v.pipe(
          v.number('wafRateLimitPer5Minutes must be a number'),
          v.integer('wafRateLimitPer5Minutes must be an integer'),
          v.minValue(10, 'wafRateLimitPer5Minutes must be at least 10'),
        ),
        2_000,
      ),
    }),
    {},
  ),
  alarms: v.optional(
    v.object({
      email: v.optional(
        v.pipe(v.string('email must be a string'), v.email('email must be an email address')),
      ),
      latencyP99Ms: v.optional(positiveInt('latencyP99Ms'), 30_000),
    }),
    {},
  ),
});

export type Deployment = v.InferOutput<typeof DeploymentSchema>;
export type UsagePlanConfig = Deployment['tiers'][string]['usagePlan'];

export interface StackConfig {
  readonly gateway: GatewayConfig;
  readonly deployment: Deployment;
  /** Distinct secret names of the routes' targets: one Secrets Manager secret each. */
  readonly upstreamSecretNames: readonly string[];
}

/** Parses the whole document; throws one ConfigError listing the runtime and deployment problems together. */
export const parseStackConfig = (document: unknown): StackConfig => {
  const problems: string[] = [];
  let gateway: GatewayConfig | undefined;
  try {
    gateway = parseGatewayConfig(document);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const result = v.safeParse(DeploymentSchema, document);
  if (!result.success) problems.push(...result.issues.map(describeIssue));
  if (gateway !== undefined && result.success) {
    const planned = result.output.tiers;
    for (const tier of Object.keys(gateway.tiers)) {
      if (planned[tier] === undefined) planned[tier] = { usagePlan: v.parse(UsagePlanSchema, {}) };
    }
    for (const [tier, { usagePlan }] of Object.entries(planned)) {
      if (usagePlan.burstLimit < usagePlan.rateLimit) {
        problems.push(
          `\`tiers.${tier}.usagePlan.burstLimit\`: burstLimit must be at least rateLimit (${usagePlan.rateLimit}), got: ${usagePlan.burstLimit}`,
        );
      }
    }
    result.output.allowlist.forEach((cidr, i) => {
      // A bare address is a host: make that explicit for WAF, which wants a prefix length.
      if (!cidr.includes('/')) result.output.allowlist[i] = `${cidr}/${isIP(cidr) === 6 ? 128 : 32}`;
    });
  }
  if (problems.length > 0 || gateway === undefined || !result.success) throw new ConfigError(problems);
  const upstreamSecretNames = [
    ...new Set(
      gateway.routes.flatMap((route) =>
        route.targets.flatMap((target) => (target.secretName === undefined ? [] : [target.secretName])),
      ),
    ),
  ].sort();
  return { gateway, deployment: result.output, upstreamSecretNames };
};
