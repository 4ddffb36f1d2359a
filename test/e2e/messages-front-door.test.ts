// Anthropic's Messages API as the gateway's second front door: the official @anthropic-ai/sdk against the local
// gateway as `npm start` builds it (createLocalApp), routed natively to a fake Anthropic API and translated both
// ways to an OpenAI-compatible fake, both recording what reached them.
import Anthropic from '@anthropic-ai/sdk';
import {
  anthropicError,
  type FakeAnthropic,
  replyText,
  replyWith,
  startFakeAnthropic,
} from '../fixtures/fake-anthropic.ts';
import { type FakeUpstream, replyJson, startFakeUpstream, streamChat } from '../fixtures/fake-upstream.ts';
import { type RunningLocalApp, startLocalApp } from '../fixtures/local-app.ts';

const ANTHROPIC_KEY = 'sk-ant-upstream-key';
let claude: FakeAnthropic;
let openai: FakeUpstream;
let running: RunningLocalApp;
let origin: string;
let devKey: string;

const PRICES = {
  'claude-sonnet-4-5': { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15, maxOutputTokens: 64_000 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10, maxOutputTokens: 16_384 },
};

beforeAll(async () => {
  claude = await startFakeAnthropic();
  openai = await startFakeUpstream();
  running = await startLocalApp(
    {
      routes: [
        {
          model: 'claude-sonnet-4-5',
          targets: [
            { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, secretName: 'anthropic-api-key' },
          ],
        },
        {
          model: 'gpt-4o',
          targets: [{ id: 'openai', provider: 'openai-compatible', baseUrl: openai.baseUrl }],
        },
      ],
      tiers: { default: { monthlyBudgetUsd: 100 } },
      prices: PRICES,
      filters: {
        rules: [
          { name: 'no-secrets', keywords: ['TOP-SECRET'], action: 'block', scope: 'request' },
          { name: 'codename', keywords: ['Bluebird'], action: 'redact', scope: 'request' },
          { name: 'card', pattern: '4111 1111 1111 1111', action: 'redact', scope: 'response' },
        ],
      },
    },
    { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
  );
  origin = running.client.baseURL.replace(/\/v1$/, '');
  devKey = String(running.client.apiKey);
});

afterAll(async () => {
  await running.close();
  await claude.close();
  await openai.close();
});

beforeEach(() => {
  claude.setBehaviour(replyText('Hello from the fake Claude.'));
  openai.setBehaviour(replyJson(200, completion('Hello from the OpenAI fake.')));
});

/** The official SDK as Claude Code's ANTHROPIC_AUTH_TOKEN sets it up (Bearer), or with an API key (x-api-key). */
const sdk = (auth: 'bearer' | 'x-api-key' = 'bearer', key = devKey) =>
  auth === 'bearer'
    ? new Anthropic({ authToken: key, apiKey: null, baseURL: origin, maxRetries: 0 })
    : new Anthropic({ apiKey: key, authToken: null, baseURL: origin, maxRetries: 0 });

const completion = (content: string, usage = { prompt_tokens: 40, completion_tokens: 12 }) => ({
  id: 'chatcmpl-xyz',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
  usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
});

const hello = { role: 'user' as const, content: 'Hello' };

describe('authentication', () => {
  it.each(['bearer', 'x-api-key'] as const)(
    'takes the gateway key as %s, and never sends it upstream',
    async (auth) => {
      // Act
      const message = await sdk(auth).messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 100,
        messages: [hello],
      });

      // Assess
      expect(message.content).toEqual([{ type: 'text', text: 'Hello from the fake Claude.' }]);
      const sent = claude.requests.at(-1)!;
      expect(sent.headers['x-api-key']).toBe(ANTHROPIC_KEY);
      expect(sent.headers.authorization).toBeUndefined();
      expect(JSON.stringify(sent.headers)).not.toContain(devKey);
    },
  );

  it('refuses a wrong key with an AuthenticationError in Anthropic’s shape, and nothing goes upstream', async () => {
    // Prepare
    const before = claude.requests.length;

    // Act
    const error = await sdk('x-api-key', 'sk-gw-wrongwrongwrongw_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')
      .messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [hello] })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((error as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });
    expect((error as InstanceType<typeof Anthropic.AuthenticationError>).requestID).toMatch(/\S/);
    expect(claude.requests.length).toBe(before);
  });
});

