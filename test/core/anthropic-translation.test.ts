// The translation between OpenAI chat completions and Anthropic's Messages API, case by case.
import { parseGatewayConfig, type TargetConfig } from '../../lambda/core/config.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import { toAnthropicRequest } from '../../lambda/core/upstream/anthropic-request.ts';
import {
  fromAnthropicResponse,
  toChatCompletion,
  toOpenAiError,
} from '../../lambda/core/upstream/anthropic-response.ts';
import type { UpstreamBody, UpstreamBodyReader } from '../../lambda/ports.ts';

const targetWith = (extra: Record<string, unknown> = {}): TargetConfig =>
  parseGatewayConfig({
    routes: [
      {
        model: 'claude',
        targets: [{ id: 'claude', provider: 'anthropic', baseUrl: 'http://127.0.0.1:9/v1', ...extra }],
      },
    ],
  }).routes[0]!.targets[0]!;
const target = targetWith();
const translate = (body: Record<string, unknown>, on = target) => toAnthropicRequest(body, 'claude-x', on);
const refusal = (body: Record<string, unknown>): GatewayError => {
  try {
    translate(body);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('not refused');
};

describe('toAnthropicRequest', () => {
  it('hoists system and developer messages, merges same-role neighbours and puts tool results in user turns', () => {
    // Act
    const { request } = translate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'One' },
        { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
        { role: 'user', content: 'Two' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'a', arguments: '{"x":1}' } },
            { id: 'call_2', type: 'function', function: { name: 'b', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'one' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'two' }] },
      ],
    });

    // Assess
    expect(request.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Use metric units.' },
    ]);
    expect(request.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'One' },
          { type: 'text', text: 'Two' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_1', name: 'a', input: { x: 1 } },
          { type: 'tool_use', id: 'call_2', name: 'b', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'one' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'two' }] },
        ],
      },
    ]);
  });

  it('carries the sampling parameters, stop sequences, output cap, thinking and tool choice', () => {
    // Act
    const { request, context } = translate({
      messages: [{ role: 'user', content: 'Hi' }],
      max_completion_tokens: 20_000,
      max_tokens: 5,
      temperature: 1,
      top_p: 0.9,
      stop: 'END',
      reasoning_effort: 'high',
      tools: [{ type: 'function', function: { name: 'f' } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
      stream: true,
      stream_options: { include_usage: true },
      user: 'someone',
      seed: 7,
    });

    // Assess
    expect(request).toEqual({
      model: 'claude-x',
      max_tokens: 20_000,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stop_sequences: ['END'],
      temperature: 1,
      top_p: 0.9,
      tools: [{ name: 'f', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
      thinking: { type: 'enabled', budget_tokens: 16_384 },
      stream: true,
    });
    expect(context).toEqual({ stream: true, includeUsage: true });
    expect(translate({ messages: [], tool_choice: 'none' }).request.tool_choice).toEqual({ type: 'none' });
    expect(translate({ messages: [] }, targetWith({ maxTokens: 1_000 })).request.max_tokens).toBe(1_000);
  });

  it.each([
    [{ n: 3 }, 'n'],
    [{ top_logprobs: 2 }, 'top_logprobs'],
    [{ presence_penalty: 0.5 }, 'presence_penalty'],
    [{ prediction: { type: 'content', content: 'x' } }, 'prediction'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } }, 'response_format'],
    [{ reasoning_effort: 'ultra' }, 'reasoning_effort'],
    [{ reasoning_effort: 'high', max_tokens: 1_000 }, 'max_completion_tokens'],
    [{ messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages.0.role'],
    [
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] },
      'messages.0.content.0',
    ],
    [
      {
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,AA' } }] },
        ],
      },
      'messages.0.content.0.image_url.url',
    ],
    [
      {
        messages: [
          {
            role: 'assistant',
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }],
          },
        ],
      },
      'messages.0.tool_calls.0.function.arguments',
    ],
    [{ tools: [{ type: 'custom', custom: { name: 'g' } }] }, 'tools.0'],
  ])('refuses %j with a 400 for %s', (extra, param) => {
    // Act
    const error = refusal({ messages: [{ role: 'user', content: 'Hi' }], ...extra });

    // Assess
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
  });

  it('leaves nothing to chance with defaults: n 1, logprobs false and zero penalties pass', () => {
    expect(() =>
      translate({
        messages: [{ role: 'user', content: 'Hi' }],
        n: 1,
        logprobs: false,
        presence_penalty: 0,
        frequency_penalty: 0,
        response_format: { type: 'text' },
        reasoning_effort: 'none',
      }),
    ).not.toThrow();
  });
});

const bodyOf = (...pieces: string[]): UpstreamBody => {
  const chunks = pieces.map((piece) => new TextEncoder().encode(piece));
  const reader: UpstreamBodyReader = {
    read: async () => {
      const value = chunks.shift();
      return value === undefined ? { done: true } : { done: false, value };
    },
    cancel: async () => {},
  };
  return { getReader: () => reader, cancel: async () => {} };
};

