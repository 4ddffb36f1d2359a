// The official OpenAI SDK reading answers replayed from cache entries, served by a tiny local HTTP server.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import { assembleStream } from '../../lambda/core/cache-assemble.ts';
import { type CacheEntry, REPLAY_CHUNK_CHARS, replayJson, replaySse } from '../../lambda/core/cache-entry.ts';

type Json = Record<string, unknown>;
type ChatChunk = OpenAI.Chat.Completions.ChatCompletionChunk;

const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
const LONG_TEXT = 'Caching makes the second answer instant. '.repeat(2 + REPLAY_CHUNK_CHARS / 16);
const WEATHER_CALL = {
  id: 'call_weather',
  type: 'function',
  function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
};
const TIME_CALL = { id: 'call_time', type: 'function', function: { name: 'get_time', arguments: '{}' } };
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hi' }] };

const entryOf = (endpoint: CacheEntry['endpoint'], body: Json): CacheEntry => ({
  v: 1,
  endpoint,
  body,
  createdAt: 1_700_000_000_000,
});
const chatEntry = (choices: Json[]): CacheEntry =>
  entryOf('chat', {
    id: 'chatcmpl-cached',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    system_fingerprint: 'fp_cached',
    choices,
    usage: USAGE,
  });
const chatChoice = (index: number, message: Json, finishReason = 'stop') => ({
  index,
  message: { role: 'assistant', refusal: null, ...message },
  logprobs: null,
  finish_reason: finishReason,
});

const TEXT_ENTRY = chatEntry([chatChoice(0, { content: LONG_TEXT })]);
const TOOLS_ENTRY = chatEntry([
  chatChoice(0, { content: 'Let me check.', tool_calls: [WEATHER_CALL, TIME_CALL] }, 'tool_calls'),
]);
const TWO_CHOICES_ENTRY = chatEntry([
  chatChoice(0, { content: 'Hello' }, 'length'),
  chatChoice(1, { content: LONG_TEXT }),
]);

const readJson = async (request: IncomingMessage): Promise<Json> => {
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8')) as Json;
};

