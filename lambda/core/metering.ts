// Token estimates for budgets and for streams cut short: what the model reads, and what it wrote so far.
import type { TokenCounter, TokenUsage } from '../ports.ts';
import type { PriceConfig } from './config.ts';

/** How an endpoint's request and response carry tokens. */
export const TokenShape = {
  chat: 'chat',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
  /** Anthropic's Messages API (`POST /v1/messages`): `system`, content blocks, `max_tokens`. */
  messages: 'messages',
  /** Priced by other units (images, audio, moderation): no token estimate, usage only if reported. */
  other: 'other',
} as const;
export type TokenShapeName = (typeof TokenShape)[keyof typeof TokenShape];

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** OpenAI's chat format adds a few tokens per message and to prime the reply; these bounds cover it. */
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY = 3;
/**
 * An image input costs at most 85 + 170 × 8 tiles = 1,445 tokens on GPT-4o-class models (high detail,
 * 768 × 2048 after scaling): what an estimate counts. Budget holds count the dearest model's worst case
 * instead (gpt-4o-mini bills 2,833 + 5,667 per tile), unless the price catalogue says the model's.
 */
export const IMAGE_TOKENS = 1_445;
/** The legacy completions API writes 16 tokens when max_tokens is not given. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

interface PromptParts {
  text: string[];
  tokens: number;
  /** Tokens counted per image input. */
  readonly imageTokens: number;
  /**
   * Tokens counted for a file input (a chat `file` part, a Responses `input_file`, a Messages `document`
   * named by URL or file id).
   */
  readonly fileTokens: (part: Json) => number;
}

/** A file input part: chat's `{ type: 'file', file: { … } }` or the Responses API's `{ type: 'input_file', … }`. */
export const isFilePart = (part: Json): boolean => part.type === 'file' || part.type === 'input_file';

const addContent = (parts: PromptParts, content: unknown): void => {
  if (typeof content === 'string') {
    parts.text.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content) {
    if (typeof part === 'string') parts.text.push(part);
    else if (isObject(part)) {
      if (typeof part.text === 'string') parts.text.push(part.text);
      else if (typeof part.refusal === 'string') parts.text.push(part.refusal);
      else if (part.type === 'image_url' || part.type === 'input_image') parts.tokens += parts.imageTokens;
      // Not its JSON: an id says nothing of the file's size, and inline data is not text the model reads.
      else if (isFilePart(part)) parts.tokens += parts.fileTokens(part);
      else if (typeof part.output === 'string') parts.text.push(part.output);
      else parts.text.push(JSON.stringify(part));
    }
  }
};

const addStructure = (parts: PromptParts, value: unknown): void => {
  if (value !== undefined && value !== null) parts.text.push(JSON.stringify(value));
};

/**
 * A base64 PDF's tokens from its size alone (parsing the PDF is too dear on the hot path): one token per 3
 * decoded bytes. Text runs about 4 bytes a token, and most of a PDF's bytes are fonts, images and page
 * structure rather than text, so for typical documents this is a generous bound on what Anthropic bills (each
 * page's text plus an image of the page). A heuristic, not a proof: a small, compressed, text-dense PDF can
 * exceed it.
 */
const pdfTokens = (base64: string): number => Math.ceil((base64.length * 3) / 4 / 3);

/** A Messages API document: its text when it carries it, a size bound for PDF data, else a file input. */
const addDocument = (parts: PromptParts, block: Json): void => {
  const source = isObject(block.source) ? block.source : {};
  if (typeof block.title === 'string') parts.text.push(block.title);
  if (typeof block.context === 'string') parts.text.push(block.context);
  if (source.type === 'base64' && typeof source.data === 'string') parts.tokens += pdfTokens(source.data);
  else if (source.type === 'text' && typeof source.data === 'string') parts.text.push(source.data);
  else if (source.type === 'content') addMessageContent(parts, source.content);
  // A URL or an uploaded file: its size is not in the body, so the caller says what it counts.
  else parts.tokens += parts.fileTokens(block);
};

