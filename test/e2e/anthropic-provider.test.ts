// An `anthropic` target behind the OpenAI API: the official openai SDK against the local gateway as `npm start`
// builds it (createLocalApp), a fake Anthropic API, and an OpenAI-compatible backup, both recording what reached them.
import type OpenAI from 'openai';
import {
  anthropicError,
  type FakeAnthropic,
  replyText,
  replyWith,
  startFakeAnthropic,
} from '../fixtures/fake-anthropic.ts';
import { type FakeUpstream, replyChat, startFakeUpstream } from '../fixtures/fake-upstream.ts';
import { type RunningLocalApp, startLocalApp } from '../fixtures/local-app.ts';

const ANTHROPIC_KEY = 'sk-ant-gateway-test';
let claude: FakeAnthropic;
let backup: FakeUpstream;
let running: RunningLocalApp;
let client: OpenAI;

beforeAll(async () => {
  claude = await startFakeAnthropic();
  backup = await startFakeUpstream(replyChat('from the backup'));
  const config = {
    routes: [
      {
        model: 'claude-sonnet-4-5',
        targets: [
          {
            id: 'claude',
            provider: 'anthropic',
            baseUrl: claude.baseUrl,
            secretName: 'anthropic-api-key',
            promptCaching: { system: true, tools: true },
          },
          { id: 'backup', provider: 'openai-compatible', baseUrl: backup.baseUrl, priority: 1 },
        ],
      },
      {
        // The Gemini recipe of docs/providers.md, against a fake at the same path.
        model: 'gemini-2.5-flash',
        targets: [
          {
            id: 'gemini',
            provider: 'openai-compatible',
            baseUrl: backup.baseUrl.replace(/\/v1$/, '/v1beta/openai'),
            secretName: 'gemini-api-key',
          },
        ],
      },
    ],
    tiers: { default: { monthlyBudgetUsd: 100 } },
    prices: {
      'gemini-2.5-flash': { input: 0.3, output: 2.5 },
      'claude-sonnet-4-5': {
        input: 3,
        cachedInput: 0.3,
        cacheWrite: 3.75,
        output: 15,
        maxOutputTokens: 64_000,
      },
    },
  };
  running = await startLocalApp(config, {
    ANTHROPIC_API_KEY: ANTHROPIC_KEY,
    GEMINI_API_KEY: 'gemini-test-key',
  });
  ({ client } = running);
});

afterAll(async () => {
  await running.close();
  await claude.close();
  await backup.close();
});

const chat = {
  model: 'claude-sonnet-4-5',
  messages: [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Hello' },
  ],
};
const lastRequest = () => claude.requests.at(-1)!;
const recordOf = (requestId: string | null) => running.recordOf(requestId);

