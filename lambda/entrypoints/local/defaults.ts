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

/** OpenAI list prices (USD per 1M tokens) of the listed models, so that local usage shows what it would cost. */
export const PRICES = {
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6, maxOutputTokens: 16_384 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10, maxOutputTokens: 16_384 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6, maxOutputTokens: 32_768 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'omni-moderation-latest': { input: 0, output: 0 },
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
