// Money: request prices, worst cases, billing months, USD formatting and the invoice, checked to the micro-dollar.
import fc from 'fast-check';
import type { PriceConfig, TierConfig } from '../../lambda/core/config.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import {
  addToRollup,
  batchPriceFor,
  billingMonthOf,
  budgetResetAt,
  computeInvoice,
  costOf,
  EMPTY_ROLLUP,
  formatUsd,
  isBillingMonth,
  microUsdCeil,
  priceFor,
  snapshotFamily,
  trainingCost,
  worstCaseCost,
} from '../../lambda/core/pricing.ts';
import { type MonthlyUsage, RequestOutcome, type TokenUsage, type UsageRollup } from '../../lambda/ports.ts';

/** Prices are micro-USD per 1M tokens: 2_500_000 is $2.50 / 1M. */
const price = (input: number, output: number, extra: Partial<PriceConfig> = {}): PriceConfig => ({
  input,
  output,
  ...extra,
});
const usage = (
  inputTokens: number,
  outputTokens: number,
  cachedInputTokens = 0,
  reasoningTokens = 0,
): TokenUsage => ({ inputTokens, outputTokens, cachedInputTokens, reasoningTokens });

describe('costOf', () => {
  it.each([
    [
      // 600 × $2.50 + 400 × $1.25 + 300 × $10 + 200 × $20 per 1M = $0.0015 + $0.0005 + $0.003 + $0.004
      'prices cached input and reasoning output at their own rates',
      usage(1_000, 500, 400, 200),
      price(2_500_000, 10_000_000, { cachedInput: 1_250_000, reasoning: 20_000_000 }),
      9_000,
    ],
    [
      // 1_000 × $2.50 + 500 × $10 per 1M = $0.0025 + $0.005
      'prices cached and reasoning tokens at the base rates when the catalogue has no rate for them',
      usage(1_000, 500, 400, 200),
      price(2_500_000, 10_000_000),
      7_500,
    ],
    [
      'rounds a fraction of a micro-dollar up (1 token at $0.15 / 1M = 0.15 µ$)',
      usage(1, 0),
      price(150_000, 0),
      1,
    ],
    ['rounds the sum, not each part (3 × 0.4 µ$ = 1.2 µ$ → 2 µ$)', usage(1, 2), price(400_000, 400_000), 2],
    ['costs nothing for no tokens', usage(0, 0), price(2_500_000, 10_000_000), 0],
    [
      // (2^52 + 1) × 1.5 = 6_755_399_441_055_745.5 → …746; float arithmetic gives …745.
      'stays exact past 2^53 (2^52 + 1 tokens at $1.50 / 1M)',
      usage(4_503_599_627_370_497, 0),
      price(1_500_000, 0),
      6_755_399_441_055_746,
    ],
    [
      // All 3 input tokens count as cached and both output tokens as reasoning: 3 × 9 µ$ + 2 × 9 µ$.
      'never counts more cached than input tokens, nor more reasoning than output tokens',
      usage(3, 2, 10, 10),
      price(1_000_000, 2_000_000, { cachedInput: 9_000_000, reasoning: 9_000_000 }),
      3 * 9 + 2 * 9,
    ],
  ])('%s', (_name, tokens, catalogue, expected) => {
    // Act
    const cost = costOf(tokens, catalogue);

    // Assess
    expect(cost).toBe(expected);
  });

  it('is 0 for an unpriced model', () => {
    expect(costOf(usage(1_000_000, 1_000_000), undefined)).toBe(0);
  });
});

describe('worstCaseCost', () => {
  it.each([
    // 1_000 × $1 + 500 × $8 (reasoning, dearer than output) per 1M = $0.001 + $0.004
    ['takes the dearest output rate', price(1_000_000, 4_000_000, { reasoning: 8_000_000 }), 5_000],
    // 1_000 × $3 (cached input, dearer than input) + 500 × $4 per 1M
    ['takes the dearest input rate', price(1_000_000, 4_000_000, { cachedInput: 3_000_000 }), 5_000],
    ['uses the base rates otherwise', price(1_000_000, 4_000_000), 3_000],
  ])('%s', (_name, catalogue, expected) => {
    expect(worstCaseCost(1_000, 500, catalogue)).toBe(expected);
  });

  it('rounds up and is 0 for an unpriced model', () => {
    expect(worstCaseCost(1, 1, price(100_000, 100_000))).toBe(1);
    expect(worstCaseCost(1_000, 1_000, undefined)).toBe(0);
  });
});

