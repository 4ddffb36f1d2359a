// The deployment config (lib/config.ts): defaults, and a synth-stopping message for each bad field.
import { readFileSync } from 'node:fs';
import { ConfigError, GatewayConfigSchema } from '../../lambda/core/config.ts';
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
      edge: { authorizerCacheTtlSeconds: 300, wafRateLimitPer5Minutes: 2_000, wafBodyRules: 'count' },
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
      { cache: { maxEcpuPerSecond: 500 } },
      '`cache.maxEcpuPerSecond`: maxEcpuPerSecond must be an integer from 1000 to 15000000, got: 500',
    ],
    [
      { cache: { maxEcpuPerSecond: 15_000_001 } },
      '`cache.maxEcpuPerSecond`: maxEcpuPerSecond must be an integer from 1000 to 15000000, got: 15000001',
    ],
    [
      { cache: { maxDataStorageGb: 9000 } },
      '`cache.maxDataStorageGb`: maxDataStorageGb must be an integer from 1 to 5000 (GB), got: 9000',
    ],
    [
      { cache: { maxDataStorageGb: 0 } },
      '`cache.maxDataStorageGb`: maxDataStorageGb must be an integer from 1 to 5000 (GB), got: 0',
    ],
    [
      { cache: { maxDataStorageGb: '5' } },
      '`cache.maxDataStorageGb`: maxDataStorageGb must be a number, got: "5"',
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
      '`edge.wafRateLimitPer5Minutes`: wafRateLimitPer5Minutes must be an integer from 10 to 2000000000, got: 5',
    ],
    [
      { edge: { wafRateLimitPer5Minutes: 3e9 } },
      '`edge.wafRateLimitPer5Minutes`: wafRateLimitPer5Minutes must be an integer from 10 to 2000000000, got: 3000000000',
    ],
    [
      { edge: { wafBodyRules: 'allow' } },
      '`edge.wafBodyRules`: wafBodyRules must be "count" or "block", got: "allow"',
    ],
    [{ functionUrl: { auth: 'open' } }, '`functionUrl.auth`: auth must be "iam" or "none", got: "open"'],
    [
      { function: { memoryMb: 64 } },
      '`function.memoryMb`: memoryMb must be an integer from 128 to 10240 (MB), got: 64',
    ],
    [
      { function: { memoryMb: 10_241 } },
      '`function.memoryMb`: memoryMb must be an integer from 128 to 10240 (MB), got: 10241',
    ],
    [
      { function: { memoryMb: 1536.5 } },
      '`function.memoryMb`: memoryMb must be an integer from 128 to 10240 (MB), got: 1536.5',
    ],
  ])('refuses %j with a message naming the field and the value', (fields, problem) => {
    expect(problemsOf({ routes, ...fields })).toEqual([problem]);
  });

  it.each([
    [{ function: { memoryMb: 128 } }],
    [{ function: { memoryMb: 10_240 } }],
    [{ cache: { maxDataStorageGb: 5_000, maxEcpuPerSecond: 1_000 } }],
    [{ cache: { maxDataStorageGb: 1, maxEcpuPerSecond: 15_000_000 } }],
    [{ edge: { wafRateLimitPer5Minutes: 2_000_000_000, wafBodyRules: 'block' } }],
  ])('accepts the bounds AWS accepts: %j', (fields) => {
    const { deployment } = parseStackConfig({ routes, ...fields });
    for (const [section, values] of Object.entries(fields)) {
      expect(deployment[section as keyof typeof deployment]).toEqual(expect.objectContaining(values));
    }
  });

  it.each([
    [
      'a top-level typo, with the field it resembles',
      { alarmz: { email: 'oncall@example.com' } },
      '`alarmz`: unknown field (did you mean `alarms`?), got: {"email":"oncall@example.com"}',
    ],
    [
      'a stack-only section, with its fields when none resembles it',
      { function: { memorySize: 2048 } },
      '`function.memorySize`: unknown field (known fields: memoryMb, reservedConcurrency), got: 2048',
    ],
    [
      'a section both schemas read (cache: runtime TTLs and the stack mode)',
      { cache: { mode: 'off', defaultTtlSeconds: 60, ttl: 5 } },
      '`cache.ttl`: unknown field (known fields: defaultTtlSeconds, maxDataStorageGb, maxEcpuPerSecond, maxEntryBytes, maxTtlSeconds, mode, version), got: 5',
    ],
    [
      'a tier field (tiers mix runtime budgets and the stack usage plan)',
      { tiers: { default: { monthlyBudget: 5, usagePlan: { rateLimit: 5 } } } },
      '`tiers.default.monthlyBudget`: unknown field (did you mean `monthlyBudgetUsd`?), got: 5',
    ],
    [
      'a usage plan field, whatever its case',
      { tiers: { default: { usagePlan: { rateLimit: 5, burstlimit: 10 } } } },
      '`tiers.default.usagePlan.burstlimit`: unknown field (did you mean `burstLimit`?), got: 10',
    ],
    [
      'a field of a target inside the routes array',
      {
        routes: [
          {
            model: 'gpt-4o',
            targets: [{ id: 'a', provider: 'openai', baseUrl: 'https://x.test', weigth: 2 }],
          },
        ],
      },
      '`routes.0.targets.0.weigth`: unknown field (did you mean `weight`?), got: 2',
    ],
    [
      'a field of a price inside the prices record',
      { prices: { 'gpt-4o': { input: 1, output: 2, ouput: 2 } } },
      '`prices.gpt-4o.ouput`: unknown field (did you mean `output`?), got: 2',
    ],
  ])('refuses %s, naming the field', (_case, fields, problem) => {
    expect(problemsOf({ routes, ...fields })).toEqual([problem]);
  });

  it.each([
    [
      'a pattern RE2 cannot compile, even on a disabled rule',
      { name: 'r', pattern: 'a(?=b)', enabled: false, action: 'block', scope: 'request' },
      '`filters.rules.0.pattern`: error parsing regexp: invalid or unsupported Perl syntax: `(?=`, got: "a(?=b)"',
    ],
    [
      'an unbounded response rule',
      { name: 'r', pattern: 'x+', action: 'redact', scope: 'both' },
      '`filters.rules.0.pattern`: a response rule must match text of bounded length (a stream is held back by that much), so use a bounded repeat such as {1,64} instead of * or +, got: "x+"',
    ],
    [
      'a rule field typo',
      { name: 'r', pattern: 'x', action: 'block', scope: 'request', ignorecase: true },
      '`filters.rules.0.ignorecase`: unknown field (did you mean `ignoreCase`?), got: true',
    ],
  ])('fails synth for content rules: %s', (_case, rule, problem) => {
    expect(problemsOf({ routes, filters: { rules: [rule] } })).toEqual([problem]);
  });

  it('compiles the seed content rules of the project config, which ship disabled', () => {
    const config = parseStackConfig(
      JSON.parse(readFileSync(new URL('../../config/gateway.json', import.meta.url), 'utf8')),
    );
    expect(config.gateway.filters.rules.map((rule) => [rule.name, rule.enabled])).toEqual([
      ['secret-words', false],
      ['card-number', false],
      ['cloud-access-keys', false],
    ]);
  });

  it('knows every top-level field the runtime schema declares, without a list of its own', () => {
    // Prepare: every runtime section, with a value of the wrong type so that each is reported by its schema.
    const document = Object.fromEntries(Object.keys(GatewayConfigSchema.entries).map((key) => [key, 7]));

    // Act
    const problems = problemsOf({ ...document, routes });

    // Assess
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.filter((problem) => problem.includes('unknown field'))).toEqual([]);
  });

  it("accepts the configuration guide's example config document", () => {
    // Prepare
    const guide = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const example = /## The config document\s+```json\n([\s\S]*?)\n```/.exec(guide)?.[1];

    // Act / Assess
    expect(example).toBeDefined();
    expect(() => parseStackConfig(JSON.parse(example ?? ''))).not.toThrow();
  });

  it('lists every unknown field with the other problems', () => {
    expect(problemsOf({ routes, alarms: { emial: 'x' }, edge: { wafRateLimitPer5Minutes: 1 } })).toEqual([
      '`edge.wafRateLimitPer5Minutes`: wafRateLimitPer5Minutes must be an integer from 10 to 2000000000, got: 1',
      '`alarms.emial`: unknown field (did you mean `email`?), got: "x"',
    ]);
  });

  it('lists runtime and deployment problems together', () => {
    expect(problemsOf({ routes: [], cache: { mode: 'redis' } })).toEqual([
      '`routes`: routes must list at least one route, got: []',
      '`cache.mode`: mode must be one of public-iam, vpc, off, got: "redis"',
    ]);
  });
});
