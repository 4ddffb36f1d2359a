import { readdirSync, readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { assembleStream } from '../../lambda/core/cache-assemble.ts';
import {
  type CacheEntry,
  canReplaySse,
  parseEntry,
  REPLAY_CHUNK_CHARS,
  replayJson,
  replaySse,
  serializeEntry,
} from '../../lambda/core/cache-entry.ts';

type Json = Record<string, unknown>;

const STREAMS_DIR = new URL('../fixtures/streams/', import.meta.url);
/** The `data` payloads of a recorded stream, without `[DONE]` (what the relay keeps). */
const dataOf = (sse: string): string[] => {
  const events: string[] = [];
  const parser = createParser({
    onEvent: (event) => {
      if (event.data !== '[DONE]') events.push(event.data);
    },
  });
  parser.feed(sse);
  return events;
};
const fixture = (name: string) => dataOf(readFileSync(new URL(name, STREAMS_DIR), 'utf8'));
const chatFixtures = readdirSync(STREAMS_DIR).filter((name) => name.startsWith('openai-chat'));

const stripData = (event: string): string => event.replace(/^data: /, '').replace(/\n\n$/, '');
/** The replayed events as the relay would keep them: payloads only, `[DONE]` left out. */
const replayedData = (entry: CacheEntry, includeUsage = true): string[] =>
  replaySse(entry, { includeUsage })
    .map(stripData)
    .filter((data) => data !== '[DONE]');
const parsedChunks = (events: readonly string[]): Json[] =>
  events
    .map(stripData)
    .filter((data) => data !== '[DONE]')
    .map((data) => JSON.parse(data) as Json);

const HEAD = {
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
};
const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
const chatChunk = (choices: unknown[], extra: Json = {}) => JSON.stringify({ ...HEAD, choices, ...extra });
const part = (index: number, delta: Json, finishReason: string | null = null) => ({
  index,
  delta,
  logprobs: null,
  finish_reason: finishReason,
});
const usageChunk = chatChunk([], { usage: USAGE });

const entryOf = (endpoint: CacheEntry['endpoint'], body: Json): CacheEntry => ({
  v: 1,
  endpoint,
  body,
  createdAt: 1_700_000_000_000,
});

const chatBody = (choices: Json[], extra: Json = {}): Json => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  ...extra,
  choices,
  usage: USAGE,
});
const chatChoice = (index: number, message: Json, finishReason = 'stop', logprobs: Json | null = null) => ({
  index,
  message: { role: 'assistant', ...message },
  logprobs,
  finish_reason: finishReason,
});
const completionBody = (choices: Json[]): Json => ({
  id: 'cmpl-1',
  object: 'text_completion',
  created: 1_700_000_000,
  model: 'gpt-3.5-turbo-instruct',
  choices,
  usage: USAGE,
});

const LONG_TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
const WEATHER_CALL = {
  id: 'call_weather',
  type: 'function',
  function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
};
const TIME_CALL = { id: 'call_time', type: 'function', function: { name: 'get_time', arguments: '{}' } };

