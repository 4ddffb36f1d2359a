// An OpenAI chat completions request as Anthropic's Messages API takes it (read through chat-translation.ts).
// What Messages cannot honour is refused with a 400 that names the parameter and the target.
import type { TargetConfig } from '../config.ts';
import {
  includeUsageOf,
  type Json,
  maxTokensOf,
  type NeutralBlock,
  neutralMessages,
  neutralToolChoice,
  neutralTools,
  refuseUnsupported,
  stopSequencesOf,
  thinkingBudgetOf,
} from './chat-translation.ts';

/** What the answer's translation needs to know of the request. */
export interface AnthropicContext {
  readonly stream: boolean;
  /** The client asked for the usage chunk (or the gateway did, to meter): the translated stream sends one. */
  readonly includeUsage: boolean;
}

export const ANTHROPIC_VERSION = '2023-06-01';

const block = (neutral: NeutralBlock): Json => {
  switch (neutral.kind) {
    case 'text':
      return { type: 'text', text: neutral.text };
    case 'image':
      return { type: 'image', source: { type: 'base64', media_type: neutral.mediaType, data: neutral.data } };
    case 'toolUse':
      return { type: 'tool_use', id: neutral.id, name: neutral.name, input: neutral.input };
    case 'toolResult':
      return {
        type: 'tool_result',
        tool_use_id: neutral.toolUseId,
        content: typeof neutral.content === 'string' ? neutral.content : neutral.content.map(block),
      };
  }
};

/** The last block of a list marked for the prompt cache. */
const cacheLast = (blocks: Json[]): Json[] =>
  blocks.length === 0
    ? blocks
    : [...blocks.slice(0, -1), { ...blocks.at(-1), cache_control: { type: 'ephemeral' } }];

/** The Messages request for an OpenAI chat completions body, and what its answer's translation needs. */
export const toAnthropicRequest = (
  body: Json,
  upstreamModel: string,
  target: TargetConfig,
): { readonly request: Json; readonly context: AnthropicContext } => {
  refuseUnsupported(body, target, { jsonSchema: false });
  const { system, turns } = neutralMessages(body.messages, target);
  const maxTokens = maxTokensOf(body, target);
  const budget = thinkingBudgetOf(body, target, maxTokens);
  const tools = neutralTools(body.tools, target)?.map((tool) => ({
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    input_schema: tool.schema,
  }));
  const choice = neutralToolChoice(body.tool_choice, body.parallel_tool_calls, target);
  const toolChoice =
    choice === undefined
      ? undefined
      : {
          type: choice.kind,
          ...(choice.kind === 'tool' ? { name: choice.name } : {}),
          ...(choice.parallel || choice.kind === 'none' ? {} : { disable_parallel_tool_use: true }),
        };
  const stop = stopSequencesOf(body);
  const caching = target.promptCaching;
  const systemBlocks = system.map((text) => ({ type: 'text', text }));
  const stream = body.stream === true;
  const request: Json = {
    model: upstreamModel,
    max_tokens: maxTokens,
    ...(systemBlocks.length === 0
      ? {}
      : { system: caching?.system ? cacheLast(systemBlocks) : systemBlocks }),
    messages: turns.map((turn) => ({ role: turn.role, content: turn.blocks.map(block) })),
    ...(stop === undefined ? {} : { stop_sequences: stop }),
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { top_p: body.top_p } : {}),
    ...(tools === undefined ? {} : { tools: caching?.tools ? cacheLast(tools) : tools }),
    ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
    ...(budget === undefined ? {} : { thinking: { type: 'enabled', budget_tokens: budget } }),
    ...(stream ? { stream: true } : {}),
  };
  return { request, context: { stream, includeUsage: includeUsageOf(body) } };
};
