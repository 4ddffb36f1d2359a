// An Anthropic Messages request (the `/v1/messages` front door) as an OpenAI chat completions request, for a model
// routed to an OpenAI-compatible target (openai, azure-openai, openai-compatible). What chat completions cannot
// honour is refused with a 400 that names the field and the target; the answer goes back through chat-to-messages.ts.
//
// `cache_control` (on the request, a system block, a message block or a tool) is dropped wherever it appears:
// OpenAI-compatible servers cache prompt prefixes on their own, and the hint changes nothing in the answer.
import { Provider, type TargetConfig } from '../config.ts';
import { invalidRequest, invalidType, invalidValue, missingParameter, outOfRange } from '../errors.ts';
import { isObject, type Json } from './chat-translation.ts';

/** What the answer's translation needs to know of the request. */
export interface MessagesContext {
  readonly stream: boolean;
  /** The model as the client named it: the translated answer names it, not the upstream's model. */
  readonly model: string;
}

/** Top-level fields that are translated, or (cache_control) dropped because they change nothing in the answer. */
const TRANSLATED_FIELDS = new Set([
  ...['model', 'messages', 'system', 'max_tokens', 'stop_sequences', 'stream', 'metadata', 'temperature'],
  ...['top_p', 'tools', 'tool_choice', 'thinking', 'service_tier', 'speed', 'cache_control'],
]);

/** Top-level fields of features chat completions has no counterpart for: refused whenever they are set. */
const REFUSED_FIELDS: Readonly<Record<string, string>> = {
  top_k: 'top-k sampling',
  container: 'a code execution container',
  mcp_servers: 'remote MCP servers (the MCP connector)',
  context_management: "Anthropic's context management",
  inference_geo: 'an inference geography',
  output_config: 'an output configuration (effort, structured output format)',
};

/** Service tiers that ask for nothing beyond what any OpenAI-compatible target does by default. */
const DEFAULT_SERVICE_TIERS = new Set(['auto', 'standard_only']);

/** OpenAI's chat completions takes at most this many stop sequences (Azure OpenAI too). */
const OPENAI_MAX_STOP_SEQUENCES = 4;

/** A budget of thinking tokens as the nearest `reasoning_effort`. */
const effortOf = (budget: number): string => (budget < 4096 ? 'low' : budget < 16384 ? 'medium' : 'high');

const given = (value: unknown): boolean => value !== undefined && value !== null;

/** A 400 for what the target's API has no counterpart for, naming the field and the target. */
const cannotHonour = (target: TargetConfig, param: string, what: string) =>
  invalidRequest(
    `Target '${target.id}' (${target.provider}) cannot honour ${what}: remove '${param}', or ask for a model the gateway routes to Anthropic.`,
    param,
    'unsupported_parameter',
  );

const refuseFields = (body: Json, target: TargetConfig): void => {
  for (const [field, value] of Object.entries(body)) {
    const refused = REFUSED_FIELDS[field];
    if (refused !== undefined) {
      if (given(value)) throw cannotHonour(target, field, refused);
    } else if (!TRANSLATED_FIELDS.has(field)) {
      // An unknown field may change the answer in a way the gateway cannot see: refused, never dropped.
      throw cannotHonour(target, field, `the field '${field}' (the gateway does not know what it asks for)`);
    }
  }
  if (given(body.service_tier) && !DEFAULT_SERVICE_TIERS.has(String(body.service_tier)))
    throw cannotHonour(target, 'service_tier', `service_tier '${String(body.service_tier)}'`);
  if (given(body.speed) && body.speed !== 'standard')
    throw cannotHonour(target, 'speed', `speed '${String(body.speed)}'`);
};

const textOf = (block: Json, at: string): string => {
  if (typeof block.text !== 'string') throw invalidType(`${at}.text`, 'a string', block.text);
  return block.text;
};

/** The block's `type`, or a 400 naming where it is missing. */
const blockType = (block: unknown, at: string): string => {
  if (!isObject(block) || Array.isArray(block)) throw invalidType(at, 'an object', block);
  if (typeof block.type !== 'string') throw invalidType(`${at}.type`, 'a string', block.type);
  return block.type;
};

/** The block's `source`, with a 400 for a Files API source: the gateway cannot check who owns the file. */
const sourceOf = (block: Json, at: string, target: TargetConfig): Json => {
  if (!isObject(block.source)) throw invalidType(`${at}.source`, 'an object', block.source);
  if (block.source.type === 'file')
    throw cannotHonour(target, `${at}.source.type`, 'a file source (a Files API file id)');
  return block.source;
};

