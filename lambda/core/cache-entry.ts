// Response-cache entries: a completed upstream answer kept in its non-stream JSON form, replayed as JSON or SSE.

/**
 * One cached answer. `body` is what a non-stream request would have returned (usage included when the
 * upstream reported it), so a streamed and a non-streamed request can each be served from the other's entry.
 */
export interface CacheEntry {
  readonly v: 1;
  readonly endpoint: CacheEndpoint;
  readonly body: Record<string, unknown>;
  /** Epoch milliseconds the entry was written. */
  readonly createdAt: number;
}

export type CacheEndpoint = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages';

export interface SseReplayOptions {
  /** The request asked for `stream_options.include_usage`: send the usage chunk (and `usage: null` before it). */
  readonly includeUsage: boolean;
}

/** A replayed text is cut into pieces of at most this many UTF-16 units, so that it arrives as a stream does. */
export const REPLAY_CHUNK_CHARS = 256;

export type Json = Record<string, unknown>;

const ENTRY_VERSION = 1;
const CACHE_ENDPOINTS: readonly string[] = [
  'chat',
  'completions',
  'embeddings',
  'responses',
  'messages',
] satisfies readonly CacheEndpoint[];
/** Bounds on indexes taken from upstream data, so a hostile stream cannot make huge sparse arrays. */
export const MAX_CHOICES = 128;
export const MAX_TOOL_CALLS = 1024;
const DONE_EVENT = 'data: [DONE]\n\n';

export const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
export const isIndex = (value: unknown, max: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < max;

export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

export const serializeEntry = (entry: CacheEntry): string =>
  JSON.stringify({ v: entry.v, endpoint: entry.endpoint, body: entry.body, createdAt: entry.createdAt });

/** How the request that looks an entry up wants its answer. */
export interface EntryRequest {
  /** `stream: true`: the entry would be replayed as SSE (`replaySse`). */
  readonly stream: boolean;
}

/**
 * Reads a stored entry. Anything malformed, of another version, or that cannot be served faithfully is a miss
 * (undefined). With `request`, the entry must serve that request: as JSON, or as SSE for a streamed one (only
 * chat and completions entries stream). Without it, the entry must serve every request of its endpoint, so a
 * chat or completions entry whose body holds something the SSE replay cannot reproduce is a miss even for a
 * non-stream request: never served lossy, at the price of such entries never being served.
 */
export const parseEntry = (text: string, request?: EntryRequest): CacheEntry | undefined => {
  const value = parseJson(text);
  if (!isObject(value) || value.v !== ENTRY_VERSION) return undefined;
  const { endpoint, body, createdAt } = value;
  if (typeof endpoint !== 'string' || !CACHE_ENDPOINTS.includes(endpoint)) return undefined;
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt) || !isObject(body)) return undefined;
  const entry: CacheEntry = { v: ENTRY_VERSION, endpoint: endpoint as CacheEndpoint, body, createdAt };
  if (!bodyIsServable(entry)) return undefined;
  const streams = endpoint === 'chat' || endpoint === 'completions';
  if (request?.stream === true && !streams) return undefined;
  if (request?.stream !== false && streams && !canReplaySse(entry)) return undefined;
  return entry;
};

/** The fields a stored answer needs; an entry without them (corrupted, foreign, unfinished) is not served. */
const bodyIsServable = ({ endpoint, body }: CacheEntry): boolean => {
  if (endpoint === 'embeddings') return Array.isArray(body.data);
  // An Anthropic message that finished (a stop reason) with its usage.
  if (endpoint === 'messages') {
    return (
      body.type === 'message' &&
      Array.isArray(body.content) &&
      typeof body.stop_reason === 'string' &&
      isObject(body.usage)
    );
  }
  // Only a finished answer: not queued or in progress (background), failed, cancelled or incomplete.
  if (endpoint === 'responses') {
    return Array.isArray(body.output) && body.status === 'completed' && body.background !== true;
  }
  if (typeof body.id !== 'string' || typeof body.created !== 'number' || typeof body.model !== 'string') {
    return false;
  }
  if (!Array.isArray(body.choices) || body.choices.length === 0) return false;
  return body.choices.every(
    (choice) =>
      isObject(choice) &&
      isIndex(choice.index, MAX_CHOICES) &&
      typeof choice.finish_reason === 'string' &&
      (endpoint === 'chat' ? isObject(choice.message) : typeof choice.text === 'string'),
  );
};

