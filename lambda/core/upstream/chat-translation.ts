// The provider-neutral reading of an OpenAI chat completions request that translating providers (Anthropic,
// Bedrock) build their own requests from: a system prompt, alternating turns of text, image, tool-use and
// tool-result blocks, tools and tool choice, and the refusal of what no translation can honour.
import type { TargetConfig } from '../config.ts';
import { invalidRequest } from '../errors.ts';

export type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;

export type NeutralBlock =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'image'; readonly mediaType: string; readonly data: string }
  | { readonly kind: 'toolUse'; readonly id: string; readonly name: string; readonly input: unknown }
  | {
      readonly kind: 'toolResult';
      readonly toolUseId: string;
      /** A string as the client gave it, or text and image blocks. */
      readonly content: string | readonly NeutralBlock[];
    };

export interface NeutralTurn {
  readonly role: 'user' | 'assistant';
  readonly blocks: NeutralBlock[];
}

export interface NeutralTool {
  readonly name: string;
  readonly description: string | undefined;
  readonly schema: Json;
}

export type NeutralToolChoice =
  | { readonly kind: 'auto' | 'none' | 'any'; readonly parallel: boolean }
  | { readonly kind: 'tool'; readonly name: string; readonly parallel: boolean };

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const DEFAULT_MAX_TOKENS = 4096;
/** `reasoning_effort` as a thinking budget (tokens); `none` turns thinking off. */
const THINKING_BUDGET: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 1024,
  medium: 4096,
  high: 16384,
};

/** A 400 naming the parameter and the target, for what the target's API has no counterpart for. */
export const unsupported = (target: TargetConfig, param: string, what: string) =>
  invalidRequest(
    `${what} is not supported by target '${target.id}' (${target.provider}): remove '${param}', or route the model to an OpenAI target.`,
    param,
    'unsupported_parameter',
  );

/** Parameters no translated API has anything for: refused when they ask for anything but the default. */
export const refuseUnsupported = (
  body: Json,
  target: TargetConfig,
  options: { jsonSchema: boolean },
): void => {
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
  if (isObject(format) && format.type !== 'text' && !(options.jsonSchema && format.type === 'json_schema'))
    throw unsupported(target, 'response_format', `A response_format of type '${String(format.type)}'`);
  if (typeof body.temperature === 'number' && body.temperature > 1)
    throw invalidRequest(
      `A temperature above 1 is not supported by target '${target.id}' (${target.provider}): it takes 0 to 1, got ${body.temperature}.`,
      'temperature',
      'unsupported_value',
    );
};

/** `data:<type>;base64,<data>` as an image block; anything else is refused (the gateway fetches no URLs). */
const imageBlock = (part: Json, at: string, target: TargetConfig): NeutralBlock => {
  const url = isObject(part.image_url) ? part.image_url.url : undefined;
  if (typeof url !== 'string')
    throw invalidRequest(`'${at}.image_url.url' must be a string.`, `${at}.image_url.url`);
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (match === null)
    throw invalidRequest(
      `Target '${target.id}' (${target.provider}) takes images as data URLs (data:image/png;base64,…): the gateway does not fetch image URLs.`,
      `${at}.image_url.url`,
      'unsupported_image_url',
    );
  const mediaType = match[1]!.toLowerCase();
  if (!IMAGE_TYPES.has(mediaType))
    throw invalidRequest(
      `Target '${target.id}' (${target.provider}) takes JPEG, PNG, GIF and WebP images, got ${mediaType}.`,
      `${at}.image_url.url`,
      'unsupported_image_type',
    );
  return { kind: 'image', mediaType, data: match[2]! };
};

/** A message's content (a string or parts) as blocks. */
const contentBlocks = (content: unknown, at: string, target: TargetConfig): NeutralBlock[] => {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content }];
  if (!Array.isArray(content)) throw invalidRequest(`'${at}' must be a string or an array of parts.`, at);
  return content.map((part, i): NeutralBlock => {
    const where = `${at}.${i}`;
    if (!isObject(part)) throw invalidRequest(`'${where}' must be an object.`, where);
    if (part.type === 'text' || part.type === 'refusal') {
      const text = part.type === 'text' ? part.text : part.refusal;
      if (typeof text !== 'string') throw invalidRequest(`'${where}' has no text.`, where);
      return { kind: 'text', text };
    }
    if (part.type === 'image_url') return imageBlock(part, where, target);
    throw unsupported(target, where, `A content part of type '${String(part.type)}'`);
  });
};

