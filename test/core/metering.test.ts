// Token estimates: prompt tokens per request shape, the output cap a budget must hold, and streamed text.
import { readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { createGptTokenCounter } from '../../lambda/adapters/tokenizer/gpt-tokenizer.ts';
import type { PriceConfig } from '../../lambda/core/config.ts';
import {
  maxOutputTokens,
  promptTokens,
  streamedText,
  TokenShape,
  type TokenShapeName,
} from '../../lambda/core/metering.ts';
import type { TokenCounter } from '../../lambda/ports.ts';

/** One token per character, so every expectation below can be added up by hand. */
const chars: TokenCounter = { count: (text) => text.length, ready: async () => {} };

/** The per-request constants of metering.ts: 3 tokens prime the reply, 4 wrap each message, 1,445 per image. */
const REPLY = 3;
const MESSAGE = 4;
const IMAGE = 1_445;

type Body = Record<string, unknown>;

describe('promptTokens: chat', () => {
  it.each<[string, Body, number]>([
    [
      'one message with string content',
      { messages: [{ role: 'user', content: 'Hello' }] },
      REPLY + MESSAGE + 5,
    ],
    [
      'two messages',
      {
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Hi' },
        ],
      },
      REPLY + 2 * MESSAGE + 8 + 2,
    ],
    [
      'content parts: text and an image_url',
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe this' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 13 + IMAGE,
    ],
    [
      'two images and no text',
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
              { type: 'image_url', image_url: { url: 'https://example.com/b.png', detail: 'low' } },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 2 * IMAGE,
    ],
    [
      'a refusal part',
      { messages: [{ role: 'assistant', content: [{ type: 'refusal', refusal: 'No' }] }] },
      REPLY + MESSAGE + 2,
    ],
    [
      // {"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}} is 67 characters.
      'an unknown part, counted as its JSON',
      {
        messages: [
          { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] },
        ],
      },
      REPLY + MESSAGE + 67,
    ],
    ['a name', { messages: [{ role: 'user', name: 'alice', content: 'Hi' }] }, REPLY + MESSAGE + 5 + 2],
    [
      // [{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]: 103.
      'tool_calls, counted as their JSON',
      {
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 103,
    ],
    [
      'a tool result',
      { messages: [{ role: 'tool', tool_call_id: 'call_1', content: 'sunny' }] },
      REPLY + MESSAGE + 5,
    ],
    [
      // [{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]: 86.
      'tools, counted as their JSON',
      {
        messages: [{ role: 'user', content: 'Hi' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      },
      REPLY + MESSAGE + 2 + 86,
    ],
    [
      // {"name":"f","arguments":"{}"}: 29; [{"name":"lookup","parameters":{"type":"object"}}]: 50.
      'a legacy function_call and functions',
      {
        messages: [{ role: 'assistant', content: null, function_call: { name: 'f', arguments: '{}' } }],
        functions: [{ name: 'lookup', parameters: { type: 'object' } }],
      },
      REPLY + MESSAGE + 29 + 50,
    ],
    [
      // {"type":"json_object"}: 22.
      'a response_format',
      { messages: [{ role: 'user', content: 'Hi' }], response_format: { type: 'json_object' } },
      REPLY + MESSAGE + 2 + 22,
    ],
    ['no messages', {}, REPLY],
    ['a message that is not an object (overhead only)', { messages: ['oops'] }, REPLY + MESSAGE],
  ])('%s → %p', (_name, body, expected) => {
    // Act
    const tokens = promptTokens(TokenShape.chat, body, chars);

    // Assess
    expect(tokens).toBe(expected);
  });
});

describe('promptTokens: responses', () => {
  it.each<[string, Body, number]>([
    ['a string input (one message)', { input: 'Hello' }, REPLY + MESSAGE + 5],
    ['instructions and a string input', { instructions: 'Be brief', input: 'Hi' }, REPLY + MESSAGE + 8 + 2],
    ['one input item with string content', { input: [{ role: 'user', content: 'Hi' }] }, REPLY + MESSAGE + 2],
    [
      'an input item with text and image parts',
      {
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'What is this?' },
              { type: 'input_image', image_url: 'https://example.com/cat.png' },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 13 + IMAGE,
    ],
    [
      'a function call and its output: name, arguments and output count',
      {
        input: [
          { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
          { type: 'function_call_output', call_id: 'c1', output: 'sunny' },
        ],
      },
      REPLY + 2 * MESSAGE + 'get_weather'.length + 15 + 5,
    ],
    [
      'instructions and items together',
      { instructions: 'Be brief', input: [{ role: 'user', content: 'Hi' }] },
      8 + REPLY + MESSAGE + 2,
    ],
    [
      // [{"type":"function","name":"get_weather","parameters":{"type":"object"}}]: 73.
      'tools, counted as their JSON',
      { input: 'Hi', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }] },
      REPLY + MESSAGE + 2 + 73,
    ],
    [
      // {"format":{"type":"json_object"}}: 33.
      'a text format, counted as its JSON',
      { input: 'Hi', text: { format: { type: 'json_object' } } },
      REPLY + MESSAGE + 2 + 33,
    ],
    ['no input', {}, 0],
  ])('%s → %p', (_name, body, expected) => {
    // Act
    const tokens = promptTokens(TokenShape.responses, body, chars);

    // Assess
    expect(tokens).toBe(expected);
  });
});

describe('promptTokens: messages (Anthropic)', () => {
  const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0K' } };

  it.each<[string, Body, number]>([
    [
      'a system string and one message with string content',
      { system: 'Be brief', messages: [{ role: 'user', content: 'Hello' }] },
      8 + REPLY + MESSAGE + 5,
    ],
    [
      'system as text blocks (cache_control is not text)',
      {
        system: [{ type: 'text', text: 'Be brief', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Hi' }],
      },
      8 + REPLY + MESSAGE + 2,
    ],
    [
      'a text block and an image block',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe this' }, image] }] },
      REPLY + MESSAGE + 13 + IMAGE,
    ],
    [
      // 402 base64 characters are 301.5 bytes: 100.5 tokens at 3 bytes a token, rounded up.
      'a base64 PDF document, by its size',
      {
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'document',
                source: { type: 'base64', media_type: 'application/pdf', data: 'J'.repeat(402) },
              },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 101,
    ],
    [
      'a plain-text document, its title and context',
      {
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'document',
                source: { type: 'text', media_type: 'text/plain', data: 'Plain words' },
                title: 'Report',
                context: 'Q3',
              },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 11 + 6 + 2,
    ],
    [
      'a document of content blocks',
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'abc' }] } },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 3,
    ],
    [
      'a document by URL: what a file input counts (nothing by default)',
      {
        messages: [
          {
            role: 'user',
            content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }],
          },
        ],
      },
      REPLY + MESSAGE,
    ],
    [
      // {"city":"Oslo"}: 15.
      'a tool_use block: its name and its input as JSON',
      {
        messages: [
          {
            role: 'assistant',
            content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }],
          },
        ],
      },
      REPLY + MESSAGE + 11 + 15,
    ],
    [
      'a tool_result with string content',
      {
        messages: [
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
        ],
      },
      REPLY + MESSAGE + 5,
    ],
    [
      'a tool_result with text and image blocks',
      {
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: 'toolu_1',
                content: [{ type: 'text', text: 'sunny' }, image],
              },
            ],
          },
        ],
      },
      REPLY + MESSAGE + 5 + IMAGE,
    ],
    [
      'a thinking block: its thinking, not its signature',
      {
        messages: [
          {
            role: 'assistant',
            content: [{ type: 'thinking', thinking: 'Let me see', signature: 'EqQBCkgIARABGAI' }],
          },
        ],
      },
      REPLY + MESSAGE + 10,
    ],
    [
      'a redacted_thinking block: nothing',
      {
        messages: [
          { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }] },
        ],
      },
      REPLY + MESSAGE,
    ],
    [
      // {"type":"container_upload","file_id":"file_1"}: 46.
      'a block of another type, counted as its JSON',
      { messages: [{ role: 'user', content: [{ type: 'container_upload', file_id: 'file_1' }] }] },
      REPLY + MESSAGE + 46,
    ],
    [
      // [{"name":"get_weather","description":"Weather","input_schema":{"type":"object"}}]: 81;
      // {"type":"tool","name":"get_weather"}: 36.
      'tools and tool_choice, counted as their JSON',
      {
        messages: [{ role: 'user', content: 'Hi' }],
        tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' } }],
        tool_choice: { type: 'tool', name: 'get_weather' },
      },
      REPLY + MESSAGE + 2 + 81 + 36,
    ],
    [
      'a tool loop: question, thinking and tool call, result',
      {
        system: 'Be brief',
        messages: [
          { role: 'user', content: 'Weather?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'Ask the tool', signature: 's' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
            ],
          },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
        ],
      },
      8 + REPLY + 3 * MESSAGE + 8 + 12 + 11 + 15 + 5,
    ],
    ['no messages', {}, REPLY],
    ['a message that is not an object (overhead only)', { messages: ['oops'] }, REPLY + MESSAGE],
  ])('%s → %p', (_name, body, expected) => {
    // Act
    const tokens = promptTokens(TokenShape.messages, body, chars);

    // Assess
    expect(tokens).toBe(expected);
  });

  it('counts images and documents by URL or file id as the options say', () => {
    // Prepare
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            image,
            { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
            { type: 'document', source: { type: 'file', file_id: 'file_011' } },
          ],
        },
      ],
    };
    const seen: unknown[] = [];

    // Act
    const tokens = promptTokens(TokenShape.messages, body, chars, {
      imageTokens: 2_833,
      fileTokens: (part) => {
        seen.push(part.source);
        return 500;
      },
    });

    // Assess: the document block goes to fileTokens, whose caller decides what an unknown size holds
    expect(tokens).toBe(REPLY + MESSAGE + 2_833 + 2 * 500);
    expect(seen).toEqual([
      { type: 'url', url: 'https://example.com/a.pdf' },
      { type: 'file', file_id: 'file_011' },
    ]);
  });
});

