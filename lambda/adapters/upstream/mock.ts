// A built-in, deterministic OpenAI-compatible provider, so that local mode answers without any upstream key.
import { createHash } from 'node:crypto';
import type { Upstream, UpstreamRequest, UpstreamResponse } from '../../ports.ts';

export const MOCK_BASE_URL = 'mock://local/v1';

export interface MockProviderOptions {
  /** Pause between streamed chunks, so a stream looks like one. @default 15 */
  readonly chunkDelayMs?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: new Response(JSON.stringify(body)).body!,
});

const words = (text: string): number => text.split(/\s+/).filter(Boolean).length;

/** The text a message list asks about: the last user message's text content. */
const lastUserText = (messages: unknown): string => {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { role?: unknown; content?: unknown };
    if (message?.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    if (Array.isArray(message.content)) {
      return message.content
        .map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : ''))
        .join(' ');
    }
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

export const createMockProvider = (options: MockProviderOptions = {}): Upstream => {
  const chunkDelayMs = options.chunkDelayMs ?? 15;
  let counter = 0;

  const chat = (body: Record<string, unknown>, path: string): UpstreamResponse => {
    const model = String(body.model);
    const prompt = path === '/completions' ? String(body.prompt ?? '') : lastUserText(body.messages);
    const reply = `This is the gateway's mock provider. You said: "${prompt.slice(0, 200)}". Set OPENAI_API_KEY to talk to a real model.`;
    const usage = {
      prompt_tokens: words(prompt) + 3,
      completion_tokens: words(reply),
      total_tokens: words(prompt) + 3 + words(reply),
    };
    const id = `mock-${++counter}`;
    const created = 1_700_000_000;
    const object = path === '/completions' ? 'text_completion' : 'chat.completion';
    if (body.stream !== true) {
      const choice =
        path === '/completions'
          ? { index: 0, text: reply, finish_reason: 'stop', logprobs: null }
          : {
              index: 0,
              message: { role: 'assistant', content: reply },
              finish_reason: 'stop',
              logprobs: null,
            };
      return json(200, { id, object, created, model, choices: [choice], usage });
    }
    const includeUsage =
      (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const pieces = reply.split(/(?<= )/);
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      path === '/completions'
        ? {
            id,
            object,
            created,
            model,
            choices: [{ index: 0, text: delta.content ?? '', finish_reason: finish, logprobs: null }],
          }
        : {
            id,
            object: 'chat.completion.chunk',
            created,
            model,
            choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
          };
    const events = [
      ...(path === '/completions' ? [] : [chunk({ role: 'assistant', content: '' }, null)]),
      ...pieces.map((piece) => chunk({ content: piece }, null)),
      chunk({}, 'stop'),
      ...(includeUsage ? [{ id, object: 'chat.completion.chunk', created, model, choices: [], usage }] : []),
    ];
    let index = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (index > 0 && chunkDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, chunkDelayMs));
        const event = events[index++];
        if (event === undefined) {
          controller.enqueue(encoder.encode('data: [DONE]\n\n'));
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
      },
    });
    return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: stream };
  };

  const embeddings = (body: Record<string, unknown>): UpstreamResponse => {
    const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? '')];
    const dimensions = typeof body.dimensions === 'number' ? body.dimensions : 16;
    const tokens = inputs.reduce((sum, text) => sum + words(text), 0);
    return json(200, {
      object: 'list',
      data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: embed(text, dimensions) })),
      model: String(body.model),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  };

  return {
    async send(request: UpstreamRequest): Promise<UpstreamResponse> {
      const path = request.url.slice(MOCK_BASE_URL.length).split('?')[0] ?? '';
      let body: Record<string, unknown> = {};
      try {
        body =
          request.body === undefined
            ? {}
            : (JSON.parse(decoder.decode(request.body)) as Record<string, unknown>);
      } catch {
        // multipart bodies: not JSON; the endpoints below that need JSON say so.
      }
      switch (path) {
        case '/chat/completions':
        case '/completions':
          return chat(body, path);
        case '/embeddings':
          return embeddings(body);
        case '/moderations':
          return json(200, {
            id: `modr-${++counter}`,
            model: String(body.model),
            results: [{ flagged: false, categories: {}, category_scores: {} }],
          });
        default:
          return json(400, {
            error: {
              message: `The mock provider does not implement ${path}.`,
              type: 'invalid_request_error',
              param: null,
              code: null,
            },
          });
      }
    },
  };
};

/** Sends `mock://` targets to the mock provider and everything else to `real`. */
export const withMockProvider = (real: Upstream, mock: Upstream = createMockProvider()): Upstream => ({
  send: (request) => (request.url.startsWith('mock:') ? mock.send(request) : real.send(request)),
});
