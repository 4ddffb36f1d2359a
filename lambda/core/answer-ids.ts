// The ids an answer creates, recorded for the tenant before the client can name them: a Responses answer's id,
// its output items and the containers they ran in, and a chat answer's audio. A stream's last event (and a JSON
// answer) leaves the gateway only once its ids are recorded, so a follow-up request that names them finds them.
import type { EventSourceMessage } from 'eventsource-parser';
import {
  type Logger,
  type Metrics,
  OwnedKind,
  type OwnedKindName,
  type OwnedObject,
  type Principal,
} from '../ports.ts';
import { ANSWER_OBJECT_LIFETIME_MS, type OwnedIds } from './owned-ids.ts';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export interface CreatedId {
  readonly kind: OwnedKindName;
  readonly id: string;
  /** The item's type, kept in the record (`message`, `reasoning`, …). */
  readonly type?: string | undefined;
}

/** The items of a response, or of a conversation's item list: their ids and the containers they name. */
export const idsInItems = (items: unknown, into: CreatedId[] = []): CreatedId[] => {
  if (!Array.isArray(items)) return into;
  for (const item of items) {
    if (!isObject(item)) continue;
    if (typeof item.id === 'string' && item.id !== '')
      into.push({
        kind: OwnedKind.item,
        id: item.id,
        type: typeof item.type === 'string' ? item.type : undefined,
      });
    if (typeof item.container_id === 'string' && item.container_id !== '')
      into.push({ kind: OwnedKind.container, id: item.container_id });
  }
  return into;
};

/** A Responses API answer (`object: 'response'`): its id and what its output created. */
export const idsInResponse = (response: unknown): CreatedId[] => {
  if (!isObject(response) || typeof response.id !== 'string' || response.id === '') return [];
  return idsInItems(response.output, [{ kind: OwnedKind.response, id: response.id }]);
};

/** A chat completion or chunk: the audio answers in its choices. */
export const idsInChatAnswer = (answer: unknown): CreatedId[] => {
  if (!isObject(answer) || !Array.isArray(answer.choices)) return [];
  const found: CreatedId[] = [];
  for (const choice of answer.choices) {
    if (!isObject(choice)) continue;
    const audio =
      (isObject(choice.message) ? choice.message.audio : undefined) ??
      (isObject(choice.delta) ? choice.delta.audio : undefined);
    if (isObject(audio) && typeof audio.id === 'string' && audio.id !== '')
      found.push({ kind: OwnedKind.audio, id: audio.id });
  }
  return found;
};

/** Responses stream events that carry ids, and the ones that end the stream. */
const RESPONSE_EVENT =
  /"type"\s*:\s*"(response\.(?:created|output_item\.(?:added|done)|completed|incomplete|failed)|error)"/;
const TERMINAL_EVENTS: ReadonlySet<string> = new Set([
  'response.completed',
  'response.incomplete',
  'response.failed',
  'error',
]);
const AUDIO_FIELD = /"audio"\s*:/;

export const AnswerShape = { responses: 'responses', chatAudio: 'chat-audio' } as const;
export type AnswerShapeName = (typeof AnswerShape)[keyof typeof AnswerShape];

export interface AnswerRecorderDeps {
  readonly owned: OwnedIds;
  readonly principal: Principal;
  /** The target that answered: the objects live on its account. */
  readonly targetId: string;
  readonly requestId: string;
  readonly now: () => number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface AnswerRecorder {
  /** One SSE event of a streamed answer (`[DONE]` included). */
  event(event: EventSourceMessage): void;
  /** A whole JSON answer, parsed. */
  answer(body: unknown): void;
  /** The stream's last event was seen while records are still being written: it must wait for them. */
  readonly holding: boolean;
  /** Resolves when every record started so far is written (or failed, which is logged). */
  flush(): Promise<void>;
}

/** Records what an answer of `shape` creates for the tenant; each id once. */
export const createAnswerRecorder = (shape: AnswerShapeName, deps: AnswerRecorderDeps): AnswerRecorder => {
  const seen = new Set<string>();
  const pending = new Set<Promise<void>>();
  let terminal = false;

  const record = (created: CreatedId) => {
    const key = `${created.kind}#${created.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    const now = deps.now();
    const object: OwnedObject = {
      kind: created.kind,
      id: created.id,
      tenantId: deps.principal.tenantId,
      keyId: deps.principal.keyId,
      targetId: deps.targetId,
      createdAt: now,
      version: 1,
      object: { id: created.id, ...(created.type === undefined ? {} : { type: created.type }) },
      expiresAt: now + ANSWER_OBJECT_LIFETIME_MS,
    };
    const write = deps.owned.record(object).catch((error: unknown) => {
      // The answer goes out all the same (it was made, and billed): the tenant cannot name this id later.
      deps.logger.error('an id the answer created was not recorded', {
        requestId: deps.requestId,
        kind: created.kind,
        id: created.id,
        error: String(error),
      });
      deps.metrics.emit({
        dimensions: { kind: created.kind },
        values: [{ name: 'OwnershipNotRecorded', value: 1, unit: 'Count' }],
      });
    });
    pending.add(write);
    void write.then(() => pending.delete(write));
  };

  const parse = (data: string): unknown => {
    try {
      return JSON.parse(data);
    } catch {
      return undefined;
    }
  };

  return {
    event(event) {
      if (shape === AnswerShape.chatAudio) {
        if (event.data === '[DONE]') terminal = true;
        else if (AUDIO_FIELD.test(event.data))
          for (const id of idsInChatAnswer(parse(event.data))) record(id);
        return;
      }
      const type = RESPONSE_EVENT.exec(event.data)?.[1];
      if (type === undefined) return;
      const payload = parse(event.data);
      if (!isObject(payload)) return;
      if (isObject(payload.response)) for (const id of idsInResponse(payload.response)) record(id);
      if (isObject(payload.item)) for (const id of idsInItems([payload.item])) record(id);
      if (TERMINAL_EVENTS.has(type)) terminal = true;
    },
    answer(body) {
      const ids = shape === AnswerShape.chatAudio ? idsInChatAnswer(body) : idsInResponse(body);
      for (const id of ids) record(id);
      terminal = true;
    },
    get holding() {
      return terminal && pending.size > 0;
    },
    async flush() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
};
