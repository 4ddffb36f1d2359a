// A built-in, deterministic OpenAI-compatible provider, so that local mode answers without any upstream key.
// It answers every endpoint the gateway proxies in the wire format of the OpenAI API: the text it writes and the
// usage it reports follow from the request alone (a "token" is a word); only ids are new on every call.
import { createHash, randomBytes } from 'node:crypto';
import type { Upstream, UpstreamRequest, UpstreamResponse } from '../../ports.ts';

export const MOCK_BASE_URL = 'mock://local/v1';

export interface MockProviderOptions {
  /** Pause between streamed events, so a stream looks like one. @default 15 */
  readonly chunkDelayMs?: number;
  /** Responses kept for `GET /responses/{id}` (unless sent with `store: false`), oldest dropped first. @default 1000 */
  readonly storedResponses?: number;
}

type Json = Record<string, unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The `created` time of every answer: a fixed one, so that an answer is the same on every run. */
const CREATED = 1_700_000_000;
/** What the legacy completions API writes when `max_tokens` is not given. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;
/** Audio tokens a transcription model is said to read per second of audio. */
const AUDIO_TOKENS_PER_SECOND = 10;
/** Assumed bitrate (bytes per second, 32 kbps) of an audio upload whose length cannot be read from its header. */
const ESTIMATED_AUDIO_BYTES_PER_SECOND = 4_000;

// One white pixel in each format an image model can write (made with ffmpeg, checked with ffprobe).
const PIXEL: Readonly<Record<'png' | 'jpeg' | 'webp', string>> = {
  png: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAACXBIWXMAAAABAAAAAQBPJcTWAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC',
  jpeg: '/9j/4AAQSkZJRgABAgAAAQABAAD/2wBDAAgEBAQEBAUFBQUFBQYGBgYGBgYGBgYGBgYHBwcICAgHBwcGBgcHCAgICAkJCQgICAgJCQoKCgwMCwsODg4RERT/xABLAAEBAAAAAAAAAAAAAAAAAAAABwEBAAAAAAAAAAAAAAAAAAAAABABAAAAAAAAAAAAAAAAAAAAABEBAAAAAAAAAAAAAAAAAAAAAP/AABEIAAEAAQMBEgACEgADEgD/2gAMAwEAAhEDEQA/AL+AD//Z',
  webp: 'UklGRh4AAABXRUJQVlA4TBEAAAAvAAAAAAfQ//73v/+BiOh/AAA=',
};

