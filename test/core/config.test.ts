import { ConfigError, parseGatewayConfig } from '../../lambda/core/config.ts';

const target = { id: 't', provider: 'openai', baseUrl: 'https://api.openai.com/v1' };

const problemsOf = (input: unknown): readonly string[] => {
  try {
    parseGatewayConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('parseGatewayConfig', () => {
  it('fills in defaults', () => {
    const config = parseGatewayConfig({ routes: [{ model: 'm', targets: [target] }] });
    expect(config.routes[0]?.match).toBe('exact');
    expect(config.routes[0]?.targets[0]).toMatchObject({
      weight: 1,
      priority: 0,
      region: 'default',
      timeouts: { connectMs: 5_000, firstByteMs: 300_000, idleMs: 120_000 },
    });
    expect(config.limits).toEqual({
      maxBodyBytes: 1024 * 1024,
      maxJsonDepth: 64,
      maxArrayLength: 10_000,
      maxN: 16,
    });
    expect(config.filters).toEqual({ mask: '[REDACTED]', rules: [] });
    expect(config.retry).toEqual({ maxAttempts: 3, budgetMs: 2_000 });
    expect(config.breaker).toEqual({ failureThreshold: 5, windowMs: 30_000, cooldownMs: 30_000 });
    expect(config.streaming).toEqual({
      heartbeatMs: 15_000,
      flushPaddingBytes: 0,
      flushPaddingAfterIdleMs: 100,
    });
  });

  it.each([
    [{}, '`routes`: is required, got: undefined'],
    [
      { routes: [{ model: 'm', targets: [{ id: 't', provider: 'openai' }] }] },
      '`routes.0.targets.0.baseUrl`: is required for openai targets, got: undefined',
    ],
    [{ routes: [] }, '`routes`: routes must list at least one route, got: []'],
    [
      { routes: [{ model: 'm', targets: [{ ...target, weight: -5 }] }] },
      '`routes.0.targets.0.weight`: weight must be at least 0, got: -5',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, weight: 1.5 }] }] },
      '`routes.0.targets.0.weight`: weight must be an integer, got: 1.5',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, provider: 'vertex' }] }] },
      '`routes.0.targets.0.provider`: provider must be one of openai, azure-openai, openai-compatible, anthropic, bedrock, got: "vertex"',
    ],
    [
      { routes: [{ model: 'm', targets: [{ id: 'b', provider: 'bedrock' }] }] },
      '`routes.0.targets.0.region`: bedrock targets need the AWS region of their runtime endpoint (such as us-east-1), got: "default"',
    ],
    [
      {
        routes: [
          { model: 'm', targets: [{ ...target, provider: 'anthropic', promptCaching: { system: 'yes' } }] },
        ],
      },
      '`routes.0.targets.0.promptCaching.system`: promptCaching.system must be true or false, got: "yes"',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, provider: 'anthropic', maxTokens: 0 }] }] },
      '`routes.0.targets.0.maxTokens`: maxTokens must be at least 1, got: 0',
    ],
    [
      { routes: [{ model: 'm', targets: [target] }], prices: { m: { free: true, cacheWrite: 1 } } },
      '`prices.m.free`: a free model has no rates above 0: remove `free` or the rates, got: true',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, baseUrl: 'not a url' }] }] },
      '`routes.0.targets.0.baseUrl`: baseUrl must be an absolute URL, got: "not a url"',
    ],
    [
      { routes: [{ model: 'm', match: 'regex', targets: [target] }] },
      '`routes.0.match`: match must be "exact" or "prefix", got: "regex"',
    ],
    [{ routes: [{ model: '', targets: [target] }] }, '`routes.0.model`: model must not be empty, got: ""'],
    [
      { routes: [{ model: 'm', targets: [target] }], limits: { maxBodyBytes: 0 } },
      '`limits.maxBodyBytes`: maxBodyBytes must be at least 1, got: 0',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, timeouts: { idleMs: 'soon' } }] }] },
      '`routes.0.targets.0.timeouts.idleMs`: idleMs must be a number, got: "soon"',
    ],
    [
      { routes: [{ model: 'm', targets: [target, target] }] },
      '`routes.0.targets.1.id`: target ids must be unique, got: "t"',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, provider: 'azure-openai', model: 'dep' }] }] },
      '`routes.0.targets.0.apiVersion`: is required for azure-openai targets, got: undefined',
    ],
    [
      { routes: [{ model: 'm', targets: [{ ...target, weight: 0 }] }] },
      '`routes.0.targets`: at least one target needs a weight above 0, got: all 0',
    ],
  ])('refuses %j with a message naming the field and the value', (input, message) => {
    expect(problemsOf(input)).toEqual([message]);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({
      routes: [{ model: 'm', targets: [{ ...target, weight: -1, priority: -1 }] }],
    });
    expect(problems).toHaveLength(2);
  });
});

