// Money: the price of a request, the worst case a budget holds for it, billing months and the invoice.
// Amounts are integer micro-USD; catalogue prices are integer micro-USD per 1M tokens.
import {
  type MonthlyUsage,
  RequestOutcome,
  type RequestOutcomeKind,
  type TokenUsage,
  type UsageRollup,
} from '../ports.ts';
import type { PriceConfig, TierConfig } from './config.ts';

const MILLION = 1_000_000n;

/** A dated snapshot's suffix: `-2024-08-06` (gpt-4o-2024-08-06) or `-0125` (gpt-3.5-turbo-0125). */
const SNAPSHOT_SUFFIX =
  /-(?:\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$/;

/** The family a dated snapshot belongs to (`gpt-4o-2024-08-06` → `gpt-4o`); undefined for other names. */
export const snapshotFamily = (model: string): string | undefined => {
  const match = SNAPSHOT_SUFFIX.exec(model);
  return match === null || match.index === 0 ? undefined : model.slice(0, match.index);
};

/** Fine-tuned models cost this many times their base model when its price names no multiplier (basis points). */
export const DEFAULT_FINE_TUNED_MULTIPLIER_BPS = 20_000;

/** The model a fine-tuned model (`ft:<base>:<org>:<suffix>:<id>`) was trained from: its name says it. */
export const fineTunedBase = (model: string): string | undefined => {
  if (!model.startsWith('ft:')) return undefined;
  const base = model.split(':')[1];
  return base === undefined || base === '' ? undefined : base;
};

type Prices = Readonly<Record<string, PriceConfig>>;

/** Exact name, then the family of a dated snapshot, then the longest `prefix*` entry. */
const catalogueEntry = (model: string, prices: Prices): PriceConfig | undefined => {
  const exact = prices[model];
  if (exact !== undefined) return exact;
  // Before prefixes: `gpt-4o*` must not price gpt-4o-mini-2024-07-18, whose family is gpt-4o-mini.
  const family = snapshotFamily(model);
  if (family !== undefined && prices[family] !== undefined) return prices[family];
  let best: { length: number; price: PriceConfig } | undefined;
  for (const [name, price] of Object.entries(prices)) {
    if (!name.endsWith('*')) continue;
    const prefix = name.slice(0, -1);
    if (model.startsWith(prefix) && (best === undefined || prefix.length > best.length))
      best = { length: prefix.length, price };
  }
  return best?.price;
};

const multiplied = (rate: number | undefined, bps: number): number | undefined =>
  rate === undefined ? undefined : Math.ceil((rate * bps) / 10_000);

/** Every inference rate of `price` times `bps` basis points, each rounded up (training is not scaled). */
const scaled = (price: PriceConfig, bps: number): PriceConfig => {
  const { cachedInput, cacheWrite, reasoning } = price;
  return {
    ...price,
    input: multiplied(price.input, bps) ?? 0,
    output: multiplied(price.output, bps) ?? 0,
    ...(cachedInput === undefined ? {} : { cachedInput: multiplied(cachedInput, bps) }),
    ...(cacheWrite === undefined ? {} : { cacheWrite: multiplied(cacheWrite, bps) }),
    ...(reasoning === undefined ? {} : { reasoning: multiplied(reasoning, bps) }),
  };
};

/**
 * The price of a model, resolved the way routes are: an exact entry, the family of a dated snapshot
 * (`gpt-4o-2024-08-06` → `gpt-4o`), then the longest `prefix*` entry. A fine-tuned model without an entry of its
 * own costs its base model's inference rates times the base price's `fineTunedMultiplier` (training is not
 * multiplied); `baseModel` is the base its ownership record names, else its name's. Undefined: not priced.
 */
export const priceFor = (model: string, prices: Prices, baseModel?: string): PriceConfig | undefined => {
  const base = fineTunedBase(model);
  if (base === undefined || prices[model] !== undefined) return catalogueEntry(model, prices);
  // A model fine-tuned from a fine-tuned model is named for (and priced as) the original base.
  const basePrice = catalogueEntry(
    baseModel !== undefined && !baseModel.startsWith('ft:') ? baseModel : base,
    prices,
  );
  if (basePrice === undefined) return undefined;
  const { fineTunedMultiplierBps: bps = DEFAULT_FINE_TUNED_MULTIPLIER_BPS, ...rest } = basePrice;
  return scaled(rest, bps);
};

/** Batch requests cost this share of the synchronous price when the model's price names none (basis points). */
export const DEFAULT_BATCH_PERCENT_BPS = 5_000;

/**
 * The price of a model's requests in a batch: every rate of its synchronous price (`priceFor`) times its
 * `batchPercent` (default 50%), rounded up to the micro-dollar per 1M tokens. Undefined: not priced.
 */
export const batchPriceFor = (model: string, prices: Prices, baseModel?: string): PriceConfig | undefined => {
  const price = priceFor(model, prices, baseModel);
  return price === undefined ? undefined : scaled(price, price.batchPercentBps ?? DEFAULT_BATCH_PERCENT_BPS);
};

/**
 * ceil(Σ tokens × price / 1M) in exact integer arithmetic: in doubles while every product and the sum are safe
 * integers (every request of a real tenant), else in BigInt (tokens × price can pass 2^53).
 */
export const microUsdCeil = (parts: ReadonlyArray<readonly [number, number]>): number => {
  let sum = 0;
  // Indexed, not `for (const [a, b] of parts)`: destructuring each pair runs the iterator protocol (two objects
  // a pair, on every request's cost and hold).
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i]!;
    const product = part[0] * part[1];
    sum += product;
    if (!Number.isSafeInteger(product) || !Number.isSafeInteger(sum)) return microUsdCeilBig(parts);
  }
  // % and the division of a multiple of 1M are exact on safe integers.
  const rest = sum % 1_000_000;
  return (sum - rest) / 1_000_000 + (rest > 0 ? 1 : 0);
};

