// The fake Bedrock runtime speaks what Bedrock speaks: the official @aws-sdk/client-bedrock-runtime signs its
// requests, and parses its Converse answers, ConverseStream event streams (checksums included), embeddings and errors.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  ThrottlingException,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { bedrockError, converseWith, type FakeBedrock, startFakeBedrock } from '../fixtures/fake-bedrock.ts';

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
const messages = [{ role: 'user' as const, content: [{ text: 'Hi' }] }];

describe('the fake Bedrock runtime, driven by @aws-sdk/client-bedrock-runtime', () => {
  it('answers Converse, to a signed request with the model id in its path', async () => {
    // Act
    const answer = await client.send(new ConverseCommand({ modelId, messages }));

    // Assess
    expect(answer.output?.message?.content).toEqual([{ text: 'Hello from the fake Bedrock.' }]);
    expect(answer.stopReason).toBe('end_turn');
    expect(answer.usage).toMatchObject({ inputTokens: 19, outputTokens: 8 });
    expect(fake.requests.at(-1)).toMatchObject({ modelId, action: 'converse' });
  });

  it('streams ConverseStream events the SDK decodes: text, reasoning, tool use and the metadata', async () => {
    // Prepare
    fake.queue(
      converseWith({
        content: [
          { reasoningContent: { reasoningText: { text: 'Think.' } } },
          { text: 'Looking it up.' },
          { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } },
        ],
        usage: { cacheReadInputTokens: 5, cacheWriteInputTokens: 7 },
      }),
    );

    // Act
    const answer = await client.send(new ConverseStreamCommand({ modelId, messages }));
    const events: Array<Record<string, unknown>> = [];
    for await (const event of answer.stream ?? []) events.push(event as unknown as Record<string, unknown>);

    // Assess
    const kinds = events.map((event) => Object.keys(event)[0]);
    expect(kinds[0]).toBe('messageStart');
    expect(kinds.slice(-2)).toEqual(['messageStop', 'metadata']);
    const text = events
      .map(
        (event) => (event.contentBlockDelta as { delta?: { text?: string } } | undefined)?.delta?.text ?? '',
      )
      .join('');
    expect(text).toBe('Looking it up.');
    expect(events.find((event) => 'contentBlockStart' in event)).toMatchObject({
      contentBlockStart: { start: { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather' } } },
    });
    expect(events.at(-1)).toMatchObject({
      metadata: { usage: { cacheReadInputTokens: 5, cacheWriteInputTokens: 7 } },
    });
  });

  it('answers InvokeModel for Titan embeddings', async () => {
    // Act
    const answer = await client.send(
      new InvokeModelCommand({
        modelId: 'amazon.titan-embed-text-v2:0',
        body: JSON.stringify({ inputText: 'hello', dimensions: 256 }),
        contentType: 'application/json',
      }),
    );

    // Assess
    const body = JSON.parse(new TextDecoder().decode(answer.body));
    expect(body.embedding).toHaveLength(256);
    expect(body.inputTextTokenCount).toBe(3);
  });

  it("refuses with Bedrock's error types, which the SDK raises as its own classes", async () => {
    // Prepare
    fake.queue(
      bedrockError(429, 'ThrottlingException', 'Too many requests, please wait before trying again.'),
    );

    // Act and assess
    await expect(client.send(new ConverseCommand({ modelId, messages }))).rejects.toBeInstanceOf(
      ThrottlingException,
    );
  });

  it('ends a stream with an exception the SDK raises', async () => {
    // Prepare
    fake.queue(converseWith({ content: [{ text: 'abcdef' }] }, { errorAfter: 2 }));

    // Act
    const answer = await client.send(new ConverseStreamCommand({ modelId, messages }));
    const reading = (async () => {
      for await (const _event of answer.stream ?? []);
    })();

    // Assess
    await expect(reading).rejects.toMatchObject({ name: 'ModelStreamErrorException' });
  });
});
