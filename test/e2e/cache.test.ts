// The response cache end to end through the local server: policy, isolation, replay, directives, failures, metering.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { MemoryResponseCache } from '../../lambda/adapters/memory/index.ts';
import type { ResponseCache } from '../../lambda/ports.ts';
import {
  type Behaviour,
  type FakeUpstream,
  replyJson,
  startFakeUpstream,
  streamChat,
} from '../fixtures/fake-upstream.ts';
import { type GatewayHarness, startGateway, TEST_KEY } from '../fixtures/gateway-harness.ts';
import { seedKey, testKey } from '../fixtures/tenants.ts';

const OTHER_KEY = testKey('other-tenant');
const PIECES = ['The', ' answer', ' is', ' 42', '.'];
const ANSWER = PIECES.join('');

/** Streams the pieces to a streamed request, answers JSON otherwise; usage 5 in / 3 out either way. */
const answer =
  (pieces: readonly string[]): Behaviour =>
  (request, response) =>
    request.json?.stream === true
      ? streamChat({ pieces })(request, response)
      : replyJson(200, {
          id: 'chatcmpl-j',
          object: 'chat.completion',
          created: 1_700_000_000,
          model: 'upstream-model',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: pieces.join('') },
              finish_reason: 'stop',
              logprobs: null,
            },
          ],
          usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
        })(request, response);

let upstream: FakeUpstream;
let cache: MemoryResponseCache;
let gateway: GatewayHarness;

const configFor = (baseUrl: string, overrides: Record<string, unknown> = {}) => ({
  routes: [
    {
      model: 'gpt-test',
      targets: [{ id: 'a', provider: 'openai-compatible' as const, baseUrl }],
    },
    {
      model: 'gpt-other',
      targets: [{ id: 'b', provider: 'openai-compatible' as const, baseUrl }],
    },
    {
      model: 'gpt-nocache',
      cache: false,
      targets: [{ id: 'c', provider: 'openai-compatible' as const, baseUrl }],
    },
  ],
  prices: { 'gpt-test': { input: 1, output: 2 } },
  ...overrides,
});

beforeAll(async () => {
  upstream = await startFakeUpstream(answer(PIECES));
});
beforeEach(async () => {
  cache = new MemoryResponseCache();
  gateway = await startGateway(configFor(upstream.baseUrl), { cache });
  seedKey(gateway.db, OTHER_KEY, { tenantId: 'tenant-b' });
  upstream.requests.length = 0;
  upstream.setBehaviour(answer(PIECES));
});
afterEach(async () => {
  await gateway.close();
});
afterAll(async () => {
  await upstream.close();
});

const deterministic = {
  model: 'gpt-test',
  messages: [{ role: 'user', content: 'What is the answer?' }],
  seed: 7,
};

const chat = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const response = await gateway.post('/v1/chat/completions', body, { headers });
  const text = await response.text();
  await gateway.gateway.drain();
  return { status: response.status, cacheHeader: response.headers.get('x-gateway-cache'), text };
};

const clientFor = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });

