// Bodies of translated answers: one read whole and given back translated (JSON, errors), and the base of the streams
// translated event by event: into `chat.completion.chunk` events (Anthropic SSE, Bedrock ConverseStream), or into
// Anthropic's SSE events (an OpenAI stream answering the Messages front door).

import type { UpstreamBody, UpstreamBodyReader, UpstreamResponse } from '../../ports.ts';
import { isObject } from '../content-fields.ts';
import { type ChunkReader, readToEnd } from '../http.ts';

/** A body that reads the whole upstream answer on its first read and gives back its translation, once. */
export const translatedWhole = (
  upstream: UpstreamBody,
  translate: (bytes: Uint8Array) => Uint8Array,
): UpstreamBody => {
  const reader = upstream.getReader();
  let done = false;
  const bodyReader: UpstreamBodyReader = {
    read: async () => {
      if (done) return { done: true };
      done = true;
      return {
        done: false,
        value: translate(await readToEnd(reader, 16 * 1024 * 1024, () => new Error('too large'))),
      };
    },
    cancel: (reason) => reader.cancel(reason),
  };
  return { getReader: () => bodyReader, cancel: (reason?: unknown) => reader.cancel(reason) };
};

const streamEncoder = new TextEncoder();

/**
 * A provider's stream read as another wire format's SSE events: each `read()` returns the events of the upstream
 * bytes that arrived, reading again only when they completed no event that says something (nothing is held back,
 * nothing is read ahead). A subclass decodes its provider's framing in `feed` and `write`s the translated events.
 */
export abstract class TranslatedStream implements UpstreamBodyReader {
  private out = '';
  /** Ended: by the stream's last event, by an error event, or by the upstream ending first. */
  protected ended = false;

  constructor(protected readonly upstream: ChunkReader) {}

  /** Decodes bytes of the provider's stream. */
  protected abstract feed(bytes: Uint8Array): void;

  async read(): Promise<{ done: false; value: Uint8Array } | { done: true }> {
    while (this.out === '' && !this.ended) {
      const result = await this.upstream.read();
      if (result.done || result.value === undefined) {
        this.ended = true;
        break;
      }
      this.feed(result.value);
    }
    if (this.out === '') return { done: true };
    const value = streamEncoder.encode(this.out);
    this.out = '';
    return { done: false, value };
  }

  cancel(reason?: unknown): Promise<void> {
    return this.upstream.cancel(reason);
  }

  /** Translated event text, sent on the read in progress. */
  protected write(text: string): void {
    this.out += text;
  }

  /** The provider reported an error mid-stream: end (after what was written) and let go of the upstream. */
  protected fail(): void {
    this.ended = true;
    this.upstream.cancel().catch(() => {});
  }
}

/**
 * A provider's stream read as OpenAI `chat.completion.chunk` events. A subclass calls `chunk`/`emit`, then `done()`
 * after `[DONE]` or `fail()`: a stream that ends any other way ends without `[DONE]`, and the relay sends the
 * client an SSE error event.
 */
export abstract class TranslatedChunkStream extends TranslatedStream {
  protected id = '';
  protected model = '';
  private readonly created = Math.floor(Date.now() / 1000);

  protected chunk(delta: Record<string, unknown>, finish: string | null = null): void {
    this.emit({ choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });
  }

  protected emit(fields: Record<string, unknown>): void {
    const chunk = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      ...fields,
    };
    this.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  /** The answer is complete: `[DONE]`, and nothing after it. */
  protected done(): void {
    this.write('data: [DONE]\n\n');
    this.ended = true;
  }
}

/** A token count from a provider's answer: a non-negative number, else 0. */
export const tokenCount = (value: unknown): number => (typeof value === 'number' && value >= 0 ? value : 0);

/** Stop reasons of the translated providers (Anthropic's and Bedrock's share most) as OpenAI's finish reasons. */
const FINISH_REASONS: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};
export const finishReasonOf = (reason: unknown): string =>
  (typeof reason === 'string' ? FINISH_REASONS[reason] : undefined) ?? 'stop';

/**
 * A translated provider's counts as OpenAI's usage: its input excludes prompt-cache reads and writes, OpenAI's
 * prompt tokens include them; reads are `cached_tokens`, writes the gateway's own `cache_write_tokens`.
 */
export const openAiUsage = (counts: {
  readonly input: unknown;
  readonly output: unknown;
  readonly cacheRead: unknown;
  readonly cacheWrite: unknown;
}) => {
  const read = tokenCount(counts.cacheRead);
  const written = tokenCount(counts.cacheWrite);
  const prompt = tokenCount(counts.input) + read + written;
  const completion = tokenCount(counts.output);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: read, cache_write_tokens: written },
  };
};

/** A chat completion of one choice, from what a translated answer said. */
export const chatCompletion = (answer: {
  readonly id: string;
  readonly model: string;
  readonly text: string;
  readonly reasoning: string;
  readonly toolCalls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly input: unknown }>;
  readonly finishReason: string;
  readonly usage: ReturnType<typeof openAiUsage>;
}): Record<string, unknown> => ({
  id: answer.id,
  object: 'chat.completion',
  created: Math.floor(Date.now() / 1000),
  model: answer.model,
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: answer.text === '' && answer.toolCalls.length > 0 ? null : answer.text,
        ...(answer.reasoning === '' ? {} : { reasoning_content: answer.reasoning }),
        ...(answer.toolCalls.length === 0
          ? {}
          : {
              tool_calls: answer.toolCalls.map((call) => ({
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: JSON.stringify(call.input ?? {}) },
              })),
            }),
        refusal: null,
      },
      finish_reason: answer.finishReason,
      logprobs: null,
    },
  ],
  usage: answer.usage,
});

const jsonDecoder = new TextDecoder();

/** A translated provider's answer body as JSON; undefined when it is not JSON. */
export const parseJson = (bytes: Uint8Array): unknown => {
  try {
    return JSON.parse(jsonDecoder.decode(bytes));
  } catch {
    return undefined;
  }
};

const answerEncoder = new TextEncoder();

/**
 * A provider's 2xx answer, translated: a stream read through `stream` (SSE), or a JSON body read whole and given
 * to `translate`. A JSON answer that is not an object fails like a body cut short (a 502 to the client), never a
 * made-up answer. `headers` are the upstream's, without its length (the translation changes it).
 */
export const translatedAnswer = (
  response: UpstreamResponse,
  headers: Readonly<Record<string, string>>,
  stream: UpstreamBodyReader | undefined,
  translate: (answer: Record<string, unknown>) => unknown,
  what: string,
): UpstreamResponse =>
  stream !== undefined
    ? {
        status: response.status,
        headers: { ...headers, 'content-type': 'text/event-stream' },
        body: { getReader: () => stream, cancel: (reason?: unknown) => stream.cancel(reason) },
      }
    : {
        status: response.status,
        headers: { ...headers, 'content-type': 'application/json' },
        body: translatedWhole(response.body, (bytes) => {
          const answer = parseJson(bytes);
          if (!isObject(answer)) throw new Error(`the ${what} answer is not a JSON object`);
          return answerEncoder.encode(JSON.stringify(translate(answer)));
        }),
      };