const imagePart = (block: Json, at: string, target: TargetConfig): Json => {
  if (given(block.transformations))
    throw cannotHonour(target, `${at}.transformations`, 'image transformations');
  const source = sourceOf(block, at, target);
  if (source.type === 'url' && typeof source.url === 'string')
    return { type: 'image_url', image_url: { url: source.url } };
  if (source.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string')
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  throw invalidRequest(
    `'${at}.source' must be a base64 source (media_type, data) or a url source (url).`,
    `${at}.source`,
  );
};

const documentPart = (block: Json, at: string, target: TargetConfig): Json => {
  // The model would be told these, or would answer with citations: nothing in chat completions carries them.
  for (const field of ['title', 'context'])
    if (given(block[field])) throw cannotHonour(target, `${at}.${field}`, `a document's ${field}`);
  if (isObject(block.citations) && block.citations.enabled === true)
    throw cannotHonour(target, `${at}.citations`, 'citations');
  const source = sourceOf(block, at, target);
  if (source.type !== 'base64' || source.media_type !== 'application/pdf' || typeof source.data !== 'string')
    throw cannotHonour(
      target,
      `${at}.source.type`,
      `a document that is not a base64 PDF (source '${String(source.type)}')`,
    );
  return {
    type: 'file',
    file: { filename: 'document.pdf', file_data: `data:application/pdf;base64,${source.data}` },
  };
};

/** A block only an Anthropic server makes or reads (server tools' calls and results, search results). */
const serverBlock = (type: string, at: string, target: TargetConfig) =>
  cannotHonour(target, `${at}.type`, `a content block of type '${type}'`);

/** A block in the wrong turn: the message is malformed, whoever serves it. */
const misplaced = (type: string, role: string, at: string) =>
  invalidRequest(`A '${type}' block cannot be in a ${role} message.`, `${at}.type`);

/** A tool result's content as the text of a `tool` message (text blocks joined by newlines). */
const toolResultText = (content: unknown, at: string, target: TargetConfig): string => {
  if (!given(content)) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidType(at, 'a string or an array of blocks', content);
  return content
    .map((block, i) => {
      const where = `${at}[${i}]`;
      const type = blockType(block, where);
      // A `tool` message carries text only: an image or a document in a tool result has nowhere to go.
      if (type !== 'text') throw cannotHonour(target, `${where}.type`, `a '${type}' block in a tool result`);
      return textOf(block as Json, where);
    })
    .join('\n');
};

/** A tool result as a `tool` message. `is_error` needs no marker: the text says what went wrong. */
const toolMessage = (block: Json, at: string, target: TargetConfig): Json => {
  if (typeof block.tool_use_id !== 'string')
    throw invalidType(`${at}.tool_use_id`, 'a string', block.tool_use_id);
  if (given(block.is_error) && typeof block.is_error !== 'boolean')
    throw invalidType(`${at}.is_error`, 'a boolean', block.is_error);
  return {
    role: 'tool',
    tool_call_id: block.tool_use_id,
    content: toolResultText(block.content, `${at}.content`, target),
  };
};

/** A user message: its tool results as `tool` messages first (they answer the turn before), then the rest. */
const userMessages = (content: unknown, at: string, target: TargetConfig): Json[] => {
  if (typeof content === 'string') return [{ role: 'user', content }];
  if (!Array.isArray(content)) throw invalidType(at, 'a string or an array of blocks', content);
  const tools: Json[] = [];
  const parts: Json[] = [];
  content.forEach((block, i) => {
    const where = `${at}[${i}]`;
    const type = blockType(block, where);
    const json = block as Json;
    if (type === 'text') parts.push({ type: 'text', text: textOf(json, where) });
    else if (type === 'image') parts.push(imagePart(json, where, target));
    else if (type === 'document') parts.push(documentPart(json, where, target));
    else if (type === 'tool_result') tools.push(toolMessage(json, where, target));
    else if (['tool_use', 'thinking', 'redacted_thinking'].includes(type))
      throw misplaced(type, 'user', where);
    else throw serverBlock(type, where, target);
  });
  return parts.length === 0 ? tools : [...tools, { role: 'user', content: parts }];
};

const toolCall = (block: Json, at: string): Json => {
  for (const field of ['id', 'name'])
    if (typeof block[field] !== 'string') throw invalidType(`${at}.${field}`, 'a string', block[field]);
  if (!isObject(block.input) || Array.isArray(block.input))
    throw invalidType(`${at}.input`, 'an object', block.input);
  return {
    id: block.id,
    type: 'function',
    function: { name: block.name, arguments: JSON.stringify(block.input) },
  };
};

/** An assistant message, or undefined when nothing in it is left to send. */
const assistantMessage = (content: unknown, at: string, target: TargetConfig): Json | undefined => {
  if (typeof content === 'string') return content === '' ? undefined : { role: 'assistant', content };
  if (!Array.isArray(content)) throw invalidType(at, 'a string or an array of blocks', content);
  let text = '';
  const calls: Json[] = [];
  content.forEach((block, i) => {
    const where = `${at}[${i}]`;
    const type = blockType(block, where);
    if (type === 'text') text += textOf(block as Json, where);
    else if (type === 'tool_use') calls.push(toolCall(block as Json, where));
    // The model's own earlier reasoning: an OpenAI-compatible model takes no reasoning back (its signature is
    // Anthropic's, and chat completions has no field for it), and reasons afresh on each turn.
    else if (type === 'thinking' || type === 'redacted_thinking') return;
    else if (['image', 'document', 'tool_result'].includes(type)) throw misplaced(type, 'assistant', where);
    else throw serverBlock(type, where, target);
  });
  if (text === '' && calls.length === 0) return undefined;
  return {
    role: 'assistant',
    content: text === '' ? null : text,
    ...(calls.length === 0 ? {} : { tool_calls: calls }),
  };
};

const systemMessage = (system: unknown): Json | undefined => {
  if (!given(system) || system === '') return undefined;
  if (typeof system === 'string') return { role: 'system', content: system };
  if (!Array.isArray(system)) throw invalidType('system', 'a string or an array of text blocks', system);
  const parts = system.map((block, i) => {
    const at = `system[${i}]`;
    if (blockType(block, at) !== 'text') throw invalidRequest(`'${at}' must be a text block.`, `${at}.type`);
    return { type: 'text', text: textOf(block as Json, at) };
  });
  return parts.length === 0 ? undefined : { role: 'system', content: parts };
};

const chatMessages = (body: Json, target: TargetConfig): Json[] => {
  const messages = body.messages;
  if (!given(messages)) throw missingParameter('messages');
  if (!Array.isArray(messages)) throw invalidType('messages', 'an array', messages);
  if (messages.length === 0) throw invalidValue('messages', 'it must hold at least one message.');
  const system = systemMessage(body.system);
  const out: Json[] = system === undefined ? [] : [system];
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (!isObject(message) || Array.isArray(message)) throw invalidType(at, 'an object', message);
    if (message.role === 'user') out.push(...userMessages(message.content, `${at}.content`, target));
    else if (message.role === 'assistant') {
      const translated = assistantMessage(message.content, `${at}.content`, target);
      if (translated === undefined) return;
      // Anthropic continues a last assistant message (a prefill); chat completions would answer it anew.
      if (i === messages.length - 1)
        throw cannotHonour(target, `${at}.role`, 'a prefilled answer (a last message from the assistant)');
      out.push(translated);
    } else
      throw invalidValue(
        `${at}.role`,
        `it must be 'user' or 'assistant', got ${JSON.stringify(message.role)}.`,
      );
  });
  return out;
};

