import {
  createAnthropicStreamUsage,
  usageFromAnthropic,
  usageFromJsonTail,
  usageFromOpenAI,
} from '../../lambda/core/usage.ts';

describe('usageFromOpenAI', () => {
  it.each([
    [
      'chat completions with details',
      {
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 2 },
      },
      { inputTokens: 10, cachedInputTokens: 4, outputTokens: 5, reasoningTokens: 2 },
    ],
    [
      'embeddings',
      { prompt_tokens: 8, total_tokens: 8 },
      { inputTokens: 8, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    ],
    [
      'the Responses API',
      {
        input_tokens: 3,
        output_tokens: 4,
        input_tokens_details: { cached_tokens: 1 },
        output_tokens_details: { reasoning_tokens: 2 },
      },
      { inputTokens: 3, cachedInputTokens: 1, outputTokens: 4, reasoningTokens: 2 },
    ],
    [
      'nonsense counts as zero',
      { prompt_tokens: -3, completion_tokens: 'x' },
      { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    ],
  ])('reads %s', (_name, usage, expected) => {
    expect(usageFromOpenAI(usage)).toEqual(expected);
  });

  it.each([[null], [undefined], [{}], ['usage']])('finds nothing in %j', (usage) => {
    expect(usageFromOpenAI(usage)).toBeUndefined();
  });
});

describe('usageFromJsonTail', () => {
  const completion = {
    id: 'c',
    choices: [{ message: { content: 'He wrote "usage": {"prompt_tokens": 999} in his notes' } }],
    usage: {
      prompt_tokens: 12,
      completion_tokens: 3,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 2 },
    },
    system_fingerprint: 'fp',
  };

  it('takes the real usage object, not text that looks like one inside a string', () => {
    expect(usageFromJsonTail(JSON.stringify(completion))).toEqual({
      inputTokens: 12,
      cachedInputTokens: 2,
      outputTokens: 3,
      reasoningTokens: 0,
    });
  });

  it('works on the tail of a body whose beginning was cut off', () => {
    const text = JSON.stringify({
      data: [{ embedding: Array.from({ length: 5000 }, () => 0.123456) }],
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    expect(usageFromJsonTail(text.slice(-200))).toEqual({
      inputTokens: 7,
      cachedInputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it.each([['{"id":"x","choices":[]}'], ['"usage": null}'], ['"usage": 5, "x": {"usage": "none"}']])(
    'returns undefined when %j has no usage object',
    (tail) => {
      expect(usageFromJsonTail(tail)).toBeUndefined();
    },
  );

  it('skips a candidate that is not an object and finds an earlier real one', () => {
    expect(usageFromJsonTail('{"usage":{"prompt_tokens":4},"meta":{"usage":null}}')).toEqual({
      inputTokens: 4,
      cachedInputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });
});

describe('usageFromAnthropic', () => {
  it.each([
    [
      'no prompt cache',
      { input_tokens: 25, output_tokens: 9 },
      { inputTokens: 25, cachedInputTokens: 0, outputTokens: 9, reasoningTokens: 0 },
    ],
    [
      // Anthropic's input_tokens leaves the cache out; the gateway's inputTokens counts it.
      'cache reads and writes, counted into the input',
      {
        input_tokens: 20,
        cache_creation_input_tokens: 300,
        cache_read_input_tokens: 1_000,
        cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 0 },
        output_tokens: 7,
        server_tool_use: { web_search_requests: 0 },
        service_tier: 'standard',
      },
      {
        inputTokens: 1_320,
        cachedInputTokens: 1_000,
        outputTokens: 7,
        reasoningTokens: 0,
        cacheWriteTokens: 300,
      },
    ],
    [
      'cache reads alone: no cache write',
      { input_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 40, output_tokens: 2 },
      { inputTokens: 45, cachedInputTokens: 40, outputTokens: 2, reasoningTokens: 0 },
    ],
    [
      'null counts as zero',
      {
        input_tokens: 12,
        cache_creation_input_tokens: null,
        cache_read_input_tokens: null,
        output_tokens: null,
      },
      { inputTokens: 12, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    ],
    [
      'output alone',
      { output_tokens: 3 },
      { inputTokens: 0, cachedInputTokens: 0, outputTokens: 3, reasoningTokens: 0 },
    ],
  ])('reads %s', (_name, usage, expected) => {
    // Act
    const read = usageFromAnthropic(usage);

    // Assess
    expect(read).toEqual(expected);
  });

  it.each([[null], [undefined], [{}], ['usage'], [{ cache_read_input_tokens: 4 }]])(
    'finds nothing in %j',
    (usage) => {
      expect(usageFromAnthropic(usage)).toBeUndefined();
    },
  );
});

describe('usageFromJsonTail on an Anthropic message', () => {
  const message = {
    id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-20250514',
    content: [
      {
        type: 'text',
        text: 'The API answers with "usage": {"input_tokens": 999, "output_tokens": 999} at the end.',
      },
      { type: 'tool_use', id: 'toolu_1', name: 'record', input: { usage: { input_tokens: 5 } } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: {
      input_tokens: 10,
      cache_creation_input_tokens: 100,
      cache_read_input_tokens: 2_000,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
      output_tokens: 42,
      server_tool_use: { web_search_requests: 1 },
      service_tier: 'standard',
    },
  };

  it('reads the real usage (with its nested objects), not text or tool input that looks like one', () => {
    // Prepare
    const body = JSON.stringify(message);

    // Act
    const usage = usageFromJsonTail(body, usageFromAnthropic);

    // Assess
    expect(usage).toEqual({
      inputTokens: 2_110,
      cachedInputTokens: 2_000,
      outputTokens: 42,
      reasoningTokens: 0,
      cacheWriteTokens: 100,
    });
  });

  it('reads it from the tail of a long message, pretty-printed too', () => {
    // Prepare
    const long = { ...message, content: [{ type: 'text', text: 'usage '.repeat(5_000) }] };
    const tail = JSON.stringify(long, null, 2).slice(-600);

    // Act
    const usage = usageFromJsonTail(tail, usageFromAnthropic);

    // Assess
    expect(usage?.inputTokens).toBe(2_110);
    expect(usage?.outputTokens).toBe(42);
  });
});

describe('createAnthropicStreamUsage', () => {
  const start = (usage: Record<string, unknown>) => ({
    type: 'message_start',
    message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage },
  });
  const delta = (usage: Record<string, unknown>) => ({
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage,
  });

  it.each<[string, Array<Record<string, unknown>>, Record<string, number>]>([
    [
      'message_start input and cache counts with message_delta output',
      [
        start({
          input_tokens: 20,
          cache_creation_input_tokens: 300,
          cache_read_input_tokens: 1_000,
          output_tokens: 1,
        }),
        delta({ output_tokens: 57 }),
      ],
      {
        inputTokens: 1_320,
        cachedInputTokens: 1_000,
        outputTokens: 57,
        reasoningTokens: 0,
        cacheWriteTokens: 300,
      },
    ],
    [
      // Newer API versions: the delta's cumulative input and cache counts replace the start's; nulls do not.
      'a newer cumulative message_delta overriding the start',
      [
        start({
          input_tokens: 20,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 1_000,
          output_tokens: 1,
        }),
        delta({
          input_tokens: 45,
          cache_creation_input_tokens: null,
          cache_read_input_tokens: 1_200,
          output_tokens: 80,
          server_tool_use: { web_search_requests: 1 },
        }),
      ],
      { inputTokens: 1_245, cachedInputTokens: 1_200, outputTokens: 80, reasoningTokens: 0 },
    ],
    [
      'several message_delta events: the last cumulative count, not their sum',
      [
        start({ input_tokens: 8, output_tokens: 1 }),
        delta({ output_tokens: 10 }),
        delta({ output_tokens: 25 }),
      ],
      { inputTokens: 8, cachedInputTokens: 0, outputTokens: 25, reasoningTokens: 0 },
    ],
    [
      'a message_delta without a message_start',
      [delta({ output_tokens: 12 })],
      { inputTokens: 0, cachedInputTokens: 0, outputTokens: 12, reasoningTokens: 0 },
    ],
  ])('%s', (_name, events, expected) => {
    // Prepare
    const usage = createAnthropicStreamUsage();

    // Act
    const reports = events.map((event) => usage.event(event));

    // Assess: only message_delta events report, the last with the stream's usage
    expect(reports.at(-1)).toEqual(expected);
    events.forEach((event, i) => {
      if (event.type !== 'message_delta') expect(reports[i]).toBeUndefined();
    });
  });

  it('reports nothing for the other events', () => {
    // Prepare
    const usage = createAnthropicStreamUsage();

    // Act
    const reports = [
      start({ input_tokens: 8, output_tokens: 1 }),
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'ping' },
      { type: 'message_stop' },
      null,
      'message_delta',
    ].map((event) => usage.event(event));

    // Assess
    expect(reports.every((report) => report === undefined)).toBe(true);
  });
});