describe('assembleStream on recorded OpenAI streams', () => {
  it.each(chatFixtures)('%s assembles into the non-stream answer it streamed', (name) => {
    // Prepare
    const events = fixture(name);
    const chunks = events.map((data) => JSON.parse(data) as Json & { choices: Json[] });
    const streamedContent = chunks
      .flatMap((chunk) => chunk.choices)
      .map((choice) => (choice.delta as Json).content ?? '')
      .join('');
    const usage = chunks.find((chunk) => chunk.usage !== null)?.usage;

    // Act
    const body = assembleStream('chat', events);

    // Assess
    expect(body).toEqual(
      expect.objectContaining({
        id: chunks[0]?.id,
        object: 'chat.completion',
        created: chunks[0]?.created,
        model: chunks[0]?.model,
        usage,
      }),
    );
    expect(body?.choices).toEqual([
      expect.objectContaining({ index: 0, message: expect.objectContaining({ content: streamedContent }) }),
    ]);
  });

  it('builds exactly the body OpenAI returns for the include-usage stream', () => {
    // Act
    const body = assembleStream('chat', fixture('openai-chat-include-usage.sse'));

    // Assess
    expect(body).toStrictEqual({
      id: 'chatcmpl-AbC123',
      object: 'chat.completion',
      created: 1732870000,
      model: 'gpt-4o-mini-2024-07-18',
      service_tier: 'default',
      system_fingerprint: 'fp_0ba0d124f1',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 9,
        completion_tokens: 9,
        total_tokens: 18,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
  });

  it("takes id, created and model from the first chunk with choices, not Azure's prompt-filter chunk", () => {
    // Prepare: Azure OpenAI opens with `choices: []`, `id: ''`, `created: 0`, `model: ''`.
    const events = fixture('azure-openai-chat-include-usage.sse');
    expect(JSON.parse(events[0]!)).toMatchObject({ choices: [], id: '', created: 0, model: '' });

    // Act
    const body = assembleStream('chat', events);

    // Assess
    expect(body).toMatchObject({
      id: 'chatcmpl-AzUr3StreamX1',
      object: 'chat.completion',
      created: 1733500000,
      model: 'gpt-4o-2024-11-20',
      system_fingerprint: 'fp_b705f0c291',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 10, total_tokens: 22 },
    });
  });

  it('refuses a Responses API stream as a chat stream', () => {
    expect(assembleStream('chat', fixture('openai-responses.sse'))).toBeUndefined();
  });
});

describe('assembleStream on built streams', () => {
  it('merges tool-call deltas by index, concatenating the arguments', () => {
    // Prepare: two calls whose argument pieces interleave, as parallel tool calls do.
    const events = [
      chatChunk([part(0, { role: 'assistant', content: null, refusal: null })]),
      chatChunk([
        part(0, {
          tool_calls: [
            {
              index: 0,
              id: 'call_weather',
              type: 'function',
              function: { name: 'get_weather', arguments: '' },
            },
          ],
        }),
      ]),
      chatChunk([part(0, { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })]),
      chatChunk([
        part(0, {
          tool_calls: [{ index: 1, id: 'call_time', type: 'function', function: { name: 'get_time' } }],
        }),
      ]),
      chatChunk([part(0, { tool_calls: [{ index: 0, function: { arguments: '"Paris","unit":"c"}' } }] })]),
      chatChunk([part(0, { tool_calls: [{ index: 1, function: { arguments: '{}' } }] })]),
      chatChunk([part(0, {}, 'tool_calls')]),
      usageChunk,
    ];

    // Act
    const body = assembleStream('chat', events);

    // Assess
    expect(body).toEqual(
      chatBody([
        chatChoice(0, { content: null, refusal: null, tool_calls: [WEATHER_CALL, TIME_CALL] }, 'tool_calls'),
      ]),
    );
  });

  it('assembles a refusal', () => {
    // Prepare
    const events = [
      chatChunk([part(0, { role: 'assistant', content: null, refusal: '' })]),
      chatChunk([part(0, { refusal: "I'm sorry, " })]),
      chatChunk([part(0, { refusal: "I can't help with that." })]),
      chatChunk([part(0, {}, 'stop')]),
      usageChunk,
    ];

    // Act
    const body = assembleStream('chat', events);

    // Assess
    expect(body).toEqual(
      chatBody([chatChoice(0, { content: null, refusal: "I'm sorry, I can't help with that." })]),
    );
  });

  it('keeps n=2 choices apart by index, whatever order their chunks come in', () => {
    // Prepare
    const events = [
      chatChunk([part(1, { role: 'assistant', content: '' })]),
      chatChunk([part(0, { role: 'assistant', content: '' })]),
      chatChunk([part(0, { content: 'Hel' })]),
      chatChunk([part(1, { content: 'Bon' })]),
      chatChunk([part(1, { content: 'jour' })]),
      chatChunk([part(0, { content: 'lo' })]),
      chatChunk([part(1, {}, 'stop')]),
      chatChunk([part(0, {}, 'length')]),
      usageChunk,
    ];

    // Act
    const body = assembleStream('chat', events);

    // Assess
    expect(body).toEqual(
      chatBody([chatChoice(0, { content: 'Hello' }, 'length'), chatChoice(1, { content: 'Bonjour' })]),
    );
  });

  it('concatenates logprobs as the OpenAI SDK does', () => {
    // Prepare
    const token = (text: string) => ({
      token: text,
      logprob: -0.1,
      bytes: [...Buffer.from(text)],
      top_logprobs: [],
    });
    const events = [
      chatChunk([part(0, { role: 'assistant', content: '' })]),
      chatChunk([{ ...part(0, { content: 'Hi' }), logprobs: { content: [token('Hi')], refusal: null } }]),
      chatChunk([{ ...part(0, { content: '!' }), logprobs: { content: [token('!')], refusal: null } }]),
      chatChunk([part(0, {}, 'stop')]),
    ];

    // Act
    const body = assembleStream('chat', events);

    // Assess
    expect(body?.choices).toEqual([
      chatChoice(0, { content: 'Hi!' }, 'stop', { content: [token('Hi'), token('!')], refusal: null }),
    ]);
    expect(body).not.toHaveProperty('usage');
  });

  it('assembles a completions stream', () => {
    // Prepare
    const head = {
      id: 'cmpl-1',
      object: 'text_completion',
      created: 1_700_000_000,
      model: 'gpt-3.5-turbo-instruct',
    };
    const textChunk = (index: number, text: string, finishReason: string | null = null) =>
      JSON.stringify({ ...head, choices: [{ text, index, logprobs: null, finish_reason: finishReason }] });
    const events = [
      textChunk(0, 'Once'),
      textChunk(1, 'Twice'),
      textChunk(0, ' upon a time'),
      textChunk(0, '', 'stop'),
      textChunk(1, ' over', 'length'),
      JSON.stringify({ ...head, choices: [], usage: USAGE }),
    ];

    // Act
    const body = assembleStream('completions', events);

    // Assess
    expect(body).toEqual(
      completionBody([
        { text: 'Once upon a time', index: 0, logprobs: null, finish_reason: 'stop' },
        { text: 'Twice over', index: 1, logprobs: null, finish_reason: 'length' },
      ]),
    );
  });

  const complete = [
    chatChunk([part(0, { role: 'assistant', content: '' })]),
    chatChunk([part(0, { content: 'Hi' })]),
    chatChunk([part(0, {}, 'stop')]),
  ];
  it.each<[string, string[]]>([
    ['no chunks at all', []],
    ['a stream cut before the finish reason', complete.slice(0, 2)],
    ['only a usage chunk', [usageChunk]],
    ['one of two choices without a finish reason', [...complete, chatChunk([part(1, { content: 'Yo' })])]],
    ['a choice index with a gap before it', [chatChunk([part(1, { content: 'Yo' }, 'stop')])]],
    ['malformed JSON in the middle', [complete[0]!, '{"id":"chatcmpl-1","choices":[', complete[2]!]],
    ['an error event instead of a chunk', [...complete.slice(0, 2), '{"error":{"message":"overloaded"}}']],
    ['a chunk that is not an object', [...complete, '42']],
    ['a first chunk without id', [JSON.stringify({ choices: [part(0, { content: 'x' }, 'stop')] })]],
    [
      'a tool call that never got its id',
      [
        chatChunk([
          part(0, { tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }] }, 'tool_calls'),
        ]),
      ],
    ],
    [
      'a tool call that never got its name',
      [
        chatChunk([
          part(0, { tool_calls: [{ index: 0, id: 'call_1', function: { arguments: '{}' } }] }, 'stop'),
        ]),
      ],
    ],
    [
      'a delta field it cannot rebuild (audio)',
      [...complete.slice(0, 2), chatChunk([part(0, { audio: { id: 'a' } }, 'stop')])],
    ],
    ['content that is not a string', [chatChunk([part(0, { content: 7 }, 'stop')])]],
  ])('returns undefined for %s', (_case, events) => {
    expect(assembleStream('chat', events)).toBeUndefined();
  });
});