// About 0.25 s of silence, 24 kHz mono as OpenAI's speech models write it, in each compressed format (made with
// ffmpeg, decoded back with ffmpeg). WAV and raw PCM are built below.
const SILENCE: Readonly<Record<'mp3' | 'opus' | 'aac' | 'flac', string>> = {
  mp3: '//MUxAAAAANIAAAAAExBTUUzLjEwMFVV//MUxAsAAANIAAAAAFVVVVVVVVVVVVVV//MUxBYAAANIAAAAAFVVVVVVVVVVVVVV//MUxCEAAANIAAAAAFVVVVVVVVVVVVVV//MUxCwAAANIAAAAAFVVVVVVVVVVVVVV//MUxDcAAANIAAAAAFVVVVVVVVVVVVVV//MUxEIAAANIAAAAAFVVVVVVVVVVVVVV//MUxE0AAANIAAAAAFVVVVVVVVVVVVVV//MUxFgAAANIAAAAAFVVVVVVVVVVVVVV//MUxGMAAANIAAAAAFVVVVVVVVVVVVVV//MUxG4AAANIAAAAAFVVVVVVVVVVVVVV//MUxHkAAANIAAAAAFVVVVVVVVVVVVVV//MUxIQAAANIAAAAAFVVVVVVVVVVVVVV',
  opus: 'T2dnUwACAAAAAAAAAAAAAAAAAAAAAENewaEBE09wdXNIZWFkAQE4AcBdAAAAAABPZ2dTAAAAAAAAAAAAAAAAAAABAAAASZW+VAEuT3B1c1RhZ3MGAAAAZmZtcGVnAQAAABQAAABlbmNvZGVyPUxhdmMgbGlib3B1c09nZ1MABBgwAAAAAAAAAAAAAAIAAAB988xrDQ4QDw8PDw8PDw8PDw9oC+TBNuzFjYxJSEJs0GgHyXIn4UTqVfHwwNFzF2hoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8MhoB8l5yMlXwKISI/pR8Mg=',
  aac: '//FYQAF//AEYIAf/8VhAAX/8ARggB//xWEABf/wBGCAH//FYQAF//AEYIAf/8VhAAX/8ARggB//xWEABf/wBGCAH//FYQAF//AEYIAc=',
  flac: 'ZkxhQ4AAACIJAAkAAAALAAANBdwA8AAAF3Ah2ZOPM1xr+rDurtWGc7Bz//hHCACyAAAAy1L/+EcIAbUAAACnKv/4dwgCBW+uAAAAsOY=',
};
const SPEECH_SAMPLE_RATE = 24_000;
const SPEECH_SAMPLES = SPEECH_SAMPLE_RATE / 4;
/** The content type OpenAI gives each speech `response_format`. */
const SPEECH_TYPES: Readonly<Record<string, string>> = {
  mp3: 'audio/mpeg',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

/** 0.25 s of 16-bit mono silence at 24 kHz, as a WAV file. */
const silentWav = (): Uint8Array => {
  const dataBytes = SPEECH_SAMPLES * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(SPEECH_SAMPLE_RATE, 24);
  wav.writeUInt32LE(SPEECH_SAMPLE_RATE * 2, 28); // bytes per second
  wav.writeUInt16LE(2, 32); // bytes per sample frame
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(dataBytes, 40);
  return new Uint8Array(wav);
};

const speechAudio = (format: string): Uint8Array => {
  if (format === 'wav') return silentWav();
  if (format === 'pcm') return new Uint8Array(SPEECH_SAMPLES * 2);
  return new Uint8Array(Buffer.from(SILENCE[format as keyof typeof SILENCE], 'base64'));
};

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const positive = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: new Response(JSON.stringify(body)).body!,
});

const bytesResponse = (contentType: string, bytes: Uint8Array | string): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': contentType },
  body: new Response(bytes as BodyInit).body!,
});

const invalidRequest = (status: number, message: string, param: string | null = null): UpstreamResponse =>
  json(status, { error: { message, type: 'invalid_request_error', param, code: null } });

/** An id as OpenAI shapes them, `<prefix>_<48 hex digits>`: unique across runs, as stored ids must be. */
const newId = (prefix: string): string => `${prefix}_${randomBytes(24).toString('hex')}`;

const words = (text: string): number => text.split(/\s+/).filter(Boolean).length;

/** The pieces a text streams in: one per word, each with the whitespace after it. */
const wordPieces = (text: string): string[] => text.split(/(?<=\s)(?=\S)/).filter(Boolean);

/** The answer to a prompt, cut to `maxTokens` words: its pieces (one output token each) and whether it was cut. */
const answer = (prompt: string, maxTokens: number | undefined): { pieces: string[]; truncated: boolean } => {
  const reply = `This is the gateway's mock provider. You said: "${prompt.slice(0, 200)}". Set OPENAI_API_KEY to talk to a real model.`;
  const pieces = wordPieces(reply);
  if (maxTokens === undefined || pieces.length <= maxTokens) return { pieces, truncated: false };
  return { pieces: pieces.slice(0, maxTokens), truncated: true };
};

/** The text of a message's content: a string, or the text of its parts. */
const contentText = (content: unknown): string | undefined => {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  return content
    .map((part: unknown) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
    .join(' ');
};

/** The text a message list asks about: the last user message's text (a bare string is a user message). */
const lastUserText = (messages: unknown): string => {
  if (typeof messages === 'string') return messages;
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message: unknown = messages[i];
    if (typeof message === 'string') return message;
    if (!isObject(message) || message.role !== 'user') continue;
    const text = contentText(message.content);
    if (text !== undefined) return text;
  }
  return '';
};

