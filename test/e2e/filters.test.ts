// Content rules and request limits through the real local gateway, a fake upstream and the official SDK:
// what the upstream receives, what the client sees, what is counted and logged, and what never goes upstream.
import OpenAI from 'openai';
import { MemoryResponseCache } from '../../lambda/adapters/memory/index.ts';
import { RequestOutcome } from '../../lambda/ports.ts';
import {
  chunkEvent,
  type FakeUpstream,
  finishEvent,
  replyChat,
  startFakeUpstream,
  streamChat,
  usageEvent,
} from '../fixtures/fake-upstream.ts';
import { type GatewayHarness, readText, startGateway, TEST_KEY } from '../fixtures/gateway-harness.ts';
import { seedKey, testKey } from '../fixtures/tenants.ts';

const CARD = '4111 1111 1111 1111';
const SMALL_KEY = testKey('small-tier-key');
const LOCKED_KEY = testKey('locked-key-0001');

let upstream: FakeUpstream;
let gateway: GatewayHarness;
/** Every value the gateway stores in the response cache. */
const stored: string[] = [];
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream(replyChat('hello'));
  const memory = new MemoryResponseCache();
  const cache = {
    get: (key: string) => memory.get(key),
    set: async (key: string, value: string, ttlSeconds: number) => {
      stored.push(value);
      await memory.set(key, value, ttlSeconds);
    },
  };
  gateway = await startGateway(
    {
      routes: [
        {
          model: 'gpt-',
          match: 'prefix',
          targets: [{ id: 'up', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
        },
        {
          model: 'text-embedding-test',
          targets: [{ id: 'emb', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
        },
      ],
      limits: { maxJsonDepth: 32, maxArrayLength: 1_000 },
      tiers: {
        default: {},
        small: { maxBodyBytes: 2_048, maxN: 2, maxOutputTokens: { 'gpt-test': 256 }, models: ['gpt-*'] },
      },
      filters: {
        rules: [
          { name: 'secret-words', keywords: ['password', 'private key'], action: 'block', scope: 'request' },
          { name: 'aws-key', pattern: '\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b', action: 'redact', scope: 'both' },
          {
            name: 'card-number',
            pattern: '\\b(?:\\d[ -]?){12,18}\\d\\b',
            validate: 'luhn',
            action: 'redact',
            scope: 'both',
            mask: '[CARD]',
          },
          { name: 'launch-codes', keywords: ['launch code'], action: 'block', scope: 'response' },
        ],
      },
    },
    { cache },
  );
  seedKey(gateway.db, SMALL_KEY, { tenantId: 'tenant-small', tier: 'small' });
  seedKey(gateway.db, LOCKED_KEY, { tenantId: 'tenant-locked', key: { models: ['gpt-allowed'] } });
  client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

beforeEach(() => {
  upstream.setBehaviour(replyChat('hello'));
});

const logged = () => JSON.stringify(gateway.logger.lines);

describe('request rules', () => {
  it('block a request whose content part holds a blocked keyword (written in fullwidth letters)', async () => {
    // Prepare
    const calls = upstream.requests.length;
    const blockedBefore = gateway.metrics.sum('ContentBlocked');

    // Act
    const error = await client.chat.completions
      .create({
        model: 'gpt-test',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'hello' },
              { type: 'text', text: 'my ｐａｓｓｗｏｒｄ is hunter2' },
            ],
          },
        ],
      })
      .catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const refused = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(refused.code).toBe('content_filtered');
    expect(refused.param).toBe('messages.0.content.1.text');
    expect(refused.message).toBe(
      "400 The request was blocked by the content rule 'secret-words' (in `messages.0.content.1.text`).",
    );
    expect(upstream.requests.length).toBe(calls);
    expect(gateway.metrics.sum('ContentBlocked')).toBe(blockedBefore + 1);
    expect(logged()).toContain('"rule":"secret-words"');
    expect(logged()).not.toContain('hunter2');
    expect(logged()).not.toContain('ｐａｓｓｗｏｒｄ');
  });

  it('redact tool call arguments and message text before they go upstream', async () => {
    // Prepare
    const redactedBefore = gateway.metrics.sum('ContentRedacted');

    // Act
    const answer = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [
        { role: 'user', content: `charge card ${CARD}` },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'deploy', arguments: '{"key":"AKIAIOSFODNN7EXAMPLE"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'done' },
      ],
    });

    // Assess
    expect(answer.choices[0]?.message.content).toBe('hello');
    const sent = upstream.requests.at(-1)!.json as { messages: Array<Record<string, unknown>> };
    expect(sent.messages[0]?.content).toBe('charge card [CARD]');
    expect(JSON.stringify(sent.messages[1])).toContain('{\\"key\\":\\"[REDACTED]\\"}');
    expect(upstream.requests.at(-1)!.body.toString()).not.toContain('AKIA');
    expect(gateway.metrics.sum('ContentRedacted')).toBe(redactedBefore + 2);
    expect(logged()).not.toContain('AKIAIOSFODNN7EXAMPLE');
  });

  it('leave a request without matches byte for byte as the client sent it', async () => {
    const body = '{"model":"gpt-test",  "messages":[{"role":"user","content":"plain"}]}';
    const response = await gateway.post('/v1/chat/completions', body);
    expect(response.status).toBe(200);
    expect(upstream.requests.at(-1)!.body.toString()).toBe(body);
  });
});

