// The money side of the config: model prices (USD per 1M tokens in the document, integer micro-USD once parsed)
// and tiers (budgets, volume discounts, commitments, caps), validated with messages that name field and value.
import * as v from 'valibot';
import { bodyBytes, name, positiveInt } from './config-fields.ts';

/** A non-negative USD amount with at most 6 decimals, turned into integer micro-USD (money is never a float). */
const usdAmount = (what: string) =>
  v.pipe(
    v.number(`${what} must be a number`),
    v.minValue(0, `${what} must be at least 0`),
    v.check(
      (usd) => Math.abs(usd * 1e6 - Math.round(usd * 1e6)) < 1e-6,
      `${what} must have at most 6 decimals (it is kept in micro-USD)`,
    ),
    v.transform((usd) => Math.round(usd * 1e6)),
  );

/** A percentage with at most 2 decimals, kept in basis points. */
const percentBps = (what: string, min: number) =>
  v.pipe(
    v.number(`${what} must be a number`),
    v.minValue(min, `${what} must be at least ${min}`),
    v.maxValue(100, `${what} must be at most 100`),
    v.check(
      (percent) => Math.abs(percent * 100 - Math.round(percent * 100)) < 1e-9,
      `${what} must have at most 2 decimals`,
    ),
    v.transform((percent) => Math.round(percent * 100)),
  );
/** USD per 1M tokens in the document; integer micro-USD per 1M tokens once parsed. */
const PriceSchema = v.object({
  /**
   * The model costs nothing: a tenant with a budget may use it. Without `free`, `input` and `output` are
   * required (a model with no price is refused to tenants with a budget: its cost could not be held).
   */
  free: v.optional(v.literal(true, 'free must be true (leave it out for a priced model)')),
  input: v.optional(usdAmount('input')),
  /** Price of input tokens served from the provider's prompt cache. @default the input price */
  cachedInput: v.optional(usdAmount('cachedInput')),
  /**
   * Price of input tokens written to the provider's prompt cache (Anthropic charges 1.25x input for a 5-minute
   * entry). @default the input price
   */
  cacheWrite: v.optional(usdAmount('cacheWrite')),
  output: v.optional(usdAmount('output')),
  /** Price of reasoning tokens (counted inside output tokens by OpenAI). @default the output price */
  reasoning: v.optional(usdAmount('reasoning')),
  /** Fine-tuning: price per 1M trained tokens. */
  training: v.optional(usdAmount('training')),
  /** The model's output cap: the worst case for a request that sets no max_tokens. @default budgets.defaultMaxOutputTokens */
  maxOutputTokens: v.optional(positiveInt('maxOutputTokens')),
  /**
   * The model's context window: the worst case for input the gateway cannot see (a Responses request that
   * continues `previous_response_id` or a `conversation`). @default budgets.defaultMaxInputTokens
   */
  maxInputTokens: v.optional(positiveInt('maxInputTokens')),
  /** Most tokens one image input can cost on this model, for budget holds. @default budgets.defaultImageInputTokens */
  imageInputTokens: v.optional(positiveInt('imageInputTokens')),
  /**
   * Fine-tuned models (`ft:<this model>:…`) cost this many times the input, cached input, output and reasoning
   * prices (OpenAI: 1.5 for gpt-4o and gpt-4.1, 2 for their mini and nano models). Training is not multiplied.
   * @default 2
   */
  /**
   * Requests of a batch (`/v1/batches`) cost this percentage of every rate above (OpenAI and Azure OpenAI: 50).
   * @default 50
   */
  batchPercent: v.optional(percentBps('batchPercent', 0)),
  fineTunedMultiplier: v.optional(
    v.pipe(
      v.number('fineTunedMultiplier must be a number'),
      v.minValue(1, 'fineTunedMultiplier must be at least 1'),
      v.maxValue(100, 'fineTunedMultiplier must be at most 100'),
      v.check(
        (multiplier) => Math.abs(multiplier * 100 - Math.round(multiplier * 100)) < 1e-9,
        'fineTunedMultiplier must have at most 2 decimals',
      ),
    ),
  ),
});
const FREE_OR = 'is required (or mark the model `"free": true`)';
/** After parsing: every rate is set (0 for a free model), the multiplier is in basis points. */
export const ParsedPriceSchema = v.pipe(
  PriceSchema,
  v.forward(
    v.check((price) => price.free === true || price.input !== undefined, FREE_OR),
    ['input'],
  ),
  v.forward(
    v.check((price) => price.free === true || price.output !== undefined, FREE_OR),
    ['output'],
  ),
  v.forward(
    v.check(
      (price) =>
        price.free !== true ||
        [
          price.input,
          price.cachedInput,
          price.cacheWrite,
          price.output,
          price.reasoning,
          price.training,
        ].every((rate) => rate === undefined || rate === 0),
      'a free model has no rates above 0: remove `free` or the rates',
    ),
    ['free'],
  ),
  v.transform(({ free, input, output, fineTunedMultiplier, batchPercent, ...rest }) => ({
    ...rest,
    ...(batchPercent === undefined ? {} : { batchPercentBps: batchPercent }),
    input: input ?? 0,
    output: output ?? 0,
    ...(free === true ? { free } : {}),
    ...(fineTunedMultiplier === undefined
      ? {}
      : { fineTunedMultiplierBps: Math.round(fineTunedMultiplier * 10_000) }),
  })),
);

