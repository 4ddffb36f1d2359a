// An OpenAI chat completions answer as Anthropic's Messages API gives it, for a request that came in at the
// `/v1/messages` front door (translated by messages-to-chat.ts): a chat completion as a message, and its
// `chat.completion.chunk` events as Anthropic's SSE events, each sent as soon as the chunk that makes it arrives.
// Errors (status >= 400) pass through unchanged: the front door turns them into Anthropic's error shape.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { UpstreamResponse } from '../../ports.ts';
import type { ChunkReader } from '../http.ts';
import { isObject, type Json } from './chat-translation.ts';
import type { MessagesContext } from './messages-to-chat.ts';
import { TranslatedStream, tokenCount, translatedAnswer } from './translated-body.ts';

/** OpenAI's finish reasons as Anthropic's stop reasons; anything else ended the turn. */
const STOP_REASONS: Readonly<Record<string, string>> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

/** The message sent in place of an upstream's error event: its text is the provider's, never shown. */
const STREAM_FAILED = 'The upstream provider failed while sending the response.';

/** A refusal (OpenAI's `refusal` text) stops the message as Anthropic's refusals do. */
const stopReasonOf = (finish: unknown, refused: boolean): string =>
  refused ? 'refusal' : ((typeof finish === 'string' ? STOP_REASONS[finish] : undefined) ?? 'end_turn');

const randomId = () => crypto.randomUUID().replaceAll('-', '');

/** `msg_` and the completion's id without OpenAI's `chatcmpl-`, so one answer keeps one id in both formats. */
const messageId = (chatId: unknown): string =>
  typeof chatId === 'string' && chatId !== ''
    ? `msg_${chatId.replace(/^chatcmpl-/, '')}`
    : `msg_${randomId()}`;

const toolUseId = (callId: unknown): string =>
  typeof callId === 'string' && callId !== '' ? callId : `toolu_${randomId()}`;

/** Anthropic's usage: its input excludes prompt-cache reads, OpenAI's prompt tokens include them. */
const messagesUsage = (usage: unknown) => {
  const counts = isObject(usage) ? usage : {};
  const details = isObject(counts.prompt_tokens_details) ? counts.prompt_tokens_details : {};
  const cached = tokenCount(details.cached_tokens);
  return {
    input_tokens: Math.max(0, tokenCount(counts.prompt_tokens) - cached),
    cache_read_input_tokens: cached,
    // OpenAI-compatible servers cache prompt prefixes without charging for writing them.
    cache_creation_input_tokens: 0,
    output_tokens: tokenCount(counts.completion_tokens),
  };
};

/** The reasoning text an OpenAI-compatible server returns: `reasoning_content` (vLLM, DeepSeek) or `reasoning`. */
const reasoningOf = (message: Json): string => {
  const reasoning = message.reasoning_content ?? message.reasoning;
  return typeof reasoning === 'string' ? reasoning : '';
};

/** A tool call's arguments as a tool_use block's input; arguments that are not a JSON object read as none. */
const toolInput = (args: unknown): Json => {
  try {
    const input: unknown = typeof args === 'string' ? JSON.parse(args) : undefined;
    return isObject(input) && !Array.isArray(input) ? input : {};
  } catch {
    return {};
  }
};

/** A chat completion as a Messages API message, named after the model the client asked for. */
export const toMessage = (completion: Json, context: MessagesContext): Json => {
  const first: unknown = Array.isArray(completion.choices) ? completion.choices[0] : undefined;
  const choice = isObject(first) ? first : {};
  const message = isObject(choice.message) ? choice.message : {};
  const reasoning = reasoningOf(message);
  const refusal = typeof message.refusal === 'string' ? message.refusal : '';
  const text = (typeof message.content === 'string' ? message.content : '') + refusal;
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls.filter(isObject) : [];
  const content: Json[] = [
    ...(reasoning === '' ? [] : [{ type: 'thinking', thinking: reasoning, signature: '' }]),
    ...(text === '' ? [] : [{ type: 'text', text }]),
    ...calls.map((call) => {
      const fn = isObject(call.function) ? call.function : {};
      return {
        type: 'tool_use',
        id: toolUseId(call.id),
        name: String(fn.name ?? ''),
        input: toolInput(fn.arguments),
      };
    }),
  ];
  return {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model: context.model,
    content,
    stop_reason: stopReasonOf(choice.finish_reason, refusal !== ''),
    stop_sequence: null,
    usage: messagesUsage(completion.usage),
  };
};

/** The content block being streamed: its kind, and for a tool call the OpenAI index that feeds it. */
type OpenBlock = { readonly kind: 'text' | 'thinking' } | { readonly kind: 'tool'; readonly call: number };

/**
 * Translates an OpenAI stream chunk by chunk into Anthropic's events: message_start at the first chunk, a content
 * block per run of text, of reasoning or of one tool call's arguments, then message_delta (stop reason and usage)
 * once the finish reason and the usage chunk both arrived, and message_stop at `[DONE]`. A stream that ends
 * without `[DONE]` ends without message_stop, and the relay reports the failure.
 */
