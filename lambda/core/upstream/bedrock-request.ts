// OpenAI requests as Amazon Bedrock's runtime API takes them: chat completions as Converse (or ConverseStream),
// embeddings as InvokeModel for Titan Text Embeddings v2 and Cohere Embed. What Bedrock cannot honour is refused
// with a 400 that names the parameter and the target.
import type { TargetConfig } from '../config.ts';
import { invalidRequest } from '../errors.ts';
import {
  includeUsageOf,
  isObject,
  type Json,
  maxTokensOf,
  type NeutralBlock,
  neutralMessages,
  neutralToolChoice,
  neutralTools,
  refuseUnsupported,
  stopSequencesOf,
  thinkingBudgetOf,
  unsupported,
} from './chat-translation.ts';

/** Which embedding API a model id speaks. */
export type EmbeddingFamily = 'titan' | 'cohere';

/** What the answer's translation needs to know of the request. */
export type BedrockContext =
  | {
      readonly kind: 'chat';
      /** The model as the client named it: Converse's answer does not say. */
      readonly model: string;
      readonly stream: boolean;
      readonly includeUsage: boolean;
    }
  | {
      readonly kind: 'embeddings';
      readonly model: string;
      readonly family: EmbeddingFamily;
      readonly base64: boolean;
    };

export interface BedrockRequest {
  /** The runtime path after the endpoint: `/model/<id>/converse`, `/converse-stream` or `/invoke`. */
  readonly path: string;
  readonly body: Json;
  readonly context: BedrockContext;
}

const modelPath = (modelId: string, action: string) => `/model/${encodeURIComponent(modelId)}/${action}`;

const IMAGE_FORMATS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

const block = (neutral: NeutralBlock): Json => {
  switch (neutral.kind) {
    case 'text':
      return { text: neutral.text };
    case 'image':
      return { image: { format: IMAGE_FORMATS[neutral.mediaType], source: { bytes: neutral.data } } };
    case 'toolUse':
      return { toolUse: { toolUseId: neutral.id, name: neutral.name, input: neutral.input } };
    case 'toolResult':
      return {
        toolResult: {
          toolUseId: neutral.toolUseId,
          content:
            typeof neutral.content === 'string' ? [{ text: neutral.content }] : neutral.content.map(block),
        },
      };
  }
};

/** `response_format: json_schema` as Converse's structured output (models that lack it answer a 400). */
const outputConfigOf = (format: unknown): Json | undefined => {
  if (!isObject(format) || format.type !== 'json_schema' || !isObject(format.json_schema)) return undefined;
  const schema = format.json_schema;
  return {
    textFormat: {
      type: 'json_schema',
      structure: {
        jsonSchema: {
          schema: JSON.stringify(schema.schema ?? {}),
          ...(typeof schema.name === 'string' ? { name: schema.name } : {}),
          ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
        },
      },
    },
  };
};