describe('promptTokens: completions and embeddings', () => {
  it.each<[string, TokenShapeName, Body, number]>([
    ['a string prompt', TokenShape.completions, { prompt: 'Say hi' }, 6],
    ['a string[] prompt', TokenShape.completions, { prompt: ['ab', 'cde'] }, 5],
    ['a token id array [1,2,3]', TokenShape.completions, { prompt: [1, 2, 3] }, 3],
    ['token id arrays [[1,2],[3]]', TokenShape.completions, { prompt: [[1, 2], [3]] }, 3],
    ['a prompt and a suffix', TokenShape.completions, { prompt: 'def f(', suffix: 'return 1' }, 6 + 8],
    ['an empty prompt array', TokenShape.completions, { prompt: [] }, 0],
    ['no prompt', TokenShape.completions, {}, 0],
    ['a string input', TokenShape.embeddings, { input: 'hello' }, 5],
    ['a string[] input', TokenShape.embeddings, { input: ['ab', 'cde'] }, 5],
    ['a token id array [1,2,3]', TokenShape.embeddings, { input: [1, 2, 3] }, 3],
    ['token id arrays [[1,2],[3]]', TokenShape.embeddings, { input: [[1, 2], [3]] }, 3],
    [
      'another shape, whatever the body holds',
      TokenShape.other,
      { prompt: 'a cat', input: 'x', messages: [] },
      0,
    ],
  ])('%s (%s) → %p', (_name, shape, body, expected) => {
    // Act
    const tokens = promptTokens(shape, body, chars);

    // Assess
    expect(tokens).toBe(expected);
  });
});

