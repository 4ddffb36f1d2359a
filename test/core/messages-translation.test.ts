// The Messages front door on OpenAI-compatible targets: an Anthropic Messages request as a chat completions request,
// and the chat completions answer (JSON or SSE) as Anthropic's message or event stream, case by case.
import Anthropic from '@anthropic-ai/sdk';
import { parseGatewayConfig, type TargetConfig } from '../../lambda/core/config.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import { fromChatResponse, toMessage } from '../../lambda/core/upstream/chat-to-messages.ts';
import { type MessagesContext, toChatRequest } from '../../lambda/core/upstream/messages-to-chat.ts';
import type {
  LightUpstreamBody,
  UpstreamBody,
  UpstreamBodyReader,
  UpstreamResponse,
} from '../../lambda/ports.ts';

type Json = Record<string, unknown>;

const targetOf = (provider: string, extra: Json = {}): TargetConfig =>
  parseGatewayConfig({
    routes: [
      { model: 'gpt', targets: [{ id: 'gpt', provider, baseUrl: 'http://127.0.0.1:9/v1', ...extra }] },
    ],
  }).routes[0]!.targets[0]!;
const openai = targetOf('openai');
const compatible = targetOf('openai-compatible');
const azure = targetOf('azure-openai', { apiVersion: '2025-04-01-preview', model: 'gpt-5' });

const ask = (extra: Json = {}): Json => ({
  model: 'claude-sonnet',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});
