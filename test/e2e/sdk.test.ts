// The official OpenAI SDK as the client of the local gateway server, which answers from the built-in mock provider.
import OpenAI from 'openai';
import { withMockProvider } from '../../lambda/adapters/upstream/mock.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { type GatewayConfigInput, parseGatewayConfig } from '../../lambda/core/config.ts';
import { localConfig } from '../../lambda/entrypoints/local/defaults.ts';
import { UpstreamError, UpstreamFailure } from '../../lambda/ports.ts';
import { ControlledUpstream, chatChunk } from '../fixtures/lambda-controlled-upstream.ts';
import {
  type LocalGateway,
  rejectionOf,
  startLocalGateway,
  usageRecordOf,
} from '../fixtures/sdk-local-gateway.ts';

const PROMPT = 'Hello there';
/** What the mock provider answers to PROMPT, and the usage it reports (words; prompt + 3). */
const MOCK_REPLY = `This is the gateway's mock provider. You said: "${PROMPT}". Set OPENAI_API_KEY to talk to a real model.`;
const MOCK_USAGE = { prompt_tokens: 5, completion_tokens: 18, total_tokens: 23 };
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: PROMPT }] };

const mockGateway = (config: GatewayConfigInput = localConfig({})) => {
  const nodeUpstream = createNodeHttpUpstream();
  return {
    start: () => startLocalGateway(parseGatewayConfig(config), withMockProvider(nodeUpstream)),
    closeUpstream: () => nodeUpstream.close(),
  };
};

const deltaText = (chunks: readonly OpenAI.Chat.Completions.ChatCompletionChunk[]): string =>
  chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');

describe('OpenAI SDK → local gateway → mock provider', () => {
  const mock = mockGateway();
  let gateway: LocalGateway;
  let client: OpenAI;

  beforeAll(async () => {
    gateway = await mock.start();
    client = gateway.client();
  });
  afterAll(async () => {
    await gateway.close();
    mock.closeUpstream();
  });

  describe('chat completions', () => {
    it('returns the completion and its usage, and records the usage', async () => {
      // Act
      const { data: completion, request_id } = await client.chat.completions.create(CHAT).withResponse();

      // Assess
      expect(completion.object).toBe('chat.completion');
      expect(completion.choices[0]?.message).toEqual(
        expect.objectContaining({ role: 'assistant', content: MOCK_REPLY }),
      );
      expect(completion.usage).toEqual(MOCK_USAGE);
      const record = await usageRecordOf(gateway.ledger, request_id!);
      expect(record).toEqual(
        expect.objectContaining({
          tenantId: 'tenant-sdk',
          model: 'gpt-4o-mini',
          outcome: 'complete',
          usage: { inputTokens: 5, cachedInputTokens: 0, outputTokens: 18, reasoningTokens: 0 },
        }),
      );
    });

    it('streams the same content; without include_usage no chunk carries usage, yet the ledger has it', async () => {
      // Prepare
      const whole = await client.chat.completions.create(CHAT);

      // Act
      const { data: stream, request_id } = await client.chat.completions
        .create({ ...CHAT, stream: true })
        .withResponse();
      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);

      // Assess
      expect(chunks.length).toBeGreaterThan(2);
      expect(deltaText(chunks)).toBe(whole.choices[0]?.message.content);
      expect(chunks.filter((chunk) => chunk.usage != null)).toEqual([]);
      const record = await usageRecordOf(gateway.ledger, request_id!);
      expect(record.outcome).toBe('complete');
      expect(record.usage).toEqual({
        inputTokens: 5,
        cachedInputTokens: 0,
        outputTokens: 18,
        reasoningTokens: 0,
      });
    });

    it('with stream_options.include_usage, ends the stream with a usage chunk', async () => {
      // Act
      const stream = await client.chat.completions.create({
        ...CHAT,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);

      // Assess
      const last = chunks.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage).toEqual(MOCK_USAGE);
      expect(chunks.slice(0, -1).filter((chunk) => chunk.usage != null)).toEqual([]);
      expect(deltaText(chunks)).toBe(MOCK_REPLY);
    });
  });

  describe('embeddings', () => {
    it('returns a unit vector of the default length, the same one on every call for the same input', async () => {
      // Act
      const first = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
      const again = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
      const other = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'goodbye' });

      // Assess
      const vector = first.data[0]!.embedding;
      expect(vector).toHaveLength(16);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 6);
      expect(again.data[0]!.embedding).toEqual(vector);
      expect(other.data[0]!.embedding).not.toEqual(vector);
      expect(first.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
    });

    it('honours dimensions and returns one vector per input, in order', async () => {
      // Act
      const result = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: ['hello world', 'goodbye'],
        dimensions: 8,
      });
      const single = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'goodbye',
        dimensions: 8,
      });

      // Assess
      expect(result.data.map((entry) => [entry.index, entry.embedding.length])).toEqual([
        [0, 8],
        [1, 8],
      ]);
      expect(result.data[1]!.embedding).toEqual(single.data[0]!.embedding);
    });
  });

  describe('models', () => {
    it('lists the exactly-routed models of the config', async () => {
      // Prepare
      const configured = parseGatewayConfig(localConfig({}))
        .routes.filter((route) => route.match === 'exact')
        .map((route) => route.model);

      // Act
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);

      // Assess
      expect(configured.length).toBeGreaterThan(0);
      expect(ids).toEqual(configured);
    });

    it('retrieves one model', async () => {
      // Act
      const model = await client.models.retrieve('gpt-4o');

      // Assess
      expect(model).toEqual(
        expect.objectContaining({
          id: 'gpt-4o',
          object: 'model',
          owned_by: 'gateway',
          created: expect.any(Number),
        }),
      );
    });
  });

  describe('errors, as the SDK raises them', () => {
    it('a wrong key is a 401 AuthenticationError', async () => {
      // Prepare
      const stranger = gateway.client('sk-gw-not-a-real-key-00000000');

      // Act
      const error = await rejectionOf(stranger.chat.completions.create(CHAT));

      // Assess
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(error).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
      expect((error as InstanceType<typeof OpenAI.APIError>).requestID).toEqual(expect.any(String));
    });

    it('an unknown model is a 404 NotFoundError naming the model', async () => {
      // Act
      const error = await rejectionOf(
        client.chat.completions.create({ ...CHAT, model: 'nonexistent-model' }),
      );

      // Assess
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
      expect((error as Error).message).toBe(
        "404 The model 'nonexistent-model' does not exist or you do not have access to it.",
      );
    });

    it('retrieving an unknown model is a 404 NotFoundError', async () => {
      // Act
      const error = await rejectionOf(client.models.retrieve('nonexistent-model'));

      // Assess
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error).toMatchObject({ status: 404, code: 'model_not_found' });
    });
  });
});

