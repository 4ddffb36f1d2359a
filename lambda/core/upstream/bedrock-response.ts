// Bedrock's answers in OpenAI's wire format: a Converse answer as a chat completion, a ConverseStream (AWS event
// stream framing) as `chat.completion.chunk` events, each chunk sent when its event arrives, an InvokeModel
// embedding answer as an embeddings list, and Bedrock's errors as OpenAI error bodies with the status failover
// and clients expect.
import type { UpstreamBody, UpstreamResponse } from '../../ports.ts';
import type { ChunkReader } from '../http.ts';
import type { BedrockContext } from './bedrock-request.ts';
import { isObject, type Json } from './chat-translation.ts';
import { createEventStreamDecoder } from './event-stream.ts';
import {
  chatCompletion,
  finishReasonOf,
  openAiUsage,
  parseJson,
  TranslatedChunkStream,
  tokenCount,
  translatedWhole,
} from './translated-body.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Converse's usage (input excludes cache reads and writes) as OpenAI's. */
const usageOf = (usage: Json) =>
  openAiUsage({
    input: usage.inputTokens,
    output: usage.outputTokens,
    cacheRead: usage.cacheReadInputTokens,
    cacheWrite: usage.cacheWriteInputTokens,
  });

/** A Converse answer as a chat completion. */
export const fromConverse = (answer: Json, model: string, id: string): Json => {
  const output = isObject(answer.output) && isObject(answer.output.message) ? answer.output.message : {};
  const blocks = Array.isArray(output.content) ? output.content.filter(isObject) : [];
  return chatCompletion({
    id,
    model,
    text: blocks.map((block) => (typeof block.text === 'string' ? block.text : '')).join(''),
    reasoning: blocks
      .map((block) =>
        isObject(block.reasoningContent) && isObject(block.reasoningContent.reasoningText)
          ? String(block.reasoningContent.reasoningText.text ?? '')
          : '',
      )
      .join(''),
    toolCalls: blocks
      .map((block) => block.toolUse)
      .filter(isObject)
      .map((use) => ({ id: String(use.toolUseId), name: String(use.name), input: use.input })),
    finishReason: finishReasonOf(answer.stopReason),
    usage: usageOf(isObject(answer.usage) ? answer.usage : {}),
  });
};

/** OpenAI's base64 embedding: the vector's float32 values, little-endian. */
const base64Of = (vector: readonly number[]): string => {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i += 1) bytes.writeFloatLE(vector[i] ?? 0, i * 4);
  return bytes.toString('base64');
};

/** An InvokeModel embedding answer as OpenAI's embeddings list; prompt tokens from the answer or its header. */
export const fromEmbeddings = (
  answer: Json,
  context: Extract<BedrockContext, { kind: 'embeddings' }>,
  headerTokens: number,
): Json => {
  let vectors: number[][];
  let tokens = headerTokens;
  if (context.family === 'titan') {
    vectors = [Array.isArray(answer.embedding) ? (answer.embedding as number[]) : []];
    tokens = tokenCount(answer.inputTextTokenCount) || tokens;
  } else {
    const embeddings = answer.embeddings;
    vectors = (
      Array.isArray(embeddings)
        ? embeddings
        : isObject(embeddings) && Array.isArray(embeddings.float)
          ? embeddings.float
          : []
    ) as number[][];
  }
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: context.base64 ? base64Of(vector) : vector,
    })),
    model: context.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
};

/** Bedrock's error types by `x-amzn-errortype`: the status the gateway treats them as. */
const STATUS_OF_ERROR: Readonly<Record<string, number>> = {
  ThrottlingException: 429,
  ServiceQuotaExceededException: 429,
  // Not ready yet, or busy: worth another target, and worth a retry.
  ModelNotReadyException: 503,
  ServiceUnavailableException: 503,
  ModelTimeoutException: 504,
  InternalServerException: 500,
  ModelErrorException: 502,
  ModelStreamErrorException: 502,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  ValidationException: 400,
  ResourceNotFoundException: 404,
};

export const bedrockErrorType = (header: string | undefined): string => (header ?? '').split(':')[0] ?? '';

/** A Bedrock error body (`{"message": …}`) as OpenAI's. */
export const toOpenAiError = (body: unknown, type: string, status: number): Json => {
  const message = isObject(body) ? (body.message ?? body.Message) : undefined;
  return {
    error: {
      message: typeof message === 'string' ? message : `The upstream provider answered ${status}.`,
      type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error',
      param: null,
      code: type === '' ? null : type,
    },
  };
};