const translate = (body: Json, on = openai) => toChatRequest(body, 'gpt-5', on, 'claude-sonnet');
/** The request without the fields every request has. */
const paramsOf = (body: Json, on = openai): Json => {
  const { model: _model, messages: _messages, ...rest } = translate(body, on).request;
  return rest;
};
const refusal = (body: Json, on = openai): GatewayError => {
  try {
    translate(body, on);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('not refused');
};

const PNG = 'iVBORw0KGgo=';
const PDF = 'JVBERi0xLjQ=';
const cache = { cache_control: { type: 'ephemeral' } };

describe('toChatRequest', () => {
  it('translates a conversation: system, text, images, a PDF, tool calls and their results; drops thinking and cache_control', () => {
    // Act
    const { request, context } = translate(
      ask({
        system: 'Be brief.',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look:', ...cache },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
              {
                type: 'document',
                source: { type: 'base64', media_type: 'application/pdf', data: PDF },
                ...cache,
              },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'They want both.', signature: 'sig' },
              { type: 'redacted_thinking', data: 'opaque' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'cat' } },
              { type: 'tool_use', id: 'toolu_2', name: 'lookup', input: {}, ...cache },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: 'a cat' },
              {
                type: 'tool_result',
                tool_use_id: 'toolu_2',
                is_error: true,
                content: [
                  { type: 'text', text: 'not found' },
                  { type: 'text', text: 'try again', ...cache },
                ],
              },
              { type: 'text', text: 'And?' },
            ],
          },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'Only thought.', signature: 's' }] },
          { role: 'user', content: 'Well?' },
        ],
      }),
    );

    // Assess
    expect(request.model).toBe('gpt-5');
    expect(context).toEqual({ stream: false, model: 'claude-sonnet' });
    expect(request.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          {
            type: 'file',
            file: { filename: 'document.pdf', file_data: `data:application/pdf;base64,${PDF}` },
          },
        ],
      },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'lookup', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'a cat' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'not found\ntry again' },
      { role: 'user', content: [{ type: 'text', text: 'And?' }] },
      // The assistant turn that held only thinking is gone.
      { role: 'user', content: 'Well?' },
    ]);
  });

  it.each<[string, Json, Json[]]>([
    [
      'system text blocks as text parts',
      {
        system: [
          { type: 'text', text: 'A', ...cache },
          { type: 'text', text: 'B' },
        ],
      },
      [
        {
          role: 'system',
          content: [
            { type: 'text', text: 'A' },
            { type: 'text', text: 'B' },
          ],
        },
        { role: 'user', content: 'Hi' },
      ],
    ],
    ['an empty system prompt as none', { system: '' }, [{ role: 'user', content: 'Hi' }]],
    [
      'an assistant turn of tool calls only, and a tool result without content',
      {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: { a: 1 } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't' }] },
        ],
      },
      [
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
        },
        { role: 'tool', tool_call_id: 't', content: '' },
      ],
    ],
    [
      'a last assistant turn of thinking only as nothing',
      {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'Hm.', signature: 's' }] },
        ],
      },
      [{ role: 'user', content: 'Hi' }],
    ],
  ])('translates %s', (_case, extra, expected) => {
    expect(translate(ask(extra)).request.messages).toEqual(expected);
  });

  it.each<[string, Json, TargetConfig, Json]>([
    ['max_tokens for OpenAI', {}, openai, { max_completion_tokens: 100 }],
    ['max_tokens for Azure OpenAI', {}, azure, { max_completion_tokens: 100 }],
    ['max_tokens for an OpenAI-compatible server', {}, compatible, { max_tokens: 100 }],
    [
      'sampling and stop sequences',
      { temperature: 0.2, top_p: 0.9, stop_sequences: ['END'] },
      openai,
      { max_completion_tokens: 100, temperature: 0.2, top_p: 0.9, stop: ['END'] },
    ],
    [
      'more than 4 stop sequences on an OpenAI-compatible server',
      { stop_sequences: ['a', 'b', 'c', 'd', 'e'] },
      compatible,
      { max_tokens: 100, stop: ['a', 'b', 'c', 'd', 'e'] },
    ],
    [
      'stream, with the usage chunk asked for',
      { stream: true },
      openai,
      { max_completion_tokens: 100, stream: true, stream_options: { include_usage: true } },
    ],
    [
      'metadata.user_id as user',
      { metadata: { user_id: 'u-1' } },
      openai,
      { max_completion_tokens: 100, user: 'u-1' },
    ],
    [
      'a small thinking budget',
      { thinking: { type: 'enabled', budget_tokens: 1024 } },
      openai,
      { max_completion_tokens: 100, reasoning_effort: 'low' },
    ],
    [
      'a budget just under 4096',
      { thinking: { type: 'enabled', budget_tokens: 4095 } },
      openai,
      { max_completion_tokens: 100, reasoning_effort: 'low' },
    ],
    [
      'a budget of 4096',
      { thinking: { type: 'enabled', budget_tokens: 4096 } },
      openai,
      { max_completion_tokens: 100, reasoning_effort: 'medium' },
    ],
    [
      'a budget just under 16384',
      { thinking: { type: 'enabled', budget_tokens: 16383 } },
      openai,
      { max_completion_tokens: 100, reasoning_effort: 'medium' },
    ],
    [
      'a budget of 16384',
      { thinking: { type: 'enabled', budget_tokens: 16384 } },
      openai,
      { max_completion_tokens: 100, reasoning_effort: 'high' },
    ],
    ['thinking disabled', { thinking: { type: 'disabled' } }, openai, { max_completion_tokens: 100 }],
    [
      'adaptive thinking, as no effort',
      { thinking: { type: 'adaptive' } },
      openai,
      { max_completion_tokens: 100 },
    ],
    [
      'the default service tiers and a top-level cache_control',
      { service_tier: 'standard_only', cache_control: cache.cache_control },
      openai,
      { max_completion_tokens: 100 },
    ],
    ['service tier auto', { service_tier: 'auto' }, openai, { max_completion_tokens: 100 }],
  ])('carries %s', (_case, extra, on, expected) => {
    expect(paramsOf(ask(extra), on)).toEqual(expected);
  });

  it('tells the answer whether it streams and which model the client asked for', () => {
    expect(translate(ask({ stream: true })).context).toEqual({ stream: true, model: 'claude-sonnet' });
    expect(translate(ask({ stream: false })).context).toEqual({ stream: false, model: 'claude-sonnet' });
  });

  const tools = [
    {
      name: 'lookup',
      description: 'Looks up.',
      input_schema: { type: 'object', properties: { q: { type: 'string' } } },
      ...cache,
    },
    { type: 'custom', name: 'other', input_schema: { type: 'object' }, strict: true },
  ];
  const functions = [
    {
      type: 'function',
      function: { name: 'lookup', description: 'Looks up.', parameters: tools[0]!.input_schema },
    },
    { type: 'function', function: { name: 'other', parameters: { type: 'object' }, strict: true } },
  ];

  it.each<[string, Json | undefined, Json]>([
    ['no tool_choice', undefined, {}],
    ['auto', { type: 'auto' }, { tool_choice: 'auto' }],
    ['any', { type: 'any' }, { tool_choice: 'required' }],
    ['none', { type: 'none' }, { tool_choice: 'none' }],
    [
      'a named tool',
      { type: 'tool', name: 'lookup' },
      { tool_choice: { type: 'function', function: { name: 'lookup' } } },
    ],
    [
      'auto, one call at a time',
      { type: 'auto', disable_parallel_tool_use: true },
      { tool_choice: 'auto', parallel_tool_calls: false },
    ],
    [
      'any, one call at a time',
      { type: 'any', disable_parallel_tool_use: true },
      { tool_choice: 'required', parallel_tool_calls: false },
    ],
  ])('translates the tools and tool_choice %s', (_case, choice, expected) => {
    expect(paramsOf(ask({ tools, tool_choice: choice }))).toEqual({
      max_completion_tokens: 100,
      tools: functions,
      ...expected,
    });
  });

  it('drops tool_choice auto or none without tools, since chat completions takes it only with tools', () => {
    expect(paramsOf(ask({ tool_choice: { type: 'none' } }))).toEqual({ max_completion_tokens: 100 });
    expect(
      paramsOf(ask({ tools: [], tool_choice: { type: 'auto', disable_parallel_tool_use: true } })),
    ).toEqual({
      max_completion_tokens: 100,
    });
  });

  const userBlock = (block: Json): Json => ({ messages: [{ role: 'user', content: [block] }] });
  const assistantBlock = (block: Json): Json => ({
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [block] },
      { role: 'user', content: 'Go on.' },
    ],
  });

  it.each<[string, Json, string]>([
    ['top_k', { top_k: 5 }, 'top_k'],
    ['a priority service tier', { service_tier: 'priority' }, 'service_tier'],
    ['a container', { container: 'container_1' }, 'container'],
    [
      'MCP servers',
      { mcp_servers: [{ type: 'url', url: 'https://mcp.example.com', name: 'x' }] },
      'mcp_servers',
    ],
    ['context management', { context_management: { edits: [] } }, 'context_management'],
    ['an output configuration', { output_config: { effort: 'low' } }, 'output_config'],
    ['an inference geography', { inference_geo: 'us' }, 'inference_geo'],
    ['fast mode', { speed: 'fast' }, 'speed'],
    ['an unknown field', { frobnicate: true }, 'frobnicate'],
    [
      'the web search server tool',
      { tools: [{ type: 'web_search_20250305', name: 'web_search' }] },
      'tools[0].type',
    ],
    ['the bash server tool', { tools: [{ type: 'bash_20250124', name: 'bash' }] }, 'tools[0].type'],
    [
      'the text editor server tool',
      { tools: [{ type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' }] },
      'tools[0].type',
    ],
    [
      'a plain-text document',
      userBlock({ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }),
      'messages[0].content[0].source.type',
    ],
    [
      'a PDF by URL',
      userBlock({ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }),
      'messages[0].content[0].source.type',
    ],
    [
      'a document from the Files API',
      userBlock({ type: 'document', source: { type: 'file', file_id: 'file_1' } }),
      'messages[0].content[0].source.type',
    ],
    [
      'an image from the Files API',
      userBlock({ type: 'image', source: { type: 'file', file_id: 'file_1' } }),
      'messages[0].content[0].source.type',
    ],
    [
      'a document with citations',
      userBlock({
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: PDF },
        citations: { enabled: true },
      }),
      'messages[0].content[0].citations',
    ],
    [
      'a document with context',
      userBlock({
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: PDF },
        context: 'A contract.',
      }),
      'messages[0].content[0].context',
    ],
    [
      'a search result',
      userBlock({ type: 'search_result', source: 'https://x', title: 'x', content: [] }),
      'messages[0].content[0].type',
    ],
    [
      'an image in a tool result',
      userBlock({
        type: 'tool_result',
        tool_use_id: 't',
        content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }],
      }),
      'messages[0].content[0].content[0].type',
    ],
    [
      'a server tool call in the history',
      assistantBlock({ type: 'server_tool_use', id: 's', name: 'web_search', input: {} }),
      'messages[1].content[0].type',
    ],
    [
      'a prefilled answer',
      {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: '{' },
        ],
      },
      'messages[1].role',
    ],
    ['more than 4 stop sequences on OpenAI', { stop_sequences: ['a', 'b', 'c', 'd', 'e'] }, 'stop_sequences'],
  ])('refuses %s with a 400 naming the field', (_case, extra, param) => {
    // Act
    const error = refusal(ask(extra));

    // Assess
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.code).toBe('unsupported_parameter');
    expect(error.message).toMatch(/^Target 'gpt' \(openai\) cannot honour /);
  });

  it.each<[string, Json, string]>([
    ['no messages', { messages: undefined }, 'messages'],
    ['empty messages', { messages: [] }, 'messages'],
    ['messages that are not an array', { messages: 'Hi' }, 'messages'],
    ['a system role in messages', { messages: [{ role: 'system', content: 'x' }] }, 'messages[0].role'],
    ['a message that is not an object', { messages: ['Hi'] }, 'messages[0]'],
    [
      'content that is neither string nor blocks',
      { messages: [{ role: 'user', content: 7 }] },
      'messages[0].content',
    ],
    ['a block without a type', userBlock({ text: 'x' }), 'messages[0].content[0].type'],
    ['a text block without text', userBlock({ type: 'text' }), 'messages[0].content[0].text'],
    [
      'an image without a usable source',
      userBlock({ type: 'image', source: { type: 'base64' } }),
      'messages[0].content[0].source',
    ],
    [
      'a tool call in a user turn',
      userBlock({ type: 'tool_use', id: 't', name: 'f', input: {} }),
      'messages[0].content[0].type',
    ],
    [
      'a tool result in an assistant turn',
      assistantBlock({ type: 'tool_result', tool_use_id: 't' }),
      'messages[1].content[0].type',
    ],
    [
      'a tool call whose input is not an object',
      assistantBlock({ type: 'tool_use', id: 't', name: 'f', input: [] }),
      'messages[1].content[0].input',
    ],
    [
      'a tool result without its tool_use_id',
      userBlock({ type: 'tool_result', content: 'x' }),
      'messages[0].content[0].tool_use_id',
    ],
    ['no max_tokens', { max_tokens: undefined }, 'max_tokens'],
    ['max_tokens 0', { max_tokens: 0 }, 'max_tokens'],
    ['a fractional max_tokens', { max_tokens: 1.5 }, 'max_tokens'],
    ['a system prompt of images', { system: [{ type: 'image', source: {} }] }, 'system[0].type'],
    ['a temperature that is not a number', { temperature: 'hot' }, 'temperature'],
    ['stop sequences that are not strings', { stop_sequences: [1] }, 'stop_sequences'],
    ['a stream flag that is not a boolean', { stream: 'yes' }, 'stream'],
    ['an unknown thinking type', { thinking: { type: 'sometimes' } }, 'thinking.type'],
    ['a thinking budget that is not an integer', { thinking: { type: 'enabled' } }, 'thinking.budget_tokens'],
    ['a tool without an input schema', { tools: [{ name: 'f' }] }, 'tools[0].input_schema'],
    [
      'a tool choice of a tool without its name',
      { tools, tool_choice: { type: 'tool' } },
      'tool_choice.type',
    ],
    ['a tool choice of any tool without tools', { tool_choice: { type: 'any' } }, 'tool_choice'],
  ])('refuses %s with a 400 naming the field', (_case, extra, param) => {
    // Act
    const error = refusal(ask(extra));

    // Assess
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
  });
});