describe('parseGatewayConfig: tiers, prices, keys and budgets', () => {
  const routes = [{ model: 'm', targets: [target] }];

  it('turns money into integer micro-USD and percentages into basis points', () => {
    // Act
    const config = parseGatewayConfig({
      routes,
      tiers: {
        pro: {
          monthlyBudgetUsd: 12.5,
          volumeDiscounts: [{ aboveUsd: 100, percentOff: 12.5 }],
          commitmentUsd: 0.000001,
        },
      },
      prices: { m: { input: 0.075, output: 0.3 } },
    });

    // Assess
    expect(config.tiers).toEqual({
      pro: {
        monthlyBudgetMicroUsd: 12_500_000,
        models: undefined,
        volumeDiscounts: [{ aboveMicroUsd: 100_000_000, percentOffBps: 1_250 }],
        commitmentMicroUsd: 1,
        cache: 'deterministic',
        billCacheHits: false,
      },
    });
    expect(config.prices).toEqual({ m: { input: 75_000, output: 300_000 } });
  });

  it('parses a free model, and a fine-tuned multiplier in basis points', () => {
    const config = parseGatewayConfig({
      routes,
      prices: {
        local: { free: true, maxOutputTokens: 100 },
        m: { input: 1, output: 2, fineTunedMultiplier: 1.5 },
      },
    });
    expect(config.prices).toEqual({
      local: { free: true, input: 0, output: 0, maxOutputTokens: 100 },
      m: { input: 1_000_000, output: 2_000_000, fineTunedMultiplierBps: 15_000 },
    });
  });

  it('defaults to one tier without a budget, no prices, and the key and budget settings', () => {
    const config = parseGatewayConfig({ routes });
    expect(config.tiers).toEqual({
      default: {
        monthlyBudgetMicroUsd: undefined,
        models: undefined,
        volumeDiscounts: [],
        commitmentMicroUsd: 0,
        cache: 'deterministic',
        billCacheHits: false,
      },
    });
    expect(config.prices).toEqual({});
    expect(config.keys).toEqual({
      pepperSecretName: 'gateway-key-pepper',
      cacheTtlMs: 30_000,
      rotationGraceMs: 86_400_000,
    });
    expect(config.budgets).toEqual({
      defaultMaxOutputTokens: 16_384,
      inputMarginPercent: 10,
      defaultMaxInputTokens: 128_000,
      defaultImageInputTokens: 48_169,
    });
    expect(config.cache).toEqual({
      defaultTtlSeconds: 3_600,
      maxTtlSeconds: 86_400,
      maxEntryBytes: 1_048_576,
      version: 1,
    });
  });

  it.each([
    [
      { tiers: { pro: { monthlyBudgetUsd: 0.0000001 } } },
      '`tiers.pro.monthlyBudgetUsd`: monthlyBudgetUsd must have at most 6 decimals (it is kept in micro-USD), got: 1e-7',
    ],
    [
      { tiers: { pro: { monthlyBudgetUsd: -5 } } },
      '`tiers.pro.monthlyBudgetUsd`: monthlyBudgetUsd must be at least 0, got: -5',
    ],
    [
      { tiers: { pro: { volumeDiscounts: [{ aboveUsd: 100, percentOff: 120 }] } } },
      '`tiers.pro.volumeDiscounts.0.percentOff`: percentOff must be at most 100, got: 120',
    ],
    [
      {
        tiers: {
          pro: {
            volumeDiscounts: [
              { aboveUsd: 100, percentOff: 10 },
              { aboveUsd: 50, percentOff: 20 },
            ],
          },
        },
      },
      '`tiers.pro.volumeDiscounts.1.aboveUsd`: bands must be in increasing order, got: 50',
    ],
    [
      { tiers: { 'bad name': {} } },
      '`tiers.bad name`: tier names use letters, digits, "_" and "-", got: "bad name"',
    ],
    [
      { prices: { m: { input: 1 } } },
      '`prices.m.output`: is required (or mark the model `"free": true`), got: undefined',
    ],
    [
      { prices: { m: { free: true, input: 1 } } },
      '`prices.m.free`: a free model has no rates above 0: remove `free` or the rates, got: true',
    ],
    [
      { prices: { m: { free: false } } },
      '`prices.m.free`: free must be true (leave it out for a priced model), got: false',
    ],
    [
      { prices: { m: { input: 1, output: 1, fineTunedMultiplier: 0.5 } } },
      '`prices.m.fineTunedMultiplier`: fineTunedMultiplier must be at least 1, got: 0.5',
    ],
    [
      { prices: { m: { input: 1, output: 1, fineTunedMultiplier: 1.255 } } },
      '`prices.m.fineTunedMultiplier`: fineTunedMultiplier must have at most 2 decimals, got: 1.255',
    ],
    [
      { prices: { m: { input: 'cheap', output: 1 } } },
      '`prices.m.input`: input must be a number, got: "cheap"',
    ],
    [{ keys: { cacheTtlMs: -1 } }, '`keys.cacheTtlMs`: cacheTtlMs must be at least 0, got: -1'],
  ])('refuses %j with a message naming the field and the value', (fields, problem) => {
    expect(problemsOf({ routes, ...fields })).toEqual([problem]);
  });
});