describe('promptTokens with the real o200k tokenizer', () => {
  it.each([
    // [text, UTF-8 bytes (the bound before loading), o200k_base tokens]
    ['héllo wörld', 13, 5],
    ['🙂🙂🙂', 12, 3],
  ])(
    'counts %p as its %p UTF-8 bytes before ready(), and as %p tokens (≤ that) after',
    async (text, bytes, tokens) => {
      // Prepare
      const counter = createGptTokenCounter();
      const body = { input: text };

      // Act
      const before = promptTokens(TokenShape.embeddings, body, counter);
      await counter.ready();
      const after = promptTokens(TokenShape.embeddings, body, counter);

      // Assess
      expect(before).toBe(bytes);
      expect(after).toBe(tokens);
      expect(after).toBeLessThanOrEqual(before);
    },
  );

  it('keeps a chat prompt estimate an upper bound of the loaded count', async () => {
    // Prepare
    const counter = createGptTokenCounter();
    const body = { messages: [{ role: 'user', content: 'Grüße aus Köln 🙂, wie geht es?' }] };

    // Act
    const before = promptTokens(TokenShape.chat, body, counter);
    await counter.ready();
    const after = promptTokens(TokenShape.chat, body, counter);

    // Assess: 3 + 4 overhead plus 36 UTF-8 bytes before; the loaded tokenizer needs fewer.
    expect(before).toBe(REPLY + MESSAGE + 36);
    expect(after).toBeLessThan(before);
    expect(after).toBeGreaterThan(REPLY + MESSAGE);
  });
});