// ---- What the SSE replay reproduces ---------------------------------------------------------------------

/** Top-level fields the replay renders: the chunk head, the choices, the usage chunk. */
const BODY_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'object',
  'created',
  'model',
  'choices',
  'usage',
  'service_tier',
  'system_fingerprint',
]);
const CHOICE_FIELDS: ReadonlySet<string> = new Set(['index', 'message', 'text', 'logprobs', 'finish_reason']);
/** Message fields with a stream form of their own; any other field is sent whole in one delta. */
const MESSAGE_FIELDS: ReadonlySet<string> = new Set([
  'role',
  'content',
  'refusal',
  'tool_calls',
  'function_call',
]);
/** Other message fields that streams send before the content. */
const BEFORE_CONTENT: ReadonlySet<string> = new Set(['reasoning_content', 'reasoning']);

const isTextOrNull = (value: unknown): boolean =>
  value === undefined || value === null || typeof value === 'string';

/**
 * Whether `replaySse` renders everything the body holds, so that a client accumulating the chunks (as the
 * OpenAI SDK does: text concatenated, other message fields assigned) gets the stored answer. A message field
 * without a stream form of its own (audio, annotations, reasoning_content…) is rendered whole in one delta.
 * Where a top-level or choice-level field would go in a stream is the provider's choice (every chunk, the
 * first, the last), so a body holding one that is not null cannot be replayed.
 */
export const canReplaySse = ({ endpoint, body }: CacheEntry): boolean => {
  if (endpoint !== 'chat' && endpoint !== 'completions') return false;
  for (const [key, value] of Object.entries(body)) {
    if (!BODY_FIELDS.has(key) && value !== null) return false;
  }
  if (body.usage !== undefined && body.usage !== null && !isObject(body.usage)) return false;
  if (!Array.isArray(body.choices)) return false;
  return body.choices.every((choice) => {
    if (!isObject(choice)) return false;
    for (const [key, value] of Object.entries(choice)) {
      if (!CHOICE_FIELDS.has(key) && value !== null) return false;
    }
    if (endpoint === 'completions') return typeof choice.text === 'string' && !('message' in choice);
    if ('text' in choice || !isObject(choice.message)) return false;
    const { role, content, refusal, tool_calls: toolCalls, function_call: functionCall } = choice.message;
    if (role !== undefined && typeof role !== 'string') return false;
    if (!isTextOrNull(content) || !isTextOrNull(refusal)) return false;
    if (toolCalls !== undefined && toolCalls !== null) {
      if (!Array.isArray(toolCalls) || toolCalls.length > MAX_TOOL_CALLS || !toolCalls.every(isObject)) {
        return false;
      }
    }
    return functionCall === undefined || functionCall === null || isObject(functionCall);
  });
};

// ---- Entry → response body ----------------------------------------------------------------------------

/** The body of a non-stream response served from the entry. */
export const replayJson = (entry: CacheEntry): string => JSON.stringify(entry.body);