describe('errors in Anthropic’s shape', () => {
  it.each([
    [
      'an unknown model',
      { model: 'no-such-model', max_tokens: 10, messages: [hello] },
      Anthropic.NotFoundError,
      'not_found_error',
    ],
    [
      'no max_tokens',
      { model: 'claude-sonnet-4-5', messages: [hello] },
      Anthropic.BadRequestError,
      'invalid_request_error',
    ],
    [
      'a system role in messages',
      { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'system', content: 'x' }] },
      Anthropic.BadRequestError,
      'invalid_request_error',
    ],
  ])('answers %s with the SDK’s error class', async (_name, body, errorClass, type) => {
    // Prepare
    const before = claude.requests.length;

    // Act
    const error = await sdk()
      .messages.create(body as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(errorClass);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type },
    });
    expect(claude.requests.length).toBe(before);
  });

  it('passes an upstream refusal of the request on, in Anthropic’s shape, from either kind of target', async () => {
    // Prepare
    claude.setBehaviour(anthropicError(400, 'invalid_request_error', 'messages.0.content: bad block'));
    openai.setBehaviour(
      replyJson(400, {
        error: { message: 'Invalid image', type: 'invalid_request_error', param: null, code: null },
      }),
    );

    // Act
    const fromClaude = await sdk()
      .messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [hello] })
      .catch((e: unknown) => e);
    const fromOpenAi = await sdk()
      .messages.create({ model: 'gpt-4o', max_tokens: 10, messages: [hello] })
      .catch((e: unknown) => e);

    // Assess
    expect(fromClaude).toBeInstanceOf(Anthropic.BadRequestError);
    expect((fromClaude as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      error: { type: 'invalid_request_error', message: 'messages.0.content: bad block' },
    });
    expect(fromOpenAi).toBeInstanceOf(Anthropic.BadRequestError);
    expect((fromOpenAi as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'Invalid image' },
    });
  });

  it('refuses what an OpenAI-compatible target cannot honour with a 400 naming the field, before anything goes upstream', async () => {
    // Prepare
    const before = openai.requests.length;

    // Act
    const error = await sdk()
      .messages.create({
        model: 'gpt-4o',
        max_tokens: 10,
        top_k: 5,
        messages: [hello],
      } as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.APIError>).message).toContain('top_k');
    expect(openai.requests.length).toBe(before);
  });

  it('answers message batches (not served) with an Anthropic-shaped 404', async () => {
    // Act
    const error = await sdk()
      .messages.batches.list()
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'not_found_error' },
    });
  });
});