describe('maxOutputTokens', () => {
  const DEFAULT_MAX = 16_384;
  const capped: PriceConfig = { input: 150_000, output: 600_000, maxOutputTokens: 4_096 };
  const uncapped: PriceConfig = { input: 150_000, output: 600_000 };

  it.each<[string, TokenShapeName, Body, PriceConfig | undefined, number]>([
    [
      'chat: max_completion_tokens beats max_tokens',
      TokenShape.chat,
      { max_completion_tokens: 100, max_tokens: 50 },
      capped,
      100,
    ],
    ['chat: max_tokens alone', TokenShape.chat, { max_tokens: 50 }, capped, 50],
    ['chat: × n', TokenShape.chat, { max_tokens: 50, n: 3 }, capped, 150],
    ['chat: capped by the model', TokenShape.chat, { max_completion_tokens: 10_000 }, capped, 4_096],
    ['chat: the model cap × n when no max is given', TokenShape.chat, { n: 2 }, capped, 8_192],
    ['chat: the default when no price', TokenShape.chat, {}, undefined, DEFAULT_MAX],
    ['chat: the default when the price has no cap', TokenShape.chat, {}, uncapped, DEFAULT_MAX],
    ['chat: a zero max is ignored', TokenShape.chat, { max_tokens: 0 }, capped, 4_096],
    ['chat: a negative max is ignored', TokenShape.chat, { max_tokens: -5 }, capped, 4_096],
    ['chat: a fractional max is ignored', TokenShape.chat, { max_tokens: 1.5 }, capped, 4_096],
    ['chat: a string max is ignored', TokenShape.chat, { max_tokens: '100' }, capped, 4_096],
    [
      'chat: a zero max_completion_tokens falls back to max_tokens',
      TokenShape.chat,
      { max_completion_tokens: 0, max_tokens: 7 },
      capped,
      7,
    ],
    ['responses: max_output_tokens', TokenShape.responses, { max_output_tokens: 200 }, capped, 200],
    [
      'responses: max_output_tokens capped',
      TokenShape.responses,
      { max_output_tokens: 5_000 },
      capped,
      4_096,
    ],
    ['responses: max_tokens is not its field', TokenShape.responses, { max_tokens: 200 }, capped, 4_096],
    ['responses: the default', TokenShape.responses, {}, undefined, DEFAULT_MAX],
    ['completions: 16 by default', TokenShape.completions, { prompt: 'x' }, capped, 16],
    ['completions: max_tokens', TokenShape.completions, { prompt: 'x', max_tokens: 100 }, capped, 100],
    ['completions: × n', TokenShape.completions, { prompt: 'x', n: 2 }, capped, 32],
    [
      'completions: × best_of when larger than n',
      TokenShape.completions,
      { prompt: 'x', n: 2, best_of: 3 },
      capped,
      48,
    ],
    [
      'completions: × n when larger than best_of',
      TokenShape.completions,
      { prompt: 'x', n: 4, best_of: 3 },
      capped,
      64,
    ],
    ['completions: × 3 string prompts', TokenShape.completions, { prompt: ['a', 'b', 'c'] }, capped, 48],
    ['completions: one token-id prompt', TokenShape.completions, { prompt: [1, 2, 3] }, capped, 16],
    ['completions: × 2 token-id prompts', TokenShape.completions, { prompt: [[1, 2], [3]] }, capped, 32],
    [
      'completions: max × choices × prompts',
      TokenShape.completions,
      { prompt: ['a', 'b'], max_tokens: 10, n: 3 },
      capped,
      60,
    ],
    [
      'completions: capped per choice',
      TokenShape.completions,
      { prompt: 'x', max_tokens: 10_000, n: 2 },
      capped,
      8_192,
    ],
    ['messages: max_tokens', TokenShape.messages, { max_tokens: 1_000 }, capped, 1_000],
    ['messages: max_tokens capped by the model', TokenShape.messages, { max_tokens: 10_000 }, capped, 4_096],
    ['messages: one answer, whatever n says', TokenShape.messages, { max_tokens: 50, n: 3 }, capped, 50],
    [
      'messages: max_output_tokens is not its field',
      TokenShape.messages,
      { max_output_tokens: 200, max_completion_tokens: 200 },
      capped,
      4_096,
    ],
    ['messages: the default when no price', TokenShape.messages, {}, undefined, DEFAULT_MAX],
    ['embeddings: nothing', TokenShape.embeddings, { input: 'x', max_tokens: 100 }, capped, 0],
    ['other (images, audio): the model cap', TokenShape.other, { prompt: 'x' }, capped, 4_096],
    ['other: the model cap × n images', TokenShape.other, { prompt: 'x', n: 3 }, capped, 12_288],
    ['other, unpriced: the default cap', TokenShape.other, { prompt: 'x' }, undefined, DEFAULT_MAX],
  ])('%s → %p', (_name, shape, body, price, expected) => {
    // Act
    const tokens = maxOutputTokens(shape, body, price, DEFAULT_MAX);

    // Assess
    expect(tokens).toBe(expected);
  });
});