/** Answers every request from `serving`, as the gateway does on a cache hit: SSE when the request streams. */
const startReplayServer = async () => {
  let serving: CacheEntry | undefined;
  const server: Server = createServer(async (request, response) => {
    const path = request.url ?? '';
    const endpoint = { '/v1/chat/completions': 'chat', '/v1/completions': 'completions' }[path];
    if (request.method !== 'POST' || serving === undefined || endpoint !== serving.endpoint) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"no entry"}}');
      return;
    }
    const json = await readJson(request);
    if (json.stream !== true) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(replayJson(serving));
      return;
    }
    const options = json.stream_options as { include_usage?: unknown } | undefined;
    const events = replaySse(serving, { includeUsage: options?.include_usage === true });
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // One write per event, so the client sees a stream rather than one body.
    for (const event of events) response.write(event);
    response.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const dispatcher = new Agent();
  const client = new OpenAI({
    apiKey: 'sk-cache-test',
    baseURL: `http://127.0.0.1:${port}/v1`,
    maxRetries: 0,
    // undici's own fetch and Agent, so that the test can close the client's keep-alive sockets.
    fetch: undiciFetch as unknown as typeof fetch,
    fetchOptions: { dispatcher },
  });
  return {
    client,
    serve(entry: CacheEntry) {
      serving = entry;
    },
    async close() {
      await dispatcher.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
};

const collect = async (stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> => {
  const chunks: ChatChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
};
const contentOf = (chunks: readonly ChatChunk[], index = 0): string =>
  chunks
    .flatMap((chunk) => chunk.choices)
    .filter((choice) => choice.index === index)
    .map((choice) => choice.delta.content ?? '')
    .join('');
const finishReasonsOf = (chunks: readonly ChatChunk[]) =>
  chunks.flatMap((chunk) => chunk.choices).flatMap((choice) => choice.finish_reason ?? []);
/** What a finished choice says, in the fields the cache must keep. */
const essentials = (choices: readonly Json[]) =>
  choices.map((choice) => {
    const message = choice.message as Json;
    return {
      index: choice.index,
      finish_reason: choice.finish_reason,
      message: {
        role: message.role,
        content: message.content,
        ...(message.tool_calls === undefined ? {} : { tool_calls: message.tool_calls }),
      },
    };
  });

describe('OpenAI SDK ← replayed cache entries', () => {
  let replay: Awaited<ReturnType<typeof startReplayServer>>;

  beforeAll(async () => {
    replay = await startReplayServer();
  });
  afterAll(async () => {
    await replay.close();
  });

  it('streams the content and the finish reason, and the usage only when include_usage was asked', async () => {
    // Prepare
    replay.serve(TEXT_ENTRY);

    // Act
    const withUsage = await collect(
      await replay.client.chat.completions.create({
        ...CHAT,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const withoutUsage = await collect(
      await replay.client.chat.completions.create({ ...CHAT, stream: true }),
    );

    // Assess
    for (const chunks of [withUsage, withoutUsage]) {
      expect(contentOf(chunks)).toBe(LONG_TEXT);
      expect(finishReasonsOf(chunks)).toEqual(['stop']);
      expect(chunks.length).toBeGreaterThan(3);
      for (const chunk of chunks) {
        expect(chunk).toEqual(
          expect.objectContaining({
            id: 'chatcmpl-cached',
            object: 'chat.completion.chunk',
            model: 'gpt-4o-mini',
          }),
        );
      }
    }
    expect(withUsage.at(-1)).toEqual(expect.objectContaining({ choices: [], usage: USAGE }));
    expect(withUsage.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    expect(withoutUsage.some((chunk) => chunk.usage !== undefined)).toBe(false);
  });

  it.each<[string, CacheEntry, number]>([
    ['tool calls', TOOLS_ENTRY, 1],
    ['two choices', TWO_CHOICES_ENTRY, 2],
  ])('rebuilds the same answer with %s through chat.completions.stream()', async (_case, entry, n) => {
    // Prepare
    replay.serve(entry);

    // Act
    const stream = replay.client.chat.completions.stream({
      ...CHAT,
      n,
      stream_options: { include_usage: true },
    });
    const completion = await stream.finalChatCompletion();

    // Assess
    expect(essentials(completion.choices as unknown as Json[])).toEqual(
      essentials(entry.body.choices as Json[]),
    );
    expect(completion.usage).toEqual(USAGE);
    expect(completion.id).toBe('chatcmpl-cached');
  });

  it('rebuilds every message field of a non-stream answer (audio, annotations, reasoning) and its null fields', async () => {
    // Prepare: what OpenAI (audio, web search) and vLLM (reasoning, null fields) answer without a stream
    const entry = entryOf('chat', {
      id: 'chatcmpl-rich',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o-mini',
      system_fingerprint: 'fp_cached',
      prompt_logprobs: null,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: LONG_TEXT,
            refusal: null,
            reasoning_content: 'The user greets me; greet back.',
            annotations: [
              {
                type: 'url_citation',
                url_citation: { start_index: 0, end_index: 7, url: 'https://example.com/', title: 'Example' },
              },
            ],
            audio: { id: 'audio_1', data: 'UklGRg==', expires_at: 1_700_003_600, transcript: 'Caching.' },
          },
          logprobs: null,
          finish_reason: 'stop',
          stop_reason: null,
        },
      ],
      usage: USAGE,
    });
    replay.serve(entry);

    // Act
    const completion = await replay.client.chat.completions
      .stream({ ...CHAT, stream_options: { include_usage: true } })
      .finalChatCompletion();

    // Assess
    const { object: _object, ...stored } = entry.body;
    expect(completion).toMatchObject(stored);
    expect(completion.choices[0]?.message).toEqual(
      expect.objectContaining((entry.body.choices as [Json])[0].message as Json),
    );
  });

  it('serves a non-stream request with the stored body', async () => {
    // Prepare
    replay.serve(TOOLS_ENTRY);

    // Act
    const completion = await replay.client.chat.completions.create(CHAT);

    // Assess
    expect(completion).toEqual(TOOLS_ENTRY.body);
  });

  it('streams completions that the SDK reads as text', async () => {
    // Prepare
    const entry = entryOf('completions', {
      id: 'cmpl-cached',
      object: 'text_completion',
      created: 1_700_000_000,
      model: 'gpt-3.5-turbo-instruct',
      choices: [{ text: LONG_TEXT, index: 0, logprobs: null, finish_reason: 'stop' }],
      usage: USAGE,
    });
    replay.serve(entry);

    // Act
    const stream = await replay.client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Say something',
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Completions.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    // Assess
    expect(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.text)).join('')).toBe(LONG_TEXT);
    expect(chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.finish_reason ?? []))).toEqual([
      'stop',
    ]);
    expect(chunks.at(-1)?.usage).toEqual(USAGE);
  });

  describe('from a recorded OpenAI stream', () => {
    const recorded = readFileSync(
      new URL('../fixtures/streams/openai-chat-include-usage.sse', import.meta.url),
      'utf8',
    );
    const recordedEvents: string[] = [];
    createParser({
      onEvent: (event) => {
        if (event.data !== '[DONE]') recordedEvents.push(event.data);
      },
    }).feed(recorded);
    const recordedChunks = recordedEvents.map((data) => JSON.parse(data) as ChatChunk);
    const body = assembleStream('chat', recordedEvents);

    it('replays what the upstream streamed: the same content, finish reason and usage', async () => {
      // Prepare
      expect(body).toBeDefined();
      replay.serve(entryOf('chat', body!));

      // Act
      const chunks = await collect(
        await replay.client.chat.completions.create({
          ...CHAT,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      const nonStream = await replay.client.chat.completions.create(CHAT);

      // Assess
      expect(contentOf(chunks)).toBe(contentOf(recordedChunks));
      expect(contentOf(chunks)).toBe('Hello! How can I help you today?');
      expect(finishReasonsOf(chunks)).toEqual(finishReasonsOf(recordedChunks));
      expect(chunks.at(-1)?.usage).toEqual(recordedChunks.at(-1)?.usage);
      expect(nonStream.choices[0]?.message.content).toBe(contentOf(recordedChunks));
      expect(nonStream.usage).toEqual(recordedChunks.at(-1)?.usage);
    });
  });
});