describe('an Anthropic target: native', () => {
  it('sends the client’s bytes as they are, with its version and betas, and meters the usage with cache tokens', async () => {
    // Prepare
    claude.setBehaviour(
      replyWith({
        content: [{ type: 'text', text: 'Cached answer.' }],
        usage: {
          input_tokens: 10,
          output_tokens: 5,
          cache_creation_input_tokens: 2000,
          cache_read_input_tokens: 3000,
        },
      }),
    );
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 200,
      system: [
        {
          type: 'text' as const,
          text: 'A long system prompt.',
          cache_control: { type: 'ephemeral' as const },
        },
      ],
      messages: [hello],
    };

    // Act
    const { data, response } = await sdk()
      .messages.create(body, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } })
      .withResponse();

    // Assess
    expect(data.usage).toMatchObject({
      input_tokens: 10,
      cache_creation_input_tokens: 2000,
      cache_read_input_tokens: 3000,
    });
    const sent = claude.requests.at(-1)!;
    expect(JSON.parse(sent.raw)).toEqual(body);
    expect(sent.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    expect(sent.headers['anthropic-version']).toBe(
      response.headers.get('anthropic-version') ?? sent.headers['anthropic-version'],
    );
    expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
    const record = running.recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({
      targetId: 'claude',
      exact: true,
      usage: { inputTokens: 5010, cachedInputTokens: 3000, cacheWriteTokens: 2000, outputTokens: 5 },
    });
    // 10 × $3 + 3000 × $0.30 + 2000 × $3.75 + 5 × $15, per million tokens, in micro-USD.
    expect(record?.costMicroUsd).toBe(Math.ceil(10 * 3 + 3000 * 0.3 + 2000 * 3.75 + 5 * 15));
  });

  it('streams Anthropic’s events through as they come, and meters the stream', async () => {
    // Act
    const stream = sdk().messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [hello] });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const message = await stream.finalMessage();
    const { response } = await stream.withResponse();

    // Assess
    expect(message.content).toEqual([{ type: 'text', text: 'Hello from the fake Claude.' }]);
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types).toContain('content_block_delta');
    expect(running.recordOf(response.headers.get('x-request-id'))).toMatchObject({
      targetId: 'claude',
      exact: true,
      outcome: 'complete',
      usage: { inputTokens: 21, outputTokens: 9 },
    });
  });

  it('counts tokens with the target’s count_tokens', async () => {
    // Act
    const { data, response } = await sdk()
      .messages.countTokens({ model: 'claude-sonnet-4-5', messages: [hello] })
      .withResponse();

    // Assess
    const sent = claude.requests.at(-1)!;
    expect(sent.path).toBe('/v1/messages/count_tokens');
    expect(data.input_tokens).toBe(sent.raw.length);
    expect(response.headers.get('x-gateway-token-count')).toBeNull();
  });
});

