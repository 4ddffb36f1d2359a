// A cached answer from a stream: the non-stream body a chat or completions stream adds up to, rebuilt from its
// events (choices, tool calls, logprobs, usage), so that a streamed answer can be stored and served either way.
import { isIndex, isObject, type Json, MAX_CHOICES, MAX_TOOL_CALLS, parseJson } from './cache-entry.ts';

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