/** Translates a ConverseStream event by event; a read returns the chunks of the events that arrived. */
class ConverseChunkStream extends TranslatedChunkStream {
  private readonly decode = createEventStreamDecoder();
  /** Content block index → tool call index, for tool use blocks. */
  private readonly toolCalls = new Map<number, number>();

  constructor(
    upstream: ChunkReader,
    private readonly context: Extract<BedrockContext, { kind: 'chat' }>,
  ) {
    super(upstream);
    this.id = `chatcmpl-${crypto.randomUUID()}`;
    this.model = context.model;
  }

  protected feed(bytes: Uint8Array): void {
    for (const message of this.decode.push(bytes)) this.onMessage(message.headers, message.payload);
  }

  private onMessage(headers: Readonly<Record<string, unknown>>, payload: Uint8Array): void {
    if (this.ended) return;
    if (headers[':message-type'] !== 'event') {
      // An exception mid-stream (throttling, model stream error, …): ends without [DONE].
      this.fail();
      return;
    }
    let data: Json;
    try {
      const parsed: unknown = JSON.parse(decoder.decode(payload));
      if (!isObject(parsed)) return;
      data = parsed;
    } catch {
      return;
    }
    switch (headers[':event-type']) {
      case 'messageStart':
        this.chunk({ role: 'assistant', content: '' });
        return;
      case 'contentBlockStart': {
        const start = isObject(data.start) ? data.start : {};
        if (isObject(start.toolUse)) {
          const index = this.toolCalls.size;
          this.toolCalls.set(Number(data.contentBlockIndex), index);
          this.chunk({
            tool_calls: [
              {
                index,
                id: String(start.toolUse.toolUseId),
                type: 'function',
                function: { name: String(start.toolUse.name), arguments: '' },
              },
            ],
          });
        }
        return;
      }
      case 'contentBlockDelta': {
        const delta = isObject(data.delta) ? data.delta : {};
        if (typeof delta.text === 'string') this.chunk({ content: delta.text });
        else if (isObject(delta.reasoningContent) && typeof delta.reasoningContent.text === 'string')
          this.chunk({ reasoning_content: delta.reasoningContent.text });
        else if (isObject(delta.toolUse)) {
          const index = this.toolCalls.get(Number(data.contentBlockIndex));
          if (index !== undefined)
            this.chunk({
              tool_calls: [{ index, function: { arguments: String(delta.toolUse.input ?? '') } }],
            });
        }
        return;
      }
      case 'messageStop':
        this.chunk({}, finishReasonOf(data.stopReason));
        return;
      case 'metadata':
        // The last event: usage (when asked), then [DONE].
        if (this.context.includeUsage)
          this.emit({ choices: [], usage: usageOf(isObject(data.usage) ? data.usage : {}) });
        this.done();
        return;
      default:
        return;
    }
  }
}

/** The answer to a translated request, in OpenAI's wire format. */
export const fromBedrockResponse = (
  response: UpstreamResponse,
  context: BedrockContext | undefined,
): UpstreamResponse => {
  const {
    'content-length': _length,
    'content-type': contentType = '',
    'x-amzn-errortype': errorType,
    ...headers
  } = response.headers;
  if (response.status >= 400 || context === undefined) {
    const type = bedrockErrorType(errorType);
    const status = STATUS_OF_ERROR[type] ?? response.status;
    return {
      status,
      headers: { ...headers, 'content-type': 'application/json' },
      body: translatedWhole(response.body, (bytes) =>
        encoder.encode(JSON.stringify(toOpenAiError(parseJson(bytes), type, status))),
      ),
    };
  }
  if (context.kind === 'chat' && contentType.startsWith('application/vnd.amazon.eventstream')) {
    const reader = new ConverseChunkStream(response.body.getReader(), context);
    const body: UpstreamBody = {
      getReader: () => reader,
      cancel: (reason?: unknown) => reader.cancel(reason),
    };
    return { status: response.status, headers: { ...headers, 'content-type': 'text/event-stream' }, body };
  }
  const requestId = response.headers['x-amzn-requestid'] ?? crypto.randomUUID();
  const headerTokens = Number(response.headers['x-amzn-bedrock-input-token-count'] ?? 0) || 0;
  return {
    status: response.status,
    headers: { ...headers, 'content-type': 'application/json' },
    body: translatedWhole(response.body, (bytes) => {
      const answer = parseJson(bytes);
      // Not an answer: fails like a body cut short (a 502), never a made-up completion.
      if (!isObject(answer)) throw new Error('the bedrock answer is not a JSON object');
      return encoder.encode(
        JSON.stringify(
          context.kind === 'chat'
            ? fromConverse(answer, context.model, `chatcmpl-${requestId}`)
            : fromEmbeddings(answer, context, headerTokens),
        ),
      );
    }),
  };
};