describe('response rules', () => {
  it('redact a JSON answer', async () => {
    upstream.setBehaviour(replyChat(`your key is AKIAIOSFODNN7EXAMPLE and card ${CARD}`));
    const answer = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(answer.choices[0]?.message.content).toBe('your key is [REDACTED] and card [CARD]');
    expect(answer.usage?.completion_tokens).toBe(7);
  });

  it('redact a stream across chunk boundaries, read with the SDK stream iterator', async () => {
    // Prepare: the card number arrives in four chunks
    upstream.setBehaviour(
      streamChat({ pieces: ['pay with 4111 11', '11 1111 ', '11', '11 today', ' please'] }),
    );

    // Act
    const stream = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    const pieces: string[] = [];
    for await (const part of stream) pieces.push(part.choices[0]?.delta.content ?? '');

    // Assess
    expect(pieces.join('')).toBe('pay with [CARD] today please');
    expect(pieces.some((piece) => /\d/.test(piece))).toBe(false);
  });

  it('end a stream whose answer hits a blocking rule with an error event, and meter it', async () => {
    // Prepare
    upstream.setBehaviour(streamChat({ pieces: ['the laun', 'ch code is 0000', ' and more'], gapMs: 5 }));
    const before = gateway.ledger.records.length;

    // Act
    const stream = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    const pieces: string[] = [];
    const error = await (async () => {
      for await (const part of stream) pieces.push(part.choices[0]?.delta.content ?? '');
    })().catch((caught: unknown) => caught);
    await gateway.gateway.drain();

    // Assess
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain(
      "The answer was blocked by the content rule 'launch-codes'.",
    );
    expect(pieces.join('')).not.toContain('code');
    const record = gateway.ledger.records.at(before);
    expect(record?.outcome).toBe(RequestOutcome.contentFiltered);
    // Counted from what streamed; or exact, when the usage chunk was read in the same read as the match.
    if (record?.exact === true) expect(record.usage).toMatchObject({ inputTokens: 5, outputTokens: 3 });
    else expect(record?.usage.outputTokens).toBeGreaterThan(0);
  });

  it('refuse a JSON answer that hits a blocking rule with a 400, and still meter what it used', async () => {
    upstream.setBehaviour(replyChat('the launch code is 0000'));
    const before = gateway.ledger.records.length;
    const response = await gateway.post('/v1/chat/completions', {
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await gateway.gateway.drain();
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        message: "The answer was blocked by the content rule 'launch-codes'.",
        type: 'invalid_request_error',
        param: null,
        code: 'content_filtered',
      },
    });
    expect(gateway.ledger.records.at(before)).toMatchObject({
      status: 400,
      outcome: RequestOutcome.contentFiltered,
      exact: true,
      usage: { outputTokens: 7 },
    });
  });

  it('store only the redacted answer in the response cache, and serve it redacted', async () => {
    // Prepare: a seeded, greedy (cacheable) request
    upstream.setBehaviour(replyChat(`card ${CARD}`));
    const request = {
      model: 'gpt-test',
      seed: 1,
      temperature: 0,
      messages: [{ role: 'user', content: 'card?' }],
    };

    // Act
    const first = await gateway.post('/v1/chat/completions', request);
    const firstBody = await first.text();
    await gateway.gateway.drain();
    const second = await gateway.post('/v1/chat/completions', request);

    // Assess
    expect(first.headers.get('x-gateway-cache')).toBe('miss');
    expect(firstBody).toContain('card [CARD]');
    expect(second.headers.get('x-gateway-cache')).toBe('hit');
    expect(await second.text()).toContain('card [CARD]');
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.join('')).not.toContain('4111');
  });
});