const microUsdCeilBig = (parts: ReadonlyArray<readonly [number, number]>): number => {
  let picoUsd = 0n;
  for (const [tokens, microUsdPerMillion] of parts) picoUsd += BigInt(tokens) * BigInt(microUsdPerMillion);
  return Number((picoUsd + MILLION - 1n) / MILLION);
};

/**
 * The cost of a request's usage, rounded up to the micro-dollar. OpenAI counts cached tokens inside input
 * tokens and reasoning tokens inside output tokens (the gateway counts prompt-cache writes inside input tokens
 * too), so each is priced at its own rate and the rest at the base rate.
 */
export const costOf = (usage: TokenUsage, price: PriceConfig | undefined): number => {
  if (price === undefined) return 0;
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const written = Math.min(usage.cacheWriteTokens ?? 0, usage.inputTokens - cached);
  const reasoning = Math.min(usage.reasoningTokens, usage.outputTokens);
  return microUsdCeil([
    [usage.inputTokens - cached - written, price.input],
    [cached, price.cachedInput ?? price.input],
    [written, price.cacheWrite ?? price.input],
    [usage.outputTokens - reasoning, price.output],
    [reasoning, price.reasoning ?? price.output],
    [usage.trainedTokens ?? 0, price.training ?? 0],
  ]);
};

/** The most a request can cost: every input token at the dearest input rate, every output token at the dearest output rate. */
export const worstCaseCost = (
  inputTokens: number,
  outputTokens: number,
  price: PriceConfig | undefined,
): number => {
  if (price === undefined) return 0;
  return microUsdCeil([
    [inputTokens, Math.max(price.input, price.cachedInput ?? 0, price.cacheWrite ?? 0)],
    [outputTokens, Math.max(price.output, price.reasoning ?? 0)],
  ]);
};

/** Training cost of a fine-tuning job. */
export const trainingCost = (trainedTokens: number, price: PriceConfig | undefined): number =>
  price?.training === undefined ? 0 : microUsdCeil([[trainedTokens, price.training]]);

/** The month `billingMonthOf` answered last, and the times it covers: every request of a month reuses it. */
let lastMonth = { from: 0, until: 0, month: '' };

/** The billing month (`YYYY-MM`, UTC) of a time in ms since the epoch. */
export const billingMonthOf = (time: number): string => {
  if (time >= lastMonth.from && time < lastMonth.until) return lastMonth.month;
  const date = new Date(time);
  const month = date.toISOString().slice(0, 7);
  // A time outside the years toISOString writes as YYYY is not cached (its month has no fixed width).
  if (month.length === 7 && /^\d{4}-\d{2}$/.test(month)) {
    lastMonth = {
      from: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
      until: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
      month,
    };
  }
  return month;
};

/** When a billing month's budget resets: the first instant of the next month (UTC). */
export const budgetResetAt = (month: string): Date => {
  const [year = 0, monthNumber = 1] = month.split('-').map(Number);
  return new Date(Date.UTC(year, monthNumber, 1));
};

export const isBillingMonth = (text: string): boolean => /^\d{4}-(0[1-9]|1[0-2])$/.test(text);