const chatTools = (tools: unknown, target: TargetConfig): Json[] | undefined => {
  if (!given(tools)) return undefined;
  if (!Array.isArray(tools)) throw invalidType('tools', 'an array', tools);
  if (tools.length === 0) return undefined;
  return tools.map((tool, i) => {
    const at = `tools[${i}]`;
    if (!isObject(tool) || Array.isArray(tool)) throw invalidType(at, 'an object', tool);
    // A typed tool other than `custom` is one Anthropic's servers run (web search, bash, text editor, …).
    if (given(tool.type) && tool.type !== 'custom')
      throw cannotHonour(target, `${at}.type`, `the server tool '${String(tool.type)}'`);
    if (typeof tool.name !== 'string') throw invalidType(`${at}.name`, 'a string', tool.name);
    if (!isObject(tool.input_schema)) throw invalidType(`${at}.input_schema`, 'an object', tool.input_schema);
    return {
      type: 'function',
      function: {
        name: tool.name,
        ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
        parameters: tool.input_schema,
        ...(tool.strict === true ? { strict: true } : {}),
      },
    };
  });
};

/** `tool_choice` and `parallel_tool_calls`; both only with tools, which chat completions requires for them. */
const chatToolChoice = (choice: unknown, hasTools: boolean): Json => {
  if (!given(choice)) return {};
  if (!isObject(choice) || Array.isArray(choice)) throw invalidType('tool_choice', 'an object', choice);
  const serial = choice.disable_parallel_tool_use === true;
  const translated =
    choice.type === 'auto' || choice.type === 'none'
      ? choice.type
      : choice.type === 'any'
        ? 'required'
        : choice.type === 'tool' && typeof choice.name === 'string'
          ? { type: 'function', function: { name: choice.name } }
          : undefined;
  if (translated === undefined)
    throw invalidValue('tool_choice.type', "it must be 'auto', 'any', 'none', or 'tool' with a 'name'.");
  if (!hasTools) {
    if (translated === 'auto' || translated === 'none') return {};
    throw invalidValue('tool_choice', "it asks for a tool, but 'tools' has none.");
  }
  return {
    tool_choice: translated,
    ...(serial && translated !== 'none' ? { parallel_tool_calls: false } : {}),
  };
};