/** A Messages API content: a string, or content blocks (tool results nest their own). */
const addMessageContent = (parts: PromptParts, content: unknown): void => {
  if (typeof content === 'string') {
    parts.text.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    if (!isObject(block)) continue;
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') parts.text.push(block.text);
        break;
      case 'image':
        parts.tokens += parts.imageTokens;
        break;
      case 'document':
        addDocument(parts, block);
        break;
      case 'tool_use':
        if (typeof block.name === 'string') parts.text.push(block.name);
        addStructure(parts, block.input);
        break;
      case 'tool_result':
        addMessageContent(parts, block.content);
        break;
      case 'thinking':
        if (typeof block.thinking === 'string') parts.text.push(block.thinking);
        break;
      // Encrypted reasoning from an earlier turn: its bytes are not text a tokenizer could count.
      case 'redacted_thinking':
        break;
      // Anything newer (search results, server tool blocks) counts as its JSON: an upper bound.
      default:
        parts.text.push(JSON.stringify(block));
    }
  }
};

/** Token ids given directly (`[1, 2, 3]` or `[[1, 2], [3]]`) count as they are. */
const addTokenArrays = (parts: PromptParts, value: unknown): boolean => {
  if (!Array.isArray(value) || value.length === 0) return false;
  if (value.every((item) => typeof item === 'number')) {
    parts.tokens += value.length;
    return true;
  }
  if (value.every((item) => Array.isArray(item) && item.every((inner) => typeof inner === 'number'))) {
    for (const item of value as unknown[][]) parts.tokens += item.length;
    return true;
  }
  return false;
};

const addStrings = (parts: PromptParts, value: unknown): void => {
  if (typeof value === 'string') parts.text.push(value);
  else if (Array.isArray(value) && !addTokenArrays(parts, value)) {
    for (const item of value) if (typeof item === 'string') parts.text.push(item);
  }
};

export interface PromptCountOptions {
  /** What one image input counts. @default IMAGE_TOKENS */
  readonly imageTokens?: number;
  /** What one file input counts (its size is not in the body when it is named by id). @default 0 */
  readonly fileTokens?: (part: Json) => number;
}

/**
 * The input tokens of a request as the model's tokenizer counts them (an upper bound until it has loaded), plus
 * what `options` says image and file inputs count.
 */
export const promptTokens = (
  shape: TokenShapeName,
  body: Json,
  counter: TokenCounter,
  options: PromptCountOptions = {},
): number => {
  const parts: PromptParts = {
    text: [],
    tokens: 0,
    imageTokens: options.imageTokens ?? IMAGE_TOKENS,
    fileTokens: options.fileTokens ?? (() => 0),
  };
  switch (shape) {
    case TokenShape.chat: {
      const messages = Array.isArray(body.messages) ? body.messages : [];
      parts.tokens += TOKENS_PER_REPLY + TOKENS_PER_MESSAGE * messages.length;
      for (const message of messages) {
        if (!isObject(message)) continue;
        addContent(parts, message.content);
        if (typeof message.name === 'string') parts.text.push(message.name);
        addStructure(parts, message.tool_calls);
        addStructure(parts, message.function_call);
      }
      addStructure(parts, body.tools);
      addStructure(parts, body.functions);
      addStructure(parts, body.response_format);
      break;
    }
    case TokenShape.responses: {
      if (typeof body.instructions === 'string') parts.text.push(body.instructions);
      const input = body.input;
      if (typeof input === 'string') {
        parts.tokens += TOKENS_PER_REPLY + TOKENS_PER_MESSAGE;
        parts.text.push(input);
      } else if (Array.isArray(input)) {
        parts.tokens += TOKENS_PER_REPLY + TOKENS_PER_MESSAGE * input.length;
        for (const item of input) {
          if (!isObject(item)) continue;
          addContent(parts, item.content);
          // A tool's output: text, or parts (files and images among them).
          addContent(parts, item.output);
          if (typeof item.arguments === 'string') parts.text.push(item.arguments);
          if (typeof item.name === 'string') parts.text.push(item.name);
        }
      }
      addStructure(parts, body.tools);
      addStructure(parts, body.text);
      break;
    }
    case TokenShape.messages: {
      addMessageContent(parts, body.system);
      const messages = Array.isArray(body.messages) ? body.messages : [];
      parts.tokens += TOKENS_PER_REPLY + TOKENS_PER_MESSAGE * messages.length;
      for (const message of messages) if (isObject(message)) addMessageContent(parts, message.content);
      addStructure(parts, body.tools);
      addStructure(parts, body.tool_choice);
      break;
    }
    case TokenShape.completions:
      addStrings(parts, body.prompt);
      if (typeof body.suffix === 'string') parts.text.push(body.suffix);
      break;
    case TokenShape.embeddings:
      addStrings(parts, body.input);
      break;
    case TokenShape.other:
      return 0;
  }
  let tokens = parts.tokens;
  for (const text of parts.text) tokens += counter.count(text);
  return tokens;
};

