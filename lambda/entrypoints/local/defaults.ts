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
    routes: [
      ...LISTED_MODELS.map((model, i) => ({ model, targets: [target(`default-${i}`)] })),
      ...PREFIXES.map((model, i) => ({ model, match: 'prefix' as const, targets: [target(`prefix-${i}`)] })),
    ],
  };
};