class MessageEventStream extends TranslatedStream {
  private readonly parser = createParser({ onEvent: (event) => this.onEvent(event) });
  private readonly text = new TextDecoder();
  private started = false;
  private open: OpenBlock | undefined;
  private blocks = 0;
  private finish: unknown;
  private usage: unknown;
  private refused = false;
  private delivered = false;

  constructor(
    upstream: ChunkReader,
    private readonly context: MessagesContext,
  ) {
    super(upstream);
  }

  protected feed(bytes: Uint8Array): void {
    this.parser.feed(this.text.decode(bytes, { stream: true }));
  }

  private send(type: string, fields: Json): void {
    this.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`);
  }

  private onEvent(event: EventSourceMessage): void {
    if (this.ended) return;
    if (event.data === '[DONE]') {
      this.stop();
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.event === 'error' || (isObject(chunk) && isObject(chunk.error))) {
      this.failed();
      return;
    }
    if (!isObject(chunk)) return;
    this.start(chunk.id);
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (isObject(choice)) this.choice(choice);
    if (isObject(chunk.usage)) this.usage = chunk.usage;
    if (this.finish !== undefined && this.usage !== undefined) this.messageDelta();
  }

  private start(chatId: unknown): void {
    if (this.started) return;
    this.started = true;
    this.send('message_start', {
      message: {
        id: messageId(chatId),
        type: 'message',
        role: 'assistant',
        model: this.context.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // The real counts arrive with the usage chunk, after the content: message_delta carries them.
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  private choice(choice: Json): void {
    const delta = isObject(choice.delta) ? choice.delta : {};
    const reasoning = reasoningOf(delta);
    if (reasoning !== '') this.delta({ kind: 'thinking' }, { type: 'thinking_delta', thinking: reasoning });
    if (typeof delta.content === 'string' && delta.content !== '')
      this.delta({ kind: 'text' }, { type: 'text_delta', text: delta.content });
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      this.refused = true;
      this.delta({ kind: 'text' }, { type: 'text_delta', text: delta.refusal });
    }
    if (Array.isArray(delta.tool_calls))
      for (const call of delta.tool_calls.filter(isObject)) this.toolCall(call);
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
      this.finish = choice.finish_reason;
      this.closeBlock();
    }
  }

  /** A tool call's first chunk carries its id and name; later ones, more of its arguments. */
  private toolCall(call: Json): void {
    const index = typeof call.index === 'number' ? call.index : 0;
    const fn = isObject(call.function) ? call.function : {};
    if (this.open?.kind !== 'tool' || this.open.call !== index)
      this.openBlock(
        { kind: 'tool', call: index },
        { type: 'tool_use', id: toolUseId(call.id), name: String(fn.name ?? ''), input: {} },
      );
    if (typeof fn.arguments === 'string' && fn.arguments !== '')
      this.send('content_block_delta', {
        index: this.blocks - 1,
        delta: { type: 'input_json_delta', partial_json: fn.arguments },
      });
  }

  /** A delta of text or thinking, in the open block of its kind (another kind closes the open one). */
  private delta(block: OpenBlock, delta: Json): void {
    if (this.open?.kind !== block.kind)
      this.openBlock(
        block,
        block.kind === 'text'
          ? { type: 'text', text: '' }
          : { type: 'thinking', thinking: '', signature: '' },
      );
    this.send('content_block_delta', { index: this.blocks - 1, delta });
  }

  private openBlock(block: OpenBlock, contentBlock: Json): void {
    this.closeBlock();
    this.open = block;
    this.send('content_block_start', { index: this.blocks, content_block: contentBlock });
    this.blocks += 1;
  }

  private closeBlock(): void {
    if (this.open === undefined) return;
    this.open = undefined;
    this.send('content_block_stop', { index: this.blocks - 1 });
  }

  private messageDelta(): void {
    if (this.delivered) return;
    this.delivered = true;
    this.send('message_delta', {
      delta: { stop_reason: stopReasonOf(this.finish, this.refused), stop_sequence: null },
      usage: messagesUsage(this.usage),
    });
  }

  /** `[DONE]`: the answer is complete (a server that sent no usage chunk is reported with zero counts). */
  private stop(): void {
    this.start(undefined);
    this.closeBlock();
    this.messageDelta();
    this.send('message_stop', {});
    this.ended = true;
  }

  /** The upstream's error event: an Anthropic error event (without the upstream's text), and the end. */
  private failed(): void {
    this.send('error', { error: { type: 'api_error', message: STREAM_FAILED } });
    this.fail();
  }
}

/** The answer to a translated Messages request, in Anthropic's wire format; a refusal or failure as it came. */
export const fromChatResponse = (response: UpstreamResponse, context: MessagesContext): UpstreamResponse => {
  if (response.status >= 400) return response;
  // The body's length changes with its translation.
  const { 'content-length': _length, 'content-type': contentType = '', ...headers } = response.headers;
  const stream = contentType.startsWith('text/event-stream')
    ? new MessageEventStream(response.body.getReader(), context)
    : undefined;
  return translatedAnswer(
    response,
    headers,
    stream,
    (completion) => toMessage(completion, context),
    'chat completions',
  );
};