describe('an anthropic target behind chat completions', () => {
  it('answers a chat completion translated both ways, with the key, version and prompt caching Anthropic takes', async () => {
    // Act
    const { data, response } = await client.chat.completions
      .create(chat, { headers: { 'openai-beta': 'assistants=v2' } })
      .withResponse();

    // Assess
    expect(data).toMatchObject({
      object: 'chat.completion',
      model: 'claude-sonnet-4-5',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello from the fake Claude.' },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 },
    });
    const sent = lastRequest();
    expect(sent.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.headers['openai-beta']).toBeUndefined();
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
    });
    expect(recordOf(response.headers.get('x-request-id'))).toMatchObject({
      targetId: 'claude',
      exact: true,
      usage: { inputTokens: 21, outputTokens: 9 },
      costMicroUsd: Math.ceil(21 * 3 + 9 * 15),
    });
  });

  it('streams the answer as chat.completion.chunk events, with usage only when asked, and meters it either way', async () => {
    // Act
    const withUsage = await client.chat.completions.create({
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of withUsage) chunks.push(chunk);
    const { data: without, response } = await client.chat.completions
      .create({ ...chat, stream: true })
      .withResponse();
    let text = '';
    let usageChunks = 0;
    for await (const chunk of without) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunks += 1;
    }

    // Assess
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      'Hello from the fake Claude.',
    );
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 21, completion_tokens: 9 } });
    expect(text).toBe('Hello from the fake Claude.');
    expect(usageChunks).toBe(0);
    expect(lastRequest().body.stream).toBe(true);
    expect(recordOf(response.headers.get('x-request-id'))).toMatchObject({
      exact: true,
      usage: { outputTokens: 9 },
    });
  });

  it('makes a tool-calling round trip: tools and tool_choice out, tool_use back as tool_calls, the result in', async () => {
    // Prepare
    const tools: OpenAI.ChatCompletionFunctionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'The weather in a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    claude.queue(
      replyWith({
        content: [{ type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }],
      }),
      replyWith({
        content: [{ type: 'tool_use', id: 'toolu_02', name: 'get_weather', input: { city: 'Lyon' } }],
      }),
      replyText('It is sunny in Paris.'),
    );

    // Act
    const first = await client.chat.completions.create({ ...chat, tools, tool_choice: 'required' });
    const streamed = await client.chat.completions.create({ ...chat, tools, stream: true });
    const calls: Record<number, { id?: string; name?: string; arguments: string }> = {};
    for await (const chunk of streamed) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        calls[call.index] ??= { arguments: '' };
        const entry = calls[call.index]!;
        entry.id ??= call.id;
        entry.name ??= call.function?.name;
        entry.arguments += call.function?.arguments ?? '';
      }
    }
    const call = first.choices[0]?.message.tool_calls?.[0];
    const answer = await client.chat.completions.create({
      ...chat,
      tools,
      messages: [
        ...chat.messages,
        { role: 'assistant', content: null, tool_calls: first.choices[0]!.message.tool_calls! },
        { role: 'tool', tool_call_id: call!.id, content: '21°C and sunny' },
      ],
    });

    // Assess
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call).toEqual({
      id: 'toolu_01',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    });
    expect(calls).toEqual({ 0: { id: 'toolu_02', name: 'get_weather', arguments: '{"city":"Lyon"}' } });
    expect(claude.requests.at(-3)!.body).toMatchObject({
      tools: [
        {
          name: 'get_weather',
          description: 'The weather in a city',
          input_schema: tools[0]!.function.parameters,
          cache_control: { type: 'ephemeral' },
        },
      ],
      tool_choice: { type: 'any' },
    });
    expect(lastRequest().body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '21°C and sunny' }],
      },
    ]);
    expect(answer.choices[0]?.message.content).toBe('It is sunny in Paris.');
  });

  it('sends an image given as a data URL, and refuses an http(s) image URL without calling Anthropic', async () => {
    // Prepare
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const withImage = (url: string) => ({
      ...chat,
      messages: [
        {
          role: 'user' as const,
          content: [
            { type: 'text' as const, text: 'What is this?' },
            { type: 'image_url' as const, image_url: { url } },
          ],
        },
      ],
    });
    const before = claude.requests.length;

    // Act
    await client.chat.completions.create(withImage(`data:image/png;base64,${pixel}`));
    const refused = client.chat.completions.create(withImage('https://example.com/cat.png'));

    // Assess
    expect(lastRequest().body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pixel } },
        ],
      },
    ]);
    await expect(refused).rejects.toMatchObject({
      status: 400,
      param: 'messages.0.content.1.image_url.url',
      message: expect.stringContaining('does not fetch image URLs'),
    });
    expect(claude.requests.length).toBe(before + 1);
  });

  it.each([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['audio', { audio: { voice: 'alloy', format: 'mp3' }, modalities: ['text', 'audio'] }],
    ['response_format', { response_format: { type: 'json_object' } }],
    ['temperature', { temperature: 1.5 }],
  ])('refuses %s with a 400 that names it and the target, and sends nothing', async (param, extra) => {
    // Prepare
    const before = claude.requests.length + backup.requests.length;

    // Act
    const refused = client.chat.completions.create({
      ...chat,
      ...extra,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);

    // Assess
    await expect(refused).rejects.toMatchObject({
      status: 400,
      param,
      message: expect.stringMatching(/target 'claude' \(anthropic\)/i),
    });
    expect(claude.requests.length + backup.requests.length).toBe(before);
  });

  it('ends a stream that fails midway with the SSE error event the SDK raises', async () => {
    // Prepare
    claude.setBehaviour(replyWith({ content: [{ type: 'text', text: 'abcdefgh' }] }, { errorAfter: 4 }));

    // Act
    const stream = await client.chat.completions.create({ ...chat, stream: true });
    let text = '';
    const reading = (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })();

    // Assess
    await expect(reading).rejects.toThrow(/failed while streaming/);
    expect(text).toBe('abcd');
    claude.setBehaviour(replyText('Hello from the fake Claude.'));
  });

  it('relays each event as it arrives: a chunk reaches the client before Anthropic sends the next event', async () => {
    // Prepare: the fake holds every event after the first text delta until the client has seen that delta.
    let seen: () => void = () => {};
    const clientSawFirstPiece = new Promise<void>((resolve) => {
      seen = resolve;
    });
    claude.queue(
      replyWith(
        { content: [{ type: 'text', text: 'firstsecond' }] },
        { beforeEvent: async (index) => (index > 3 ? clientSawFirstPiece : undefined) },
      ),
    );

    // Act
    const stream = await client.chat.completions.create({ ...chat, stream: true });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (text === 'firsts') seen();
    }

    // Assess
    expect(text).toBe('firstsecond');
  });

  it('meters prompt-cache reads and writes at their own prices', async () => {
    // Prepare: 100 input tokens, 1,000 read from the cache, 2,000 written to it, 50 output
    claude.queue(
      replyWith({
        content: [{ type: 'text', text: 'cached' }],
        usage: {
          input_tokens: 100,
          output_tokens: 50,
          cache_read_input_tokens: 1_000,
          cache_creation_input_tokens: 2_000,
        },
      }),
    );

    // Act
    const { data, response } = await client.chat.completions.create(chat).withResponse();

    // Assess
    expect(data.usage).toMatchObject({
      prompt_tokens: 3_100,
      completion_tokens: 50,
      prompt_tokens_details: { cached_tokens: 1_000 },
    });
    // micro-USD: 100 × 3 + 1,000 × 0.3 + 2,000 × 3.75 + 50 × 15
    expect(recordOf(response.headers.get('x-request-id'))).toMatchObject({
      usage: { inputTokens: 3_100, cachedInputTokens: 1_000, cacheWriteTokens: 2_000, outputTokens: 50 },
      costMicroUsd: 300 + 300 + 7_500 + 750,
    });
  });

  it('fails over to the backup before the first byte when Anthropic throttles, with the translated request kept for Anthropic only', async () => {
    // Prepare
    claude.queue(
      anthropicError(429, 'rate_limit_error', 'Number of requests has exceeded your rate limit.', {
        'retry-after': '30',
      }),
    );
    const backupBefore = backup.requests.length;

    // Act
    const answer = await client.chat.completions.create(chat);

    // Assess
    expect(answer.choices[0]?.message.content).toBe('from the backup');
    expect(backup.requests.length).toBe(backupBefore + 1);
    expect(backup.requests.at(-1)!.json).toMatchObject({
      model: 'claude-sonnet-4-5',
      messages: chat.messages,
    });
  });
});

describe('the Gemini recipe (an openai-compatible target)', () => {
  it("sends a chat completion to Gemini's OpenAI-compatible path with its key as a bearer token", async () => {
    // Act
    const answer = await client.chat.completions.create({
      model: 'gemini-2.5-flash',
      messages: chat.messages,
    });

    // Assess
    expect(answer.choices[0]?.message.content).toBe('from the backup');
    const sent = backup.requests.at(-1)!;
    expect(sent.path).toBe('/v1beta/openai/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer gemini-test-key');
    expect(sent.json).toMatchObject({ model: 'gemini-2.5-flash', messages: chat.messages });
  });
});