/** Cuts text into stream-sized pieces, never between the two halves of a surrogate pair. */
const splitText = (text: string): string[] => {
  const pieces: string[] = [];
  for (let start = 0; start < text.length; ) {
    let end = Math.min(start + REPLAY_CHUNK_CHARS, text.length);
    const last = text.charCodeAt(end - 1);
    // Each piece is decoded on its own by clients outside JavaScript; half a pair would not survive that.
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces;
};

const sseData = (payload: Json): string => `data: ${JSON.stringify(payload)}\n\n`;

const NOT_IN_HEAD: ReadonlySet<string> = new Set(['id', 'object', 'created', 'model', 'choices', 'usage']);

/**
 * Fields every replayed chunk repeats, as OpenAI's chunks do: id, created, model, and the other top-level
 * fields (`service_tier`, `system_fingerprint`, and any other only when null: see canReplaySse).
 */
const chunkHead = (body: Json, object: string): Json => ({
  id: body.id,
  object,
  created: body.created,
  model: body.model,
  // fromEntries defines each field, so that not even a `__proto__` key is lost.
  ...Object.fromEntries(Object.entries(body).filter(([key]) => !NOT_IN_HEAD.has(key))),
});

/**
 * The choice-level fields beyond the ones each chunk carries (only nulls: see canReplaySse), repeated on every
 * chunk of the choice: the OpenAI SDK keeps those of a choice's first chunk, other clients read the last.
 */
const choiceExtras = (choice: Json): Json =>
  Object.fromEntries(Object.entries(choice).filter(([key]) => !CHOICE_FIELDS.has(key)));

const choicesOf = (body: Json): Json[] => (Array.isArray(body.choices) ? body.choices.filter(isObject) : []);
/** A text field that starts as `''` in the first chunk (or stays null), then arrives piece by piece. */
const textOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

const replayChatChoice = (choice: Json, send: (part: Json) => void) => {
  const { index } = choice;
  const message = isObject(choice.message) ? choice.message : {};
  const extras = choiceExtras(choice);
  const delta = (fields: Json) =>
    send({ index, delta: fields, logprobs: null, finish_reason: null, ...extras });
  const content = textOrNull(message.content);
  const hasRefusal = 'refusal' in message;
  const refusal = textOrNull(message.refusal);
  const opening: [string, unknown][] = [];
  const before: Json[] = [];
  const after: Json[] = [];
  for (const [key, value] of Object.entries(message)) {
    if (key === 'role' || key === 'content' || key === 'refusal') continue;
    // Nulls and empty lists (`annotations: []`, `tool_calls: []`) open the message, as OpenAI sends `refusal`.
    if (value === null || (Array.isArray(value) && value.length === 0)) opening.push([key, value]);
    // Whole, in one delta: concatenated (audio transcript, reasoning text) or assigned, it is the stored value.
    else if (!MESSAGE_FIELDS.has(key)) (BEFORE_CONTENT.has(key) ? before : after).push({ [key]: value });
  }
  delta({
    role: typeof message.role === 'string' ? message.role : 'assistant',
    content: content === null ? null : '',
    ...(hasRefusal ? { refusal: refusal === null ? null : '' } : {}),
    ...Object.fromEntries(opening),
  });
  for (const fields of before) delta(fields);
  for (const piece of splitText(content ?? '')) delta({ content: piece });
  for (const piece of splitText(refusal ?? '')) delta({ refusal: piece });
  for (const fields of after) delta(fields);
  const toolCalls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  for (const [position, call] of toolCalls.entries()) {
    if (isObject(call)) delta({ tool_calls: [{ index: position, ...call }] });
  }
  if (isObject(message.function_call)) delta({ function_call: message.function_call });
  // Logprobs ride on the last chunk whole; clients concatenate them, so where they arrive does not matter.
  send({
    index,
    delta: {},
    logprobs: choice.logprobs ?? null,
    finish_reason: choice.finish_reason,
    ...extras,
  });
};

const replayCompletionChoice = (choice: Json, send: (part: Json) => void) => {
  const { index } = choice;
  const extras = choiceExtras(choice);
  for (const piece of splitText(textOrNull(choice.text) ?? '')) {
    send({ text: piece, index, logprobs: null, finish_reason: null, ...extras });
  }
  send({
    text: '',
    index,
    logprobs: choice.logprobs ?? null,
    finish_reason: choice.finish_reason,
    ...extras,
  });
};

/**
 * The SSE events (`data: …\n\n`, ending with `data: [DONE]\n\n`) of a streamed request served from the entry,
 * in OpenAI's chunk shape. Only chat and completions entries stream: embeddings have no stream form, and the
 * Responses API's event protocol (about ten event types with sequence numbers and item/content indexes) is
 * not rebuilt here, so a streamed Responses request is not served from the cache. The entry must come from
 * `parseEntry` (which refuses one that `canReplaySse` does not accept, and the cache policy plans no streamed
 * request of another endpoint): anything else is a programming error, and throws rather than lose a field.
 */
export const replaySse = (entry: CacheEntry, options: SseReplayOptions): string[] => {
  const { endpoint, body } = entry;
  if (endpoint !== 'chat' && endpoint !== 'completions') {
    throw new Error(`A ${endpoint} cache entry cannot be replayed as a stream.`);
  }
  if (!canReplaySse(entry)) throw new Error(`This ${endpoint} cache entry cannot be replayed as a stream.`);
  const head = chunkHead(body, endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion');
  const events: string[] = [];
  const send = (choice: Json) =>
    events.push(sseData({ ...head, choices: [choice], ...(options.includeUsage ? { usage: null } : {}) }));
  const replayChoice = endpoint === 'chat' ? replayChatChoice : replayCompletionChoice;
  for (const choice of choicesOf(body)) replayChoice(choice, send);
  if (options.includeUsage && isObject(body.usage))
    events.push(sseData({ ...head, choices: [], usage: body.usage }));
  events.push(DONE_EVENT);
  return events;
};