/** A chat completions body as a Converse (or ConverseStream) request. */
export const toConverseRequest = (
  body: Json,
  modelId: string,
  target: TargetConfig,
  clientModel: string,
): BedrockRequest => {
  refuseUnsupported(body, target, { jsonSchema: true });
  const { system, turns } = neutralMessages(body.messages, target);
  const maxTokens = maxTokensOf(body, target);
  const budget = thinkingBudgetOf(body, target, maxTokens);
  const tools = neutralTools(body.tools, target);
  const choice = neutralToolChoice(body.tool_choice, body.parallel_tool_calls, target);
  if (choice?.kind === 'none') throw unsupported(target, 'tool_choice', "tool_choice 'none'");
  if (choice !== undefined && !choice.parallel)
    throw unsupported(target, 'parallel_tool_calls', 'Turning parallel tool calls off');
  const stop = stopSequencesOf(body);
  const stream = body.stream === true;
  const guardrail = target.guardrail;
  const output = outputConfigOf(body.response_format);
  const inferenceConfig = {
    maxTokens,
    ...(typeof body.temperature === 'number' ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === 'number' ? { topP: body.top_p } : {}),
    ...(stop === undefined ? {} : { stopSequences: stop }),
  };
  return {
    path: modelPath(modelId, stream ? 'converse-stream' : 'converse'),
    body: {
      messages: turns.map((turn) => ({ role: turn.role, content: turn.blocks.map(block) })),
      ...(system.length === 0 ? {} : { system: system.map((text) => ({ text })) }),
      inferenceConfig,
      ...(tools === undefined
        ? {}
        : {
            toolConfig: {
              tools: tools.map((tool) => ({
                toolSpec: {
                  name: tool.name,
                  ...(tool.description === undefined ? {} : { description: tool.description }),
                  inputSchema: { json: tool.schema },
                },
              })),
              ...(choice === undefined
                ? {}
                : {
                    toolChoice:
                      choice.kind === 'tool' ? { tool: { name: choice.name } } : { [choice.kind]: {} },
                  }),
            },
          }),
      // Extended thinking is a model's own field (Claude on Bedrock): passed through additionalModelRequestFields.
      ...(budget === undefined
        ? {}
        : { additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: budget } } }),
      ...(output === undefined ? {} : { outputConfig: output }),
      ...(guardrail === undefined
        ? {}
        : { guardrailConfig: { guardrailIdentifier: guardrail.id, guardrailVersion: guardrail.version } }),
    },
    context: { kind: 'chat', model: clientModel, stream, includeUsage: includeUsageOf(body) },
  };
};

/** The embedding API of a model id (or inference profile) by its family; undefined: not one the gateway speaks. */
export const embeddingFamilyOf = (modelId: string): EmbeddingFamily | undefined => {
  if (/amazon\.titan-embed-text-v2/.test(modelId)) return 'titan';
  if (/cohere\.embed-/.test(modelId)) return 'cohere';
  return undefined;
};

const TITAN_DIMENSIONS = new Set([256, 512, 1024]);

/** An embeddings body as an InvokeModel request for Titan Text Embeddings v2 or Cohere Embed. */
export const toEmbeddingsRequest = (
  body: Json,
  modelId: string,
  target: TargetConfig,
  clientModel: string,
): BedrockRequest => {
  const family = embeddingFamilyOf(modelId);
  if (family === undefined)
    throw invalidRequest(
      `Target '${target.id}' (bedrock) embeds with Titan Text Embeddings v2 and Cohere Embed models, not '${modelId}'.`,
      'model',
      'unsupported_model',
    );
  const inputs = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((input) => typeof input === 'string'))
    throw unsupported(target, 'input', 'An input other than a string or an array of strings (token arrays)');
  const format = body.encoding_format;
  if (format !== undefined && format !== 'float' && format !== 'base64')
    throw invalidRequest(`'encoding_format' must be 'float' or 'base64'.`, 'encoding_format');
  const dimensions = body.dimensions;
  const context: BedrockContext = {
    kind: 'embeddings',
    model: clientModel,
    family,
    base64: format === 'base64',
  };
  if (family === 'titan') {
    if (inputs.length > 1)
      throw unsupported(target, 'input', 'More than one input per request (Titan embeds one text a call)');
    if (dimensions !== undefined && !TITAN_DIMENSIONS.has(Number(dimensions)))
      throw invalidRequest(
        `Target '${target.id}' (bedrock, Titan) takes dimensions 256, 512 or 1024, got ${JSON.stringify(dimensions)}.`,
        'dimensions',
        'unsupported_value',
      );
    return {
      path: modelPath(modelId, 'invoke'),
      body: { inputText: inputs[0], ...(dimensions === undefined ? {} : { dimensions }), normalize: true },
      context,
    };
  }
  const v4 = /embed-v4/.test(modelId);
  if (dimensions !== undefined && !v4)
    throw unsupported(target, 'dimensions', 'Choosing dimensions with Cohere Embed v3');
  return {
    path: modelPath(modelId, 'invoke'),
    body: {
      texts: inputs,
      input_type: 'search_document',
      embedding_types: ['float'],
      ...(dimensions === undefined ? {} : { output_dimension: dimensions }),
    },
    context,
  };
};
