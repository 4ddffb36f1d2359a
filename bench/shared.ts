// Constants the bench parent and its child processes agree on.
import { displayPrefixOf, hashKey, keyIdOf } from '../lambda/core/keys.ts';
import type { KeyAdminStore } from '../lambda/ports.ts';

export const BENCH_GATEWAY_KEY = 'sk-gw-bench00000000000_bench-key-0123456789abcdefghijklmnopqrstuvw';
export const BENCH_PEPPER = 'bench-pepper';
export const BENCH_MODEL = 'gpt-4o-mini';
export const BENCH_EMBEDDING_MODEL = 'text-embedding-3-small';
/** The model routed to a bedrock target on the fake upstream: its streams are translated from ConverseStream. */
export const BENCH_BEDROCK_MODEL = 'bench-bedrock';
/** The tenant of the bench key: part of every response-cache key the gateway makes for it. */
export const BENCH_TENANT_ID = 'bench';

/** Content chunks in a streamed completion from the fake upstream (role chunk and finish chunk included). */
export const STREAM_CHUNKS = 20;
/** Gap between two chunks of a stream, as a model would pace its tokens. */
export const STREAM_GAP_MS = 2;

/** The gateway config of the bench (local server and Lambda probe alike): every model to the fake upstream. */
export const benchGatewayConfig = (upstreamOrigin: string) => ({
  routes: [
    ...[BENCH_MODEL, BENCH_EMBEDDING_MODEL].map((model, i) => ({
      model,
      targets: [{ id: `fake-${i}`, provider: 'openai-compatible' as const, baseUrl: `${upstreamOrigin}/v1` }],
    })),
    // Signed with SigV4 like any bedrock target (the bench children get dummy AWS credentials).
    {
      model: BENCH_BEDROCK_MODEL,
      targets: [
        {
          id: 'fake-bedrock',
          provider: 'bedrock' as const,
          region: 'us-east-1',
          baseUrl: upstreamOrigin,
          model: 'anthropic.claude-bench-v1:0',
        },
      ],
    },
  ],
  // A budget large enough never to refuse: every request still takes a hold and settles it.
  tiers: { default: { monthlyBudgetUsd: 1_000_000 } },
  prices: {
    [BENCH_MODEL]: { input: 0.15, cachedInput: 0.075, output: 0.6 },
    [BENCH_EMBEDDING_MODEL]: { input: 0.02, output: 0 },
    [BENCH_BEDROCK_MODEL]: { input: 0.15, cachedInput: 0.075, output: 0.6 },
  },
  // The seed content rules of config/gateway.json, enabled: every prompt is scanned (and every answer, the
  // stream event by event), though nothing in the bench's texts matches.
  filters: {
    rules: [
      {
        name: 'secret-words',
        keywords: ['password', 'passwd', 'private key', 'secret key', 'api key', 'access token'],
        action: 'block' as const,
        scope: 'request' as const,
      },
      {
        name: 'card-number',
        pattern: '\\b(?:\\d[ -]?){12,18}\\d\\b',
        validate: 'luhn' as const,
        action: 'redact' as const,
        scope: 'both' as const,
      },
      {
        name: 'cloud-access-keys',
        pattern: '\\b(?:(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\\b|AIza[0-9A-Za-z_-]{35})',
        action: 'redact' as const,
        scope: 'both' as const,
      },
    ],
  },
});

/** The bench tenant and its key, in whatever key store the bench gateway uses. */
export const seedBenchTenant = async (keys: KeyAdminStore): Promise<void> => {
  await keys.createTenant({
    tenantId: BENCH_TENANT_ID,
    name: BENCH_TENANT_ID,
    tier: 'default',
    status: 'active',
    createdAt: 0,
  });
  await keys.createKey({
    keyId: keyIdOf(BENCH_GATEWAY_KEY) ?? '',
    tenantId: BENCH_TENANT_ID,
    displayPrefix: displayPrefixOf(BENCH_GATEWAY_KEY),
    secretHash: hashKey(BENCH_PEPPER, BENCH_GATEWAY_KEY),
    status: 'active',
    createdAt: 0,
  });
};

/** Prefix of the line in which the cold-start probe reports its timings (the handler logs to stdout too). */
export const PROBE_MARKER = '@@probe ';
