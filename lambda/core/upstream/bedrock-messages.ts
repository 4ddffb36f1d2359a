// Anthropic Messages requests (the `/v1/messages` front door) sent to a Claude model on Amazon Bedrock in their
// native form: InvokeModel (or InvokeModelWithResponseStream) with the Messages body, and the answer given back as
// Anthropic's own message JSON or SSE events. Nothing is translated between wire formats: only what Bedrock moves
// (the model into the path, the version and betas into the body, each event into an event stream frame) is moved
// back, and what Bedrock's InvokeModel does not take is refused with a 400 naming the field.
import type { UpstreamResponse } from '../../ports.ts';
import { invalidRequest } from '../errors.ts';
import type { ChunkReader } from '../http.ts';
import { isObject, type Json } from './chat-translation.ts';
import { createEventStreamDecoder } from './event-stream.ts';
import { parseJson, TranslatedStream, translatedAnswer } from './translated-body.ts';

/** What the answer needs to know of the request. */
export interface BedrockMessagesContext {
  readonly stream: boolean;
  /** The model as the client named it: Bedrock's answers carry Bedrock's model id, or none. */
  readonly model: string;
}

/** The only version Bedrock's Claude InvokeModel takes: in the body, not the `anthropic-version` header. */
const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

/** Top-level Messages fields of features only Anthropic's own API has: Bedrock's InvokeModel refuses them. */
const REFUSED_FIELDS: Readonly<Record<string, string>> = {
  service_tier: "Anthropic's service tiers",
  container: 'Code execution containers',
  mcp_servers: 'Remote MCP servers (the MCP connector)',
};

/** Block types whose `source` Bedrock reads: it takes the bytes inline (base64), never a file id or a URL. */
const SOURCED_BLOCKS = new Set(['image', 'document']);
const REFUSED_SOURCES = new Set(['file', 'url']);

const refused = (param: string, message: string) => invalidRequest(message, param, 'unsupported_parameter');

/** Refuses a file or URL source anywhere in `blocks`, tool results' nested blocks included. */
const refuseSources = (blocks: unknown, path: string): void => {
  if (!Array.isArray(blocks)) return;
  blocks.forEach((block, index) => {
    if (!isObject(block)) return;
    const at = `${path}[${index}]`;
    const source = block.source;
    const type = String(block.type);
    if (SOURCED_BLOCKS.has(type) && isObject(source) && REFUSED_SOURCES.has(String(source.type)))
      throw refused(
        `${at}.source.type`,
        `'${at}.source.type' is '${String(source.type)}': Amazon Bedrock takes ${type} data inline only ` +
          `(source type 'base64').`,
      );
    refuseSources(block.content, `${at}.content`);
  });
};

const refuseUnsupported = (body: Json): void => {
  for (const [field, why] of Object.entries(REFUSED_FIELDS))
    if (body[field] !== undefined && body[field] !== null)
      throw refused(field, `${why} are not available on Amazon Bedrock: remove '${field}'.`);
  if (!Array.isArray(body.messages)) return;
  body.messages.forEach((message, index) => {
    if (isObject(message)) refuseSources(message.content, `messages[${index}].content`);
  });
};

/** The comma-separated `anthropic-beta` header, and any betas the body already lists, once each. */
const betasOf = (body: Json, header: string | undefined): string[] => {
  const listed = Array.isArray(body.anthropic_beta)
    ? body.anthropic_beta.filter((beta): beta is string => typeof beta === 'string')
    : [];
  const named = (header ?? '')
    .split(',')
    .map((beta) => beta.trim())
    .filter((beta) => beta !== '');
  return [...new Set([...listed, ...named])];
};

/** A Messages body as Bedrock's InvokeModel (or, to stream, InvokeModelWithResponseStream) request. */
export const toInvokeMessages = (
  body: Json,
  upstreamModel: string,
  betaHeader: string | undefined,
): { readonly path: string; readonly body: Json; readonly context: BedrockMessagesContext } => {
  refuseUnsupported(body);
  // The model is the path's, streaming is the operation's: Bedrock refuses either field in the body.
  const { model, stream: _stream, anthropic_beta: _betas, ...rest } = body;
  const stream = body.stream === true;
  const betas = betasOf(body, betaHeader);
  return {
    path: `/model/${encodeURIComponent(upstreamModel)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`,
    body: {
      ...rest,
      anthropic_version: BEDROCK_ANTHROPIC_VERSION,
      ...(betas.length === 0 ? {} : { anthropic_beta: betas }),
    },
    context: { stream, model: typeof model === 'string' ? model : upstreamModel },
  };
};