describe('trainingCost', () => {
  it('prices trained tokens, and nothing without a training price', () => {
    expect(trainingCost(2_000_000, price(0, 0, { training: 25_000_000 }))).toBe(50_000_000);
    expect(trainingCost(2_000_000, price(1, 1))).toBe(0);
  });
});

describe('priceFor', () => {
  const catalogue = {
    'gpt-4o': price(1, 1),
    'gpt-4o*': price(2, 2),
    'gpt-*': price(3, 3),
    'o*': price(4, 4),
  };

  it.each([
    ['an exact name before any prefix', 'gpt-4o', 1],
    ['the longest matching prefix', 'gpt-4o-mini', 2],
    ['a shorter prefix when the longer does not match', 'gpt-3.5-turbo', 3],
    ['another family', 'o3-mini', 4],
  ])('picks %s', (_name, model, expected) => {
    expect(priceFor(model, catalogue)?.input).toBe(expected);
  });

  it('finds nothing for an unlisted model', () => {
    expect(priceFor('claude-3', catalogue)).toBeUndefined();
  });

  it.each([
    // The family of a snapshot is looked up before any prefix: gpt-4o* must not price gpt-4o-mini's snapshots.
    [
      'a dated snapshot as its family',
      'gpt-4o-mini-2024-07-18',
      { 'gpt-4o-mini': price(5, 5), 'gpt-4o*': price(2, 2) },
      5,
    ],
    [
      'a four-digit snapshot as its family',
      'gpt-3.5-turbo-0125',
      { 'gpt-3.5-turbo': price(6, 6), 'gpt-*': price(3, 3) },
      6,
    ],
    [
      'an exact snapshot entry before its family',
      'gpt-4o-2024-05-13',
      { 'gpt-4o-2024-05-13': price(7, 7), 'gpt-4o': price(1, 1) },
      7,
    ],
    ['a snapshot without a family entry by prefix', 'gpt-4o-2024-08-06', { 'gpt-*': price(3, 3) }, 3],
    ['a preview (no date) only by prefix', 'gpt-4.5-preview', { 'gpt-4o': price(1, 1) }, undefined],
  ])('prices %s', (_name, model, prices, expected) => {
    expect(priceFor(model, prices)?.input).toBe(expected);
  });

  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['o3-2025-04-16', 'o3'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-1106-preview', undefined],
    ['gpt-4o-2024-13-01', undefined],
    ['2024-08-06', undefined],
  ])('takes the family of %s to be %s', (model, family) => {
    expect(snapshotFamily(model)).toBe(family);
  });

  describe('fine-tuned models', () => {
    const base = price(150_000, 600_000, {
      cachedInput: 75_000,
      training: 3_000_000,
      maxOutputTokens: 16_384,
    });
    const prices = {
      'gpt-4o-mini': base,
      'gpt-4o': price(2_500_000, 10_000_000, { fineTunedMultiplierBps: 15_000 }),
    };

    it('cost their base model’s rates times 2 by default, found from the name, and train at the base price', () => {
      expect(priceFor('ft:gpt-4o-mini-2024-07-18:acme::abc123', prices)).toEqual({
        input: 300_000,
        cachedInput: 150_000,
        output: 1_200_000,
        training: 3_000_000,
        maxOutputTokens: 16_384,
      });
    });

    it('use the base price’s own multiplier, rounding each rate up', () => {
      expect(priceFor('ft:gpt-4o-2024-08-06:acme::x', prices)).toMatchObject({
        input: 3_750_000,
        output: 15_000_000,
      });
      expect(
        priceFor('ft:gpt-4o-mini:acme::x', {
          'gpt-4o-mini': price(1, 3, { fineTunedMultiplierBps: 15_000 }),
        }),
      ).toMatchObject({ input: 2, output: 5 });
    });

    it('take the base their ownership record names, and the original base when that is itself fine-tuned', () => {
      expect(priceFor('ft:weird-name', prices, 'gpt-4o-2024-08-06')?.input).toBe(3_750_000);
      expect(priceFor('ft:gpt-4o-mini:acme:two:def', prices, 'ft:gpt-4o-mini:acme:one:abc')?.input).toBe(
        300_000,
      );
    });

    it('have no price when their base has none, unless they are priced themselves', () => {
      expect(priceFor('ft:gpt-4.1:acme::x', prices)).toBeUndefined();
      expect(priceFor('ft:gpt-4.1:acme::x', { 'ft:gpt-4.1:acme::x': price(9, 9) })?.input).toBe(9);
    });
  });

  it('costs nothing for a model marked free', () => {
    const free = { input: 0, output: 0, free: true as const };
    expect(costOf(usage(1_000, 1_000), free)).toBe(0);
    expect(worstCaseCost(1_000, 1_000, free)).toBe(0);
  });
});

