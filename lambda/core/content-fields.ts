// Where the text a model reads and writes sits in each endpoint's JSON, and content rules applied to it:
// request bodies and whole answers (answers streamed as SSE events: content-stream.ts).
import { type RuleHits, type RuleSet, redactText } from './content-rules.ts';

/** How an endpoint carries text. */
export const TextShape = {
  chat: 'chat',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
  /** Anthropic's Messages API: `system` and content blocks (tool results too); answers' text and thinking. */
  messages: 'messages',
  moderations: 'moderations',
  /** `prompt` (image generation). */
  prompt: 'prompt',
  /** `input` and `instructions` (text to speech). */
  speech: 'speech',
  none: 'none',
} as const;
export type TextShapeName = (typeof TextShape)[keyof typeof TextShape];

export type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Rewrites one text; `path` names the field (e.g. `messages.2.content.0.text`) for logs, never its content. */
export type TextRewrite = (text: string, path: string) => string;

/** Applies `rewrite` to `holder[key]` when it is a string; true when it changed. */
export const field = (holder: unknown, key: string | number, path: string, rewrite: TextRewrite): boolean => {
  if (typeof holder !== 'object' || holder === null) return false;
  const record = holder as Record<string | number, unknown>;
  const text = record[key];
  if (typeof text !== 'string') return false;
  const next = rewrite(text, path);
  if (next === text) return false;
  record[key] = next;
  return true;
};

/** A string, or an array of strings (token-id arrays are left alone). */
const strings = (holder: Json, key: string, rewrite: TextRewrite): boolean => {
  const value = holder[key];
  if (!Array.isArray(value)) return field(holder, key, key, rewrite);
  let changed = false;
  value.forEach((_, i) => {
    changed = field(value, i, `${key}.${i}`, rewrite) || changed;
  });
  return changed;
};

/** Message content: a string, or parts whose `text` (or `refusal`) is text. */
const content = (holder: Json, key: string, path: string, rewrite: TextRewrite): boolean => {
  const value = holder[key];
  if (!Array.isArray(value)) return field(holder, key, path, rewrite);
  let changed = false;
  value.forEach((part, j) => {
    if (!isObject(part)) return;
    changed = field(part, 'text', `${path}.${j}.text`, rewrite) || changed;
    changed = field(part, 'refusal', `${path}.${j}.refusal`, rewrite) || changed;
  });
  return changed;
};

const toolCalls = (message: Json, path: string, rewrite: TextRewrite): boolean => {
  let changed = false;
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((call, j) => {
      if (isObject(call) && isObject(call.function))
        changed =
          field(call.function, 'arguments', `${path}.tool_calls.${j}.function.arguments`, rewrite) || changed;
    });
  }
  if (isObject(message.function_call))
    changed =
      field(message.function_call, 'arguments', `${path}.function_call.arguments`, rewrite) || changed;
  return changed;
};

/** Messages API content: a string, or blocks whose `text` is text, with a tool result's content inside. */
const messageContent = (holder: Json, key: string, path: string, rewrite: TextRewrite): boolean => {
  const value = holder[key];
  if (!Array.isArray(value)) return field(holder, key, path, rewrite);
  let changed = false;
  value.forEach((block, j) => {
    if (!isObject(block)) return;
    changed = field(block, 'text', `${path}.${j}.text`, rewrite) || changed;
    if (block.type === 'tool_result')
      changed = messageContent(block, 'content', `${path}.${j}.content`, rewrite) || changed;
  });
  return changed;
};

/** Items of the Responses API (input or output): message content, function call arguments and outputs. */
export const responseItems = (items: unknown, path: string, rewrite: TextRewrite): boolean => {
  if (!Array.isArray(items)) return false;
  let changed = false;
  items.forEach((item, i) => {
    if (!isObject(item)) return;
    const at = `${path}.${i}`;
    changed = content(item, 'content', `${at}.content`, rewrite) || changed;
    changed = field(item, 'arguments', `${at}.arguments`, rewrite) || changed;
    changed = field(item, 'output', `${at}.output`, rewrite) || changed;
  });
  return changed;
};

