// The fake Bedrock runtime answers Claude's Messages bodies as Bedrock does: the official
// @aws-sdk/client-bedrock-runtime signs InvokeModel and InvokeModelWithResponseStream requests, parses the message,
// decodes the event stream's `chunk` frames (checksums included) and raises its exceptions as its own classes.
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { claudeWith, type FakeBedrock, startFakeBedrock } from '../fixtures/fake-bedrock.ts';

let fake: FakeBedrock;
let client: BedrockRuntimeClient;

beforeAll(async () => {
  fake = await startFakeBedrock();
  client = new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: fake.baseUrl,
    credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake-secret' },
    maxAttempts: 1,
    // The client speaks HTTP/2 by default (for its bidirectional stream); the fake, like the gateway, HTTP/1.1.
    requestHandler: new NodeHttpHandler(),
  });
});
afterAll(async () => {
  client.destroy();
  await fake.close();
});

const modelId = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    anthropic_version: 'bedrock-2023-05-31',
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Hi' }],
    ...extra,
  });
const text = new TextDecoder();

/** The Anthropic events of an InvokeModelWithResponseStream answer, decoded from the SDK's chunks. */
const eventsOf = async (extra: Record<string, unknown> = {}) => {
  const answer = await client.send(
    new InvokeModelWithResponseStreamCommand({ modelId, body: body(extra), contentType: 'application/json' }),
  );
  const events: Array<Record<string, unknown>> = [];
  for await (const part of answer.body ?? []) {
    if (part.chunk?.bytes !== undefined) events.push(JSON.parse(text.decode(part.chunk.bytes)));
  }
  return events;
};

describe('the fake Bedrock runtime for Claude Messages bodies, driven by @aws-sdk/client-bedrock-runtime', () => {
  it("answers InvokeModel with Anthropic's message, and records the body that reached it", async () => {
    // Act
    const answer = await client.send(
      new InvokeModelCommand({ modelId, body: body(), contentType: 'application/json' }),
    );

    // Assess
    expect(JSON.parse(text.decode(answer.body))).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello from Claude on the fake Bedrock.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 21, output_tokens: 9 },
    });
    expect(fake.requests.at(-1)).toMatchObject({
      modelId,
      action: 'invoke',
      body: { anthropic_version: 'bedrock-2023-05-31', max_tokens: 256 },
    });
  });

  it('calls the first tool when tools are given, and counts the prompt cache when cache_control appears', async () => {
    // Prepare
    fake.queue(claudeWith({ toolInput: { city: 'Paris' } }));

    // Act
    const answer = await client.send(
      new InvokeModelCommand({
        modelId,
        contentType: 'application/json',
        body: body({
          system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
          tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
        }),
      }),
    );

    // Assess
    expect(JSON.parse(text.decode(answer.body))).toMatchObject({
      content: [{ type: 'text' }, { type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } }],
      stop_reason: 'tool_use',
      usage: { cache_creation_input_tokens: 1024, cache_read_input_tokens: 2048 },
    });
  });

  it("streams Anthropic's events as chunks the SDK decodes, Bedrock's metrics on message_stop", async () => {
    // Act
    const events = await eventsOf();

    // Assess
    expect(events.map((event) => event.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const deltas = events.map((event) => (event.delta as { text?: string } | undefined)?.text ?? '').join('');
    expect(deltas).toBe('Hello from Claude on the fake Bedrock.');
    expect(events.at(-1)).toHaveProperty('amazon-bedrock-invocationMetrics.outputTokenCount', 9);
    expect(fake.requests.at(-1)).toMatchObject({ modelId, action: 'invoke-with-response-stream' });
  });

  it('ends a stream with the exception it was told to send, which the SDK raises as its own class', async () => {
    // Prepare
    fake.queue(claudeWith({}, { errorAfter: 2, exception: 'throttlingException' }));

    // Act and assess
    await expect(eventsOf()).rejects.toBeInstanceOf(ThrottlingException);
  });

  it('refuses a body that names the model or asks to stream, as Bedrock does', async () => {
    // Act and assess
    for (const extra of [{ model: 'claude-sonnet-4-5' }, { stream: true }])
      await expect(
        client.send(new InvokeModelCommand({ modelId, body: body(extra), contentType: 'application/json' })),
      ).rejects.toBeInstanceOf(ValidationException);
    await expect(
      client.send(
        new InvokeModelCommand({
          modelId,
          contentType: 'application/json',
          body: JSON.stringify({ max_tokens: 8, messages: [] }),
        }),
      ),
    ).rejects.toBeInstanceOf(ValidationException);
  });
});