describe('batchPriceFor', () => {
  const config = (batchPercent?: number) =>
    parseGatewayConfig({
      routes: [{ model: 'gpt-4o', targets: [{ id: 'o', provider: 'openai', baseUrl: 'http://o.test/v1' }] }],
      prices: {
        'gpt-4o': {
          input: 2.5,
          cachedInput: 1.25,
          output: 10,
          reasoning: 10,
          ...(batchPercent === undefined ? {} : { batchPercent }),
        },
      },
    });

  it('halves every rate by default, for the model and its fine-tuned models', () => {
    // Act
    const prices = config().prices;
    const batch = batchPriceFor('gpt-4o', prices);
    const fineTuned = batchPriceFor('ft:gpt-4o:acme::abc', prices);

    // Assess
    expect(batch).toMatchObject({
      input: 1_250_000,
      cachedInput: 625_000,
      output: 5_000_000,
      reasoning: 5_000_000,
    });
    // Fine-tuned: twice the base (the default multiplier), then half.
    expect(fineTuned).toMatchObject({ input: 2_500_000, cachedInput: 1_250_000, output: 10_000_000 });
    expect(costOf(usage(1_000_000, 1_000_000), batch)).toBe(6_250_000);
    expect(batchPriceFor('unpriced', prices)).toBeUndefined();
  });

  it('takes the percentage the price names, rounding each rate up to the micro-dollar', () => {
    // Act
    const batch = batchPriceFor('gpt-4o', config(33.33).prices);

    // Assess: 2.5 × 33.33% = 0.833250; 1.25 × 33.33% = 0.416625
    expect(batch).toMatchObject({ input: 833_250, cachedInput: 416_625, output: 3_333_000 });
  });

  it.each([
    [-1, 'batchPercent must be at least 0'],
    [101, 'batchPercent must be at most 100'],
    [12.345, 'batchPercent must have at most 2 decimals'],
  ])('refuses a batchPercent of %s', (batchPercent, message) => {
    // Act and assess
    expect(() => config(batchPercent)).toThrow(message);
  });
});

describe('billing months', () => {
  it.each([
    [Date.UTC(2025, 11, 31, 23, 59, 59, 999), '2025-12'],
    [Date.UTC(2026, 0, 1, 0, 0, 0, 0), '2026-01'],
    [Date.UTC(2024, 1, 29, 12), '2024-02'],
  ])('puts %d in %s (UTC)', (time, month) => {
    expect(billingMonthOf(time)).toBe(month);
  });

  it.each([
    ['2025-12', '2026-01-01T00:00:00.000Z'],
    ['2024-02', '2024-03-01T00:00:00.000Z'],
    ['2025-01', '2025-02-01T00:00:00.000Z'],
  ])('resets the budget of %s at %s', (month, reset) => {
    expect(budgetResetAt(month).toISOString()).toBe(reset);
  });

  it.each([
    ['2025-01', true],
    ['2025-12', true],
    ['2025-13', false],
    ['2025-00', false],
    ['2025-1', false],
    ['25-01', false],
    ['2025-01-01', false],
  ])('%s is a billing month: %s', (text, expected) => {
    expect(isBillingMonth(text)).toBe(expected);
  });
});

describe('formatUsd', () => {
  it.each([
    [0, '$0.00'],
    [1, '$0.000001'],
    [100, '$0.0001'],
    [10_000, '$0.01'],
    [120_000, '$0.12'],
    [123_400, '$0.1234'],
    [1_500_000, '$1.50'],
    [1_234_567_891, '$1234.567891'],
    [-50_000_000, '-$50.00'],
    [-46_913_578, '-$46.913578'],
  ])('formats %d µ$ as %s', (micro, text) => {
    expect(formatUsd(micro)).toBe(text);
  });
});