describe('serializeEntry / parseEntry', () => {
  const entry = entryOf('chat', chatBody([chatChoice(0, { content: 'Hi', refusal: null })]));

  it('round-trips an entry', () => {
    expect(parseEntry(serializeEntry(entry))).toStrictEqual(entry);
  });

  it('accepts embeddings and responses entries', () => {
    // Prepare
    const embeddings = entryOf('embeddings', { object: 'list', data: [{ embedding: [0.1] }], usage: USAGE });
    const responses = entryOf('responses', {
      id: 'resp_1',
      object: 'response',
      status: 'completed',
      background: false,
      output: [],
    });

    // Act & Assess
    expect(parseEntry(serializeEntry(embeddings))).toStrictEqual(embeddings);
    expect(parseEntry(serializeEntry(responses))).toStrictEqual(responses);
  });

  const valid = JSON.parse(serializeEntry(entry)) as Json;
  const withBody = (body: unknown) => JSON.stringify({ ...valid, body });
  it.each<[string, string]>([
    ['an empty string', ''],
    ['not JSON', 'hello'],
    ['a truncated entry', serializeEntry(entry).slice(0, -5)],
    ['null', 'null'],
    ['an array', '[]'],
    ['an empty object', '{}'],
    ['another version', JSON.stringify({ ...valid, v: 2 })],
    ['an unknown endpoint', JSON.stringify({ ...valid, endpoint: 'images' })],
    ['a createdAt that is not a number', JSON.stringify({ ...valid, createdAt: '2024-01-01' })],
    ['a body that is an array', withBody([])],
    ['a chat body without choices', withBody({ ...entry.body, choices: undefined })],
    ['a chat body with no choices', withBody({ ...entry.body, choices: [] })],
    [
      'a choice without a finish reason',
      withBody(chatBody([{ index: 0, message: {}, finish_reason: null }])),
    ],
    ['a chat choice without a message', withBody(chatBody([{ index: 0, text: 'x', finish_reason: 'stop' }]))],
    ['a completions entry with a chat body', JSON.stringify({ ...valid, endpoint: 'completions' })],
    ['an embeddings entry without data', JSON.stringify({ ...valid, endpoint: 'embeddings' })],
    ['a responses entry without output', JSON.stringify({ ...valid, endpoint: 'responses' })],
  ])('returns undefined for %s', (_case, text) => {
    expect(parseEntry(text)).toBeUndefined();
  });

  const response = (fields: Json) =>
    serializeEntry(entryOf('responses', { id: 'resp_1', object: 'response', output: [], ...fields }));
  it.each<[string, Json]>([
    ['queued', { status: 'queued' }],
    ['in_progress', { status: 'in_progress' }],
    ['failed', { status: 'failed', error: { code: 'server_error', message: 'x' } }],
    ['cancelled', { status: 'cancelled' }],
    ['incomplete', { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }],
    ['without a status', {}],
    ['completed, but of a background request', { status: 'completed', background: true }],
  ])('serves only completed Responses answers: not one %s', (_case, fields) => {
    expect(parseEntry(response(fields))).toBeUndefined();
    expect(parseEntry(response(fields), { stream: false })).toBeUndefined();
    expect(parseEntry(response({ ...fields, status: 'completed', background: false }))).toBeDefined();
  });

  it.each(['embeddings', 'responses'] as const)(
    'never hands a streamed request an entry of %s, which has no SSE replay',
    (endpoint) => {
      const text = serializeEntry(
        entryOf(endpoint, { object: 'list', data: [{ embedding: [0.1] }], output: [], status: 'completed' }),
      );
      expect(parseEntry(text, { stream: true })).toBeUndefined();
      expect(parseEntry(text, { stream: false })).toBeDefined();
      expect(parseEntry(text)).toBeDefined();
    },
  );

  it('never throws, whatever it is given', () => {
    // Prepare: every prefix of a valid entry, and a few odd values.
    const text = serializeEntry(entry);
    const inputs = [
      ...Array.from({ length: text.length }, (_, end) => text.slice(0, end)),
      '{"v":1,"__proto__":{}}',
    ];

    // Act & Assess
    for (const input of inputs) expect(() => parseEntry(input)).not.toThrow();
  });
});