const toolUseBlocks = (toolCalls: unknown, at: string, target: TargetConfig): NeutralBlock[] => {
  if (toolCalls === undefined || toolCalls === null) return [];
  if (!Array.isArray(toolCalls)) throw invalidRequest(`'${at}' must be an array.`, at);
  return toolCalls.map((call, i) => {
    const where = `${at}.${i}`;
    if (!isObject(call) || call.type !== 'function' || !isObject(call.function))
      throw unsupported(target, where, 'A tool call that is not a function call');
    const args = typeof call.function.arguments === 'string' ? call.function.arguments : '';
    let input: unknown;
    try {
      input = JSON.parse(args === '' ? '{}' : args);
    } catch (error) {
      throw invalidRequest(
        `'${where}.function.arguments' is not valid JSON.`,
        `${where}.function.arguments`,
        null,
        error,
      );
    }
    return { kind: 'toolUse', id: String(call.id), name: String(call.function.name), input };
  });
};

/** OpenAI's messages as a system prompt and alternating user and assistant turns (same-role neighbours merged). */
export const neutralMessages = (
  messages: unknown,
  target: TargetConfig,
): { readonly system: string[]; readonly turns: NeutralTurn[] } => {
  if (!Array.isArray(messages)) throw invalidRequest("'messages' must be an array.", 'messages');
  const system: string[] = [];
  const turns: NeutralTurn[] = [];
  const push = (role: 'user' | 'assistant', blocks: NeutralBlock[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  };
  messages.forEach((message, i) => {
    const at = `messages.${i}`;
    if (!isObject(message)) throw invalidRequest(`'${at}' must be an object.`, at);
    switch (message.role) {
      case 'system':
      case 'developer':
        // One system prompt: every system and developer message joins it, in order.
        for (const block of contentBlocks(message.content, `${at}.content`, target)) {
          if (block.kind !== 'text')
            throw unsupported(target, `${at}.content`, 'An image in a system message');
          system.push(block.text);
        }
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
            kind: 'toolResult',
            toolUseId: String(message.tool_call_id),
            content:
              typeof message.content === 'string'
                ? message.content
                : contentBlocks(message.content, `${at}.content`, target),
          },
        ]);
        return;
      default:
        throw unsupported(target, `${at}.role`, `A message with role '${String(message.role)}'`);
    }
  });
  return { system, turns };
};

export const neutralTools = (tools: unknown, target: TargetConfig): NeutralTool[] | undefined => {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw invalidRequest("'tools' must be an array.", 'tools');
  return tools.map((tool, i) => {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function))
      throw unsupported(target, `tools.${i}`, 'A tool that is not a function');
    const fn = tool.function;
    return {
      name: String(fn.name),
      description: typeof fn.description === 'string' ? fn.description : undefined,
      schema: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
  });
};

export const neutralToolChoice = (
  choice: unknown,
  parallelToolCalls: unknown,
  target: TargetConfig,
): NeutralToolChoice | undefined => {
  const parallel = parallelToolCalls !== false;
  if (choice === undefined || choice === null) return parallel ? undefined : { kind: 'auto', parallel };
  if (choice === 'none' || choice === 'auto') return { kind: choice, parallel };
  if (choice === 'required') return { kind: 'any', parallel };
  if (isObject(choice) && choice.type === 'function' && isObject(choice.function))
    return { kind: 'tool', name: String(choice.function.name), parallel };
  throw unsupported(target, 'tool_choice', 'This tool_choice');
};

/** The output cap: the client's, else the target's `maxTokens` (translated APIs require one). */
export const maxTokensOf = (body: Json, target: TargetConfig): number =>
  typeof body.max_completion_tokens === 'number'
    ? body.max_completion_tokens
    : typeof body.max_tokens === 'number'
      ? body.max_tokens
      : (target.maxTokens ?? DEFAULT_MAX_TOKENS);

export const stopSequencesOf = (body: Json): string[] | undefined => {
  const stop =
    typeof body.stop === 'string' ? [body.stop] : Array.isArray(body.stop) ? body.stop.map(String) : [];
  return stop.length === 0 ? undefined : stop;
};

/** The thinking budget `reasoning_effort` asks for, checked against the output cap; undefined: no thinking. */
export const thinkingBudgetOf = (body: Json, target: TargetConfig, maxTokens: number): number | undefined => {
  const effort = typeof body.reasoning_effort === 'string' ? body.reasoning_effort : undefined;
  if (effort === undefined || effort === 'none') return undefined;
  const budget = THINKING_BUDGET[effort];
  if (budget === undefined) throw unsupported(target, 'reasoning_effort', `reasoning_effort '${effort}'`);
  if (maxTokens <= budget)
    throw invalidRequest(
      `Target '${target.id}' (${target.provider}) thinks with a budget of ${budget} tokens for reasoning_effort '${effort}': max_completion_tokens must be above it, got ${maxTokens}.`,
      'max_completion_tokens',
      'unsupported_value',
    );
  return budget;
};

/** Whether the stream's usage chunk was asked for (by the client, or by the gateway to meter). */
export const includeUsageOf = (body: Json): boolean =>
  isObject(body.stream_options) && body.stream_options.include_usage === true;
