// Anthropic's answers in OpenAI's wire format: a message as a chat completion, its SSE events as
// `chat.completion.chunk` events (each chunk leaves when its event arrives: nothing is held back), its errors as
// OpenAI error bodies. Usage counts prompt-cache reads as cached tokens and writes as `cache_write_tokens`.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { UpstreamResponse } from '../../ports.ts';
import type { ChunkReader } from '../http.ts';
import type { AnthropicContext } from './anthropic-request.ts';
import { isObject, type Json } from './chat-translation.ts';
import {
  chatCompletion,
  finishReasonOf,
  openAiUsage,
  parseJson,
  TranslatedChunkStream,
  translatedAnswer,
  translatedWhole,
} from './translated-body.ts';

const encoder = new TextEncoder();
/** Anthropic's usage (input excludes cache reads and writes) as OpenAI's. */
const usageOf = (usage: Json) =>
  openAiUsage({
    input: usage.input_tokens,
    output: usage.output_tokens,
    cacheRead: usage.cache_read_input_tokens,
    cacheWrite: usage.cache_creation_input_tokens,
  });

/** A Messages API message as a chat completion. */
export const toChatCompletion = (message: Json): Json => {
  const blocks = Array.isArray(message.content) ? message.content.filter(isObject) : [];
  const joined = (type: string, field: string) =>
    blocks
      .filter((block) => block.type === type)
      .map((block) => String(block[field] ?? ''))
      .join('');
  return chatCompletion({
    id: String(message.id ?? ''),
    model: String(message.model ?? ''),
    text: joined('text', 'text'),
    reasoning: joined('thinking', 'thinking'),
    toolCalls: blocks
      .filter((block) => block.type === 'tool_use')
      .map((block) => ({ id: String(block.id), name: String(block.name), input: block.input })),
    finishReason: finishReasonOf(message.stop_reason),
    usage: usageOf(isObject(message.usage) ? message.usage : {}),
  });
};

/** Anthropic's error types as OpenAI's. */
const ERROR_TYPES: Readonly<Record<string, string>> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  not_found_error: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  rate_limit_error: 'rate_limit_error',
  api_error: 'server_error',
  overloaded_error: 'server_error',
};

/** An Anthropic error body (`{"type":"error","error":{…}}`) as OpenAI's. */
export const toOpenAiError = (body: unknown, status: number): Json => {
  const error = isObject(body) && isObject(body.error) ? body.error : {};
  const type = typeof error.type === 'string' ? error.type : undefined;
  return {
    error: {
      message:
        typeof error.message === 'string' ? error.message : `The upstream provider answered ${status}.`,
      type: (type === undefined ? undefined : ERROR_TYPES[type]) ?? 'invalid_request_error',
      param: null,
      code: type ?? null,
    },
  };
};

/**
 * Translates Anthropic's stream event by event. Each `read()` returns the chunks of the events that arrived,
 * reading the upstream again only when an event produced nothing (a ping, a block's start or stop).
 */
class ChunkStream extends TranslatedChunkStream {
  private readonly parser = createParser({ onEvent: (event) => this.onEvent(event) });
  private readonly text = new TextDecoder();
  private usage: Json = {};
  /** Content block index → tool call index, for tool_use blocks. */
  private readonly toolCalls = new Map<number, number>();

  constructor(
    upstream: ChunkReader,
    private readonly context: AnthropicContext,
  ) {
    super(upstream);
  }

  protected feed(bytes: Uint8Array): void {
    this.parser.feed(this.text.decode(bytes, { stream: true }));
  }

  private onEvent(event: EventSourceMessage): void {
    if (this.ended) return;
    let data: Json;
    try {
      const parsed: unknown = JSON.parse(event.data);
      if (!isObject(parsed)) return;
      data = parsed;
    } catch {
      return;
    }
    const type = event.event ?? data.type;
    switch (type) {
      case 'message_start': {
        const message = isObject(data.message) ? data.message : {};
        this.id = String(message.id ?? '');
        this.model = String(message.model ?? '');
        this.usage = isObject(message.usage) ? { ...message.usage } : {};
        this.chunk({ role: 'assistant', content: '' });
        return;
      }
      case 'content_block_start': {
        const block = isObject(data.content_block) ? data.content_block : {};
        if (block.type === 'tool_use') {
          const index = this.toolCalls.size;
          this.toolCalls.set(Number(data.index), index);
          this.chunk({
            tool_calls: [
              {
                index,
                id: String(block.id),
                type: 'function',
                function: { name: String(block.name), arguments: '' },
              },
            ],
          });
        } else if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') {
          this.chunk({ content: block.text });
        }
        return;
      }
      case 'content_block_delta': {
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta') this.chunk({ content: String(delta.text ?? '') });
        else if (delta.type === 'thinking_delta')
          this.chunk({ reasoning_content: String(delta.thinking ?? '') });
        else if (delta.type === 'input_json_delta') {
          const index = this.toolCalls.get(Number(data.index));
          if (index !== undefined)
            this.chunk({
              tool_calls: [{ index, function: { arguments: String(delta.partial_json ?? '') } }],
            });
        }
        return;
      }
      case 'message_delta': {
        // Counts in message_delta are cumulative: they replace message_start's.
        if (isObject(data.usage)) this.usage = { ...this.usage, ...data.usage };
        const delta = isObject(data.delta) ? data.delta : {};
        this.chunk({}, finishReasonOf(delta.stop_reason));
        return;
      }
      case 'message_stop':
        if (this.context.includeUsage) this.emit({ choices: [], usage: usageOf(this.usage) });
        this.done();
        return;
      case 'error':
        // An error mid-stream: the stream ends without [DONE], and the relay sends the client an error event.
        this.fail();
        return;
      default:
        // ping, content_block_stop, and event types added later: nothing to send.
        return;
    }
  }
}

/** The answer to a translated request, in OpenAI's wire format. */
export const fromAnthropicResponse = (
  response: UpstreamResponse,
  context: AnthropicContext | undefined,
): UpstreamResponse => {
  const { 'content-length': _length, 'content-type': contentType = '', ...headers } = response.headers;
  if (response.status >= 400) {
    return {
      status: response.status,
      headers: { ...headers, 'content-type': 'application/json' },
      body: translatedWhole(response.body, (bytes) =>
        encoder.encode(JSON.stringify(toOpenAiError(parseJson(bytes), response.status))),
      ),
    };
  }
  const stream = contentType.startsWith('text/event-stream')
    ? new ChunkStream(response.body.getReader(), context ?? { stream: true, includeUsage: false })
    : undefined;
  return translatedAnswer(response, headers, stream, toChatCompletion, 'anthropic');
};