describe('replaySse', () => {
  const entry = entryOf(
    'chat',
    chatBody([chatChoice(0, { content: LONG_TEXT, refusal: null })], { system_fingerprint: 'fp_1' }),
  );

  it('replays a chat answer in the shape OpenAI streams it', () => {
    // Act
    const events = replaySse(entry, { includeUsage: true });

    // Assess
    for (const event of events) expect(event).toMatch(/^data: .*\n\n$/s);
    expect(events.at(-1)).toBe('data: [DONE]\n\n');
    const chunks = parsedChunks(events);
    for (const chunk of chunks) {
      expect(chunk).toEqual(
        expect.objectContaining({ ...HEAD, object: 'chat.completion.chunk', system_fingerprint: 'fp_1' }),
      );
    }
    const [first, ...rest] = chunks;
    const usage = rest.pop();
    const finish = rest.pop();
    expect(first?.choices).toEqual([part(0, { role: 'assistant', content: '', refusal: null })]);
    expect(rest.length).toBe(Math.ceil(LONG_TEXT.length / REPLAY_CHUNK_CHARS));
    expect(
      rest.map((chunk) => (chunk.choices as [{ delta: { content: string } }])[0].delta.content).join(''),
    ).toBe(LONG_TEXT);
    expect(finish?.choices).toEqual([part(0, {}, 'stop')]);
    expect([first, ...rest, finish].map((chunk) => chunk?.usage)).toEqual(Array(rest.length + 2).fill(null));
    expect(usage).toEqual(expect.objectContaining({ choices: [], usage: USAGE }));
  });

  it('sends no usage at all unless asked', () => {
    // Act
    const chunks = parsedChunks(replaySse(entry, { includeUsage: false }));

    // Assess
    for (const chunk of chunks) expect(chunk).not.toHaveProperty('usage');
    expect(chunks.at(-1)?.choices).toEqual([part(0, {}, 'stop')]);
  });

  it('sends one chunk per tool call, with its full arguments', () => {
    // Prepare
    const tools = entryOf(
      'chat',
      chatBody([chatChoice(0, { content: null, tool_calls: [WEATHER_CALL, TIME_CALL] }, 'tool_calls')]),
    );

    // Act
    const chunks = parsedChunks(replaySse(tools, { includeUsage: false }));

    // Assess
    expect(chunks.map((chunk) => chunk.choices)).toEqual([
      [part(0, { role: 'assistant', content: null })],
      [part(0, { tool_calls: [{ index: 0, ...WEATHER_CALL }] })],
      [part(0, { tool_calls: [{ index: 1, ...TIME_CALL }] })],
      [part(0, {}, 'tool_calls')],
    ]);
  });

  it('never splits a surrogate pair between two chunks', () => {
    // Prepare: 'a' shifts every emoji across the chunk boundary.
    const text = `a${'😀'.repeat(REPLAY_CHUNK_CHARS)}`;
    const emoji = entryOf('chat', chatBody([chatChoice(0, { content: text })]));

    // Act
    const pieces = parsedChunks(replaySse(emoji, { includeUsage: false }))
      .map((chunk) => (chunk.choices as [{ delta: { content?: string } }])[0].delta.content)
      .filter((content) => content !== undefined && content !== '');

    // Assess
    expect(pieces.join('')).toBe(text);
    for (const piece of pieces) {
      expect(piece).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    }
  });

  it('replays completions as text_completion chunks with text', () => {
    // Prepare
    const completion = entryOf(
      'completions',
      completionBody([{ text: 'Once upon a time', index: 0, logprobs: null, finish_reason: 'stop' }]),
    );

    // Act
    const chunks = parsedChunks(replaySse(completion, { includeUsage: true }));

    // Assess
    expect(chunks.map(({ choices, usage }) => ({ choices, usage }))).toEqual([
      { choices: [{ text: 'Once upon a time', index: 0, logprobs: null, finish_reason: null }], usage: null },
      { choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }], usage: null },
      { choices: [], usage: USAGE },
    ]);
    for (const chunk of chunks)
      expect(chunk).toEqual(expect.objectContaining({ id: 'cmpl-1', object: 'text_completion' }));
  });

  const AUDIO = { id: 'audio_1', data: 'UklGRg==', expires_at: 1_700_003_600, transcript: 'Hello there.' };
  const CITATION = {
    type: 'url_citation',
    url_citation: { start_index: 0, end_index: 5, url: 'https://example.com/', title: 'Example' },
  };

  it('renders every message field: audio, annotations and reasoning each whole in one delta', () => {
    // Prepare
    const rich = entryOf(
      'chat',
      chatBody([
        chatChoice(0, {
          content: 'Hello',
          refusal: null,
          reasoning_content: 'The user greets me.',
          annotations: [CITATION],
          audio: AUDIO,
        }),
      ]),
    );

    // Act
    const deltas = parsedChunks(replaySse(rich, { includeUsage: false })).map(
      (chunk) => (chunk.choices as [{ delta: Json }])[0].delta,
    );

    // Assess: reasoning before the content, as streams send it; the rest after
    expect(deltas).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { reasoning_content: 'The user greets me.' },
      { content: 'Hello' },
      { annotations: [CITATION] },
      { audio: AUDIO },
      {},
    ]);
  });

  it('opens the message with its null and empty fields, and repeats null choice and body fields', () => {
    // Prepare: the shape of a vLLM answer
    const vllm = entryOf(
      'chat',
      chatBody(
        [
          {
            ...chatChoice(0, { content: 'Hi', reasoning_content: null, tool_calls: [], annotations: [] }),
            stop_reason: null,
          },
        ],
        { prompt_logprobs: null, kv_transfer_params: null },
      ),
    );

    // Act
    const chunks = parsedChunks(replaySse(vllm, { includeUsage: false }));

    // Assess
    expect(chunks.map((chunk) => chunk.choices)).toEqual([
      [
        {
          ...part(0, {
            role: 'assistant',
            content: '',
            reasoning_content: null,
            tool_calls: [],
            annotations: [],
          }),
          stop_reason: null,
        },
      ],
      [{ ...part(0, { content: 'Hi' }), stop_reason: null }],
      [{ ...part(0, {}, 'stop'), stop_reason: null }],
    ]);
    for (const chunk of chunks)
      expect(chunk).toMatchObject({ prompt_logprobs: null, kv_transfer_params: null });
  });

  /** Azure's non-stream form: filter results on the body and on each choice. */
  const FILTERS = { hate: { filtered: false, severity: 'safe' } };
  const unreplayable: [string, CacheEntry][] = [
    [
      'a choice-level field (Azure content_filter_results)',
      entryOf('chat', chatBody([{ ...chatChoice(0, { content: 'Hi' }), content_filter_results: FILTERS }])),
    ],
    [
      'a body-level field (Azure prompt_filter_results)',
      entryOf(
        'chat',
        chatBody([chatChoice(0, { content: 'Hi' })], {
          prompt_filter_results: [{ prompt_index: 0, content_filter_results: FILTERS }],
        }),
      ),
    ],
    [
      'a completions choice-level field',
      entryOf(
        'completions',
        completionBody([{ text: 'Hi', index: 0, logprobs: null, finish_reason: 'stop', stop_reason: 13 }]),
      ),
    ],
    ['content that is not text', entryOf('chat', chatBody([chatChoice(0, { content: [{ type: 'text' }] })]))],
    ['a tool call that is not an object', entryOf('chat', chatBody([chatChoice(0, { tool_calls: ['x'] })]))],
    [
      'usage that is not an object',
      entryOf('chat', { ...chatBody([chatChoice(0, { content: 'Hi' })]), usage: 7 }),
    ],
  ];

  it.each(unreplayable)(
    'refuses to replay an entry holding %s: a streamed request misses',
    (_case, entry) => {
      // Act
      const text = serializeEntry(entry);

      // Assess: never replayed lossy; a non-stream request may still be served the stored body
      expect(canReplaySse(entry)).toBe(false);
      expect(parseEntry(text, { stream: true })).toBeUndefined();
      expect(parseEntry(text)).toBeUndefined();
      expect(parseEntry(text, { stream: false })).toStrictEqual(entry);
      expect(() => replaySse(entry, { includeUsage: false })).toThrow('cannot be replayed as a stream');
    },
  );

  it.each(['embeddings', 'responses'] as const)('refuses to stream an entry of %s', (endpoint) => {
    const other = entryOf(endpoint, { object: 'list', data: [], output: [] });
    expect(() => replaySse(other, { includeUsage: true })).toThrow(
      `A ${endpoint} cache entry cannot be replayed as a stream.`,
    );
  });
});

