// An OpenAI chat completions request as Anthropic's Messages API takes it. What Messages cannot honour is refused
// with a 400 that names the parameter and the target, never dropped in silence.
import type { TargetConfig } from '../config.ts';
import { invalidRequest } from '../errors.ts';

type Json = Record<string, unknown>;
type Block = Json;

/** What the answer's translation needs to know of the request. */
export interface AnthropicContext {
  readonly stream: boolean;
  /** The client asked for the usage chunk (or the gateway did, to meter): the translated stream sends one. */
  readonly includeUsage: boolean;
}

export const ANTHROPIC_VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 4096;
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
/** `reasoning_effort` as Anthropic's extended thinking budget (tokens); `none` turns thinking off. */
const THINKING_BUDGET: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 1024,
  medium: 4096,
  high: 16384,
};

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;

const unsupported = (target: TargetConfig, param: string, what: string) =>
  invalidRequest(
    `${what} is not supported by target '${target.id}' (anthropic): remove '${param}', or route the model to an OpenAI target.`,
    param,
    'unsupported_parameter',
  );

/** Parameters Messages has nothing for: refused when they ask for anything but the default. */
const refuseUnsupported = (body: Json, target: TargetConfig): void => {
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1)
    throw unsupported(target, 'n', 'More than one choice (n > 1)');
  if (body.logprobs === true) throw unsupported(target, 'logprobs', 'Log probabilities');
  if (body.top_logprobs !== undefined && body.top_logprobs !== null)
    throw unsupported(target, 'top_logprobs', 'Log probabilities');
  if (isObject(body.logit_bias) && Object.keys(body.logit_bias).length > 0)
    throw unsupported(target, 'logit_bias', 'A logit bias');
  if (body.audio !== undefined && body.audio !== null) throw unsupported(target, 'audio', 'Audio output');
  if (Array.isArray(body.modalities) && body.modalities.some((modality) => modality !== 'text'))
    throw unsupported(target, 'modalities', 'An output modality other than text');
  if (body.prediction !== undefined && body.prediction !== null)
    throw unsupported(target, 'prediction', 'A predicted output');
  for (const param of ['presence_penalty', 'frequency_penalty'])
    if (typeof body[param] === 'number' && body[param] !== 0)
      throw unsupported(target, param, `A ${param.replace('_', ' ')}`);
  if (body.web_search_options !== undefined && body.web_search_options !== null)
    throw unsupported(target, 'web_search_options', 'Web search');
  const format = body.response_format;
  if (isObject(format) && format.type !== 'text')
    throw unsupported(target, 'response_format', `A response_format of type '${String(format.type)}'`);
  if (typeof body.temperature === 'number' && body.temperature > 1)
    throw invalidRequest(
      `Target '${target.id}' (anthropic) takes a temperature from 0 to 1, got ${body.temperature}.`,
      'temperature',
      'unsupported_value',
    );
};

/** `data:<type>;base64,<data>` as an image block; anything else is refused (the gateway fetches no URLs). */
const imageBlock = (part: Json, at: string, target: TargetConfig): Block => {
  const url = isObject(part.image_url) ? part.image_url.url : undefined;
  if (typeof url !== 'string')
    throw invalidRequest(`'${at}.image_url.url' must be a string.`, `${at}.image_url.url`);
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (match === null)
    throw invalidRequest(
      `Target '${target.id}' (anthropic) takes images as data URLs (data:image/png;base64,…): the gateway does not fetch image URLs.`,
      `${at}.image_url.url`,
      'unsupported_image_url',
    );
  const mediaType = match[1]!.toLowerCase();
  if (!IMAGE_TYPES.has(mediaType))
    throw invalidRequest(
      `Target '${target.id}' (anthropic) takes JPEG, PNG, GIF and WebP images, got ${mediaType}.`,
      `${at}.image_url.url`,
      'unsupported_image_type',
    );
  return { type: 'image', source: { type: 'base64', media_type: mediaType, data: match[2] } };
};

/** A message's content (a string or parts) as Anthropic blocks. */
const contentBlocks = (content: unknown, at: string, target: TargetConfig): Block[] => {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalidRequest(`'${at}' must be a string or an array of parts.`, at);
  return content.map((part, i): Block => {
    const where = `${at}.${i}`;
    if (!isObject(part)) throw invalidRequest(`'${where}' must be an object.`, where);
    if (part.type === 'text' || part.type === 'refusal') {
      const text = part.type === 'text' ? part.text : part.refusal;
      if (typeof text !== 'string') throw invalidRequest(`'${where}' has no text.`, where);
      return { type: 'text', text };
    }
    if (part.type === 'image_url') return imageBlock(part, where, target);
    throw unsupported(target, where, `A content part of type '${String(part.type)}'`);
  });
};

const toolUseBlocks = (toolCalls: unknown, at: string, target: TargetConfig): Block[] => {
  if (toolCalls === undefined || toolCalls === null) return [];
  if (!Array.isArray(toolCalls)) throw invalidRequest(`'${at}' must be an array.`, at);
  return toolCalls.map((call, i) => {
    const where = `${at}.${i}`;
    if (!isObject(call) || call.type !== 'function' || !isObject(call.function))
      throw unsupported(target, where, 'A tool call that is not a function call');
    let input: unknown;
    try {
      input = JSON.parse(
        typeof call.function.arguments === 'string' ? call.function.arguments || '{}' : '{}',
      );
    } catch (error) {
      throw invalidRequest(
        `'${where}.function.arguments' is not valid JSON.`,
        `${where}.function.arguments`,
        null,
        error,
      );
    }
    return { type: 'tool_use', id: String(call.id), name: String(call.function.name), input };
  });
};

