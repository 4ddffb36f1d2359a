// The fields of a proxied JSON request that the gateway reads (to route, hold a budget, cache, filter, check
// ownership), checked for type, presence and range before anything else reads them, with OpenAI's error shape
// and `param`. Fields the gateway does not read pass through untouched: the upstream validates those.
import {
  duplicateParameter,
  invalidModelName,
  invalidRequest,
  invalidType,
  invalidValue,
  missingParameter,
  outOfRange,
  streamNotBoolean,
} from './errors.ts';
import { TokenShape, type TokenShapeName } from './metering.ts';

type Json = Record<string, unknown>;

/**
 * Token counts (`max_tokens` and the like) above this are refused: no provider accepts more, and larger numbers
 * would only feed the budget arithmetic values it cannot hold (`1e300` is an integer to JavaScript).
 */
export const MAX_TOKEN_PARAM = 2_147_483_647;
/** OpenAI's ceiling for `n` (and the gateway's `limits.maxN` is usually far below it). */
const MAX_N = 128;
/** Model names: printable ASCII without spaces, as every provider's names are; anything else never routes. */
const MODEL_NAME = /^[\x21-\x7e]{1,256}$/;

/**
 * The client's model name, refused unless it is 1 to 256 printable ASCII characters. The name goes into logs,
 * usage records, metrics and the admin CLI's tables: nothing else may reach them.
 */
export const checkModelName = (model: string): void => {
  if (!MODEL_NAME.test(model)) throw invalidModelName(model);
};

/** Fields a multipart body may carry once: two could be read differently here and upstream. */
const SINGLE_FIELDS = ['model', 'purpose'] as const;

export const refuseRepeatedFields = (form: FormData): void => {
  for (const field of SINGLE_FIELDS) {
    if (form.getAll(field).length > 1) throw duplicateParameter(field);
  }
};

/** A multipart/form-data body's fields, each that must come once checked; a body that does not parse is a 400. */
export const readForm = async (body: Uint8Array, contentType: string | undefined): Promise<FormData> => {
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, {
      headers: { 'content-type': contentType ?? '' },
    }).formData();
  } catch (error) {
    throw invalidRequest('The multipart/form-data body could not be parsed.', null, null, error);
  }
  refuseRepeatedFields(form);
  return form;
};

// --- Field checks: each passes on an absent (or null, where the API allows it) value -------------------------

const isAbsent = (value: unknown): boolean => value === undefined || value === null;

const checkNumber = (
  body: Json,
  param: string,
  min: number,
  max: number,
  integer: boolean,
  path: string = param,
): void => {
  const value = body[param];
  if (isAbsent(value)) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
    throw invalidType(path, integer ? 'an integer' : 'a number', value);
  if (value < min) throw outOfRange(path, integer, 'min', min, value);
  if (value > max) throw outOfRange(path, integer, 'max', max, value);
};

const checkString = (body: Json, param: string, required = false): void => {
  const value = body[param];
  if (isAbsent(value)) {
    if (required) throw missingParameter(param);
    return;
  }
  if (typeof value !== 'string') throw invalidType(param, 'a string', value);
};

const checkBoolean = (body: Json, param: string): void => {
  const value = body[param];
  if (isAbsent(value) || typeof value === 'boolean') return;
  throw invalidType(param, 'a boolean', value);
};

const checkObject = (body: Json, param: string): Json | undefined => {
  const value = body[param];
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidType(param, 'an object', value);
  return value as Json;
};

const checkArray = (body: Json, param: string): unknown[] | undefined => {
  const value = body[param];
  if (isAbsent(value)) return undefined;
  if (!Array.isArray(value)) throw invalidType(param, 'an array', value);
  return value;
};

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const checkObjects = (items: readonly unknown[], param: string): void => {
  items.forEach((item, i) => {
    if (!isObject(item)) throw invalidType(`${param}[${i}]`, 'an object', item);
  });
};

/** `stream` and `stream_options`, which the gateway reads on every endpoint that streams. */
const checkStreaming = (body: Json): void => {
  // Kept from the first release: a null stream flag was refused then, and clients rely on the message.
  if ('stream' in body && typeof body.stream !== 'boolean') throw streamNotBoolean(body.stream);
  const options = checkObject(body, 'stream_options');
  if (options !== undefined && !isAbsent(options.include_usage) && typeof options.include_usage !== 'boolean')
    throw invalidType('stream_options.include_usage', 'a boolean', options.include_usage);
};