describe('an OpenAI-compatible target: translated both ways', () => {
  it('answers a message translated from a chat completion, metered', async () => {
    // Act
    const { data, response } = await sdk()
      .messages.create({ model: 'gpt-4o', max_tokens: 100, system: 'Be brief.', messages: [hello] })
      .withResponse();

    // Assess
    expect(data).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o',
      content: [{ type: 'text', text: 'Hello from the OpenAI fake.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 40, output_tokens: 12 },
    });
    const sent = openai.requests.at(-1)!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.json).toMatchObject({
      model: 'gpt-4o',
      max_tokens: 100,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
    });
    expect(running.recordOf(response.headers.get('x-request-id'))).toMatchObject({
      targetId: 'openai',
      exact: true,
      usage: { inputTokens: 40, outputTokens: 12 },
    });
  });

  it('streams Anthropic’s events translated from chat chunks, metered from the usage chunk', async () => {
    // Prepare
    openai.setBehaviour(streamChat({ pieces: ['Hel', 'lo ', 'there'] }));

    // Act
    const stream = sdk().messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: [hello] });
    const message = await stream.finalMessage();
    const { response } = await stream.withResponse();

    // Assess
    expect(message.content).toEqual([{ type: 'text', text: 'Hello there' }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(openai.requests.at(-1)!.json).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(running.recordOf(response.headers.get('x-request-id'))).toMatchObject({
      targetId: 'openai',
      exact: true,
      outcome: 'complete',
      usage: { inputTokens: 5, outputTokens: 3 },
    });
  });

  it('estimates a translated stream whose upstream reported no usage, rather than billing nothing', async () => {
    // Prepare: a server that ignores include_usage
    openai.setBehaviour(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'Some words here' }, finish_reason: null }] })}\n\n`,
      );
      response.write(
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
      );
      response.end('data: [DONE]\n\n');
    });

    // Act
    const stream = sdk().messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: [hello] });
    await stream.finalMessage();
    const { response } = await stream.withResponse();

    // Assess
    const record = running.recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({ exact: false });
    expect(record?.usage.inputTokens).toBeGreaterThan(0);
    expect(record?.usage.outputTokens).toBeGreaterThan(0);
    expect(record?.costMicroUsd).toBeGreaterThan(0);
  });

  it('runs a tool-use round trip, and sends an image as the chat image part', async () => {
    // Prepare
    openai.queue(
      replyJson(200, {
        ...completion(''),
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'call_1',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
                },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
      }),
      replyJson(200, completion('It is sunny in Paris.')),
    );
    const tools = [
      {
        name: 'get_weather',
        description: 'Weather',
        input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } },
      },
    ];
    const image = {
      type: 'image' as const,
      source: { type: 'base64' as const, media_type: 'image/png' as const, data: 'iVBORw0KGgo=' },
    };
    const first: Anthropic.MessageParam = {
      role: 'user',
      content: [image, { type: 'text', text: 'Weather where this is?' }],
    };

    // Act
    const call = await sdk().messages.create({ model: 'gpt-4o', max_tokens: 100, tools, messages: [first] });
    const toolUse = call.content.find((block) => block.type === 'tool_use')!;
    const answer = await sdk().messages.create({
      model: 'gpt-4o',
      max_tokens: 100,
      tools,
      messages: [
        first,
        { role: 'assistant', content: call.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'sunny' }] },
      ],
    });

    // Assess
    expect(call.stop_reason).toBe('tool_use');
    expect(toolUse).toMatchObject({
      type: 'tool_use',
      id: 'call_1',
      name: 'get_weather',
      input: { city: 'Paris' },
    });
    expect(answer.content).toEqual([{ type: 'text', text: 'It is sunny in Paris.' }]);
    const [firstSent, secondSent] = openai.requests.slice(-2).map((request) => request.json!);
    expect(firstSent!.tools).toEqual([
      {
        type: 'function',
        function: { name: 'get_weather', description: 'Weather', parameters: tools[0]!.input_schema },
      },
    ]);
    expect((firstSent!.messages as unknown[])[0]).toEqual({
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        { type: 'text', text: 'Weather where this is?' },
      ],
    });
    expect((secondSent!.messages as unknown[]).slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ]);
  });

  it('counts tokens itself for a route without an Anthropic target, marked as an estimate', async () => {
    // Prepare
    const before = openai.requests.length;

    // Act
    const { data, response } = await sdk()
      .messages.countTokens({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Count these words please' }],
      })
      .withResponse();

    // Assess
    expect(data.input_tokens).toBeGreaterThan(3);
    expect(response.headers.get('x-gateway-token-count')).toBe('estimate');
    expect(openai.requests.length).toBe(before);
  });
});

describe('content rules on the Messages surface', () => {
  it('blocks a request whose text a request rule blocks, in Anthropic’s shape, and nothing goes upstream', async () => {
    // Prepare
    const before = claude.requests.length;

    // Act
    const error = await sdk()
      .messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 10,
        system: [{ type: 'text', text: 'Keep the TOP-SECRET plan.' }],
        messages: [hello],
      })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error' },
    });
    expect(claude.requests.length).toBe(before);
  });

  it('redacts a request’s text before it goes upstream, for a message and for a token count alike', async () => {
    // Act
    await sdk().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'Project Bluebird ships Friday.' }],
    });
    const message = claude.requests.at(-1)!;
    await sdk().messages.countTokens({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Project Bluebird ships Friday.' }],
    });
    const count = claude.requests.at(-1)!;

    // Assess
    expect(message.path).toBe('/v1/messages');
    expect(count.path).toBe('/v1/messages/count_tokens');
    for (const sent of [message, count]) {
      expect(sent.raw).not.toContain('Bluebird');
      expect(sent.raw).toContain('ships Friday.');
    }
  });

  it('redacts a streamed answer across deltas', async () => {
    // Prepare: the fake splits text into two deltas
    claude.setBehaviour(replyText('Your card is 4111 1111 1111 1111, keep it safe.'));

    // Act
    const message = await sdk()
      .messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [hello] })
      .finalMessage();

    // Assess
    const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    expect(text).not.toContain('4111 1111 1111 1111');
    expect(text).toContain('keep it safe.');
  });
});