/** `$12.345678` from micro-USD, with the trailing zeros of the cents kept. */
export const formatUsd = (microUsd: number): string => {
  const sign = microUsd < 0 ? '-' : '';
  const abs = Math.abs(microUsd);
  const dollars = Math.floor(abs / 1e6);
  const micros = String(abs % 1e6)
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${sign}$${dollars}.${micros.padEnd(2, '0')}`;
};

export const EMPTY_ROLLUP: UsageRollup = {
  requests: 0,
  refusedRequests: 0,
  failedRequests: 0,
  abortedRequests: 0,
  inputTokens: 0,
  cachedInputTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  trainedTokens: 0,
  costMicroUsd: 0,
  cacheHits: 0,
  estimatedRequests: 0,
};

export interface InvoiceLine {
  readonly model: string;
  readonly usage: UsageRollup;
  readonly costMicroUsd: number;
}

export interface VolumeBand {
  readonly aboveMicroUsd: number;
  readonly uptoMicroUsd: number | undefined;
  readonly percentOffBps: number;
  /** The part of the month's list-price usage inside this band. */
  readonly amountMicroUsd: number;
  readonly discountMicroUsd: number;
}

export interface Invoice {
  readonly tenantId: string;
  readonly month: string;
  readonly tier: string;
  readonly lines: readonly InvoiceLine[];
  /** Σ lines at catalogue prices. */
  readonly listMicroUsd: number;
  readonly bands: readonly VolumeBand[];
  readonly discountMicroUsd: number;
  /** List price less volume discounts. */
  readonly usageMicroUsd: number;
  readonly commitmentMicroUsd: number;
  /** Usage above the commitment. */
  readonly overageMicroUsd: number;
  /** The part of the commitment not used (billed anyway). */
  readonly unusedCommitmentMicroUsd: number;
  readonly totalMicroUsd: number;
}

/**
 * The invoice of a tenant's month from its rollups. Volume discounts are marginal bands over the month's
 * list-price usage; each band's discount is rounded down to the micro-dollar (the tenant never pays more
 * than the exact figure). The total is the commitment or the discounted usage, whichever is larger.
 */
export const computeInvoice = (
  tenantId: string,
  month: string,
  tierName: string,
  tier: TierConfig,
  usage: MonthlyUsage,
): Invoice => {
  const lines = [...usage.byModel.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([model, rollup]) => ({ model, usage: rollup, costMicroUsd: rollup.costMicroUsd }));
  const listMicroUsd = lines.reduce((sum, line) => sum + line.costMicroUsd, 0);
  const bands: VolumeBand[] = tier.volumeDiscounts.map((band, i) => {
    const upto = tier.volumeDiscounts[i + 1]?.aboveMicroUsd;
    const amount = Math.max(0, Math.min(listMicroUsd, upto ?? Number.POSITIVE_INFINITY) - band.aboveMicroUsd);
    return {
      aboveMicroUsd: band.aboveMicroUsd,
      uptoMicroUsd: upto,
      percentOffBps: band.percentOffBps,
      amountMicroUsd: amount,
      discountMicroUsd: Number((BigInt(amount) * BigInt(band.percentOffBps)) / 10_000n),
    };
  });
  const discountMicroUsd = bands.reduce((sum, band) => sum + band.discountMicroUsd, 0);
  const usageMicroUsd = listMicroUsd - discountMicroUsd;
  const commitmentMicroUsd = tier.commitmentMicroUsd;
  return {
    tenantId,
    month,
    tier: tierName,
    lines,
    listMicroUsd,
    bands,
    discountMicroUsd,
    usageMicroUsd,
    commitmentMicroUsd,
    overageMicroUsd: Math.max(0, usageMicroUsd - commitmentMicroUsd),
    unusedCommitmentMicroUsd: Math.max(0, commitmentMicroUsd - usageMicroUsd),
    totalMicroUsd: Math.max(commitmentMicroUsd, usageMicroUsd),
  };
};

/** Adds a record's figures to a rollup (the in-memory twin and tests share this arithmetic). */
export const addToRollup = (
  rollup: UsageRollup,
  record: {
    usage: TokenUsage;
    costMicroUsd: number;
    cacheHit: boolean;
    exact: boolean;
    outcome: RequestOutcomeKind;
  },
): UsageRollup => ({
  requests: rollup.requests + 1,
  refusedRequests: rollup.refusedRequests + (record.outcome === RequestOutcome.rejected ? 1 : 0),
  failedRequests:
    rollup.failedRequests +
    (record.outcome === RequestOutcome.upstreamError || record.outcome === RequestOutcome.timeout ? 1 : 0),
  abortedRequests: rollup.abortedRequests + (record.outcome === RequestOutcome.clientAbort ? 1 : 0),
  inputTokens: rollup.inputTokens + record.usage.inputTokens,
  cachedInputTokens: rollup.cachedInputTokens + record.usage.cachedInputTokens,
  outputTokens: rollup.outputTokens + record.usage.outputTokens,
  reasoningTokens: rollup.reasoningTokens + record.usage.reasoningTokens,
  trainedTokens: rollup.trainedTokens + (record.usage.trainedTokens ?? 0),
  costMicroUsd: rollup.costMicroUsd + record.costMicroUsd,
  cacheHits: rollup.cacheHits + (record.cacheHit ? 1 : 0),
  estimatedRequests: rollup.estimatedRequests + (record.exact ? 0 : 1),
});