/** Sampling parameters, bounded as the OpenAI API bounds them. */
const checkSampling = (body: Json): void => {
  checkNumber(body, 'temperature', 0, 2, false);
  checkNumber(body, 'top_p', 0, 1, false);
  checkNumber(body, 'frequency_penalty', -2, 2, false);
  checkNumber(body, 'presence_penalty', -2, 2, false);
  checkNumber(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  const bias = checkObject(body, 'logit_bias');
  if (bias !== undefined) {
    for (const token of Object.keys(bias)) checkNumber(bias, token, -100, 100, false, `logit_bias.${token}`);
  }
};

const checkTokens = (body: Json, param: string): void => checkNumber(body, param, 1, MAX_TOKEN_PARAM, true);

const MESSAGE_ROLES: ReadonlySet<string> = new Set([
  'system',
  'developer',
  'user',
  'assistant',
  'tool',
  'function',
]);

const checkMessages = (body: Json, roles: ReadonlySet<string> = MESSAGE_ROLES): void => {
  if (isAbsent(body.messages)) throw missingParameter('messages');
  const messages = body.messages;
  if (!Array.isArray(messages)) throw invalidType('messages', 'an array of messages', messages);
  if (messages.length === 0)
    throw invalidValue('messages', 'expected an array with at least one message, but got an empty array.');
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (!isObject(message)) throw invalidType(at, 'an object', message);
    if (isAbsent(message.role)) throw missingParameter(`${at}.role`);
    if (typeof message.role !== 'string') throw invalidType(`${at}.role`, 'a string', message.role);
    if (!roles.has(message.role))
      throw invalidValue(
        `${at}.role`,
        `expected one of ${[...roles].map((role) => `'${role}'`).join(', ')}, but got ${JSON.stringify(message.role.slice(0, 64))}.`,
      );
    const content = message.content;
    if (Array.isArray(content)) checkObjects(content, `${at}.content`);
    else if (!isAbsent(content) && typeof content !== 'string')
      throw invalidType(`${at}.content`, 'a string or an array of content parts', content);
    for (const param of ['tool_calls'] as const) {
      const calls = message[param];
      if (isAbsent(calls)) continue;
      if (!Array.isArray(calls)) throw invalidType(`${at}.${param}`, 'an array', calls);
      checkObjects(calls, `${at}.${param}`);
    }
  });
};

/** A string, an array of strings, an array of token ids, or an array of token-id arrays: never empty. */
const checkTextOrTokens = (body: Json, param: string, required: boolean): void => {
  const value = body[param];
  if (isAbsent(value)) {
    if (required) throw missingParameter(param);
    return;
  }
  if (typeof value === 'string') return;
  const expected = 'a string, an array of strings, or an array of token arrays';
  if (!Array.isArray(value)) throw invalidType(param, expected, value);
  if (value.length === 0) throw invalidValue(param, 'expected a non-empty array, but got an empty array.');
  const kind = typeof value[0];
  const ok =
    value.every((item) => typeof item === 'string') ||
    value.every((item) => typeof item === 'number' && Number.isInteger(item) && item >= 0) ||
    value.every(
      (item) =>
        Array.isArray(item) &&
        item.every((token) => typeof token === 'number' && Number.isInteger(token) && token >= 0),
    );
  if (!ok) throw invalidType(param, expected, kind === 'object' ? value[0] : value);
};

const checkChat = (body: Json): void => {
  checkMessages(body);
  checkStreaming(body);
  checkSampling(body);
  checkNumber(body, 'n', 1, MAX_N, true);
  checkTokens(body, 'max_tokens');
  checkTokens(body, 'max_completion_tokens');
  checkNumber(body, 'top_logprobs', 0, 20, true);
  checkBoolean(body, 'logprobs');
  checkBoolean(body, 'store');
  checkArray(body, 'tools');
  checkArray(body, 'functions');
  checkObject(body, 'response_format');
  checkObject(body, 'metadata');
  checkArray(body, 'modalities');
  checkObject(body, 'audio');
};

/** Anthropic's turns: a system prompt is a field of its own, not a role. */
const ANTHROPIC_ROLES: ReadonlySet<string> = new Set(['user', 'assistant']);

/**
 * Anthropic's Messages: `max_tokens` is required (it is also what a budget holds for the answer), `system` is a
 * string or text blocks, sampling is within Anthropic's ranges.
 */
const checkAnthropicMessages = (body: Json): void => {
  checkMessages(body, ANTHROPIC_ROLES);
  if (isAbsent(body.max_tokens)) throw missingParameter('max_tokens');
  checkTokens(body, 'max_tokens');
  checkStreaming(body);
  checkNumber(body, 'temperature', 0, 1, false);
  checkNumber(body, 'top_p', 0, 1, false);
  checkNumber(body, 'top_k', 0, Number.MAX_SAFE_INTEGER, true);
  const system = body.system;
  if (Array.isArray(system)) checkObjects(system, 'system');
  else if (!isAbsent(system) && typeof system !== 'string')
    throw invalidType('system', 'a string or an array of text blocks', system);
  checkArray(body, 'stop_sequences');
  checkArray(body, 'tools');
  checkObject(body, 'tool_choice');
  checkObject(body, 'metadata');
  checkObject(body, 'thinking');
};