describe('OpenAI SDK → local gateway with a small body limit', () => {
  const mock = mockGateway({ ...localConfig({}), limits: { maxBodyBytes: 1024 } });
  let gateway: LocalGateway;

  beforeAll(async () => {
    gateway = await mock.start();
  });
  afterAll(async () => {
    await gateway.close();
    mock.closeUpstream();
  });

  it('refuses a body over the limit with a 413 APIError', async () => {
    // Prepare
    const client = gateway.client();
    const tooLong = 'x'.repeat(2048);

    // Act
    const error = await rejectionOf(
      client.chat.completions.create({ ...CHAT, messages: [{ role: 'user', content: tooLong }] }),
    );

    // Assess
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: 413, code: 'request_too_large', type: 'invalid_request_error' });
    expect((error as Error).message).toBe('413 Request body is larger than the limit of 1024 bytes.');
  });

  it('still serves a body under the limit', async () => {
    // Act
    const completion = await gateway.client().chat.completions.create(CHAT);

    // Assess
    expect(completion.choices[0]?.message.content).toBe(MOCK_REPLY);
  });
});

describe('OpenAI SDK → local gateway, upstream failing mid-stream', () => {
  const upstream = new ControlledUpstream({
    onSend: (body) =>
      body
        .send(chatChunk('Hel'))
        .send(chatChunk('lo'))
        .fail(new UpstreamError(UpstreamFailure.reset, 'upstream closed the connection mid-response')),
  });
  let gateway: LocalGateway;

  beforeAll(async () => {
    gateway = await startLocalGateway(
      parseGatewayConfig({
        routes: [
          {
            model: 'gpt-4o-mini',
            targets: [{ id: 'flaky', provider: 'openai-compatible', baseUrl: 'http://upstream.invalid/v1' }],
          },
        ],
        retry: { maxAttempts: 1 },
      }),
      upstream,
    );
  });
  afterAll(async () => {
    await gateway.close();
  });

  it('delivers the chunks sent so far, then throws an APIError from the SSE error event', async () => {
    // Prepare
    const client = gateway.client();
    const { data: stream, request_id } = await client.chat.completions
      .create({ ...CHAT, stream: true })
      .withResponse();
    const received: string[] = [];

    // Act
    const error = await rejectionOf(
      (async () => {
        for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
      })(),
    );

    // Assess
    expect(received).toEqual(['Hel', 'lo']);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ code: 'upstream_error', type: 'server_error' });
    expect((error as Error).message).toBe(
      `The upstream provider failed while streaming the response. (request id: ${request_id})`,
    );
    const record = await usageRecordOf(gateway.ledger, request_id!);
    expect(record.outcome).toBe('upstream_error');
  });
});