const positive = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;

/** The most output a request can produce: its own cap (or the model's) times the number of choices. */
export const maxOutputTokens = (
  shape: TokenShapeName,
  body: Json,
  price: PriceConfig | undefined,
  defaultMax: number,
): number => {
  const modelCap = price?.maxOutputTokens ?? defaultMax;
  const capped = (asked: number | undefined) => Math.min(asked ?? modelCap, modelCap);
  switch (shape) {
    case TokenShape.chat:
      return (
        capped(positive(body.max_completion_tokens) ?? positive(body.max_tokens)) * (positive(body.n) ?? 1)
      );
    case TokenShape.responses:
      return capped(positive(body.max_output_tokens));
    // Messages has no `n`: one answer.
    case TokenShape.messages:
      return capped(positive(body.max_tokens));
    case TokenShape.completions: {
      const choices = Math.max(positive(body.n) ?? 1, positive(body.best_of) ?? 1);
      const prompts =
        Array.isArray(body.prompt) &&
        body.prompt.length > 0 &&
        !body.prompt.every((p) => typeof p === 'number')
          ? body.prompt.length
          : 1;
      return capped(positive(body.max_tokens) ?? COMPLETIONS_DEFAULT_MAX_TOKENS) * choices * prompts;
    }
    case TokenShape.embeddings:
      return 0;
    case TokenShape.other:
      // Images and audio priced by tokens: the model's cap per image (`n` of them); unpriced ones hold nothing.
      return modelCap * (positive(body.n) ?? 1);
  }
};

/** Messages API stream events: a block's text, thinking or tool input as it streams, a tool call's name. */
const addMessagesEvent = (out: string[], payload: Json): void => {
  if (payload.type === 'content_block_start' && isObject(payload.content_block)) {
    const block = payload.content_block;
    if (block.type === 'tool_use' && typeof block.name === 'string') out.push(block.name);
  } else if (payload.type === 'content_block_delta' && isObject(payload.delta)) {
    const delta = payload.delta;
    if (typeof delta.text === 'string') out.push(delta.text);
    if (typeof delta.thinking === 'string') out.push(delta.thinking);
    if (typeof delta.partial_json === 'string') out.push(delta.partial_json);
  }
};

/** The text a stream produced so far, from its events' JSON (chat, completions, Responses, Messages). */
export const streamedText = (events: readonly string[]): string => {
  const out: string[] = [];
  for (const data of events) {
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      continue;
    }
    if (!isObject(payload)) continue;
    if (typeof payload.delta === 'string') out.push(payload.delta); // Responses API delta events
    addMessagesEvent(out, payload);
    if (!Array.isArray(payload.choices)) continue;
    for (const choice of payload.choices) {
      if (!isObject(choice)) continue;
      if (typeof choice.text === 'string') out.push(choice.text);
      const delta = choice.delta;
      if (!isObject(delta)) continue;
      if (typeof delta.content === 'string') out.push(delta.content);
      if (typeof delta.refusal === 'string') out.push(delta.refusal);
      if (typeof delta.reasoning_content === 'string') out.push(delta.reasoning_content);
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls) {
          const fn = isObject(call) && isObject(call.function) ? call.function : undefined;
          if (typeof fn?.name === 'string') out.push(fn.name);
          if (typeof fn?.arguments === 'string') out.push(fn.arguments);
        }
      }
    }
  }
  return out.join('');
};

export const ZERO_USAGE: TokenUsage = {
  inputTokens: 0,
  cachedInputTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
};