const checkCompletions = (body: Json): void => {
  checkTextOrTokens(body, 'prompt', false);
  checkString(body, 'suffix');
  checkStreaming(body);
  checkSampling(body);
  checkNumber(body, 'n', 1, MAX_N, true);
  checkNumber(body, 'best_of', 1, 20, true);
  checkTokens(body, 'max_tokens');
  checkNumber(body, 'logprobs', 0, 5, true);
  checkBoolean(body, 'echo');
};

const checkEmbeddings = (body: Json): void => {
  checkTextOrTokens(body, 'input', true);
  checkNumber(body, 'dimensions', 1, 65_536, true);
  const format = body.encoding_format;
  if (!isAbsent(format) && format !== 'float' && format !== 'base64')
    throw invalidValue('encoding_format', `expected 'float' or 'base64', but got ${JSON.stringify(format)}.`);
};

const checkResponses = (body: Json): void => {
  const input = body.input;
  if (Array.isArray(input)) {
    input.forEach((item, i) => {
      // A bare string in the list is a user message (an SDK shorthand); every other item is an object.
      if (typeof item !== 'string' && !isObject(item))
        throw invalidType(`input[${i}]`, 'an object or a string', item);
      if (isObject(item) && Array.isArray(item.content)) checkObjects(item.content, `input[${i}].content`);
    });
  } else if (!isAbsent(input) && typeof input !== 'string') {
    throw invalidType('input', 'a string or an array of input items', input);
  }
  checkString(body, 'instructions');
  checkString(body, 'previous_response_id');
  const conversation = body.conversation;
  if (isObject(conversation)) {
    if (typeof conversation.id !== 'string')
      throw invalidType('conversation.id', 'a string', conversation.id);
  } else if (!isAbsent(conversation) && typeof conversation !== 'string') {
    throw invalidType('conversation', 'a string or an object with an id', conversation);
  }
  checkStreaming(body);
  checkNumber(body, 'temperature', 0, 2, false);
  checkNumber(body, 'top_p', 0, 1, false);
  checkTokens(body, 'max_output_tokens');
  checkNumber(body, 'max_tool_calls', 0, MAX_TOKEN_PARAM, true);
  checkNumber(body, 'top_logprobs', 0, 20, true);
  checkBoolean(body, 'store');
  checkBoolean(body, 'background');
  checkArray(body, 'tools');
  checkObject(body, 'text');
  checkObject(body, 'reasoning');
  checkObject(body, 'metadata');
  const prompt = checkObject(body, 'prompt');
  if (prompt !== undefined) {
    if (typeof prompt.id !== 'string') throw invalidType('prompt.id', 'a string', prompt.id);
    checkObject(prompt, 'variables');
  }
};

/** The parameters of an endpoint without a token shape, by its path after /v1: what holds and the cache read. */
const checkOther = (path: string, body: Json): void => {
  switch (path) {
    case '/moderations': {
      const input = body.input;
      if (isAbsent(input)) throw missingParameter('input');
      if (typeof input !== 'string' && !Array.isArray(input))
        throw invalidType('input', 'a string or an array', input);
      return;
    }
    case '/images/generations':
      checkString(body, 'prompt', true);
      checkNumber(body, 'n', 1, 10, true);
      checkStreaming(body);
      return;
    case '/audio/speech':
      checkString(body, 'input', true);
      if (isAbsent(body.voice)) throw missingParameter('voice');
      checkNumber(body, 'speed', 0.25, 4, false);
      checkStreaming(body);
      return;
    default:
      checkStreaming(body);
  }
};

/**
 * Checks the fields the gateway reads in a proxied JSON request: a 400 naming the parameter (`param`) for the
 * first that is missing, of the wrong type, or out of range. Nothing is changed.
 */
const CHECKS: Readonly<Record<Exclude<TokenShapeName, 'other'>, (body: Json) => void>> = {
  [TokenShape.chat]: checkChat,
  [TokenShape.completions]: checkCompletions,
  [TokenShape.embeddings]: checkEmbeddings,
  [TokenShape.responses]: checkResponses,
  [TokenShape.messages]: checkAnthropicMessages,
};

export const checkRequestFields = (shape: TokenShapeName, path: string, body: Json): void => {
  if (shape === TokenShape.other) checkOther(path, body);
  else CHECKS[shape](body);
};