/** The `data:` payloads of a recorded SSE stream, in order. */
const recordedEvents = (name: string): string[] => {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(readFileSync(new URL(`../fixtures/streams/${name}`, import.meta.url), 'utf8'));
  return data;
};

const completionChunk = (index: number, text: string) =>
  JSON.stringify({
    id: 'cmpl-1',
    object: 'text_completion',
    created: 1_732_870_000,
    model: 'gpt-3.5-turbo-instruct',
    choices: [{ index, text, logprobs: null, finish_reason: null }],
  });
const chatDelta = (delta: Record<string, unknown>) =>
  JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta }] });

/** An Anthropic stream event's data, as the Messages API sends it. */
const anthropicEvent = (type: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify({ type, ...fields });
const blockDelta = (index: number, delta: Record<string, unknown>) =>
  anthropicEvent('content_block_delta', { index, delta });

describe('streamedText', () => {
  it.each<[string, string[], string]>([
    [
      'the recorded chat stream (with its usage chunk and [DONE])',
      recordedEvents('openai-chat-include-usage.sse'),
      'Hello! How can I help you today?',
    ],
    ['the recorded Responses stream (delta events only)', recordedEvents('openai-responses.sse'), 'Hi there'],
    [
      'completions chunks, two choices interleaved',
      [
        completionChunk(0, 'Once'),
        completionChunk(1, 'In'),
        completionChunk(0, ' upon'),
        completionChunk(1, ' a'),
        '[DONE]',
      ],
      'OnceIn upon a',
    ],
    [
      'tool call deltas: name, then the arguments in pieces',
      [
        chatDelta({
          role: 'assistant',
          content: null,
          tool_calls: [
            { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        }),
        chatDelta({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }),
        chatDelta({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] }),
      ],
      'get_weather{"city":"Oslo"}',
    ],
    [
      'refusal and reasoning_content deltas',
      [chatDelta({ reasoning_content: 'Thinking. ' }), chatDelta({ refusal: 'I cannot.' })],
      'Thinking. I cannot.',
    ],
    [
      'Responses function-call argument deltas',
      [
        JSON.stringify({
          type: 'response.function_call_arguments.delta',
          item_id: 'fc_1',
          output_index: 0,
          delta: '{"a":',
        }),
        JSON.stringify({
          type: 'response.function_call_arguments.delta',
          item_id: 'fc_1',
          output_index: 0,
          delta: '1}',
        }),
        JSON.stringify({
          type: 'response.function_call_arguments.done',
          item_id: 'fc_1',
          arguments: '{"a":1}',
        }),
      ],
      '{"a":1}',
    ],
    [
      'malformed and non-object lines are skipped',
      [
        '{"choices":[{"delta":{"content":"a"',
        chatDelta({ content: 'ok' }),
        '[DONE]',
        '',
        'null',
        '"text"',
        '42',
        '[1,2]',
        'not json',
      ],
      'ok',
    ],
    [
      'an Anthropic stream: thinking, text, and a tool call (its name and input JSON)',
      [
        anthropicEvent('message_start', {
          message: {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            content: [],
            usage: { input_tokens: 9 },
          },
        }),
        anthropicEvent('content_block_start', {
          index: 0,
          content_block: { type: 'thinking', thinking: '' },
        }),
        blockDelta(0, { type: 'thinking_delta', thinking: 'Check. ' }),
        blockDelta(0, { type: 'signature_delta', signature: 'EqQBCkgI' }),
        anthropicEvent('content_block_stop', { index: 0 }),
        anthropicEvent('ping'),
        anthropicEvent('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
        blockDelta(1, { type: 'text_delta', text: 'Hello' }),
        blockDelta(1, { type: 'text_delta', text: ' there. ' }),
        anthropicEvent('content_block_stop', { index: 1 }),
        anthropicEvent('content_block_start', {
          index: 2,
          content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
        }),
        blockDelta(2, { type: 'input_json_delta', partial_json: '{"ci' }),
        blockDelta(2, { type: 'input_json_delta', partial_json: 'ty":"Oslo"}' }),
        anthropicEvent('content_block_stop', { index: 2 }),
        anthropicEvent('message_delta', {
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { output_tokens: 30 },
        }),
        anthropicEvent('message_stop'),
      ],
      'Check. Hello there. get_weather{"city":"Oslo"}',
    ],
    ['no events', [], ''],
  ])('%s → %p', (_name, events, expected) => {
    // Act
    const text = streamedText(events);

    // Assess
    expect(text).toBe(expected);
  });
});