/** The output cap, under the name the target reads: OpenAI and Azure OpenAI dropped `max_tokens` for reasoning models. */
const maxTokensField = (body: Json, target: TargetConfig): Json => {
  const max = body.max_tokens;
  if (!given(max)) throw missingParameter('max_tokens');
  if (typeof max !== 'number' || !Number.isInteger(max)) throw invalidType('max_tokens', 'an integer', max);
  if (max < 1) throw outOfRange('max_tokens', true, 'min', 1, max);
  return target.provider === Provider.openaiCompatible ? { max_tokens: max } : { max_completion_tokens: max };
};

const stopField = (stop: unknown, target: TargetConfig): Json => {
  if (!given(stop)) return {};
  if (!Array.isArray(stop) || stop.some((sequence) => typeof sequence !== 'string'))
    throw invalidType('stop_sequences', 'an array of strings', stop);
  if (stop.length === 0) return {};
  if (target.provider !== Provider.openaiCompatible && stop.length > OPENAI_MAX_STOP_SEQUENCES)
    throw cannotHonour(target, 'stop_sequences', `more than ${OPENAI_MAX_STOP_SEQUENCES} stop sequences`);
  return { stop };
};

/** `thinking` as `reasoning_effort`: OpenAI's reasoning models take an effort, not a budget of tokens. */
const reasoningField = (thinking: unknown): Json => {
  if (!given(thinking)) return {};
  if (!isObject(thinking) || Array.isArray(thinking)) throw invalidType('thinking', 'an object', thinking);
  // Adaptive thinking lets the model decide how much to think, as a reasoning model does without an effort.
  if (thinking.type === 'disabled' || thinking.type === 'adaptive') return {};
  if (thinking.type !== 'enabled')
    throw invalidValue('thinking.type', "it must be 'enabled', 'adaptive' or 'disabled'.");
  const budget = thinking.budget_tokens;
  if (typeof budget !== 'number' || !Number.isInteger(budget))
    throw invalidType('thinking.budget_tokens', 'an integer', budget);
  if (budget < 1) throw outOfRange('thinking.budget_tokens', true, 'min', 1, budget);
  return { reasoning_effort: effortOf(budget) };
};

const numberField = (body: Json, field: string): Json => {
  const value = body[field];
  if (!given(value)) return {};
  if (typeof value !== 'number') throw invalidType(field, 'a number', value);
  return { [field]: value };
};

const streamFields = (stream: unknown): Json => {
  if (!given(stream) || stream === false) return {};
  if (stream !== true) throw invalidType('stream', 'a boolean', stream);
  // The gateway meters a stream from its usage chunk, which OpenAI sends only when asked.
  return { stream: true, stream_options: { include_usage: true } };
};

const userField = (metadata: unknown): Json => {
  if (!given(metadata)) return {};
  if (!isObject(metadata) || Array.isArray(metadata)) throw invalidType('metadata', 'an object', metadata);
  return typeof metadata.user_id === 'string' && metadata.user_id !== '' ? { user: metadata.user_id } : {};
};

/** The chat completions request for a Messages body, and what its answer's translation needs. */
export const toChatRequest = (
  body: Json,
  upstreamModel: string,
  target: TargetConfig,
  requestedModel: string,
): { readonly request: Json; readonly context: MessagesContext } => {
  refuseFields(body, target);
  const tools = chatTools(body.tools, target);
  const request: Json = {
    model: upstreamModel,
    messages: chatMessages(body, target),
    ...maxTokensField(body, target),
    ...numberField(body, 'temperature'),
    ...numberField(body, 'top_p'),
    ...stopField(body.stop_sequences, target),
    ...(tools === undefined ? {} : { tools }),
    ...chatToolChoice(body.tool_choice, tools !== undefined),
    ...reasoningField(body.thinking),
    ...userField(body.metadata),
    ...streamFields(body.stream),
  };
  return { request, context: { stream: body.stream === true, model: requestedModel } };
};