/**
 * Rewrites, in place, every text of a request body that the model reads: message contents (content parts
 * included), prompts, inputs, instructions, and tool call arguments. True when anything changed.
 */
export const rewriteRequestTexts = (shape: TextShapeName, body: Json, rewrite: TextRewrite): boolean => {
  let changed = false;
  switch (shape) {
    case TextShape.chat:
      if (Array.isArray(body.messages)) {
        body.messages.forEach((message, i) => {
          if (!isObject(message)) return;
          changed = content(message, 'content', `messages.${i}.content`, rewrite) || changed;
          changed = field(message, 'refusal', `messages.${i}.refusal`, rewrite) || changed;
          changed = toolCalls(message, `messages.${i}`, rewrite) || changed;
        });
      }
      return changed;
    case TextShape.messages:
      changed = messageContent(body, 'system', 'system', rewrite);
      if (Array.isArray(body.messages)) {
        body.messages.forEach((message, i) => {
          if (isObject(message))
            changed = messageContent(message, 'content', `messages.${i}.content`, rewrite) || changed;
        });
      }
      return changed;
    case TextShape.completions:
      changed = strings(body, 'prompt', rewrite);
      return field(body, 'suffix', 'suffix', rewrite) || changed;
    case TextShape.embeddings:
      return strings(body, 'input', rewrite);
    case TextShape.moderations:
      return Array.isArray(body.input) && body.input.some(isObject)
        ? content(body, 'input', 'input', rewrite)
        : strings(body, 'input', rewrite);
    case TextShape.responses:
      changed = field(body, 'instructions', 'instructions', rewrite);
      return (
        (typeof body.input === 'string'
          ? field(body, 'input', 'input', rewrite)
          : responseItems(body.input, 'input', rewrite)) || changed
      );
    case TextShape.prompt:
      return field(body, 'prompt', 'prompt', rewrite);
    case TextShape.speech:
      changed = field(body, 'input', 'input', rewrite);
      return field(body, 'instructions', 'instructions', rewrite) || changed;
    case TextShape.none:
      return false;
  }
};

/** Rewrites, in place, every text of an answer (the non-streamed JSON shape) that the model wrote. */
export const rewriteAnswerTexts = (shape: TextShapeName, body: Json, rewrite: TextRewrite): boolean => {
  let changed = false;
  switch (shape) {
    case TextShape.chat:
    case TextShape.completions:
      if (!Array.isArray(body.choices)) return false;
      body.choices.forEach((choice, i) => {
        if (!isObject(choice)) return;
        changed = field(choice, 'text', `choices.${i}.text`, rewrite) || changed;
        const message = choice.message;
        if (!isObject(message)) return;
        changed = field(message, 'content', `choices.${i}.message.content`, rewrite) || changed;
        changed = field(message, 'refusal', `choices.${i}.message.refusal`, rewrite) || changed;
        changed =
          field(message, 'reasoning_content', `choices.${i}.message.reasoning_content`, rewrite) || changed;
        changed = toolCalls(message, `choices.${i}.message`, rewrite) || changed;
      });
      return changed;
    case TextShape.responses:
      changed = responseItems(body.output, 'output', rewrite);
      return field(body, 'output_text', 'output_text', rewrite) || changed;
    case TextShape.messages:
      if (!Array.isArray(body.content)) return false;
      body.content.forEach((block, i) => {
        if (!isObject(block)) return;
        changed = field(block, 'text', `content.${i}.text`, rewrite) || changed;
        changed = field(block, 'thinking', `content.${i}.thinking`, rewrite) || changed;
      });
      return changed;
    default:
      return false;
  }
};

/** Whether answers of this shape carry text the response rules read. */
export const answersHaveText = (shape: TextShapeName): boolean =>
  shape === TextShape.chat ||
  shape === TextShape.completions ||
  shape === TextShape.responses ||
  shape === TextShape.messages;

/** Applies `rules` to every text of an answer; returns whether it changed. `hits` says what matched. */
export const redactAnswer = (shape: TextShapeName, rules: RuleSet, body: Json, hits: RuleHits): boolean =>
  rewriteAnswerTexts(shape, body, (text) =>
    hits.blockedBy === undefined ? redactText(rules, text, hits) : text,
  );