// --- The answer -------------------------------------------------------------------------------------------------

const context: MessagesContext = { stream: false, model: 'claude-sonnet' };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface RecordedBody extends LightUpstreamBody {
  /** How many reads the translation made of it. */
  readonly reads: () => number;
  readonly cancelled: () => boolean;
}

/** A body that yields `pieces` one per read; a function piece is awaited first (a read that waits). */
const bodyOf = (pieces: ReadonlyArray<Uint8Array | (() => Promise<Uint8Array>)>): RecordedBody => {
  const queue = [...pieces];
  let reads = 0;
  let cancelled = false;
  const reader: UpstreamBodyReader = {
    read: async () => {
      reads += 1;
      const piece = queue.shift();
      if (piece === undefined || cancelled) return { done: true };
      return { done: false, value: typeof piece === 'function' ? await piece() : piece };
    },
    cancel: async () => {
      cancelled = true;
    },
  };
  return {
    getReader: () => reader,
    cancel: reader.cancel,
    reads: () => reads,
    cancelled: () => cancelled,
  };
};

/** `text` as UTF-8 in pieces of `size` bytes: boundaries fall inside events, lines and characters. */
const piecesOf = (text: string, size: number): Uint8Array[] => {
  const bytes = encoder.encode(text);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.slice(at, at + size));
  return pieces;
};