/** Bedrock's key on message_stop: its own metrics, which Anthropic's event does not have. */
const BEDROCK_METRICS = 'amazon-bedrock-invocationMetrics';
/** Exceptions that mean "busy, try again": Anthropic's client retries an overloaded_error. */
const OVERLOADED = new Set(['throttlingexception', 'serviceunavailableexception']);
const FAILED_MESSAGE = 'The upstream provider failed while sending the response.';

const sseEvent = (type: string, data: Json): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

/** One Anthropic event from a `chunk` frame's payload (`{"bytes":"<base64 of the event>"}`); undefined if none. */
const eventOfChunk = (payload: Uint8Array): Json | undefined => {
  const chunk = parseJson(payload);
  if (!isObject(chunk) || typeof chunk.bytes !== 'string') return undefined;
  const event = parseJson(Buffer.from(chunk.bytes, 'base64'));
  return isObject(event) && typeof event.type === 'string' ? event : undefined;
};

/** The event as Anthropic sends it: the client's model name, no Bedrock metrics. */
const asAnthropic = (event: Json, model: string): Json => {
  if (event.type === 'message_start' && isObject(event.message))
    return { ...event, message: { ...event.message, model } };
  if (event.type === 'message_stop' && BEDROCK_METRICS in event) {
    const { [BEDROCK_METRICS]: _metrics, ...rest } = event;
    return rest;
  }
  return event;
};

/** The error event for an exception frame (`:exception-type`, or `:error-code` for a framing-level error). */
const errorEvent = (headers: Readonly<Record<string, unknown>>): string => {
  const exception = String(headers[':exception-type'] ?? headers[':error-code'] ?? '').toLowerCase();
  const type = OVERLOADED.has(exception) ? 'overloaded_error' : 'api_error';
  return sseEvent('error', { type: 'error', error: { type, message: FAILED_MESSAGE } });
};

/**
 * InvokeModelWithResponseStream's event stream read as Anthropic SSE. A `read()` reads the upstream only then, and
 * returns as soon as a read completed at least one event, with every event it completed: nothing is read ahead and
 * nothing is held. An exception frame becomes Anthropic's error event and ends the stream; a stream that ends
 * without message_stop just ends (the relay tells the client). A corrupt frame rejects the read, like a broken
 * connection.
 */
class MessagesEventStream extends TranslatedStream {
  private readonly decode = createEventStreamDecoder();

  constructor(
    upstream: ChunkReader,
    private readonly model: string,
  ) {
    super(upstream);
  }

  protected feed(bytes: Uint8Array): void {
    for (const message of this.decode.push(bytes)) this.onMessage(message.headers, message.payload);
  }

  private onMessage(headers: Readonly<Record<string, unknown>>, payload: Uint8Array): void {
    if (this.ended) return;
    if (headers[':message-type'] !== 'event') {
      this.write(errorEvent(headers));
      this.fail();
      return;
    }
    if (headers[':event-type'] !== 'chunk') return;
    const event = eventOfChunk(payload);
    if (event === undefined) return;
    const type = String(event.type);
    this.write(sseEvent(type, asAnthropic(event, this.model)));
    // Nothing follows these: stop reading, and let go of the connection after an error.
    if (type === 'message_stop') this.ended = true;
    else if (type === 'error') this.fail();
  }
}

/** Bedrock's answer to an InvokeModel Messages request as Anthropic's: JSON or SSE. An error passes unchanged. */
export const fromInvokeMessages = (
  response: UpstreamResponse,
  context: BedrockMessagesContext,
): UpstreamResponse => {
  if (response.status >= 400) return response;
  const { 'content-length': _length, 'content-type': contentType = '', ...headers } = response.headers;
  const stream = contentType.startsWith('application/vnd.amazon.eventstream')
    ? new MessagesEventStream(response.body.getReader(), context.model)
    : undefined;
  return translatedAnswer(
    response,
    headers,
    stream,
    (message) => ({ ...message, model: context.model }),
    'bedrock',
  );
};
