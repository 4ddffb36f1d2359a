// Embedded defaults for `npm start`: the mock provider, or OpenAI when OPENAI_API_KEY is set.
import { MOCK_BASE_URL } from '../../adapters/upstream/mock.ts';
import type { GatewayConfigInput } from '../../core/config.ts';

/** Models listed by GET /v1/models; prefix routes below also accept other names of these families. */
const LISTED_MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1-mini',
  'text-embedding-3-small',
  'omni-moderation-latest',
];
const PREFIXES = [
  'gpt-',
  'o1',
  'o3',
  'o4',
  'text-embedding-',
  'omni-moderation',
  'whisper',
  'tts-',
  'dall-e',
  'chatgpt-',
];

/**
 * OpenAI list prices (USD per 1M tokens) of the families the routes below serve, so that local usage shows what it
 * would cost and the dev tenant's budget holds. A dated snapshot (gpt-4o-2024-08-06) is priced as its family; a
 * model priced nowhere is refused to a tenant with a budget. Whisper, TTS and DALL·E are billed by the minute,
 * character or image, which the token catalogue cannot say: they are marked free here, where they only reach the
 * mock or a key of your own; a deployment that routes them must price them.
 */
export const PRICES = {
  'gpt-4o-mini': {
    input: 0.15,
    cachedInput: 0.075,
    output: 0.6,
    training: 3,
    maxOutputTokens: 16_384,
    maxInputTokens: 128_000,
  },
  'gpt-4o': {
    input: 2.5,
    cachedInput: 1.25,
    output: 10,
    training: 25,
    fineTunedMultiplier: 1.5,
    maxOutputTokens: 16_384,
    maxInputTokens: 128_000,
  },
  'gpt-4.1': {
    input: 2,
    cachedInput: 0.5,
    output: 8,
    training: 25,
    fineTunedMultiplier: 1.5,
    maxOutputTokens: 32_768,
    maxInputTokens: 1_047_576,
  },
  'gpt-4.1-mini': {
    input: 0.4,
    cachedInput: 0.1,
    output: 1.6,
    training: 5,
    maxOutputTokens: 32_768,
    maxInputTokens: 1_047_576,
  },
  'gpt-4.1-nano': {
    input: 0.1,
    cachedInput: 0.025,
    output: 0.4,
    training: 1.5,
    maxOutputTokens: 32_768,
    maxInputTokens: 1_047_576,
  },
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10, maxOutputTokens: 128_000, maxInputTokens: 272_000 },
  'gpt-5-mini': {
    input: 0.25,
    cachedInput: 0.025,
    output: 2,
    maxOutputTokens: 128_000,
    maxInputTokens: 272_000,
  },
  'gpt-5-nano': {
    input: 0.05,
    cachedInput: 0.005,
    output: 0.4,
    maxOutputTokens: 128_000,
    maxInputTokens: 272_000,
  },
  'chatgpt-4o-latest': { input: 5, output: 15, maxOutputTokens: 16_384, maxInputTokens: 128_000 },
  o1: { input: 15, cachedInput: 7.5, output: 60, maxOutputTokens: 100_000, maxInputTokens: 200_000 },
  o3: { input: 2, cachedInput: 0.5, output: 8, maxOutputTokens: 100_000, maxInputTokens: 200_000 },
  'o3-mini': {
    input: 1.1,
    cachedInput: 0.55,
    output: 4.4,
    maxOutputTokens: 100_000,
    maxInputTokens: 200_000,
  },
  'o4-mini': {
    input: 1.1,
    cachedInput: 0.275,
    output: 4.4,
    maxOutputTokens: 100_000,
    maxInputTokens: 200_000,
  },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  // Image and audio models billed by tokens: the dearer input rate (image or audio input) holds for all input.
  'gpt-image-1': { input: 10, output: 40 },
  'gpt-4o-mini-tts': { input: 0.6, output: 12 },
  'gpt-4o-transcribe': { input: 6, output: 10 },
  'gpt-4o-mini-transcribe': { input: 3, output: 5 },
  'omni-moderation*': { free: true as const },
  'whisper*': { free: true as const },
  'tts-*': { free: true as const },
  'dall-e*': { free: true as const },
};

/** One tier with a monthly budget, so that a first local run shows budgets at work. */
const LOCAL_TIERS = {
  default: { monthlyBudgetUsd: 100 },
  pro: { monthlyBudgetUsd: 1_000, volumeDiscounts: [{ aboveUsd: 500, percentOff: 10 }], commitmentUsd: 200 },
};

export const localConfig = (env: Readonly<Record<string, string | undefined>>): GatewayConfigInput => {
  const openai = env.OPENAI_API_KEY
    ? {
        provider: 'openai' as const,
        baseUrl: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
        secretName: 'openai-api-key',
      }
    : { provider: 'openai-compatible' as const, baseUrl: MOCK_BASE_URL };
  const target = (id: string) => ({ id, ...openai });
  return {
    tiers: LOCAL_TIERS,
    prices: PRICES,
    routes: [
      ...LISTED_MODELS.map((model, i) => ({ model, targets: [target(`default-${i}`)] })),
      ...PREFIXES.map((model, i) => ({ model, match: 'prefix' as const, targets: [target(`prefix-${i}`)] })),
    ],
  };
};