const sseAnswer = (body: UpstreamBody, headers: Json = {}): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'text/event-stream; charset=utf-8', ...headers },
  body,
});

const jsonAnswer = (completion: Json): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'content-length': '123', 'x-request-id': 'req_1' },
  body: bodyOf([encoder.encode(JSON.stringify(completion))]),
});

const readText = async (body: UpstreamBody): Promise<string> => {
  const reader = body.getReader();
  let text = '';
  for (;;) {
    const result = await reader.read();
    if (result.done) return text;
    text += decoder.decode(result.value);
  }
};

/** Anthropic's SSE events as their data, each checked to name its type in both the event line and the data. */
const eventsOf = (text: string): Json[] =>
  text
    .split('\n\n')
    .filter((event) => event !== '')
    .map((event) => {
      const match = /^event: ([a-z_]+)\ndata: (.*)$/s.exec(event);
      if (match === null) throw new Error(`not an Anthropic SSE event: ${event}`);
      const data = JSON.parse(match[2]!) as Json;
      expect(data.type).toBe(match[1]);
      return data;
    });

const chunk = (fields: Json): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1, model: 'gpt-5', ...fields })}\n\n`;
const delta = (fields: Json, finish: string | null = null): string =>
  chunk({ choices: [{ index: 0, delta: fields, finish_reason: finish, logprobs: null }] });
const usageChunk = (prompt: number, completion: number, cached: number): string =>
  chunk({
    choices: [],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached },
    },
  });
const DONE = 'data: [DONE]\n\n';

const completion = (message: Json, finish: string | null, extra: Json = {}): Json => ({
  id: 'chatcmpl-abc',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-5',
  choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish, logprobs: null }],
  usage: {
    prompt_tokens: 50,
    completion_tokens: 20,
    total_tokens: 70,
    prompt_tokens_details: { cached_tokens: 10 },
  },
  ...extra,
});

/** The same answer twice: as one chat completion, and as the stream of chunks OpenAI would send for it. */
const FULL_COMPLETION = completion(
  {
    content: 'Héllo wörld 🌍',
    reasoning_content: 'Thinking.',
    tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } },
      { id: 'call_2', type: 'function', function: { name: 'other', arguments: '{}' } },
    ],
  },
  'tool_calls',
);
const FULL_STREAM = [
  delta({ role: 'assistant', content: '' }),
  delta({ reasoning_content: 'Think' }),
  delta({ reasoning_content: 'ing.' }),
  delta({ content: 'Héllo ' }),
  delta({ content: 'wörld 🌍' }),
  delta({
    tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '' } }],
  }),
  delta({ tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] }),
  delta({ tool_calls: [{ index: 0, function: { arguments: '"cat"}' } }] }),
  delta({
    tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'other', arguments: '{}' } }],
  }),
  delta({}, 'tool_calls'),
  usageChunk(50, 20, 10),
  DONE,
].join('');
const USAGE = {
  input_tokens: 40,
  cache_read_input_tokens: 10,
  cache_creation_input_tokens: 0,
  output_tokens: 20,
};
const MESSAGE_START = {
  type: 'message_start',
  message: {
    id: 'msg_abc',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  },
};
const start = (index: number, block: Json) => ({ type: 'content_block_start', index, content_block: block });
const blockDelta = (index: number, change: Json) => ({ type: 'content_block_delta', index, delta: change });
const stop = (index: number) => ({ type: 'content_block_stop', index });
const messageDelta = (stopReason: string, usage: Json) => ({
  type: 'message_delta',
  delta: { stop_reason: stopReason, stop_sequence: null },
  usage,
});
const NO_USAGE = {
  input_tokens: 0,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
  output_tokens: 0,
};
const translateStream = (text: string, size = 1 << 20) =>
  fromChatResponse(sseAnswer(bodyOf(piecesOf(text, size))), { ...context, stream: true });

describe('fromChatResponse: a JSON answer', () => {
  it('turns a chat completion into a message: thinking, text, tool calls, stop reason and usage', async () => {
    // Act
    const response = fromChatResponse(jsonAnswer(FULL_COMPLETION), context);
    const message = JSON.parse(await readText(response.body));

    // Assess
    expect(response.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': 'req_1' });
    expect(message).toEqual({
      id: 'msg_abc',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet',
      content: [
        { type: 'thinking', thinking: 'Thinking.', signature: '' },
        { type: 'text', text: 'Héllo wörld 🌍' },
        { type: 'tool_use', id: 'call_1', name: 'lookup', input: { q: 'cat' } },
        { type: 'tool_use', id: 'call_2', name: 'other', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: USAGE,
    });
  });

  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['function_call', 'tool_use'],
    ['content_filter', 'refusal'],
    [null, 'end_turn'],
  ])('answers finish reason %s with stop reason %s', (finish, stopReason) => {
    expect(toMessage(completion({ content: 'x' }, finish), context).stop_reason).toBe(stopReason);
  });

  it('reads `reasoning`, a refusal, unparsable tool arguments and a missing id the way a client can use them', () => {
    // Act
    const message = toMessage(
      completion(
        {
          content: null,
          reasoning: 'Hm.',
          refusal: 'I cannot help with that.',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":' } }],
        },
        'stop',
        { id: undefined, usage: undefined },
      ),
      context,
    );

    // Assess
    expect(message.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Hm.', signature: '' },
      { type: 'text', text: 'I cannot help with that.' },
      { type: 'tool_use', id: 'call_1', name: 'f', input: {} },
    ]);
    expect(message.stop_reason).toBe('refusal');
    expect(message.usage).toEqual(NO_USAGE);
  });

  it('passes a refusal or failure (status >= 400) through unchanged, for the front door to shape', () => {
    // Prepare
    const refused: UpstreamResponse = { status: 429, headers: { 'retry-after': '3' }, body: bodyOf([]) };

    // Act and assess
    expect(fromChatResponse(refused, context)).toBe(refused);
  });

  it('fails an answer that is not a completion rather than making a message up', async () => {
    // Prepare
    const response = fromChatResponse(
      {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: bodyOf([encoder.encode('<html>')]),
      },
      context,
    );

    // Act and assess
    await expect(readText(response.body)).rejects.toThrow('not a JSON object');
  });
});

describe('fromChatResponse: a stream', () => {
  it.each([1, 2, 7, 64, 1 << 20])(
    "translates chunks into Anthropic's events in order, read in pieces of %i bytes",
    async (size) => {
      // Act
      const response = translateStream(FULL_STREAM, size);
      const events = eventsOf(await readText(response.body));

      // Assess
      expect(response.headers).toEqual({ 'content-type': 'text/event-stream' });
      expect(events).toEqual([
        MESSAGE_START,
        start(0, { type: 'thinking', thinking: '', signature: '' }),
        blockDelta(0, { type: 'thinking_delta', thinking: 'Think' }),
        blockDelta(0, { type: 'thinking_delta', thinking: 'ing.' }),
        stop(0),
        start(1, { type: 'text', text: '' }),
        blockDelta(1, { type: 'text_delta', text: 'Héllo ' }),
        blockDelta(1, { type: 'text_delta', text: 'wörld 🌍' }),
        stop(1),
        start(2, { type: 'tool_use', id: 'call_1', name: 'lookup', input: {} }),
        blockDelta(2, { type: 'input_json_delta', partial_json: '{"q":' }),
        blockDelta(2, { type: 'input_json_delta', partial_json: '"cat"}' }),
        stop(2),
        start(3, { type: 'tool_use', id: 'call_2', name: 'other', input: {} }),
        blockDelta(3, { type: 'input_json_delta', partial_json: '{}' }),
        stop(3),
        messageDelta('tool_use', USAGE),
        { type: 'message_stop' },
      ]);
    },
  );

  it.each<[string, string[], Json[]]>([
    [
      'a stream without a usage chunk: message_delta at [DONE], with no counts',
      [delta({ content: 'Hi' }), delta({}, 'length'), DONE],
      [
        MESSAGE_START,
        start(0, { type: 'text', text: '' }),
        blockDelta(0, { type: 'text_delta', text: 'Hi' }),
        stop(0),
        messageDelta('max_tokens', NO_USAGE),
        { type: 'message_stop' },
      ],
    ],
    [
      'usage in the finish chunk itself',
      [
        delta({ content: 'Hi' }),
        chunk({
          choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
          usage: { prompt_tokens: 5, completion_tokens: 1 },
        }),
        usageChunk(5, 1, 0),
        DONE,
      ],
      [
        MESSAGE_START,
        start(0, { type: 'text', text: '' }),
        blockDelta(0, { type: 'text_delta', text: 'Hi' }),
        stop(0),
        messageDelta('end_turn', { ...NO_USAGE, input_tokens: 5, output_tokens: 1 }),
        { type: 'message_stop' },
      ],
    ],
    [
      '`reasoning` and a refusal',
      [delta({ reasoning: 'Hm.' }), delta({ refusal: 'No.' }), delta({}, 'stop'), usageChunk(3, 2, 0), DONE],
      [
        MESSAGE_START,
        start(0, { type: 'thinking', thinking: '', signature: '' }),
        blockDelta(0, { type: 'thinking_delta', thinking: 'Hm.' }),
        stop(0),
        start(1, { type: 'text', text: '' }),
        blockDelta(1, { type: 'text_delta', text: 'No.' }),
        stop(1),
        messageDelta('refusal', { ...NO_USAGE, input_tokens: 3, output_tokens: 2 }),
        { type: 'message_stop' },
      ],
    ],
    [
      'an answer of nothing',
      [delta({ role: 'assistant', content: '' }), DONE],
      [MESSAGE_START, messageDelta('end_turn', NO_USAGE), { type: 'message_stop' }],
    ],
    [
      'a stream cut short after its usage: no message_stop',
      [delta({ content: 'Hi' }), delta({}, 'stop'), usageChunk(5, 1, 0)],
      [
        MESSAGE_START,
        start(0, { type: 'text', text: '' }),
        blockDelta(0, { type: 'text_delta', text: 'Hi' }),
        stop(0),
        messageDelta('end_turn', { ...NO_USAGE, input_tokens: 5, output_tokens: 1 }),
      ],
    ],
    [
      'a stream cut short mid-answer: no message_stop',
      [delta({ content: 'Hi' })],
      [
        MESSAGE_START,
        start(0, { type: 'text', text: '' }),
        blockDelta(0, { type: 'text_delta', text: 'Hi' }),
      ],
    ],
  ])('translates %s', async (_case, upstream, expected) => {
    expect(eventsOf(await readText(translateStream(upstream.join(''), 5).body))).toEqual(expected);
  });

  it.each([
    ['a data-only error event', 'data: {"error":{"message":"secret detail","type":"server_error"}}\n\n'],
    ['a named error event', 'event: error\ndata: {"message":"secret detail"}\n\n'],
  ])(
    "ends with Anthropic's error event on %s, without the upstream's text, and lets go of the upstream",
    async (_case, error) => {
      // Prepare
      const upstream = bodyOf([
        encoder.encode(delta({ content: 'Hi' }) + error + delta({ content: 'more' }) + DONE),
      ]);

      // Act
      const text = await readText(fromChatResponse(sseAnswer(upstream), context).body);

      // Assess
      expect(eventsOf(text)).toEqual([
        MESSAGE_START,
        start(0, { type: 'text', text: '' }),
        blockDelta(0, { type: 'text_delta', text: 'Hi' }),
        {
          type: 'error',
          error: { type: 'api_error', message: 'The upstream provider failed while sending the response.' },
        },
      ]);
      expect(text).not.toContain('secret');
      expect(upstream.cancelled()).toBe(true);
    },
  );

  it('reads no further than the client: the first text goes out before the rest of the answer has arrived', async () => {
    // Prepare: the second upstream read waits until the test releases it
    let release: (bytes: Uint8Array) => void = () => {};
    const rest = new Promise<Uint8Array>((resolve) => {
      release = resolve;
    });
    const upstream = bodyOf([
      encoder.encode(delta({ role: 'assistant', content: '' }) + delta({ content: 'Hel' })),
      () => rest,
    ]);
    const reader = fromChatResponse(sseAnswer(upstream), context).body.getReader();

    // Act
    const first = await reader.read();

    // Assess
    expect(upstream.reads()).toBe(1);
    expect(first.done).toBe(false);
    expect(eventsOf(decoder.decode(first.value))).toEqual([
      MESSAGE_START,
      start(0, { type: 'text', text: '' }),
      blockDelta(0, { type: 'text_delta', text: 'Hel' }),
    ]);

    // Act: the rest arrives
    const second = reader.read();
    release(encoder.encode(delta({ content: 'lo' }) + delta({}, 'stop') + usageChunk(4, 2, 0) + DONE));
    const after = await second;

    // Assess
    expect(upstream.reads()).toBe(2);
    expect(after.done).toBe(false);
    expect(eventsOf(decoder.decode(after.value)).map((event) => event.type)).toEqual([
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(await reader.read()).toEqual({ done: true });
  });
});

describe('fromChatResponse, read by @anthropic-ai/sdk', () => {
  /** A client whose every call is answered with `answer` (the gateway's translated response). */
  const clientAnswering = (answer: UpstreamResponse): Anthropic => {
    const reader = answer.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const result = await reader.read();
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      },
    });
    return new Anthropic({
      apiKey: 'sk-ant-test',
      baseURL: 'http://gateway.test',
      maxRetries: 0,
      fetch: async () => new Response(body, { status: answer.status, headers: answer.headers }),
    });
  };
  const question = {
    model: 'claude-sonnet',
    max_tokens: 100,
    messages: [{ role: 'user' as const, content: 'Hi' }],
  };

  it('assembles the translated stream into the same message as the translated JSON answer', async () => {
    // Prepare
    const whole = clientAnswering(fromChatResponse(jsonAnswer(FULL_COMPLETION), context));
    const streamed = clientAnswering(translateStream(FULL_STREAM, 3));

    // Act
    const message = await whole.messages.create(question);
    const assembled = await streamed.messages.stream({ ...question, stream: true }).finalMessage();

    // Assess
    expect(message).toEqual(toMessage(FULL_COMPLETION, context));
    // `parsed_output` is the SDK's own (its structured output helper), not part of the stream.
    const { parsed_output: _parsed, ...streamedMessage } = assembled;
    expect(streamedMessage).toEqual(message);
  });

  it("raises the SDK's error when the translated stream fails", async () => {
    // Prepare
    const failing = clientAnswering(
      translateStream(`${delta({ content: 'Hi' })}data: {"error":{"message":"x"}}\n\n`, 4),
    );

    // Act and assess
    await expect(failing.messages.stream({ ...question, stream: true }).finalMessage()).rejects.toThrow(
      /The upstream provider failed/,
    );
  });
});
