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

export type CacheEndpoint = 'chat' | 'completions' | 'embeddings' | 'responses';

export interface SseReplayOptions {
  /** The request asked for `stream_options.include_usage`: send the usage chunk (and `usage: null` before it). */
  readonly includeUsage: boolean;
}

/** A replayed text is cut into pieces of at most this many UTF-16 units, so that it arrives as a stream does. */
export const REPLAY_CHUNK_CHARS = 256;

type Json = Record<string, unknown>;

const ENTRY_VERSION = 1;
const CACHE_ENDPOINTS: readonly string[] = [
  'chat',
  'completions',
  'embeddings',
  'responses',
] satisfies readonly CacheEndpoint[];
/** Bounds on indexes taken from upstream data, so a hostile stream cannot make huge sparse arrays. */
const MAX_CHOICES = 128;
const MAX_TOOL_CALLS = 1024;
const DONE_EVENT = 'data: [DONE]\n\n';

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isIndex = (value: unknown, max: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < max;

const parseJson = (text: string): unknown => {
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

// ---- Stream → non-stream body -------------------------------------------------------------------------

/** What every chunk of a chat or completions stream shares, and each choice's chunk parts in order. */
interface StreamFrame {
  readonly head: Json;
  readonly usage: Json | undefined;
  readonly choices: readonly (readonly Json[])[];
}

const readFrame = (events: readonly string[]): StreamFrame | undefined => {
  let head: Json | undefined;
  let usage: Json | undefined;
  const optional: Json = {};
  const choices = new Map<number, Json[]>();
  for (const event of events) {
    const chunk = parseJson(event);
    // An error event or anything else without `choices` means the answer is not a clean completion.
    if (!isObject(chunk) || !Array.isArray(chunk.choices)) return undefined;
    // From the first chunk with choices: Azure OpenAI opens with a `prompt_filter_results` chunk whose
    // `choices` is empty, `id` and `model` '' and `created` 0.
    if (head === undefined && chunk.choices.length > 0) {
      const { id, created, model } = chunk;
      if (typeof id !== 'string' || typeof created !== 'number' || typeof model !== 'string')
        return undefined;
      head = { id, created, model };
    }
    for (const key of ['service_tier', 'system_fingerprint']) {
      if (typeof chunk[key] === 'string') optional[key] = chunk[key];
    }
    if (isObject(chunk.usage)) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (!isObject(choice) || !isIndex(choice.index, MAX_CHOICES)) return undefined;
      const parts = choices.get(choice.index);
      if (parts === undefined) choices.set(choice.index, [choice]);
      else parts.push(choice);
    }
  }
  if (head === undefined || choices.size === 0) return undefined;
  const ordered: Json[][] = [];
  for (let index = 0; index < choices.size; index++) {
    const parts = choices.get(index);
    if (parts === undefined) return undefined;
    ordered.push(parts);
  }
  return { head: { ...head, ...optional }, usage, choices: ordered };
};

/** The last finish reason of a choice; a choice that never got one was cut short. */
const finishReasonOf = (parts: readonly Json[]): string | undefined => {
  let reason: string | undefined;
  for (const part of parts) if (typeof part.finish_reason === 'string') reason = part.finish_reason;
  return reason;
};

/** Logprobs arrive per chunk; their arrays concatenate (as the OpenAI SDK does). `false`: malformed. */
const mergeLogprobs = (parts: readonly Json[]): Json | null | false => {
  let merged: Json | null = null;
  for (const { logprobs } of parts) {
    if (logprobs === null || logprobs === undefined) continue;
    if (!isObject(logprobs)) return false;
    merged ??= {};
    for (const [key, value] of Object.entries(logprobs)) {
      const before = merged[key];
      if (Array.isArray(value)) merged[key] = Array.isArray(before) ? [...before, ...value] : [...value];
      else if (!(key in merged) || value !== null) merged[key] = value;
    }
  }
  return merged;
};

interface ToolCallParts {
  id?: string;
  type?: string;
  function?: { name?: string; arguments: string };
  custom?: { name?: string; input: string };
}

/** Merges tool-call deltas by index: id, type and name are set once, arguments (or custom input) concatenate. */
const mergeToolCalls = (calls: Map<number, ToolCallParts>, deltas: unknown): boolean => {
  if (!Array.isArray(deltas)) return false;
  for (const delta of deltas) {
    if (!isObject(delta) || !isIndex(delta.index, MAX_TOOL_CALLS)) return false;
    let call = calls.get(delta.index);
    if (call === undefined) {
      call = {};
      calls.set(delta.index, call);
    }
    if (typeof delta.id === 'string' && delta.id !== '') call.id = delta.id;
    if (typeof delta.type === 'string' && delta.type !== '') call.type = delta.type;
    if (isObject(delta.function)) {
      call.function ??= { arguments: '' };
      const { name, arguments: args } = delta.function;
      if (typeof name === 'string' && name !== '') call.function.name = name;
      if (typeof args === 'string') call.function.arguments += args;
    }
    if (isObject(delta.custom)) {
      call.custom ??= { input: '' };
      const { name, input } = delta.custom;
      if (typeof name === 'string' && name !== '') call.custom.name = name;
      if (typeof input === 'string') call.custom.input += input;
    }
  }
  return true;
};

/** The finished tool calls in index order, or undefined when one lacks what a client needs to run it. */
const finishToolCalls = (calls: ReadonlyMap<number, ToolCallParts>): Json[] | undefined => {
  const finished: Json[] = [];
  for (let index = 0; index < calls.size; index++) {
    const call = calls.get(index);
    if (call?.id === undefined) return undefined;
    if (call.function?.name !== undefined) {
      const { name, arguments: args } = call.function;
      finished.push({ id: call.id, type: call.type ?? 'function', function: { name, arguments: args } });
    } else if (call.custom?.name !== undefined) {
      const { name, input } = call.custom;
      finished.push({ id: call.id, type: call.type ?? 'custom', custom: { name, input } });
    } else {
      return undefined;
    }
  }
  return finished;
};

const appendText = (before: string | null | undefined, value: unknown): string | undefined =>
  typeof value === 'string' ? (before ?? '') + value : undefined;

const assembleChatChoice = (index: number, parts: readonly Json[]): Json | undefined => {
  let role = 'assistant';
  let content: string | null = null;
  /** Undefined until a delta mentions it: older models and other providers have no refusal field. */
  let refusal: string | null | undefined;
  let functionCall: { name?: string; arguments: string } | undefined;
  const toolCalls = new Map<number, ToolCallParts>();
  for (const { delta } of parts) {
    if (delta === undefined || delta === null) continue;
    if (!isObject(delta)) return undefined;
    for (const [key, value] of Object.entries(delta)) {
      if (value === null || value === undefined) {
        if (key === 'refusal') refusal ??= null;
        continue;
      }
      switch (key) {
        case 'role':
          if (typeof value !== 'string') return undefined;
          role = value;
          break;
        case 'content': {
          const next = appendText(content, value);
          if (next === undefined) return undefined;
          content = next;
          break;
        }
        case 'refusal': {
          const next = appendText(refusal, value);
          if (next === undefined) return undefined;
          refusal = next;
          break;
        }
        case 'tool_calls':
          if (!mergeToolCalls(toolCalls, value)) return undefined;
          break;
        case 'function_call': {
          if (!isObject(value)) return undefined;
          functionCall ??= { arguments: '' };
          if (typeof value.name === 'string' && value.name !== '') functionCall.name = value.name;
          if (typeof value.arguments === 'string') functionCall.arguments += value.arguments;
          break;
        }
        default:
          // A field this cache cannot rebuild (audio, reasoning text, annotations…): storing the answer
          // without it would serve a different answer later, so it is not cached at all.
          return undefined;
      }
    }
  }
  const finishReason = finishReasonOf(parts);
  const logprobs = mergeLogprobs(parts);
  const tools = finishToolCalls(toolCalls);
  if (finishReason === undefined || logprobs === false || tools === undefined) return undefined;
  if (functionCall !== undefined && functionCall.name === undefined) return undefined;
  const message: Json = { role, content };
  if (refusal !== undefined) message.refusal = refusal;
  if (tools.length > 0) message.tool_calls = tools;
  if (functionCall !== undefined)
    message.function_call = { name: functionCall.name, arguments: functionCall.arguments };
  return { index, message, logprobs, finish_reason: finishReason };
};

const assembleCompletionChoice = (index: number, parts: readonly Json[]): Json | undefined => {
  let text = '';
  for (const part of parts) {
    if (part.text === undefined || part.text === null) continue;
    if (typeof part.text !== 'string') return undefined;
    text += part.text;
  }
  const finishReason = finishReasonOf(parts);
  const logprobs = mergeLogprobs(parts);
  if (finishReason === undefined || logprobs === false) return undefined;
  return { text, index, logprobs, finish_reason: finishReason };
};

/**
 * Builds the non-stream body equivalent to a complete upstream stream, from its events' `data` payloads
 * (without `[DONE]`). Undefined when the stream is unusable: no chunks, invalid JSON, an error event, a choice
 * without a finish reason (cut short), or content this module cannot rebuild. Such an answer is not cached.
 */
export const assembleStream = (
  endpoint: 'chat' | 'completions',
  events: readonly string[],
): Record<string, unknown> | undefined => {
  const frame = readFrame(events);
  if (frame === undefined) return undefined;
  const assembleChoice = endpoint === 'chat' ? assembleChatChoice : assembleCompletionChoice;
  const choices: Json[] = [];
  for (const [index, parts] of frame.choices.entries()) {
    const choice = assembleChoice(index, parts);
    if (choice === undefined) return undefined;
    choices.push(choice);
  }
  const { id, created, model, ...optional } = frame.head;
  return {
    id,
    object: endpoint === 'chat' ? 'chat.completion' : 'text_completion',
    created,
    model,
    ...optional,
    choices,
    ...(frame.usage === undefined ? {} : { usage: frame.usage }),
  };
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
