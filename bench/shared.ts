// Constants the bench parent and its child processes agree on.

export const BENCH_GATEWAY_KEY = 'sk-gw-bench-0123456789abcdef';
export const BENCH_MODEL = 'gpt-4o-mini';
export const BENCH_EMBEDDING_MODEL = 'text-embedding-3-small';

/** Content chunks in a streamed completion from the fake upstream (role chunk and finish chunk included). */
export const STREAM_CHUNKS = 20;
/** Gap between two chunks of a stream, as a model would pace its tokens. */
export const STREAM_GAP_MS = 2;

/** The gateway config of the bench (local server and Lambda probe alike): every model to the fake upstream. */
export const benchGatewayConfig = (upstreamOrigin: string) => ({
  routes: [BENCH_MODEL, BENCH_EMBEDDING_MODEL].map((model, i) => ({
    model,
    targets: [{ id: `fake-${i}`, provider: 'openai-compatible' as const, baseUrl: `${upstreamOrigin}/v1` }],
  })),
});

/** Prefix of the line in which the cold-start probe reports its timings (the handler logs to stdout too). */
export const PROBE_MARKER = '@@probe ';
