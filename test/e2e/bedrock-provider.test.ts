// A `bedrock` target behind the OpenAI API: the official openai SDK against the local gateway as `npm start` builds
// it (createLocalApp), a fake Bedrock runtime (checked against the AWS SDK in bedrock-fake.test.ts), and a fake
// Anthropic API in front of it on one route, all recording what reached them.
import type OpenAI from 'openai';
import { anthropicError, type FakeAnthropic, startFakeAnthropic } from '../fixtures/fake-anthropic.ts';
import {
  bedrockError,
  converseText,
  converseWith,
  type FakeBedrock,
  startFakeBedrock,
  vectorOf,
} from '../fixtures/fake-bedrock.ts';
import { type RunningLocalApp, startLocalApp } from '../fixtures/local-app.ts';

const CLAUDE = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const savedEnv = { ...process.env };
let bedrock: FakeBedrock;
let anthropic: FakeAnthropic;
let running: RunningLocalApp;
let client: OpenAI;

beforeAll(async () => {
  bedrock = await startFakeBedrock();
  anthropic = await startFakeAnthropic();
  // The signer takes the AWS SDK's default credentials: here, the environment's.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIAGATEWAYTEST',
    AWS_SECRET_ACCESS_KEY: 'gateway-test-secret',
  });
  delete process.env.AWS_PROFILE;
  const onBedrock = (id: string, model: string, extra: Record<string, unknown> = {}) => ({
    id,
    provider: 'bedrock',
    region: 'us-east-1',
    baseUrl: bedrock.baseUrl,
    model,
    ...extra,
  });
  const config = {
    routes: [
      { model: 'claude-bedrock', targets: [onBedrock('bedrock', CLAUDE)] },
      {
        model: 'claude-guarded',
        targets: [onBedrock('guarded', CLAUDE, { guardrail: { id: 'gr-123', version: '2' } })],
      },
      {
        // Claude on Anthropic, with Bedrock as the backup.
        model: 'claude-sonnet-4-5',
        targets: [
          {
            id: 'anthropic',
            provider: 'anthropic',
            baseUrl: anthropic.baseUrl,
            secretName: 'anthropic-api-key',
          },
          { ...onBedrock('bedrock-backup', CLAUDE), priority: 1 },
        ],
      },
      { model: 'titan-embed', targets: [onBedrock('titan', 'amazon.titan-embed-text-v2:0')] },
      { model: 'cohere-embed', targets: [onBedrock('cohere', 'cohere.embed-english-v3')] },
    ],
    tiers: { default: { monthlyBudgetUsd: 100 } },
    prices: {
      'claude-*': { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 },
      'titan-embed': { input: 0.02, output: 0 },
      'cohere-embed': { input: 0.1, output: 0 },
    },
  };
  running = await startLocalApp(config, {
    ANTHROPIC_API_KEY: 'sk-ant-test',
  });
  ({ client } = running);
});

afterAll(async () => {
  await running.close();
  await bedrock.close();
  await anthropic.close();
  process.env = savedEnv;
});

const chat = {
  model: 'claude-bedrock',
  messages: [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Hello' },
  ],
};
const lastRequest = () => bedrock.requests.at(-1)!;
const recordOf = (requestId: string | null) => running.recordOf(requestId);