/** A deterministic unit vector of `dimensions` floats derived from the text. */
const embed = (text: string, dimensions: number): number[] => {
  const vector: number[] = [];
  let block = createHash('sha256').update(text).digest();
  while (vector.length < dimensions) {
    for (let i = 0; i + 1 < block.length && vector.length < dimensions; i += 2)
      vector.push((block.readUInt16BE(i) / 65535) * 2 - 1);
    block = createHash('sha256').update(block).digest();
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((x) => x / norm);
};

interface SseEvent {
  /** The `event:` line, when the API names its events (Responses, images); chat has none. */
  readonly event?: string;
  readonly data: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `events` as server-sent events, `delayMs` apart, ending with `data: [DONE]` when `done`. */
const sseResponse = (events: readonly SseEvent[], delayMs: number, done: boolean): UpstreamResponse => {
  let index = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index > 0 && delayMs > 0) await sleep(delayMs);
      const next = events[index++];
      if (next === undefined) {
        if (done) controller.enqueue(encoder.encode('data: [DONE]\n\n'));
        controller.close();
        return;
      }
      const name = next.event === undefined ? '' : `event: ${next.event}\n`;
      controller.enqueue(encoder.encode(`${name}data: ${JSON.stringify(next.data)}\n\n`));
    },
  });
  return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: stream };
};

const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/instructions',
  'self-harm/intent',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;
/** The categories omni-moderation also reads in images. */
const IMAGE_MODERATION_CATEGORIES: ReadonlySet<string> = new Set([
  'self-harm',
  'self-harm/instructions',
  'self-harm/intent',
  'sexual',
  'violence',
  'violence/graphic',
]);

interface StoredResponse {
  readonly response: Json;
  readonly input: readonly Json[];
}

/** A Responses API input as the items `GET /responses/{id}/input_items` lists, each with an id. */
const inputItemsOf = (input: unknown): Json[] => {
  const message = (role: string, content: unknown, id: unknown): Json => ({
    id: typeof id === 'string' ? id : newId('msg'),
    type: 'message',
    role,
    status: 'completed',
    content:
      typeof content === 'string'
        ? [{ type: role === 'assistant' ? 'output_text' : 'input_text', text: content }]
        : Array.isArray(content)
          ? content
          : [],
  });
  if (typeof input === 'string') return [message('user', input, undefined)];
  if (!Array.isArray(input)) return [];
  return input.map((item: unknown) => {
    if (typeof item === 'string') return message('user', item, undefined);
    if (!isObject(item)) return { id: newId('item') };
    if ((item.type === undefined || item.type === 'message') && typeof item.role === 'string')
      return message(item.role, item.content, item.id);
    return { ...item, id: typeof item.id === 'string' ? item.id : newId('item') };
  });
};

