// The fake Anthropic API speaks what Anthropic speaks: the official @anthropic-ai/sdk parses its messages, streams
// (text, thinking and tool input deltas) and errors as it parses Anthropic's.
import Anthropic from '@anthropic-ai/sdk';
import {
  anthropicError,
  type FakeAnthropic,
  replyWith,
  startFakeAnthropic,
} from '../fixtures/fake-anthropic.ts';

let fake: FakeAnthropic;
let client: Anthropic;

beforeAll(async () => {
  fake = await startFakeAnthropic();
  client = new Anthropic({
    apiKey: 'sk-ant-test',
    baseURL: fake.baseUrl.replace(/\/v1$/, ''),
    maxRetries: 0,
  });
});
afterAll(async () => {
  await fake.close();
});

const ask = {
  model: 'claude-sonnet-4-5',
  max_tokens: 100,
  messages: [{ role: 'user' as const, content: 'Hi' }],
};

describe('the fake Anthropic API, driven by @anthropic-ai/sdk', () => {
  it('answers a message the SDK reads whole, with its headers checked', async () => {
    // Act
    const answer = await client.messages.create(ask);

    // Assess
    expect(answer).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Hello from the fake Claude.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 21, output_tokens: 9 },
    });
    const seen = fake.requests.at(-1)!;
    // The 1.x SDK sends the key as a bearer token; the gateway, as Anthropic documents, as x-api-key: both are taken.
    expect(seen.headers['x-api-key'] ?? seen.headers.authorization?.replace(/^Bearer /, '')).toBe(
      'sk-ant-test',
    );
    // The 1.x SDK pins API version 2026-10-21; the fake, like the API, needs one and answers in the same shape.
    expect(seen.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('streams text, thinking and tool input that the SDK assembles into the same message', async () => {
    // Prepare
    fake.queue(
      replyWith({
        content: [
          { type: 'thinking', thinking: 'The user wants the weather.' },
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', unit: 'c' } },
        ],
        usage: {
          input_tokens: 50,
          output_tokens: 30,
          cache_read_input_tokens: 10,
          cache_creation_input_tokens: 5,
        },
      }),
    );

    // Act
    const stream = client.messages.stream({ ...ask, stream: true });
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    const final = await stream.finalMessage();

    // Assess
    expect(final.content).toEqual([
      { type: 'thinking', thinking: 'The user wants the weather.', signature: 'sig' },
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', unit: 'c' } },
    ]);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({
      output_tokens: 30,
      cache_read_input_tokens: 10,
      cache_creation_input_tokens: 5,
    });
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
  });

  it('refuses the way Anthropic does: the SDK raises its own error classes', async () => {
    // Prepare
    fake.queue(anthropicError(429, 'rate_limit_error', 'Slow down.', { 'retry-after': '3' }));
    fake.queue(anthropicError(529, 'overloaded_error', 'Overloaded'));

    // Act and assess
    await expect(client.messages.create(ask)).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    await expect(client.messages.create(ask)).rejects.toMatchObject({ status: 529 });
  });

  it('ends a stream with an error event the SDK raises', async () => {
    // Prepare
    fake.queue(replyWith({ content: [{ type: 'text', text: 'abcdef' }] }, { errorAfter: 4 }));

    // Act
    const stream = client.messages.stream({ ...ask, stream: true });

    // Assess
    await expect(stream.finalMessage()).rejects.toThrow(/Overloaded/);
  });
});