describe('a bedrock target behind chat completions', () => {
  it('answers a chat completion through Converse, signed with SigV4 for bedrock in the target region', async () => {
    // Act
    const { data, response } = await client.chat.completions
      .create({
        ...chat,
        max_completion_tokens: 300,
        temperature: 0.2,
        top_p: 0.9,
        stop: ['END'],
        user: 'u-1',
      })
      .withResponse();

    // Assess
    expect(data).toMatchObject({
      object: 'chat.completion',
      model: CLAUDE,
      choices: [
        { message: { role: 'assistant', content: 'Hello from the fake Bedrock.' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 19, completion_tokens: 8, total_tokens: 27 },
    });
    const sent = lastRequest();
    expect(sent).toMatchObject({ modelId: CLAUDE, action: 'converse' });
    expect(sent.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAGATEWAYTEST\/\d{8}\/us-east-1\/bedrock\/aws4_request, /,
    );
    expect(sent.body).toEqual({
      messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
      system: [{ text: 'You are terse.' }],
      inferenceConfig: { maxTokens: 300, temperature: 0.2, topP: 0.9, stopSequences: ['END'] },
    });
    expect(recordOf(response.headers.get('x-request-id'))).toMatchObject({
      targetId: 'bedrock',
      exact: true,
      usage: { inputTokens: 19, outputTokens: 8 },
    });
  });

  it('streams ConverseStream as chat.completion.chunk events, usage only when asked, metered either way', async () => {
    // Prepare
    bedrock.queue(
      converseWith({
        content: [{ reasoningContent: { reasoningText: { text: 'Hmm.' } } }, { text: 'Streamed answer.' }],
        usage: { inputTokens: 10, outputTokens: 4, cacheReadInputTokens: 20, cacheWriteInputTokens: 30 },
      }),
    );

    // Act
    const stream = await client.chat.completions.create({
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const { data: plain, response } = await client.chat.completions
      .create({ ...chat, stream: true })
      .withResponse();
    let text = '';
    let usageChunks = 0;
    for await (const chunk of plain) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunks += 1;
    }

    // Assess
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('Streamed answer.');
    const reasoning = chunks.map(
      (chunk) =>
        (chunk.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '',
    );
    expect(reasoning.join('')).toBe('Hmm.');
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 60, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 20 } },
    });
    expect(lastRequest().action).toBe('converse-stream');
    expect(text).toBe('Hello from the fake Bedrock.');
    expect(usageChunks).toBe(0);
    expect(recordOf(response.headers.get('x-request-id'))).toMatchObject({
      exact: true,
      usage: { outputTokens: 8 },
    });
  });

  it('makes a tool-calling round trip through toolConfig, toolUse and toolResult', async () => {
    // Prepare
    const tools: OpenAI.ChatCompletionFunctionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    bedrock.queue(
      converseWith({
        content: [{ toolUse: { toolUseId: 'tooluse_A', name: 'get_weather', input: { city: 'Oslo' } } }],
      }),
      converseWith({
        content: [{ toolUse: { toolUseId: 'tooluse_B', name: 'get_weather', input: { city: 'Rome' } } }],
      }),
      converseText('Cold in Oslo.'),
    );

    // Act
    const first = await client.chat.completions.create({ ...chat, tools, tool_choice: 'auto' });
    const streamed = await client.chat.completions.create({ ...chat, tools, stream: true });
    let args = '';
    let callId: string | undefined;
    for await (const chunk of streamed) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        callId ??= call.id;
        args += call.function?.arguments ?? '';
      }
    }
    const toolCalls = first.choices[0]!.message.tool_calls!;
    const answer = await client.chat.completions.create({
      ...chat,
      tools,
      messages: [
        ...chat.messages,
        { role: 'assistant', content: null, tool_calls: toolCalls },
        { role: 'tool', tool_call_id: toolCalls[0]!.id, content: '-3°C' },
      ],
    });

    // Assess
    expect(first.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        tool_calls: [
          {
            id: 'tooluse_A',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          },
        ],
      },
    });
    expect(callId).toBe('tooluse_B');
    expect(args).toBe('{"city":"Rome"}');
    expect(bedrock.requests.at(-3)!.body.toolConfig).toEqual({
      tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: tools[0]!.function.parameters } } }],
      toolChoice: { auto: {} },
    });
    expect(lastRequest().body.messages).toEqual([
      { role: 'user', content: [{ text: 'Hello' }] },
      {
        role: 'assistant',
        content: [{ toolUse: { toolUseId: 'tooluse_A', name: 'get_weather', input: { city: 'Oslo' } } }],
      },
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_A', content: [{ text: '-3°C' }] } }] },
    ]);
    expect(answer.choices[0]?.message.content).toBe('Cold in Oslo.');
  });

  it('sends a data-URL image as image bytes, a JSON schema as structured output, and a guardrail when configured', async () => {
    // Prepare
    const pixel = 'R0lGODlhAQABAAAAACw=';

    // Act
    await client.chat.completions.create({
      ...chat,
      model: 'claude-guarded',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is it?' },
            { type: 'image_url', image_url: { url: `data:image/gif;base64,${pixel}` } },
          ],
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'thing', schema: { type: 'object', properties: { name: { type: 'string' } } } },
      },
    });

    // Assess
    expect(lastRequest().body).toMatchObject({
      messages: [
        {
          role: 'user',
          content: [{ text: 'What is it?' }, { image: { format: 'gif', source: { bytes: pixel } } }],
        },
      ],
      outputConfig: {
        textFormat: {
          type: 'json_schema',
          structure: {
            jsonSchema: {
              name: 'thing',
              schema: '{"type":"object","properties":{"name":{"type":"string"}}}',
            },
          },
        },
      },
      guardrailConfig: { guardrailIdentifier: 'gr-123', guardrailVersion: '2' },
    });
  });

  it.each([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['logit_bias', { logit_bias: { '1': 5 } }],
    ['audio', { audio: { voice: 'alloy', format: 'wav' }, modalities: ['text', 'audio'] }],
    ['response_format', { response_format: { type: 'json_object' } }],
    [
      'messages.0.content.0.image_url.url',
      {
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
        ],
      },
    ],
  ])('refuses %s with a 400 that names it and the target, and sends nothing', async (param, extra) => {
    // Prepare
    const before = bedrock.requests.length;

    // Act
    const refused = client.chat.completions.create({
      ...chat,
      ...extra,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);

    // Assess
    await expect(refused).rejects.toMatchObject({
      status: 400,
      param,
      message: expect.stringMatching(/target 'bedrock' \(bedrock\)/i),
    });
    expect(bedrock.requests.length).toBe(before);
  });

  it("passes a validation error on as a 400 with Bedrock's message", async () => {
    // Prepare
    bedrock.queue(
      bedrockError(
        400,
        'ValidationException',
        'The model returned the following errors: max_tokens too large',
      ),
    );

    // Act and assess
    await expect(client.chat.completions.create(chat)).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('max_tokens too large'),
    });
  });

  it('tells the operator which model access or IAM permission is missing when Bedrock denies access', async () => {
    // Prepare
    bedrock.queue(
      bedrockError(
        403,
        'AccessDeniedException',
        "You don't have access to the model with the specified model ID.",
      ),
    );

    // Act and assess
    await expect(client.chat.completions.create(chat)).rejects.toMatchObject({
      status: 502,
      message: expect.stringContaining('bedrock:InvokeModel'),
    });
  });

  it('answers a retryable 503 when the model is not ready, and lists the configured models', async () => {
    // Prepare: not ready twice (the answer, then nothing else is tried: the route has one target)
    bedrock.queue(bedrockError(429, 'ModelNotReadyException', 'Model is not ready for inference.'));

    // Act
    const error = (await client.chat.completions.create(chat).then(
      () => undefined,
      (caught: unknown) => caught,
    )) as InstanceType<typeof OpenAI.APIError>;
    const models = await client.models.list();

    // Assess
    expect(error).toMatchObject({ status: 503, code: 'upstream_not_ready' });
    expect(error.headers?.get('retry-after')).toBe('5');
    expect(models.data.map((model) => model.id)).toEqual(
      expect.arrayContaining(['claude-bedrock', 'claude-sonnet-4-5', 'titan-embed', 'cohere-embed']),
    );
  });

  it('ends a stream that fails midway with the SSE error event the SDK raises', async () => {
    // Prepare
    bedrock.queue(converseWith({ content: [{ text: 'abcdefgh' }] }, { errorAfter: 2 }));

    // Act
    const stream = await client.chat.completions.create({ ...chat, stream: true });
    let text = '';
    const reading = (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })();

    // Assess
    await expect(reading).rejects.toThrow(/failed while streaming/);
    expect(text).toBe('abcd');
  });

  it('relays each event as it arrives: a chunk reaches the client before Bedrock sends the next event', async () => {
    // Prepare: events after the first text delta wait until the client has seen it.
    let seen: () => void = () => {};
    const clientSawFirstPiece = new Promise<void>((resolve) => {
      seen = resolve;
    });
    bedrock.queue(
      converseWith(
        { content: [{ text: 'firstsecond' }] },
        { beforeEvent: (index) => (index > 1 ? clientSawFirstPiece : undefined) },
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

  it('fails over from Anthropic to Bedrock before the first byte when Anthropic throttles', async () => {
    // Prepare
    anthropic.queue(anthropicError(429, 'rate_limit_error', 'Slow down.', { 'retry-after': '0' }));
    const before = bedrock.requests.length;

    // Act
    const answer = await client.chat.completions.create({ ...chat, model: 'claude-sonnet-4-5' });

    // Assess
    expect(answer.choices[0]?.message.content).toBe('Hello from the fake Bedrock.');
    expect(bedrock.requests.length).toBe(before + 1);
    expect(lastRequest()).toMatchObject({ modelId: CLAUDE, action: 'converse' });
  });
});

describe('a bedrock target behind embeddings', () => {
  it('embeds with Titan v2: dimensions honoured, floats or base64, usage from the answer', async () => {
    // Act
    const floats = await client.embeddings.create({ model: 'titan-embed', input: 'hello', dimensions: 256 });
    const base64 = await client.embeddings.create({
      model: 'titan-embed',
      input: 'hello',
      encoding_format: 'base64',
    });

    // Assess
    expect(floats.data).toHaveLength(1);
    expect(floats.data[0]?.embedding).toHaveLength(256);
    expect(floats.data[0]?.embedding[0]).toBeCloseTo(vectorOf('hello', 256)[0]!, 6);
    expect(floats.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(bedrock.requests.at(-2)!.body).toEqual({ inputText: 'hello', dimensions: 256, normalize: true });
    const raw = (base64.data[0] as unknown as { embedding: string }).embedding;
    const decoded = new Float32Array(new Uint8Array(Buffer.from(raw, 'base64')).buffer);
    expect(decoded).toHaveLength(1024);
    expect(decoded[1]).toBeCloseTo(vectorOf('hello', 1024)[1]!, 6);
  });

  it('embeds several texts in one call with Cohere Embed, usage from the token header', async () => {
    // Act
    const answer = await client.embeddings.create({ model: 'cohere-embed', input: ['one', 'two'] });

    // Assess
    expect(answer.data.map((item) => item.index)).toEqual([0, 1]);
    expect(answer.data[1]?.embedding[0]).toBeCloseTo(vectorOf('two', 1024)[0]!, 6);
    expect(answer.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
    expect(lastRequest()).toMatchObject({
      modelId: 'cohere.embed-english-v3',
      action: 'invoke',
      body: { texts: ['one', 'two'], input_type: 'search_document', embedding_types: ['float'] },
    });
  });

  it('refuses what the model cannot do with a 400: several inputs for Titan, dimensions for Cohere v3', async () => {
    await expect(client.embeddings.create({ model: 'titan-embed', input: ['a', 'b'] })).rejects.toMatchObject(
      {
        status: 400,
        param: 'input',
      },
    );
    await expect(
      client.embeddings.create({ model: 'cohere-embed', input: 'a', dimensions: 256 }),
    ).rejects.toMatchObject({
      status: 400,
      param: 'dimensions',
    });
  });
});
