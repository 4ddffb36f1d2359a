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

/** Usage carried by a parsed response body or stream event (`usage`, or `response.usage` in Responses events). */
export const usageFromPayload = (payload: unknown): TokenUsage | undefined => {
  if (!isObject(payload)) return undefined;
  return (
    usageFromOpenAI(payload.usage) ??
    (isObject(payload.response) ? usageFromOpenAI(payload.response.usage) : undefined)
  );
};

// A `"usage": {…}` object with at most one level of nested objects inside (the `*_details` objects),
// matched only where it starts (sticky).
const USAGE_OBJECT = /"usage"\s*:\s*(\{(?:[^{}"]|"(?:[^"\\]|\\.)*"|\{[^{}]*\})*\})/y;

/**
 * Finds the usage object in the tail of a JSON response without parsing the whole body: OpenAI puts
 * `usage` after the (possibly huge) choices or embeddings, so the tail is enough and the cost stays flat.
 * Candidates are tried from the end; one inside a string (its quote escaped) is skipped.
 */
export const usageFromJsonTail = (tail: string): TokenUsage | undefined => {
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
      return usageFromOpenAI(JSON.parse(match[1]));
    } catch {
      return undefined;
    }
  }
  return undefined;
};
