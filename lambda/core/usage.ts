// Pure converters from provider response shapes to the gateway's TokenUsage.
import type { TokenUsage } from '../ports.ts';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;
/** A token count as an integer (a fractional count from a non-conforming server is rounded up, never dropped). */
const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : 0;

/**
 * Reads an OpenAI `usage` object. Chat/completions/embeddings use prompt/completion tokens;
 * the Responses API uses input/output tokens. Returns undefined when nothing usable is there.
 */
export const usageFromOpenAI = (usage: unknown): TokenUsage | undefined => {
  if (!isObject(usage)) return undefined;
  if ('input_tokens' in usage || 'output_tokens' in usage) {
    const inputDetails = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
    const outputDetails = isObject(usage.output_tokens_details) ? usage.output_tokens_details : {};
    return {
      inputTokens: count(usage.input_tokens),
      cachedInputTokens: count(inputDetails.cached_tokens),
      outputTokens: count(usage.output_tokens),
      reasoningTokens: count(outputDetails.reasoning_tokens),
    };
  }
  if ('prompt_tokens' in usage || 'completion_tokens' in usage) {
    const promptDetails = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
    const completionDetails = isObject(usage.completion_tokens_details)
      ? usage.completion_tokens_details
      : {};
    // `cache_write_tokens` is the gateway's own: what a translated provider (Anthropic) wrote to its prompt cache.
    const written = count(promptDetails.cache_write_tokens);
    return {
      inputTokens: count(usage.prompt_tokens),
      cachedInputTokens: count(promptDetails.cached_tokens),
      outputTokens: count(usage.completion_tokens),
      reasoningTokens: count(completionDetails.reasoning_tokens),
      ...(written > 0 ? { cacheWriteTokens: written } : {}),
    };
  }
  return undefined;
};

/**
 * Reads an Anthropic Messages `usage` object. Anthropic's `input_tokens` leaves out the prompt-cache reads
 * and writes; the gateway's `inputTokens` counts them (as OpenAI's `prompt_tokens` count cached tokens), and
 * pricing then takes the reads at the cached price and the writes at the cache-write price.
 */
export const usageFromAnthropic = (usage: unknown): TokenUsage | undefined => {
  if (!isObject(usage) || !('input_tokens' in usage || 'output_tokens' in usage)) return undefined;
  const read = count(usage.cache_read_input_tokens);
  const written = count(usage.cache_creation_input_tokens);
  return {
    inputTokens: count(usage.input_tokens) + read + written,
    cachedInputTokens: read,
    outputTokens: count(usage.output_tokens),
    reasoningTokens: 0,
    ...(written > 0 ? { cacheWriteTokens: written } : {}),
  };
};

/** The counts Anthropic's stream events report, merged into one usage. */
export interface AnthropicStreamUsage {
  /** After a `message_delta` event, the stream's usage so far (final after the last one); else undefined. */
  event(payload: unknown): TokenUsage | undefined;
}

/**
 * Anthropic splits a stream's usage over its events: `message_start` carries the input and cache counts (and
 * an output count of a token or so), `message_delta` the cumulative output count, and on newer API versions
 * cumulative input and cache counts too, which replace the start's (a server tool can read more input
 * mid-answer). Only a `message_delta` reports, since the counts before it are not the answer's.
 */
export const createAnthropicStreamUsage = (): AnthropicStreamUsage => {
  let counts: Json = {};
  /** Copies the counts `usage` reports; a null count means not reported, not zero. */
  const merge = (usage: unknown) => {
    if (!isObject(usage)) return;
    const next: Json = { ...counts };
    for (const [name, value] of Object.entries(usage)) if (typeof value === 'number') next[name] = value;
    counts = next;
  };
  return {
    event(payload) {
      if (!isObject(payload)) return undefined;
      if (payload.type === 'message_start') {
        merge(isObject(payload.message) ? payload.message.usage : undefined);
        return undefined;
      }
      if (payload.type !== 'message_delta') return undefined;
      merge(payload.usage);
      return usageFromAnthropic(counts);
    },
  };
};

/** Usage carried by a parsed response body or stream event (`usage`, or `response.usage` in Responses events). */
export const usageFromPayload = (payload: unknown): TokenUsage | undefined => {
  if (!isObject(payload)) return undefined;
  return (
    usageFromOpenAI(payload.usage) ??
    (isObject(payload.response) ? usageFromOpenAI(payload.response.usage) : undefined)
  );
};

// A `"usage": {…}` object with at most one level of nested objects inside (OpenAI's `*_details` objects,
// Anthropic's `cache_creation` and `server_tool_use`), matched only where it starts (sticky).
const USAGE_OBJECT = /"usage"\s*:\s*(\{(?:[^{}"]|"(?:[^"\\]|\\.)*"|\{[^{}]*\})*\})/y;

/**
 * Finds the usage object in the tail of a JSON response without parsing the whole body: OpenAI puts
 * `usage` after the (possibly huge) choices or embeddings, and Anthropic after a message's content, so the
 * tail is enough and the cost stays flat. Candidates are tried from the end; one inside a string (its quote
 * escaped) is skipped. `read` says whose usage format it is.
 */
export const usageFromJsonTail = (
  tail: string,
  read: (usage: unknown) => TokenUsage | undefined = usageFromOpenAI,
): TokenUsage | undefined => {
  for (
    let at = tail.lastIndexOf('"usage"');
    at >= 0;
    at = at === 0 ? -1 : tail.lastIndexOf('"usage"', at - 1)
  ) {
    if (at > 0 && tail.charCodeAt(at - 1) === 0x5c /* \ */) continue;
    USAGE_OBJECT.lastIndex = at;
    const match = USAGE_OBJECT.exec(tail);
    if (match?.[1] === undefined) continue;
    try {
      return read(JSON.parse(match[1]));
    } catch {
      return undefined;
    }
  }
  return undefined;
};

/**
 * Usage that counts something. A Messages answer translated from an upstream that reported no usage says 0 and 0
 * (Anthropic's SDKs need the fields); no real answer reads no input, so that is no report, and the request is
 * estimated instead of billed nothing.
 */
export const countedUsage =
  (read: (value: unknown) => TokenUsage | undefined) =>
  (value: unknown): TokenUsage | undefined => {
    const usage = read(value);
    return usage === undefined || (usage.inputTokens === 0 && usage.outputTokens === 0) ? undefined : usage;
  };

/** The usage of an Anthropic message (its `usage` object), when it counts something. */
export const anthropicAnswerUsage = countedUsage(usageFromAnthropic);