describe('addToRollup', () => {
  const ended = (
    outcome: (typeof RequestOutcome)[keyof typeof RequestOutcome],
    extra: Partial<Parameters<typeof addToRollup>[1]> = {},
  ) => ({
    usage: usage(100, 50, 20, 10),
    costMicroUsd: 1_200,
    cacheHit: false,
    exact: true,
    outcome,
    ...extra,
  });

  it('adds every figure of a record, and counts it in requests whatever its outcome', () => {
    // Act
    const rollup = [
      ended(RequestOutcome.complete, { usage: { ...usage(100, 50, 20, 10), trainedTokens: 7 } }),
      ended(RequestOutcome.complete, { cacheHit: true }),
      ended(RequestOutcome.clientAbort, { exact: false, costMicroUsd: 300 }),
    ].reduce(addToRollup, EMPTY_ROLLUP);

    // Assess
    expect(rollup).toStrictEqual({
      requests: 3,
      refusedRequests: 0,
      failedRequests: 0,
      abortedRequests: 1,
      inputTokens: 300,
      cachedInputTokens: 60,
      outputTokens: 150,
      reasoningTokens: 30,
      trainedTokens: 7,
      costMicroUsd: 2_700,
      cacheHits: 1,
      estimatedRequests: 1,
    });
  });

  it.each([
    [RequestOutcome.complete, {}],
    [RequestOutcome.contentFiltered, {}],
    [RequestOutcome.rejected, { refusedRequests: 1 }],
    [RequestOutcome.upstreamError, { failedRequests: 1 }],
    [RequestOutcome.timeout, { failedRequests: 1 }],
    [RequestOutcome.clientAbort, { abortedRequests: 1 }],
  ])('counts a request of outcome %s in its outcome counter', (outcome, counts) => {
    // Act
    const { refusedRequests, failedRequests, abortedRequests, requests } = addToRollup(
      EMPTY_ROLLUP,
      ended(outcome),
    );

    // Assess
    expect({ requests, refusedRequests, failedRequests, abortedRequests }).toStrictEqual({
      requests: 1,
      refusedRequests: 0,
      failedRequests: 0,
      abortedRequests: 0,
      ...counts,
    });
  });
});

describe('computeInvoice', () => {
  /** $500 and $1,000 bands (10% and 20% off the part above each) and a $1,000 monthly commitment. */
  const pro: TierConfig = {
    monthlyBudgetMicroUsd: 5_000_000_000,
    models: undefined,
    volumeDiscounts: [
      { aboveMicroUsd: 500_000_000, percentOffBps: 1_000 },
      { aboveMicroUsd: 1_000_000_000, percentOffBps: 2_000 },
    ],
    commitmentMicroUsd: 1_000_000_000,
    cache: 'deterministic',
    billCacheHits: false,
  };
  const rollup = (costMicroUsd: number, requests = 1): UsageRollup => ({
    ...EMPTY_ROLLUP,
    costMicroUsd,
    requests,
  });
  const monthly = (byModel: Record<string, UsageRollup>): MonthlyUsage => {
    const rollups = Object.values(byModel);
    return {
      total: {
        ...EMPTY_ROLLUP,
        requests: rollups.reduce((sum, r) => sum + r.requests, 0),
        costMicroUsd: rollups.reduce((sum, r) => sum + r.costMicroUsd, 0),
      },
      byModel: new Map(Object.entries(byModel)),
    };
  };

  it('applies the volume bands marginally and bills the overage above the commitment', () => {
    // Prepare: worked by hand —
    //   gpt-4o-mini  $234.567891
    //   gpt-4o      $1000.000000
    //   list subtotal                          $1234.567891
    //   band $500–$1000, 10% off $500.000000    -$50.000000
    //   band above $1000, 20% off $234.567891   -$46.913578   (46.9135782, rounded down)
    //   usage after discounts                  $1137.654313   (1234.567891 − 96.913578)
    //   commitment $1000.000000 → overage $137.654313, unused commitment $0, total $1137.654313
    const usageOfMonth = monthly({
      'gpt-4o': rollup(1_000_000_000, 7),
      'gpt-4o-mini': rollup(234_567_891, 3),
    });

    // Act
    const invoice = computeInvoice('acme', '2025-05', 'pro', pro, usageOfMonth);

    // Assess
    expect(invoice).toEqual({
      tenantId: 'acme',
      month: '2025-05',
      tier: 'pro',
      lines: [
        { model: 'gpt-4o', usage: rollup(1_000_000_000, 7), costMicroUsd: 1_000_000_000 },
        { model: 'gpt-4o-mini', usage: rollup(234_567_891, 3), costMicroUsd: 234_567_891 },
      ],
      listMicroUsd: 1_234_567_891,
      bands: [
        {
          aboveMicroUsd: 500_000_000,
          uptoMicroUsd: 1_000_000_000,
          percentOffBps: 1_000,
          amountMicroUsd: 500_000_000,
          discountMicroUsd: 50_000_000,
        },
        {
          aboveMicroUsd: 1_000_000_000,
          uptoMicroUsd: undefined,
          percentOffBps: 2_000,
          amountMicroUsd: 234_567_891,
          discountMicroUsd: 46_913_578,
        },
      ],
      discountMicroUsd: 96_913_578,
      usageMicroUsd: 1_137_654_313,
      commitmentMicroUsd: 1_000_000_000,
      overageMicroUsd: 137_654_313,
      unusedCommitmentMicroUsd: 0,
      totalMicroUsd: 1_137_654_313,
    });
  });

  it('bills the whole commitment when the usage stays under it', () => {
    // Prepare: worked by hand —
    //   list subtotal                          $800.000001
    //   band $500–$1000, 10% off $300.000001    -$30.000000   (30.0000001, rounded down)
    //   band above $1000: nothing in it           $0
    //   usage after discounts                  $770.000001
    //   commitment $1000 → overage $0, unused commitment $229.999999, total $1000.000000
    const usageOfMonth = monthly({ 'gpt-4o': rollup(800_000_001) });

    // Act
    const invoice = computeInvoice('acme', '2025-06', 'pro', pro, usageOfMonth);

    // Assess
    expect(invoice.listMicroUsd).toBe(800_000_001);
    expect(invoice.bands.map((band) => [band.amountMicroUsd, band.discountMicroUsd])).toEqual([
      [300_000_001, 30_000_000],
      [0, 0],
    ]);
    expect(invoice.discountMicroUsd).toBe(30_000_000);
    expect(invoice.usageMicroUsd).toBe(770_000_001);
    expect(invoice.overageMicroUsd).toBe(0);
    expect(invoice.unusedCommitmentMicroUsd).toBe(229_999_999);
    expect(invoice.totalMicroUsd).toBe(1_000_000_000);
  });

  it('bills the list price when the tier has no bands and no commitment, and nothing for no usage', () => {
    // Prepare
    const plain: TierConfig = { ...pro, volumeDiscounts: [], commitmentMicroUsd: 0 };

    // Act
    const used = computeInvoice('t', '2025-05', 'default', plain, monthly({ 'gpt-4o': rollup(1_234_567) }));
    const unused = computeInvoice('t', '2025-05', 'default', plain, monthly({}));

    // Assess
    expect([used.bands, used.discountMicroUsd, used.totalMicroUsd]).toEqual([[], 0, 1_234_567]);
    expect([unused.lines, unused.listMicroUsd, unused.totalMicroUsd]).toEqual([[], 0, 0]);
  });
});

