// The deployment config (lib/config.ts): defaults, and a synth-stopping message for each bad field.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../lambda/core/config.ts';
import { parseStackConfig } from '../../lib/config.ts';

const routes = [
  {
    model: 'gpt-4o',
    targets: [
      { id: 'a', provider: 'openai', baseUrl: 'https://api.openai.com/v1', secretName: 'openai-api-key' },
      { id: 'b', provider: 'openai-compatible', baseUrl: 'http://10.0.0.5:8000/v1' },
    ],
  },
  {
    model: 'gpt-4o-mini',
    targets: [
      { id: 'c', provider: 'openai', baseUrl: 'https://api.openai.com/v1', secretName: 'openai-api-key' },
    ],
  },
];

const problemsOf = (document: unknown): readonly string[] => {
  try {
    parseStackConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('parseStackConfig', () => {
  it('fills in the deployment defaults and gives every tier a usage plan', () => {
    // Act
    const config = parseStackConfig({
      routes,
      tiers: { default: {}, pro: { usagePlan: { rateLimit: 200, burstLimit: 400 } } },
    });

    // Assess
    expect(config.deployment).toEqual({
      tiers: {
        default: { usagePlan: { rateLimit: 50, burstLimit: 100 } },
        pro: { usagePlan: { rateLimit: 200, burstLimit: 400 } },
      },
      allowlist: [],
      cache: { mode: 'public-iam', maxDataStorageGb: 1, maxEcpuPerSecond: 5_000 },
      function: { memoryMb: 1024 },
      functionUrl: { auth: 'iam' },
      edge: { authorizerCacheTtlSeconds: 300, wafRateLimitPer5Minutes: 2_000 },
      alarms: { latencyP99Ms: 30_000 },
    });
    expect(config.upstreamSecretNames).toEqual(['openai-api-key']);
    expect(Object.keys(config.gateway.tiers)).toEqual(['default', 'pro']);
  });

  it('writes a bare allowlist address as a host prefix', () => {
    const config = parseStackConfig({ routes, allowlist: ['203.0.113.7', '2001:db8::1', '10.0.0.0/8'] });
    expect(config.deployment.allowlist).toEqual(['203.0.113.7/32', '2001:db8::1/128', '10.0.0.0/8']);
  });

  it('reads the project config file', () => {
    const config = parseStackConfig(
      JSON.parse(readFileSync(new URL('../../config/gateway.json', import.meta.url), 'utf8')),
    );
    expect(Object.keys(config.deployment.tiers).sort()).toEqual(Object.keys(config.gateway.tiers).sort());
  });

  it.each([
    [
      { allowlist: ['10.0.0.0/33'] },
      '`allowlist.0`: allowlist entries must be IPv4 or IPv6 CIDRs (e.g. 203.0.113.0/24, 2001:db8::/32), got: "10.0.0.0/33"',
    ],
    [{ cache: { mode: 'redis' } }, '`cache.mode`: mode must be one of public-iam, vpc, off, got: "redis"'],
    [
      { cache: { maxEcpuPerSecond: 0 } },
      '`cache.maxEcpuPerSecond`: maxEcpuPerSecond must be at least 1, got: 0',
    ],
    [
      { tiers: { default: { usagePlan: { rateLimit: 100, burstLimit: 10 } } } },
      '`tiers.default.usagePlan.burstLimit`: burstLimit must be at least rateLimit (100), got: 10',
    ],
    [
      { tiers: { default: { usagePlan: { quota: { limit: 10, period: 'YEAR' } } } } },
      '`tiers.default.usagePlan.quota.period`: period must be DAY, WEEK or MONTH, got: "YEAR"',
    ],
    [{ alarms: { email: 'nope' } }, '`alarms.email`: email must be an email address, got: "nope"'],
    [
      { edge: { authorizerCacheTtlSeconds: 4000 } },
      '`edge.authorizerCacheTtlSeconds`: authorizerCacheTtlSeconds must be at most 3600, got: 4000',
    ],
    [
      { edge: { wafRateLimitPer5Minutes: 5 } },
      '`edge.wafRateLimitPer5Minutes`: wafRateLimitPer5Minutes must be at least 10, got: 5',
    ],
    [{ functionUrl: { auth: 'open' } }, '`functionUrl.auth`: auth must be "iam" or "none", got: "open"'],
    [{ function: { memoryMb: 0 } }, '`function.memoryMb`: memoryMb must be at least 1, got: 0'],
  ])('refuses %j with a message naming the field and the value', (fields, problem) => {
    expect(problemsOf({ routes, ...fields })).toEqual([problem]);
  });

  it('lists runtime and deployment problems together', () => {
    expect(problemsOf({ routes: [], cache: { mode: 'redis' } })).toEqual([
      '`routes`: routes must list at least one route, got: []',
      '`cache.mode`: mode must be one of public-iam, vpc, off, got: "redis"',
    ]);
  });
});