describe('response cache', () => {
  it('stores a deterministic answer and serves the repeat from the cache', async () => {
    // Act
    const first = await chat(deterministic);
    const second = await chat(deterministic);

    // Assess
    expect([first.cacheHeader, second.cacheHeader]).toEqual(['miss', 'hit']);
    expect(upstream.requests).toHaveLength(1);
    expect(JSON.parse(second.text).choices[0].message.content).toBe(ANSWER);
  });

  it('keeps tenants apart: the same request from two tenants makes two entries and no cross hit', async () => {
    // Act
    const a = await chat(deterministic);
    const b = await chat(deterministic, { authorization: `Bearer ${OTHER_KEY}` });
    const bAgain = await chat(deterministic, { authorization: `Bearer ${OTHER_KEY}` });

    // Assess
    expect([a.cacheHeader, b.cacheHeader, bAgain.cacheHeader]).toEqual(['miss', 'miss', 'hit']);
    expect(upstream.requests).toHaveLength(2);
    expect(cache.size).toBe(2);
  });

  it.each([
    ['reordered keys', { seed: 7, messages: deterministic.messages, model: 'gpt-test' }],
    ['a user field', { ...deterministic, user: 'someone-else' }],
    // Served as a stream: neither `stream` nor `stream_options` is in the key.
    ['stream options', { ...deterministic, stream: true, stream_options: { include_usage: true } }],
    ['request metadata', { ...deterministic, metadata: { trace: 'x' } }],
  ])('gives the same key despite %s', async (_case, variant) => {
    await chat(deterministic);
    expect((await chat(variant)).cacheHeader).toBe('hit');
  });

  it.each([
    ['another model (route)', { ...deterministic, model: 'gpt-other' }],
    ['another seed', { ...deterministic, seed: 8 }],
    ['another prompt', { ...deterministic, messages: [{ role: 'user', content: 'Why?' }] }],
  ])('gives another key for %s', async (_case, variant) => {
    await chat(deterministic);
    expect((await chat(variant)).cacheHeader).toBe('miss');
  });

  it('gives another key for another temperature, the seed set (an opted-in sampled request)', async () => {
    // Prepare
    const optIn = { 'x-gateway-cache': 'on' };
    await chat({ ...deterministic, temperature: 0.3 }, optIn);

    // Act
    const warmer = await chat({ ...deterministic, temperature: 0.8 }, optIn);
    const same = await chat({ ...deterministic, temperature: 0.3 }, optIn);

    // Assess
    expect([warmer.cacheHeader, same.cacheHeader]).toEqual(['miss', 'hit']);
    expect(upstream.requests).toHaveLength(2);
  });

  it.each([
    ['a sampled request (temperature 0.7)', { ...deterministic, temperature: 0.7 }, {}],
    ['an unseeded request', { model: 'gpt-test', messages: deterministic.messages }, {}],
    ['a request with seed: null', { ...deterministic, seed: null }, {}],
    ['a route excluded by the config', { ...deterministic, model: 'gpt-nocache' }, {}],
    ['Cache-Control: no-store', deterministic, { 'cache-control': 'no-store' }],
    ['x-gateway-cache: off', deterministic, { 'x-gateway-cache': 'off' }],
  ])('bypasses %s: neither read nor written', async (_case, body, headers) => {
    const first = await chat(body, headers);
    const second = await chat(body, headers);
    expect([first.cacheHeader, second.cacheHeader]).toEqual(['bypass', 'bypass']);
    expect(cache.size).toBe(0);
    expect(upstream.requests).toHaveLength(2);
  });

  it('caches a sampled request when the client opts in with x-gateway-cache: on', async () => {
    const body = { ...deterministic, temperature: 0.9 };
    await chat(body, { 'x-gateway-cache': 'on' });
    expect((await chat(body, { 'x-gateway-cache': 'on' })).cacheHeader).toBe('hit');
  });

  it.each(['no-cache', 'max-age=0'])(
    'refreshes on Cache-Control: %s: skips the lookup, calls upstream and stores the new answer',
    async (directive) => {
      // Prepare
      await chat(deterministic);
      upstream.setBehaviour(answer(['Fresh', ' answer']));

      // Act
      const refreshed = await chat(deterministic, { 'cache-control': directive });
      const after = await chat(deterministic);

      // Assess
      expect([refreshed.cacheHeader, after.cacheHeader]).toEqual(['miss', 'hit']);
      expect(upstream.requests).toHaveLength(2);
      expect(JSON.parse(refreshed.text).choices[0].message.content).toBe('Fresh answer');
      expect(JSON.parse(after.text).choices[0].message.content).toBe('Fresh answer');
    },
  );

  it('stores with the TTL of Cache-Control: max-age, capped by the config', async () => {
    // Prepare: a cache that records the TTLs it is given
    const ttls: number[] = [];
    const recording: ResponseCache = {
      get: (key) => cache.get(key),
      set: (key, value, ttl) => {
        ttls.push(ttl);
        return cache.set(key, value, ttl);
      },
    };
    await gateway.close();
    gateway = await startGateway(configFor(upstream.baseUrl, { cache: { maxTtlSeconds: 600 } }), {
      cache: recording,
    });

    // Act
    await chat(deterministic, { 'cache-control': 'max-age=30' });
    await chat({ ...deterministic, seed: 1 }, { 'cache-control': 'max-age=100000' });
    await chat({ ...deterministic, seed: 2 });

    // Assess: asked 30 → 30; asked 100000 → the cap; nothing asked → the default (3600) capped to 600
    expect(ttls).toEqual([30, 600, 600]);
  });

  it('does not store an answer larger than the entry size limit', async () => {
    await gateway.close();
    gateway = await startGateway(configFor(upstream.baseUrl, { cache: { maxEntryBytes: 200 } }), { cache });
    await chat(deterministic);
    expect(cache.size).toBe(0);
    expect((await chat(deterministic)).cacheHeader).toBe('miss');
  });

  it('replays a stored answer as a stream the SDK reads, and serves a stream-written entry to a non-stream call', async () => {
    // Prepare: the first call streams (miss, stored from the assembled stream)
    const client = clientFor(TEST_KEY);
    const original = await client.chat.completions.create({ ...deterministic, stream: true } as never);
    let originalText = '';
    for await (const chunk of original as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) {
      originalText += chunk.choices[0]?.delta?.content ?? '';
    }
    await gateway.gateway.drain();

    // Act: a streamed hit (with usage asked for) and a non-stream hit
    const replay = await client.chat.completions.create({
      ...deterministic,
      stream: true,
      stream_options: { include_usage: true },
    } as never);
    let replayedText = '';
    let usage: unknown;
    for await (const chunk of replay as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) {
      replayedText += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    const plain = await client.chat.completions.create(deterministic as never);

    // Assess
    expect(originalText).toBe(ANSWER);
    expect(replayedText).toBe(originalText);
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 3 });
    expect((plain as OpenAI.ChatCompletion).choices[0]?.message.content).toBe(ANSWER);
    expect(upstream.requests).toHaveLength(1);
  });

  /** The SDK's stream iterator over a streamed request, and the cache header of its response. */
  const streamWithSdk = async (body: Record<string, unknown>) => {
    const { data, response } = await clientFor(TEST_KEY)
      .chat.completions.create({ ...body, stream: true } as never)
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of data as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>)
      chunks.push(chunk);
    await gateway.gateway.drain();
    return {
      cacheHeader: response.headers.get('x-gateway-cache'),
      contentType: response.headers.get('content-type'),
      chunks,
      content: chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join(''),
    };
  };

  /** An OpenAI non-stream answer as it comes today, plus `message` fields. */
  const answerWith =
    (message: Record<string, unknown>, choice: Record<string, unknown> = {}): Behaviour =>
    (request, response) =>
      request.json?.stream === true
        ? streamChat({ pieces: PIECES })(request, response)
        : replyJson(200, {
            id: 'chatcmpl-j',
            object: 'chat.completion',
            created: 1_700_000_000,
            model: 'upstream-model',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: ANSWER, refusal: null, annotations: [], ...message },
                finish_reason: 'stop',
                logprobs: null,
                ...choice,
              },
            ],
            usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
            service_tier: 'default',
            system_fingerprint: 'fp_j',
          })(request, response);

  it('serves a streamed request, as SSE the SDK iterates, from an entry a non-stream call wrote', async () => {
    // Prepare
    upstream.setBehaviour(answerWith({ reasoning_content: 'They ask for the answer.' }));
    const written = await chat(deterministic);

    // Act
    const replayed = await streamWithSdk(deterministic);

    // Assess
    expect([written.cacheHeader, replayed.cacheHeader]).toEqual(['miss', 'hit']);
    expect(replayed.contentType).toBe('text/event-stream');
    expect(replayed.content).toBe(ANSWER);
    expect(replayed.chunks.map((chunk) => chunk.choices[0]?.finish_reason).filter(Boolean)).toEqual(['stop']);
    const deltas = replayed.chunks.map((chunk) => chunk.choices[0]?.delta as Record<string, unknown>);
    expect(deltas).toContainEqual({ reasoning_content: 'They ask for the answer.' });
    expect(deltas[0]).toEqual({ role: 'assistant', content: '', refusal: null, annotations: [] });
    for (const chunk of replayed.chunks) {
      expect(chunk).toMatchObject({
        id: 'chatcmpl-j',
        object: 'chat.completion.chunk',
        system_fingerprint: 'fp_j',
      });
    }
    expect(upstream.requests).toHaveLength(1);
  });

  it('counts a streamed request as a miss when its entry holds what the stream replay cannot render', async () => {
    // Prepare: an Azure-style answer: content filter results on the choice
    const filters = { hate: { filtered: false, severity: 'safe' } };
    upstream.setBehaviour(answerWith({}, { content_filter_results: filters }));
    await chat(deterministic);
    const missesBefore = gateway.metrics.sum('CacheMisses');

    // Act
    const streamed = await streamWithSdk(deterministic);

    // Assess: answered by the upstream, not served without the filter results
    expect(streamed.cacheHeader).toBe('miss');
    expect(streamed.content).toBe(ANSWER);
    expect(upstream.requests).toHaveLength(2);
    expect(gateway.metrics.sum('CacheMisses') - missesBefore).toBe(1);
    expect(gateway.metrics.sum('CacheErrors')).toBe(0);
  });

  it('stores an Azure stream under the id, created and model of its first chunk with choices', async () => {
    // Prepare: Azure opens with a prompt-filter chunk (`choices: []`, `id: ''`, `created: 0`, `model: ''`)
    const recorded = readFileSync(
      new URL('../fixtures/streams/azure-openai-chat-include-usage.sse', import.meta.url),
      'utf8',
    );
    upstream.setBehaviour((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(recorded);
    });
    const streamed = await chat({ ...deterministic, stream: true });

    // Act
    const plain = await chat(deterministic);

    // Assess
    expect([streamed.cacheHeader, plain.cacheHeader]).toEqual(['miss', 'hit']);
    expect(JSON.parse(plain.text)).toMatchObject({
      id: 'chatcmpl-AzUr3StreamX1',
      created: 1733500000,
      model: 'gpt-4o-2024-11-20',
      choices: [{ message: { content: 'Hello! How can I help you today?' }, finish_reason: 'stop' }],
    });
  });

  it('never fails a streamed embeddings request when a normal one stored its answer', async () => {
    // Prepare
    upstream.setBehaviour(
      replyJson(200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.25, -0.5] }],
        model: 'upstream-model',
        usage: { prompt_tokens: 2, total_tokens: 2 },
      }),
    );
    const embed = async (body: Record<string, unknown>) => {
      const response = await gateway.post('/v1/embeddings', body);
      const text = await response.text();
      await gateway.gateway.drain();
      return { status: response.status, cacheHeader: response.headers.get('x-gateway-cache'), text };
    };
    const request = { model: 'gpt-test', input: 'hello' };
    const stored = await embed(request);
    const repeat = await embed(request);

    // Act
    const streamed = await embed({ ...request, stream: true });

    // Assess: embeddings have no stream form to replay, so a streamed request stays out of the cache
    expect([stored.cacheHeader, repeat.cacheHeader]).toEqual(['miss', 'hit']);
    expect(streamed.status).toBe(200);
    expect(streamed.cacheHeader).toBe('bypass');
    expect(JSON.parse(streamed.text).data[0].embedding).toEqual([0.25, -0.5]);
    expect(upstream.requests).toHaveLength(2);
  });

  it.each([
    ['queued (background)', { status: 'queued', background: true }, {}],
    ['incomplete', { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }, {}],
    ['failed', { status: 'failed', error: { code: 'server_error', message: 'boom' } }, {}],
  ])('never serves a Responses answer that is %s', async (_case, fields, request) => {
    // Prepare
    upstream.setBehaviour(
      replyJson(200, {
        id: 'resp_1',
        object: 'response',
        created_at: 1_700_000_000,
        model: 'upstream-model',
        output: [],
        usage: { input_tokens: 3, output_tokens: 0, total_tokens: 3 },
        ...fields,
      }),
    );
    const ask = async () => {
      const response = await gateway.post('/v1/responses', {
        model: 'gpt-test',
        input: 'hi',
        seed: 7,
        ...request,
      });
      await response.text();
      await gateway.gateway.drain();
      return response.headers.get('x-gateway-cache');
    };

    // Act
    await ask();
    const second = await ask();

    // Assess
    expect(second).not.toBe('hit');
    expect(upstream.requests).toHaveLength(2);
  });

  it('serves a completed Responses answer from the cache', async () => {
    upstream.setBehaviour(
      replyJson(200, {
        id: 'resp_1',
        object: 'response',
        status: 'completed',
        background: false,
        output: [],
        usage: { input_tokens: 3, output_tokens: 0, total_tokens: 3 },
      }),
    );
    const ask = async () => {
      const response = await gateway.post('/v1/responses', { model: 'gpt-test', input: 'hi', seed: 7 });
      await response.text();
      await gateway.gateway.drain();
      return response.headers.get('x-gateway-cache');
    };
    expect([await ask(), await ask()]).toEqual(['miss', 'hit']);
  });

  it('meters a hit as a cache hit with the tokens it saved, at no cost by default', async () => {
    await chat(deterministic);
    await chat(deterministic);
    const records = await gateway.ledger.waitFor(2);
    expect(records[1]).toMatchObject({
      cacheHit: true,
      exact: true,
      costMicroUsd: 0,
      usage: { inputTokens: 5, outputTokens: 3 },
      targetId: undefined,
    });
    expect(records[0]).toMatchObject({ cacheHit: false, costMicroUsd: 5 * 1 + 3 * 2 });
  });

  it('bills a hit at the price of the tokens it saved when the tier says so', async () => {
    await gateway.close();
    gateway = await startGateway(
      configFor(upstream.baseUrl, { tiers: { default: { billCacheHits: true } } }),
      {
        cache,
      },
    );
    await chat(deterministic);
    await chat(deterministic);
    const records = await gateway.ledger.waitFor(2);
    expect(records[1]).toMatchObject({ cacheHit: true, costMicroUsd: 11 });
  });

  it('never fails a request because the cache does: it is served from upstream and counted', async () => {
    // Prepare
    const broken: ResponseCache = {
      get: async () => {
        throw new Error('connection refused');
      },
      set: async () => {
        throw new Error('connection refused');
      },
    };
    await gateway.close();
    gateway = await startGateway(configFor(upstream.baseUrl), { cache: broken });

    // Act
    const first = await chat(deterministic);
    const second = await chat(deterministic);

    // Assess: both answered by the upstream; two failed lookups and two failed stores counted
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(JSON.parse(second.text).choices[0].message.content).toBe(ANSWER);
    expect(upstream.requests).toHaveLength(2);
    expect(gateway.metrics.sum('CacheErrors')).toBe(4);
  });
});