describe('microUsdCeil', () => {
  /** The exact answer, in BigInt whatever the sizes. */
  const reference = (parts: ReadonlyArray<readonly [number, number]>): number => {
    const pico = parts.reduce((sum, [tokens, price]) => sum + BigInt(tokens) * BigInt(price), 0n);
    return Number((pico + 999_999n) / 1_000_000n);
  };

  it('rounds Σ tokens × price / 1M up to the micro-dollar exactly, small sums and sums past 2^53 alike', () => {
    const count = fc.oneof(
      fc.integer({ min: 0, max: 2_000_000 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    const price = fc.oneof(
      fc.integer({ min: 0, max: 200_000_000 }),
      fc.constantFrom(0, 1, 999_999, 1_000_000, 1_000_001),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(count, price), { maxLength: 5 }), (parts) => {
        expect(microUsdCeil(parts)).toBe(reference(parts));
      }),
      { numRuns: 2_000 },
    );
    expect(microUsdCeil([[1, 1]])).toBe(1);
    expect(microUsdCeil([[1_000_000, 1]])).toBe(1);
    expect(microUsdCeil([[1_000_001, 1]])).toBe(2);
    expect(microUsdCeil([])).toBe(0);
  });
});

describe('prompt-cache writes', () => {
  // Anthropic-style rates (micro-USD per 1M): input 3, cache reads 0.3, cache writes 3.75, output 15
  const claude = price(3_000_000, 15_000_000, { cachedInput: 300_000, cacheWrite: 3_750_000 });

  it('prices written tokens at cacheWrite, read tokens at cachedInput and the rest of the input at input', () => {
    // 100 plain + 1,000 read + 2,000 written input tokens, 50 output tokens
    const usage = {
      inputTokens: 3_100,
      cachedInputTokens: 1_000,
      cacheWriteTokens: 2_000,
      outputTokens: 50,
      reasoningTokens: 0,
    };
    expect(costOf(usage, claude)).toBe(300 + 300 + 7_500 + 750);
    // Without a cacheWrite price, writes cost the input price.
    expect(costOf(usage, price(3_000_000, 15_000_000, { cachedInput: 300_000 }))).toBe(
      300 + 300 + 6_000 + 750,
    );
    // Writes never count more input than there is.
    expect(costOf({ ...usage, cacheWriteTokens: 99_999 }, claude)).toBe(300 + 7_875 + 750);
  });

  it('holds the worst case at the dearest input rate, cache writes included', () => {
    expect(worstCaseCost(1_000_000, 0, claude)).toBe(3_750_000);
  });
});