/** Tool results' content: Anthropic takes text (and images); a string or text parts here. */
const toolResultContent = (content: unknown, at: string, target: TargetConfig): string | Block[] =>
  typeof content === 'string' ? content : contentBlocks(content, at, target);

interface Translated {
  readonly system: Block[];
  readonly messages: Array<{ role: 'user' | 'assistant'; content: Block[] }>;
}

/** OpenAI's messages as a system prompt and alternating user and assistant turns (same-role neighbours merged). */
const translateMessages = (messages: unknown, target: TargetConfig): Translated => {
  if (!Array.isArray(messages)) throw invalidRequest("'messages' must be an array.", 'messages');
  const system: Block[] = [];
  const turns: Translated['messages'] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  messages.forEach((message, i) => {
    const at = `messages.${i}`;
    if (!isObject(message)) throw invalidRequest(`'${at}' must be an object.`, at);
    switch (message.role) {
      case 'system':
      case 'developer':
        // Messages has one system prompt: every system and developer message joins it, in order.
        system.push(...contentBlocks(message.content, `${at}.content`, target));
        return;
      case 'user':
        push('user', contentBlocks(message.content, `${at}.content`, target));
        return;
      case 'assistant':
        if (message.audio !== undefined && message.audio !== null)
          throw unsupported(target, `${at}.audio`, 'An audio answer');
        push('assistant', [
          ...contentBlocks(message.content, `${at}.content`, target),
          ...toolUseBlocks(message.tool_calls, `${at}.tool_calls`, target),
        ]);
        return;
      case 'tool':
        push('user', [
          {
            type: 'tool_result',
            tool_use_id: String(message.tool_call_id),
            content: toolResultContent(message.content, `${at}.content`, target),
          },
        ]);
        return;
      default:
        throw unsupported(target, `${at}.role`, `A message with role '${String(message.role)}'`);
    }
  });
  return { system, messages: turns };
};

const translateTools = (tools: unknown, target: TargetConfig): Block[] | undefined => {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw invalidRequest("'tools' must be an array.", 'tools');
  return tools.map((tool, i) => {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function))
      throw unsupported(target, `tools.${i}`, 'A tool that is not a function');
    const fn = tool.function;
    return {
      name: String(fn.name),
      ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
      input_schema: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
  });
};

const translateToolChoice = (choice: unknown, parallel: unknown, target: TargetConfig): Json | undefined => {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null)
    return parallel === false ? { type: 'auto', ...noParallel } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto', ...noParallel };
  if (choice === 'required') return { type: 'any', ...noParallel };
  if (isObject(choice) && choice.type === 'function' && isObject(choice.function))
    return { type: 'tool', name: String(choice.function.name), ...noParallel };
  throw unsupported(target, 'tool_choice', 'This tool_choice');
};

/** The last block of a list marked for the prompt cache. */
const cacheLast = (blocks: Block[]): Block[] =>
  blocks.length === 0
    ? blocks
    : [...blocks.slice(0, -1), { ...blocks.at(-1), cache_control: { type: 'ephemeral' } }];

/** The Messages request for an OpenAI chat completions body, and what its answer's translation needs. */
export const toAnthropicRequest = (
  body: Json,
  upstreamModel: string,
  target: TargetConfig,
): { readonly request: Json; readonly context: AnthropicContext } => {
  refuseUnsupported(body, target);
  const { system, messages } = translateMessages(body.messages, target);
  const maxTokens =
    typeof body.max_completion_tokens === 'number'
      ? body.max_completion_tokens
      : typeof body.max_tokens === 'number'
        ? body.max_tokens
        : (target.maxTokens ?? DEFAULT_MAX_TOKENS);
  const effort = typeof body.reasoning_effort === 'string' ? body.reasoning_effort : undefined;
  const budget = effort === undefined || effort === 'none' ? undefined : THINKING_BUDGET[effort];
  if (effort !== undefined && effort !== 'none' && budget === undefined)
    throw unsupported(target, 'reasoning_effort', `reasoning_effort '${effort}'`);
  if (budget !== undefined && maxTokens <= budget)
    throw invalidRequest(
      `Target '${target.id}' (anthropic) thinks with a budget of ${budget} tokens for reasoning_effort '${effort}': max_completion_tokens must be above it, got ${maxTokens}.`,
      'max_completion_tokens',
      'unsupported_value',
    );
  const tools = translateTools(body.tools, target);
  const toolChoice = translateToolChoice(body.tool_choice, body.parallel_tool_calls, target);
  const stop = typeof body.stop === 'string' ? [body.stop] : Array.isArray(body.stop) ? body.stop : undefined;
  const caching = target.promptCaching;
  const stream = body.stream === true;
  const request: Json = {
    model: upstreamModel,
    max_tokens: maxTokens,
    ...(system.length === 0 ? {} : { system: caching?.system ? cacheLast(system) : system }),
    messages,
    ...(stop === undefined || stop.length === 0 ? {} : { stop_sequences: stop }),
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { top_p: body.top_p } : {}),
    ...(tools === undefined ? {} : { tools: caching?.tools ? cacheLast(tools) : tools }),
    ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
    ...(budget === undefined ? {} : { thinking: { type: 'enabled', budget_tokens: budget } }),
    ...(stream ? { stream: true } : {}),
  };
  const streamOptions = body.stream_options;
  return {
    request,
    context: { stream, includeUsage: isObject(streamOptions) && streamOptions.include_usage === true },
  };
};
