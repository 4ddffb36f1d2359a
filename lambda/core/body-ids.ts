// Every id a proxied request body names, and what kind of object it names: files, stored responses,
// conversations, items of responses and conversations, containers, audio answers, and the objects the gateway
// never creates for a tenant (vector stores, skills, MCP tunnels, prompt templates, custom voices). The gateway
// checks each against the tenant's ownership records before the request leaves.
//
// The walk is by field name over the whole body, outside the free-form parts (metadata, JSON schemas, headers,
// environment variables), so that an id the OpenAI API adds to a new item or tool type is still found: `file_id`
// is a file wherever it appears. A field named like an id (`…_id`, `…_ids`) that the gateway does not know is
// refused rather than passed on unchecked.
import { unsupportedIdField } from './errors.ts';

export const IdKind = {
  file: 'file',
  response: 'response',
  conversation: 'conversation',
  item: 'item',
  container: 'container',
  audio: 'audio',
  vectorStore: 'vector_store',
  skill: 'skill',
  tunnel: 'tunnel',
  prompt: 'prompt',
  voice: 'voice',
} as const;
export type IdKindName = (typeof IdKind)[keyof typeof IdKind];

/** An id in a request body: what it names, and where (`input[2].content[0].file_id`). */
export interface IdReference {
  readonly kind: IdKindName;
  readonly id: string;
  readonly param: string;
}

/** Which body is walked: chat, a Responses request, conversation items (create, add), or another endpoint's. */
export const IdShape = {
  chat: 'chat',
  responses: 'responses',
  conversation: 'conversation',
  /** Anthropic's Messages: a `tool_result` names its `tool_use` by `tool_use_id`, which names nothing stored. */
  messages: 'messages',
  other: 'other',
} as const;
export type IdShapeName = (typeof IdShape)[keyof typeof IdShape];

type Json = Record<string, unknown>;

/** Fields holding ids of one kind wherever they appear. */
const KIND_BY_FIELD: Readonly<Record<string, IdKindName>> = {
  file_id: IdKind.file,
  file_ids: IdKind.file,
  previous_response_id: IdKind.response,
  comparison_response_id: IdKind.response,
  response_id: IdKind.response,
  conversation_id: IdKind.conversation,
  item_id: IdKind.item,
  approval_request_id: IdKind.item,
  container_id: IdKind.container,
  vector_store_id: IdKind.vectorStore,
  vector_store_ids: IdKind.vectorStore,
  skill_id: IdKind.skill,
  tunnel_id: IdKind.tunnel,
};

/**
 * Fields named like ids that name no stored object: tool-call pairing ids (the model makes them up), caller ids
 * that point at those, a client's opaque priority key, fixed connector names, a WebSocket lane, and the request
 * id OpenAI-compatible servers such as vLLM accept.
 */
const NOT_OBJECT_IDS: ReadonlySet<string> = new Set([
  'call_id',
  'tool_call_id',
  'caller_id',
  'continuation_id',
  'connector_id',
  'stream_id',
  'request_id',
]);

/**
 * Parts where the client chooses the keys (or the keys are a schema's): never read as ids. Prompt variables are
 * not among them: a variable can be an `input_file` with a `file_id`.
 */
const FREE_FORM: ReadonlySet<string> = new Set([
  'metadata',
  'attributes',
  'env',
  'headers',
  'parameters',
  'schema',
  'json_schema',
  'input_schema',
  'output_schema',
  'logit_bias',
]);

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const ITEM_PATH = /^(?:input|items)\[\d+\]$/;
const AUDIO_PATH = /^messages\[\d+\]\.audio$/;

/**
 * The kind of a plain `id` (or a `conversation` or `container` string) at `holderPath`, by position; undefined
 * where an `id` names nothing stored (a chat tool call's, a safety check's).
 */
const kindOfPlainId = (shape: IdShapeName, holderPath: string): IdKindName | undefined => {
  if ((shape === IdShape.responses || shape === IdShape.conversation) && ITEM_PATH.test(holderPath))
    return IdKind.item;
  if (holderPath === 'conversation') return IdKind.conversation;
  if (holderPath === 'prompt') return IdKind.prompt;
  if (shape === IdShape.chat && AUDIO_PATH.test(holderPath)) return IdKind.audio;
  if (holderPath === 'audio.voice' || holderPath === 'voice') return IdKind.voice;
  return undefined;
};

/** Every id the body names, in the order they appear. Throws for a field named like an id it does not know. */
export const idsInRequest = (shape: IdShapeName, body: Json): IdReference[] => {
  const found: IdReference[] = [];
  const add = (kind: IdKindName, value: unknown, param: string) => {
    if (typeof value === 'string') {
      if (value !== '') found.push({ kind, id: value, param });
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (typeof item === 'string' && item !== '') found.push({ kind, id: item, param: `${param}[${i}]` });
      });
    }
  };

  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (typeof item === 'object' && item !== null) visit(item, `${path}[${i}]`);
      });
      return;
    }
    if (!isObject(value)) return;
    for (const key of Object.keys(value)) {
      if (FREE_FORM.has(key)) continue;
      const child = value[key];
      if (child === undefined || child === null) continue;
      const param = path === '' ? key : `${path}.${key}`;
      const kind = KIND_BY_FIELD[key];
      if (kind !== undefined) {
        // A file inside a container is the container's: the container is what is checked.
        if (!(key === 'file_id' && value.type === 'container_file_citation')) add(kind, child, param);
        continue;
      }
      if (key === 'id') {
        const plain = kindOfPlainId(shape, path);
        if (plain !== undefined) add(plain, child, param);
        continue;
      }
      if ((key === 'conversation' && path === '') || key === 'container') {
        if (typeof child === 'string') {
          add(key === 'conversation' ? IdKind.conversation : IdKind.container, child, param);
          continue;
        }
      }
      if (key === 'tool_use_id' && shape === IdShape.messages) continue;
      if ((key.endsWith('_id') || key.endsWith('_ids')) && !NOT_OBJECT_IDS.has(key)) {
        if (typeof child === 'string' || Array.isArray(child)) throw unsupportedIdField(param);
      }
      if (typeof child === 'object') visit(child, param);
    }
  };
  visit(body, '');
  return found;
};