describe('malformed and oversized bodies never reach the upstream', () => {
  const deep = `{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"x":${'['.repeat(40)}${']'.repeat(40)}}`;
  const huge = `{"model":"text-embedding-test","input":[${Array.from({ length: 1_001 }, () => '"a"').join(',')}]}`;
  const cases: Array<[string, string | Uint8Array, Record<string, string>, number, string | null, string]> = [
    [
      'truncated JSON',
      '{"model":"gpt-test","messages":[{"role":"us',
      {},
      400,
      null,
      'We could not parse the JSON body',
    ],
    ['deep nesting', deep, {}, 400, 'json_too_deep', 'deeper than 32 levels'],
    ['a huge array', huge, {}, 400, 'array_too_long', 'more than 1000 elements'],
    [
      'a charset other than UTF-8',
      '{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}',
      { 'content-type': 'application/json; charset=iso-8859-1' },
      415,
      'unsupported_media_type',
      'in UTF-8',
    ],
    [
      'bytes that are not UTF-8',
      Uint8Array.from([
        ...Buffer.from('{"model":"gpt-test","messages":[{"role":"user","content":"'),
        0xff,
        ...Buffer.from('"}]}'),
      ]),
      {},
      400,
      null,
      'not valid UTF-8',
    ],
    ['a JSON array instead of an object', '[1,2,3]', {}, 400, null, 'must be a JSON object'],
    ['no model', '{"messages":[]}', {}, 400, null, 'You must provide a model parameter.'],
    [
      'a body over the default limit (1 MiB)',
      `{"model":"gpt-test","x":"${'a'.repeat(1_100_000)}"}`,
      {},
      413,
      'request_too_large',
      'larger than the limit of 1048576 bytes',
    ],
  ];

  it.each(cases)('%s', async (_name, body, headers, status, code, message) => {
    // Prepare
    const calls = upstream.requests.length;

    // Act
    const response = await fetch(`${gateway.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
      body: body as BodyInit,
    });
    const error = ((await response.json()) as { error: { code: string | null; message: string } }).error;

    // Assess
    expect(response.status).toBe(status);
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
    expect(upstream.requests.length).toBe(calls);
  });
});

describe('tier limits', () => {
  const asSmall = (body: unknown, path = '/v1/chat/completions') =>
    fetch(`${gateway.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SMALL_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it.each([
    [
      'a body over the tier limit (2 KiB)',
      { model: 'gpt-test', messages: [{ role: 'user', content: 'a'.repeat(3_000) }] },
      413,
      'request_too_large',
    ],
    [
      'n over the tier cap',
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], n: 3 },
      400,
      'integer_above_max_value',
    ],
    [
      'max_tokens over the model cap',
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 257 },
      400,
      'integer_above_max_value',
    ],
    [
      'a model the tier does not allow',
      { model: 'text-embedding-test', input: 'x' },
      403,
      'model_not_allowed',
    ],
  ])('%s', async (_name, body, status, code) => {
    const calls = upstream.requests.length;
    const path =
      (body as { input?: unknown }).input === undefined ? '/v1/chat/completions' : '/v1/embeddings';
    const response = await asSmall(body, path);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(upstream.requests.length).toBe(calls);
  });

  it('a body streamed in chunks past the limit is cut off while it arrives', async () => {
    // Prepare: no content-length, so the limit is found while reading
    const calls = upstream.requests.length;
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from('{"model":"gpt-test","messages":[{"role":"user","content":"'));
        for (let i = 0; i < 10; i++) controller.enqueue(Buffer.from('a'.repeat(500)));
        controller.enqueue(Buffer.from('"}]}'));
        controller.close();
      },
    });

    // Act
    const response = await fetch(`${gateway.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SMALL_KEY}`, 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);

    // Assess
    expect(response.status).toBe(413);
    expect(upstream.requests.length).toBe(calls);
  });

  it('sets the tier’s output cap on a request that asks for none', async () => {
    const response = await asSmall({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
    expect(response.status).toBe(200);
    expect(upstream.requests.at(-1)?.json?.max_completion_tokens).toBe(256);
  });

  it('a model outside the key’s allowlist is refused', async () => {
    const calls = upstream.requests.length;
    const response = await fetch(`${gateway.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${LOCKED_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
      "Your API key is not allowed to use the model 'gpt-test'.",
    );
    expect(upstream.requests.length).toBe(calls);
  });
});

describe('streamed answers without matches', () => {
  it('keep every event (the usage chunk and [DONE] included)', async () => {
    // Prepare
    upstream.setBehaviour((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(`${chunkEvent('x')}${finishEvent}${usageEvent}data: [DONE]\n\n`);
    });

    // Act
    const response = await gateway.post('/v1/chat/completions', {
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const text = await readText(response);

    // Assess
    expect(text).toContain('"content":"x"');
    expect(text).toContain('"usage"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });
});