describe('replayJson', () => {
  it('is the stored non-stream body', () => {
    const entry = entryOf('embeddings', { object: 'list', data: [{ embedding: [0.5, -1] }], usage: USAGE });
    expect(JSON.parse(replayJson(entry))).toStrictEqual(entry.body);
  });
});

describe('round trip: assembleStream(replaySse(entry)) is the entry body', () => {
  const cases: [string, CacheEntry][] = [
    [
      'chat, long content',
      entryOf(
        'chat',
        chatBody([chatChoice(0, { content: LONG_TEXT, refusal: null })], {
          service_tier: 'default',
          system_fingerprint: 'fp_1',
        }),
      ),
    ],
    ['chat, empty content', entryOf('chat', chatBody([chatChoice(0, { content: '' })]))],
    [
      'chat, tool calls',
      entryOf(
        'chat',
        chatBody([
          chatChoice(
            0,
            { content: null, refusal: null, tool_calls: [WEATHER_CALL, TIME_CALL] },
            'tool_calls',
          ),
        ]),
      ),
    ],
    [
      'chat, text and a tool call',
      entryOf(
        'chat',
        chatBody([chatChoice(0, { content: 'Let me check.', tool_calls: [WEATHER_CALL] }, 'tool_calls')]),
      ),
    ],
    ['chat, refusal', entryOf('chat', chatBody([chatChoice(0, { content: null, refusal: 'No.' })]))],
    [
      'chat, legacy function_call',
      entryOf(
        'chat',
        chatBody([chatChoice(0, { content: null, function_call: WEATHER_CALL.function }, 'function_call')]),
      ),
    ],
    [
      'chat, n=2',
      entryOf(
        'chat',
        chatBody([chatChoice(0, { content: LONG_TEXT }, 'length'), chatChoice(1, { content: 'Short.' })]),
      ),
    ],
    [
      'chat, logprobs',
      entryOf(
        'chat',
        chatBody([
          chatChoice(0, { content: 'Hi' }, 'stop', {
            content: [{ token: 'Hi', logprob: -0.2, bytes: [72, 105], top_logprobs: [] }],
            refusal: null,
          }),
        ]),
      ),
    ],
    [
      'chat, the recorded fixture',
      entryOf('chat', assembleStream('chat', fixture('openai-chat-include-usage.sse'))!),
    ],
    [
      'completions, n=2',
      entryOf(
        'completions',
        completionBody([
          { text: LONG_TEXT, index: 0, logprobs: null, finish_reason: 'stop' },
          { text: '', index: 1, logprobs: null, finish_reason: 'length' },
        ]),
      ),
    ],
    [
      'completions, logprobs',
      entryOf(
        'completions',
        completionBody([
          {
            text: 'Hi',
            index: 0,
            logprobs: {
              tokens: ['Hi'],
              token_logprobs: [-0.2],
              top_logprobs: [{ Hi: -0.2 }],
              text_offset: [0],
            },
            finish_reason: 'stop',
          },
        ]),
      ),
    ],
  ];

  it.each(cases)('%s is an entry the replay accepts', (_case, entry) => {
    expect(canReplaySse(entry)).toBe(true);
    expect(parseEntry(serializeEntry(entry), { stream: true })).toStrictEqual(entry);
  });

  it.each(cases)('%s, with usage', (_case, entry) => {
    // Act
    const body = assembleStream(entry.endpoint as 'chat' | 'completions', replayedData(entry, true));

    // Assess
    expect(body).toStrictEqual(entry.body);
  });

  it.each(cases)('%s, without usage', (_case, entry) => {
    // Prepare
    const { usage: _usage, ...withoutUsage } = entry.body;

    // Act
    const body = assembleStream(entry.endpoint as 'chat' | 'completions', replayedData(entry, false));

    // Assess
    expect(body).toStrictEqual(withoutUsage);
  });
});