const TierSchema = v.object({
  /** Spend limit per calendar month (UTC). @default - no budget: metered, never refused for cost */
  monthlyBudgetUsd: v.optional(usdAmount('monthlyBudgetUsd')),
  /** Models the tier may use (exact names; a trailing `*` matches a prefix). @default - every routed model */
  models: v.optional(v.array(name('models entry'), 'models must be an array')),
  /**
   * Volume pricing: the part of a month's list-price usage above `aboveUsd` is billed `percentOff` cheaper
   * (marginal bands, like tax brackets).
   */
  volumeDiscounts: v.optional(
    v.array(
      v.object({
        aboveUsd: usdAmount('aboveUsd'),
        percentOff: v.pipe(
          v.number('percentOff must be a number'),
          v.minValue(0, 'percentOff must be at least 0'),
          v.maxValue(100, 'percentOff must be at most 100'),
          v.check(
            (percent) => Number.isInteger(Math.round(percent * 100 * 1e6) / 1e6),
            'percentOff must have at most 2 decimals',
          ),
          v.transform((percent) => Math.round(percent * 100)),
        ),
      }),
      'volumeDiscounts must be an array',
    ),
    [],
  ),
  /** Reserved monthly commitment: billed whether used or not; usage above it is billed as overage. */
  commitmentUsd: v.optional(usdAmount('commitmentUsd'), 0),
  /**
   * Response cache: `deterministic` answers embeddings and seeded greedy generation (and any request sending
   * `x-gateway-cache: on`), `always` every cacheable request, `off` none.
   */
  cache: v.optional(
    v.picklist(['deterministic', 'always', 'off'], 'cache must be "deterministic", "always" or "off"'),
    'deterministic',
  ),
  /** Bill cache hits at the price of the tokens they saved. @default false: hits are free */
  billCacheHits: v.optional(v.boolean('billCacheHits must be true or false'), false),
  /** Largest request body for the tier's keys. @default limits.maxBodyBytes */
  maxBodyBytes: v.optional(bodyBytes('maxBodyBytes')),
  /**
   * Cap of `max_tokens` / `max_completion_tokens` / `max_output_tokens`: one number for every model, or by
   * model (exact names; a trailing `*` matches a prefix). A request asking for more is refused; one that
   * asks for nothing gets the cap. @default - the model's own cap only
   */
  maxOutputTokens: v.optional(
    v.union(
      [positiveInt('maxOutputTokens'), v.record(name('model'), positiveInt('maxOutputTokens'))],
      'maxOutputTokens must be a positive integer or an object of model to positive integer',
    ),
  ),
  /** Cap of `n` (and `best_of`): choices per request. @default limits.maxN */
  maxN: v.optional(positiveInt('maxN')),
});
/** After parsing, every amount is named for its unit: integer micro-USD, percentages in basis points. */
export const ParsedTierSchema = v.pipe(
  TierSchema,
  v.transform((tier) => ({
    monthlyBudgetMicroUsd: tier.monthlyBudgetUsd,
    models: tier.models,
    volumeDiscounts: tier.volumeDiscounts.map((band) => ({
      aboveMicroUsd: band.aboveUsd,
      percentOffBps: band.percentOff,
    })),
    commitmentMicroUsd: tier.commitmentUsd,
    cache: tier.cache,
    billCacheHits: tier.billCacheHits,
    ...(tier.maxBodyBytes === undefined ? {} : { maxBodyBytes: tier.maxBodyBytes }),
    ...(tier.maxOutputTokens === undefined ? {} : { maxOutputTokens: tier.maxOutputTokens }),
    ...(tier.maxN === undefined ? {} : { maxN: tier.maxN }),
  })),
);