const readAll = async (body: UpstreamBody): Promise<string[]> => {
  const reader = body.getReader();
  const reads: string[] = [];
  for (;;) {
    const result = await reader.read();
    if (result.done) return reads;
    reads.push(new TextDecoder().decode(result.value));
  }
};

const sse = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

describe('fromAnthropicResponse', () => {
  it('turns a message into a chat completion: text, thinking as reasoning_content, tool calls, finish reason, usage', () => {
    // Act
    const completion = toChatCompletion({
      id: 'msg_1',
      model: 'claude-x',
      content: [
        { type: 'thinking', thinking: 'Hmm.' },
        { type: 'text', text: 'Sure.' },
        { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'max_tokens',
      usage: {
        input_tokens: 10,
        output_tokens: 5,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 2,
      },
    });

    // Assess
    expect(completion).toMatchObject({
      id: 'msg_1',
      object: 'chat.completion',
      model: 'claude-x',
      choices: [
        {
          message: {
            role: 'assistant',
            content: 'Sure.',
            reasoning_content: 'Hmm.',
            tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
          },
          finish_reason: 'length',
        },
      ],
      usage: {
        prompt_tokens: 15,
        completion_tokens: 5,
        total_tokens: 20,
        prompt_tokens_details: { cached_tokens: 3, cache_write_tokens: 2 },
      },
    });
  });

  it("turns Anthropic's error body into OpenAI's", () => {
    expect(
      toOpenAiError({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 529),
    ).toEqual({
      error: { message: 'Overloaded', type: 'server_error', param: null, code: 'overloaded_error' },
    });
    expect(toOpenAiError('not json', 500).error).toMatchObject({
      message: 'The upstream provider answered 500.',
    });
  });

  it('translates a stream event by event, one read per event that says something, thinking and tool input included', async () => {
    // Prepare: each event arrives in its own upstream read, the last two together
    const response = fromAnthropicResponse(
      {
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'content-length': '999' },
        body: bodyOf(
          sse('message_start', {
            message: { id: 'msg_1', model: 'claude-x', usage: { input_tokens: 7, output_tokens: 1 } },
          }),
          sse('ping', {}),
          sse('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }),
          sse('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Hm' } }),
          sse('content_block_start', {
            index: 1,
            content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} },
          }),
          sse('content_block_delta', {
            index: 1,
            delta: { type: 'input_json_delta', partial_json: '{"a":' },
          }),
          sse('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 12 } }) +
            sse('message_stop', {}),
        ),
      },
      { stream: true, includeUsage: true },
    );

    // Act
    const reads = await readAll(response.body);

    // Assess
    expect(response.headers).toEqual({ 'content-type': 'text/event-stream' });
    const data = reads.map((read) =>
      read
        .split('\n\n')
        .filter((event) => event !== '')
        .map((event) => event.replace(/^data: /, '')),
    );
    expect(data.length).toBe(5); // the ping and the thinking block's start said nothing
    const parsed = data.flat().map((event) => (event === '[DONE]' ? event : JSON.parse(event)));
    expect(
      parsed.map((chunk) => (chunk === '[DONE]' ? chunk : (chunk.choices[0]?.delta ?? chunk.usage))),
    ).toEqual([
      { role: 'assistant', content: '' },
      { reasoning_content: 'Hm' },
      { tool_calls: [{ index: 0, id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] },
      {},
      {
        prompt_tokens: 7,
        completion_tokens: 12,
        total_tokens: 19,
        prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      },
      '[DONE]',
    ]);
    expect(parsed[4].choices[0].finish_reason).toBe('tool_calls');
    expect(parsed[0]).toMatchObject({ id: 'msg_1', object: 'chat.completion.chunk', model: 'claude-x' });
  });

  it('ends a stream without [DONE] when Anthropic sends an error event or stops short', async () => {
    // Prepare
    const stream = (...events: string[]) =>
      fromAnthropicResponse(
        { status: 200, headers: { 'content-type': 'text/event-stream' }, body: bodyOf(...events) },
        { stream: true, includeUsage: false },
      ).body;
    const start = sse('message_start', { message: { id: 'm', model: 'c', usage: {} } });

    // Act
    const failed = (
      await readAll(stream(start, sse('error', { error: { type: 'overloaded_error', message: 'x' } })))
    ).join('');
    const cut = (await readAll(stream(start))).join('');

    // Assess
    expect(failed).not.toContain('[DONE]');
    expect(cut).not.toContain('[DONE]');
    expect(failed).toContain('"role":"assistant"');
  });

  it('fails a JSON answer that is not a message rather than making one up', async () => {
    // Prepare
    const response = fromAnthropicResponse(
      { status: 200, headers: { 'content-type': 'application/json' }, body: bodyOf('<html>') },
      { stream: false, includeUsage: false },
    );

    // Act and assess
    await expect(readAll(response.body)).rejects.toThrow('not a JSON object');
  });
});