export const createMockProvider = (options: MockProviderOptions = {}): Upstream => {
  const chunkDelayMs = options.chunkDelayMs ?? 15;
  const storedLimit = options.storedResponses ?? 1_000;
  const stored = new Map<string, StoredResponse>();
  let counter = 0;

  // --- Chat completions and (legacy) completions ---------------------------------------------------------

  const chat = (body: Json, path: '/chat/completions' | '/completions'): UpstreamResponse => {
    const legacy = path === '/completions';
    const model = String(body.model);
    const prompt = legacy
      ? Array.isArray(body.prompt)
        ? body.prompt.map(String).join(' ')
        : String(body.prompt ?? '')
      : lastUserText(body.messages);
    const maxTokens = legacy
      ? (positive(body.max_tokens) ?? COMPLETIONS_DEFAULT_MAX_TOKENS)
      : (positive(body.max_completion_tokens) ?? positive(body.max_tokens));
    const { pieces, truncated } = answer(prompt, maxTokens);
    const reply = pieces.join('');
    const finishReason = truncated ? 'length' : 'stop';
    const promptTokens = words(prompt) + 3;
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: pieces.length,
      total_tokens: promptTokens + pieces.length,
    };
    const id = legacy ? `cmpl-mock-${++counter}` : `chatcmpl-mock-${++counter}`;
    const object = legacy ? 'text_completion' : 'chat.completion';
    if (body.stream !== true) {
      const choice = legacy
        ? { index: 0, text: reply, finish_reason: finishReason, logprobs: null }
        : {
            index: 0,
            message: { role: 'assistant', content: reply, refusal: null, annotations: [] },
            finish_reason: finishReason,
            logprobs: null,
          };
      return json(200, { id, object, created: CREATED, model, choices: [choice], usage });
    }
    const includeUsage = isObject(body.stream_options) && body.stream_options.include_usage === true;
    const chunkObject = legacy ? object : 'chat.completion.chunk';
    const chunk = (delta: { role?: string; content?: string }, finish: string | null) =>
      legacy
        ? {
            id,
            object: chunkObject,
            created: CREATED,
            model,
            choices: [{ index: 0, text: delta.content ?? '', finish_reason: finish, logprobs: null }],
          }
        : {
            id,
            object: chunkObject,
            created: CREATED,
            model,
            choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
          };
    const chunks = [
      ...(legacy ? [] : [chunk({ role: 'assistant', content: '' }, null)]),
      ...pieces.map((piece) => chunk({ content: piece }, null)),
      chunk({}, finishReason),
      ...(includeUsage ? [{ id, object: chunkObject, created: CREATED, model, choices: [], usage }] : []),
    ];
    return sseResponse(
      chunks.map((data) => ({ data })),
      chunkDelayMs,
      true,
    );
  };

  // --- Responses -----------------------------------------------------------------------------------------

  const responses = (body: Json): UpstreamResponse => {
    const model = String(body.model);
    const instructions = typeof body.instructions === 'string' ? body.instructions : '';
    const prompt = lastUserText(body.input);
    const { pieces, truncated } = answer(prompt, positive(body.max_output_tokens));
    const text = pieces.join('');
    const inputTokens = words(instructions) + words(prompt) + 3;
    const usage = {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: pieces.length,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + pieces.length,
    };
    const id = newId('resp');
    const itemId = newId('msg');
    const finalStatus = truncated ? 'incomplete' : 'completed';
    const outputText = (value: string) => ({ type: 'output_text', text: value, annotations: [] });
    const message = (status: string, content: unknown[]) => ({
      id: itemId,
      type: 'message',
      role: 'assistant',
      status,
      content,
    });
    const conversation =
      typeof body.conversation === 'string'
        ? { id: body.conversation }
        : isObject(body.conversation)
          ? { id: body.conversation.id }
          : null;
    const response = (status: string, output: unknown[]): Json => ({
      id,
      object: 'response',
      created_at: CREATED,
      status,
      background: false,
      completed_at: status === 'in_progress' ? null : CREATED,
      conversation,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      max_tool_calls: body.max_tool_calls ?? null,
      model,
      output,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: body.previous_response_id ?? null,
      prompt_cache_key: body.prompt_cache_key ?? null,
      reasoning: body.reasoning ?? { effort: null, summary: null },
      safety_identifier: body.safety_identifier ?? null,
      service_tier: 'default',
      store: body.store !== false,
      temperature: body.temperature ?? 1,
      text: body.text ?? { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: body.tools ?? [],
      top_logprobs: body.top_logprobs ?? 0,
      top_p: body.top_p ?? 1,
      truncation: body.truncation ?? 'disabled',
      ...(typeof body.user === 'string' ? { user: body.user } : {}),
      metadata: body.metadata ?? {},
      access_programs: null,
      usage: status === 'in_progress' ? null : usage,
    });
    const finalMessage = message(finalStatus, [outputText(text)]);
    const final = response(finalStatus, [finalMessage]);
    if (body.store !== false) {
      stored.set(id, { response: final, input: inputItemsOf(body.input) });
      for (const oldest of stored.keys()) {
        if (stored.size <= storedLimit) break;
        stored.delete(oldest);
      }
    }
    if (body.stream !== true) return json(200, final);

    let sequence = 0;
    const event = (type: string, fields: Json): SseEvent => ({
      event: type,
      data: { type, sequence_number: sequence++, ...fields },
    });
    const at = { item_id: itemId, output_index: 0, content_index: 0 };
    return sseResponse(
      [
        event('response.created', { response: response('in_progress', []) }),
        event('response.in_progress', { response: response('in_progress', []) }),
        event('response.output_item.added', { output_index: 0, item: message('in_progress', []) }),
        event('response.content_part.added', { ...at, part: outputText('') }),
        ...pieces.map((delta) => event('response.output_text.delta', { ...at, delta, logprobs: [] })),
        event('response.output_text.done', { ...at, text, logprobs: [] }),
        event('response.content_part.done', { ...at, part: outputText(text) }),
        event('response.output_item.done', { output_index: 0, item: finalMessage }),
        event(`response.${finalStatus}`, { response: final }),
      ],
      chunkDelayMs,
      false,
    );
  };

  /** `GET|DELETE /responses/{id}` and `GET /responses/{id}/input_items`, from the responses kept here. */
  const storedResponse = (method: string, id: string, items: boolean, query: URLSearchParams) => {
    const found = stored.get(id);
    if (found === undefined) return invalidRequest(404, `Response with id '${id}' not found.`);
    if (!items && method === 'GET') return json(200, found.response);
    if (!items && method === 'DELETE') {
      stored.delete(id);
      return json(200, { id, object: 'response', deleted: true });
    }
    if (!items || method !== 'GET') return invalidRequest(405, `${method} is not allowed here.`);
    const ordered = query.get('order') === 'asc' ? [...found.input] : [...found.input].reverse();
    const after = query.get('after');
    const start = after === null ? 0 : ordered.findIndex((item) => item.id === after) + 1;
    const limit = Math.min(Math.max(Number(query.get('limit') ?? 20) || 20, 1), 100);
    const data = ordered.slice(start, start + limit);
    return json(200, {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: start + limit < ordered.length,
    });
  };

  // --- Embeddings and moderations ------------------------------------------------------------------------

  const embeddings = (body: Json): UpstreamResponse => {
    const input = body.input;
    // Text, or token ids (one list, or a list of lists), each with the tokens it counts.
    const inputs: { text: string; tokens: number }[] =
      Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number')
        ? [{ text: JSON.stringify(input), tokens: input.length }]
        : (Array.isArray(input) ? input : [input ?? '']).map((item: unknown) =>
            Array.isArray(item)
              ? { text: JSON.stringify(item), tokens: item.length }
              : { text: String(item), tokens: words(String(item)) },
          );
    const dimensions = positive(body.dimensions) ?? 16;
    const base64 = body.encoding_format === 'base64';
    const tokens = inputs.reduce((sum, entry) => sum + entry.tokens, 0);
    return json(200, {
      object: 'list',
      data: inputs.map(({ text }, index) => {
        const vector = embed(text, dimensions);
        return {
          object: 'embedding',
          index,
          embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
        };
      }),
      model: String(body.model),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  };

  const moderations = (body: Json): UpstreamResponse => {
    const input = body.input;
    // A string or a list of strings is one result each; a list of text and image parts is one result.
    const entries: { text: string; image: boolean }[] =
      typeof input === 'string'
        ? [{ text: input, image: false }]
        : Array.isArray(input) && input.every((item) => typeof item === 'string')
          ? input.map((text: string) => ({ text, image: false }))
          : [
              {
                text: contentText(input) ?? '',
                image:
                  Array.isArray(input) && input.some((part) => isObject(part) && part.type === 'image_url'),
              },
            ];
    const results = entries.map(({ text, image }) => {
      const digest = createHash('sha256').update(text).digest();
      const appliedTo = (category: string) => [
        ...(text === '' ? [] : ['text']),
        ...(image && IMAGE_MODERATION_CATEGORIES.has(category) ? ['image'] : []),
      ];
      return {
        flagged: false,
        categories: Object.fromEntries(MODERATION_CATEGORIES.map((category) => [category, false])),
        // Low, text-dependent scores: nothing is ever flagged.
        category_scores: Object.fromEntries(
          MODERATION_CATEGORIES.map((category, i) => [category, ((digest[i] ?? 0) + 1) / 256_000]),
        ),
        category_applied_input_types: Object.fromEntries(
          MODERATION_CATEGORIES.map((category) => [category, appliedTo(category)]),
        ),
      };
    });
    return json(200, {
      id: `modr-mock-${++counter}`,
      model: String(body.model ?? 'omni-moderation-latest'),
      results,
    });
  };

  // --- Images --------------------------------------------------------------------------------------------

  const images = (body: Json): UpstreamResponse => {
    const model = String(body.model ?? 'dall-e-2');
    const prompt = String(body.prompt ?? '');
    const n = positive(body.n) ?? 1;
    const dallE = model.startsWith('dall-e');
    const format =
      !dallE && (body.output_format === 'jpeg' || body.output_format === 'webp') ? body.output_format : 'png';
    const b64 = PIXEL[format];
    // GPT image models report tokens: the prompt's words in, one token per (one-pixel) image out.
    const usage = {
      input_tokens: words(prompt),
      input_tokens_details: { text_tokens: words(prompt), image_tokens: 0 },
      output_tokens: n,
      output_tokens_details: { text_tokens: 0, image_tokens: n },
      total_tokens: words(prompt) + n,
    };
    if (body.stream === true) {
      if (dallE) return invalidRequest(400, `Streaming is not supported for the model '${model}'.`, 'stream');
      const shape = {
        b64_json: b64,
        background: 'opaque',
        created_at: CREATED,
        output_format: format,
        quality: body.quality ?? 'auto',
        size: body.size ?? 'auto',
      };
      const partials = Math.min(positive(body.partial_images) ?? 0, 3);
      const events: SseEvent[] = [];
      for (let image = 0; image < n; image++) {
        for (let index = 0; index < partials; index++) {
          const type = 'image_generation.partial_image';
          events.push({ event: type, data: { type, ...shape, partial_image_index: index } });
        }
        // Every image's event carries the request's usage, so that the last one read is the whole of it.
        const type = 'image_generation.completed';
        const { input_tokens, input_tokens_details, output_tokens, total_tokens } = usage;
        events.push({
          event: type,
          data: {
            type,
            ...shape,
            usage: { input_tokens, input_tokens_details, output_tokens, total_tokens },
          },
        });
      }
      return sseResponse(events, chunkDelayMs, false);
    }
    // DALL·E answers with URLs unless asked for base64 (here `data:` URLs, served offline); GPT image models
    // always answer in base64.
    const asUrl = dallE && body.response_format !== 'b64_json';
    const image = () => ({
      ...(asUrl ? { url: `data:image/png;base64,${b64}` } : { b64_json: b64 }),
      ...(model.startsWith('dall-e-3') ? { revised_prompt: prompt } : {}),
    });
    return json(200, {
      created: CREATED,
      data: Array.from({ length: n }, image),
      ...(dallE ? {} : { background: 'opaque', output_format: format, usage }),
    });
  };

  // --- Audio ---------------------------------------------------------------------------------------------

  const speech = (body: Json): UpstreamResponse => {
    const format = typeof body.response_format === 'string' ? body.response_format : 'mp3';
    const contentType = SPEECH_TYPES[format];
    if (contentType === undefined)
      return invalidRequest(400, `Unsupported response_format '${format}'.`, 'response_format');
    const audio = speechAudio(format);
    if (body.stream_format !== 'sse') return bytesResponse(contentType, audio);
    // Streamed: the audio in one delta per word of the input, then the usage (one output token per delta).
    const input = String(body.input ?? '');
    const count = Math.max(1, words(input));
    const size = Math.ceil(audio.length / count);
    const deltas: SseEvent[] = [];
    for (let at = 0; at < audio.length; at += size) {
      const audioPart = Buffer.from(audio.subarray(at, at + size)).toString('base64');
      deltas.push({ data: { type: 'speech.audio.delta', audio: audioPart } });
    }
    const inputTokens = words(input) + words(typeof body.instructions === 'string' ? body.instructions : '');
    const usage = {
      input_tokens: inputTokens,
      output_tokens: deltas.length,
      total_tokens: inputTokens + deltas.length,
    };
    return sseResponse([...deltas, { data: { type: 'speech.audio.done', usage } }], chunkDelayMs, false);
  };

  const transcriptions = async (request: UpstreamRequest): Promise<UpstreamResponse> => {
    const contentType =
      Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
    let form: FormData;
    try {
      form = await new Response(request.body as BodyInit | undefined, {
        headers: { 'content-type': contentType },
      }).formData();
    } catch {
      return invalidRequest(400, 'The request body is not valid multipart/form-data.');
    }
    const file = form.get('file');
    if (file === null || typeof file === 'string')
      return invalidRequest(400, "Missing required parameter: 'file'.", 'file');
    const field = (name: string): string | undefined => {
      const value = form.get(name);
      return typeof value === 'string' ? value : undefined;
    };
    const model = field('model') ?? '';
    const format = field('response_format') ?? 'json';
    const prompt = field('prompt') ?? '';
    const audio = new Uint8Array(await file.arrayBuffer());
    const seconds = audioSeconds(audio);
    const text = `This is the gateway's mock provider. It heard ${audio.length} bytes of audio in "${file.name}". Set OPENAI_API_KEY to transcribe it.`;
    const pieces = wordPieces(text);
    const whisper = model.startsWith('whisper');
    const audioTokens = Math.ceil(seconds * AUDIO_TOKENS_PER_SECOND);
    const tokens = {
      type: 'tokens',
      input_tokens: audioTokens + words(prompt),
      input_token_details: { text_tokens: words(prompt), audio_tokens: audioTokens },
      output_tokens: pieces.length,
      total_tokens: audioTokens + words(prompt) + pieces.length,
    };
    const duration = { type: 'duration', seconds: Math.max(1, Math.ceil(seconds)) };
    const usage = whisper ? duration : tokens;
    const end = Math.round(seconds * 1000) / 1000;
    const diarized = model.includes('diarize');
    const segment = { type: 'transcript.text.segment', id: 'seg_0', start: 0, end, speaker: 'A', text };

    // whisper-1 does not stream: it answers `stream` with the whole transcription, as OpenAI does.
    if (field('stream') === 'true' && !whisper) {
      return sseResponse(
        [
          ...pieces.map((delta) => ({ data: { type: 'transcript.text.delta', delta } })),
          ...(diarized ? [{ data: segment }] : []),
          { data: { type: 'transcript.text.done', text, usage: tokens } },
        ],
        chunkDelayMs,
        false,
      );
    }
    const timestamp = (at: number, separator: string) => {
      const ms = Math.round(at * 1000);
      const pad = (value: number, size = 2) => String(value).padStart(size, '0');
      return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${separator}${pad(ms % 1000, 3)}`;
    };
    switch (format) {
      case 'json':
        return json(200, { text, usage });
      case 'text':
        return bytesResponse('text/plain; charset=utf-8', text);
      case 'srt':
        return bytesResponse(
          'text/plain; charset=utf-8',
          `1\n${timestamp(0, ',')} --> ${timestamp(end, ',')}\n${text}\n\n`,
        );
      case 'vtt':
        return bytesResponse(
          'text/plain; charset=utf-8',
          `WEBVTT\n\n${timestamp(0, '.')} --> ${timestamp(end, '.')}\n${text}\n\n`,
        );
      case 'verbose_json': {
        const granularities = form.getAll('timestamp_granularities[]');
        const step = pieces.length === 0 ? 0 : end / pieces.length;
        return json(200, {
          task: 'transcribe',
          language: field('language') ?? 'english',
          duration: end,
          text,
          ...(granularities.includes('word')
            ? {
                words: pieces.map((word, i) => ({
                  word: word.trim(),
                  start: Math.round(i * step * 1000) / 1000,
                  end: Math.round((i + 1) * step * 1000) / 1000,
                })),
              }
            : {}),
          segments: [
            {
              id: 0,
              seek: 0,
              start: 0,
              end,
              text,
              tokens: [],
              temperature: 0,
              avg_logprob: 0,
              compression_ratio: 1,
              no_speech_prob: 0,
            },
          ],
          usage: duration,
        });
      }
      case 'diarized_json':
        return json(200, { task: 'transcribe', duration: end, text, segments: [segment], usage });
      default:
        return invalidRequest(400, `Unsupported response_format '${format}'.`, 'response_format');
    }
  };

  return {
    async send(request: UpstreamRequest): Promise<UpstreamResponse> {
      const [path = '', search = ''] = request.url.slice(MOCK_BASE_URL.length).split('?');
      const method = request.method.toUpperCase();
      const storedPath = /^\/responses\/([^/]+?)(\/input_items)?$/.exec(path);
      if (storedPath !== null && (method === 'GET' || method === 'DELETE'))
        return storedResponse(
          method,
          decodeURIComponent(storedPath[1] ?? ''),
          storedPath[2] !== undefined,
          new URLSearchParams(search),
        );
      if (method === 'POST' && path === '/audio/transcriptions') return transcriptions(request);
      let body: Json = {};
      try {
        const parsed: unknown = request.body === undefined ? {} : JSON.parse(decoder.decode(request.body));
        if (isObject(parsed)) body = parsed;
      } catch {
        // Not JSON: the endpoints below read nothing from it.
      }
      if (method === 'POST') {
        switch (path) {
          case '/chat/completions':
          case '/completions':
            return chat(body, path);
          case '/responses':
            return responses(body);
          case '/embeddings':
            return embeddings(body);
          case '/moderations':
            return moderations(body);
          case '/images/generations':
            return images(body);
          case '/audio/speech':
            return speech(body);
        }
      }
      return invalidRequest(400, `The mock provider does not implement ${method} ${path}.`);
    },
  };
};

/** How long an uploaded audio file plays: exact for WAV, else estimated from its size. */
const audioSeconds = (audio: Uint8Array): number => {
  const bytes = Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength);
  if (
    bytes.length >= 12 &&
    bytes.toString('latin1', 0, 4) === 'RIFF' &&
    bytes.toString('latin1', 8, 12) === 'WAVE'
  ) {
    let bytesPerSecond = 0;
    for (let at = 12; at + 8 <= bytes.length; ) {
      const id = bytes.toString('latin1', at, at + 4);
      const size = bytes.readUInt32LE(at + 4);
      if (id === 'fmt ' && at + 20 <= bytes.length) bytesPerSecond = bytes.readUInt32LE(at + 16);
      if (id === 'data' && bytesPerSecond > 0) return Math.min(size, bytes.length - at - 8) / bytesPerSecond;
      at += 8 + size + (size % 2);
    }
  }
  return audio.length / ESTIMATED_AUDIO_BYTES_PER_SECOND;
};

/** Sends `mock://` targets to the mock provider and everything else to `real`. */
export const withMockProvider = (real: Upstream, mock: Upstream = createMockProvider()): Upstream => ({
  send: (request) => (request.url.startsWith('mock:') ? mock.send(request) : real.send(request)),
});
