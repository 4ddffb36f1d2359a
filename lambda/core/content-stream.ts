// Response content rules over an answer streamed as SSE events: each text field of each choice (or Responses
// item, or Messages content block) through its own stream redactor, so that a match split over events is
// still caught.
import {
  field,
  isObject,
  type Json,
  responseItems,
  rewriteAnswerTexts,
  type TextRewrite,
  TextShape,
  type TextShapeName,
} from './content-fields.ts';
import {
  createStreamRedactor,
  emptyHits,
  type RuleHits,
  type RuleSet,
  redactText,
  type StreamRedactor,
} from './content-rules.ts';

export interface SseEvent {
  readonly event?: string | undefined;
  readonly data: string;
}

/**
 * Applies response rules to an answer streamed as SSE events. Each text field of each choice (or Responses
 * item, or Messages content block) goes through its own stream redactor, so a match split over events is
 * still caught, and an event carries what its redactor releases (possibly nothing yet). Text still held when
 * a choice (item, block) finishes goes out with or just before its finishing event; any left at the end comes
 * out of `finish()`.
 */
export interface StreamFilter {
  /** The events to send in place of one upstream event (`[DONE]` is not passed here). */
  event(event: SseEvent): SseEvent[];
  /** Before `[DONE]` or the end of the stream: events carrying text still held. */
  finish(): SseEvent[];
  /** Set once a blocking rule matched: nothing more is to be sent. */
  readonly blockedBy: string | undefined;
}

export const createStreamFilter = (
  shape: TextShapeName,
  rules: RuleSet,
  hits: RuleHits,
): StreamFilter | undefined => {
  if (shape === TextShape.chat || shape === TextShape.completions)
    return choiceStreamFilter(shape, rules, hits);
  if (shape === TextShape.responses) return responsesStreamFilter(rules, hits);
  if (shape === TextShape.messages) return messagesStreamFilter(rules, hits);
  return undefined;
};

const parse = (data: string): Json | undefined => {
  try {
    const value: unknown = JSON.parse(data);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
};

/** Redactors by key, created on first use, kept in insertion order. */
const redactorPool = (rules: RuleSet, hits: RuleHits) => {
  const redactors = new Map<string, StreamRedactor>();
  return {
    push(key: string, text: string): string {
      let redactor = redactors.get(key);
      if (redactor === undefined) {
        redactor = createStreamRedactor(rules, hits);
        redactors.set(key, redactor);
      }
      return redactor.push(text);
    },
    /** Ends the redactors whose key starts with `prefix`: their remaining text, by key. */
    end(prefix = ''): Array<[string, string]> {
      const rest: Array<[string, string]> = [];
      for (const [key, redactor] of redactors) {
        if (!key.startsWith(prefix)) continue;
        const text = redactor.end();
        redactors.delete(key);
        if (text !== '') rest.push([key, text]);
      }
      return rest;
    },
  };
};

/** Chat and completions chunks: `choices[i].delta.content` / `.refusal` / tool call arguments, or `choices[i].text`. */
const choiceStreamFilter = (shape: TextShapeName, rules: RuleSet, hits: RuleHits): StreamFilter => {
  const pool = redactorPool(rules, hits);
  let frame: Json | undefined;
  const isChat = shape === TextShape.chat;

  /** Puts held text back into a choice: appended to its field, created if absent. */
  const putBack = (choice: Json, key: string, text: string) => {
    const [, kind, tool] = key.split(':');
    if (!isChat) {
      choice.text = (typeof choice.text === 'string' ? choice.text : '') + text;
      return;
    }
    if (!isObject(choice.delta)) choice.delta = {};
    const delta = choice.delta as Json;
    if (kind === 'tool') {
      if (!Array.isArray(delta.tool_calls)) delta.tool_calls = [];
      const calls = delta.tool_calls as Json[];
      let call = calls.find((c) => isObject(c) && String(c.index) === tool);
      if (call === undefined) {
        call = { index: Number(tool), function: {} };
        calls.push(call);
      }
      if (!isObject(call.function)) call.function = {};
      const fn = call.function as Json;
      fn.arguments = (typeof fn.arguments === 'string' ? fn.arguments : '') + text;
      return;
    }
    const name = kind === 'refusal' ? 'refusal' : 'content';
    delta[name] = (typeof delta[name] === 'string' ? delta[name] : '') + text;
  };

  return {
    get blockedBy() {
      return hits.blockedBy;
    },
    event(event) {
      const payload = parse(event.data);
      if (payload === undefined || !Array.isArray(payload.choices)) return [event];
      frame = payload;
      payload.choices.forEach((choice, position) => {
        if (!isObject(choice)) return;
        const index = typeof choice.index === 'number' ? choice.index : position;
        if (isChat) {
          const delta = choice.delta;
          if (isObject(delta)) {
            field(delta, 'content', '', (text) => pool.push(`${index}:content`, text));
            field(delta, 'refusal', '', (text) => pool.push(`${index}:refusal`, text));
            if (Array.isArray(delta.tool_calls)) {
              delta.tool_calls.forEach((call, j) => {
                if (!isObject(call) || !isObject(call.function)) return;
                const tool = typeof call.index === 'number' ? call.index : j;
                field(call.function, 'arguments', '', (text) => pool.push(`${index}:tool:${tool}`, text));
              });
            }
          }
        } else field(choice, 'text', '', (text) => pool.push(`${index}:text`, text));
        if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
          for (const [key, text] of pool.end(`${index}:`)) putBack(choice, key, text);
        }
      });
      if (hits.blockedBy !== undefined) return [];
      return [{ ...event, data: JSON.stringify(payload) }];
    },
    finish() {
      const rest = pool.end();
      if (rest.length === 0 || hits.blockedBy !== undefined || frame === undefined) return [];
      // A stream that ended without finishing its choices: one more chunk, shaped like the last one.
      const byChoice = new Map<string, Json>();
      for (const [key, text] of rest) {
        const index = key.split(':')[0] ?? '0';
        let choice = byChoice.get(index);
        if (choice === undefined) {
          choice = isChat
            ? { index: Number(index), delta: {}, finish_reason: null }
            : { index: Number(index), text: '', finish_reason: null };
          byChoice.set(index, choice);
        }
        putBack(choice, key, text);
      }
      const { choices: _, usage: __, ...shapeOfFrame } = frame;
      return [{ data: JSON.stringify({ ...shapeOfFrame, choices: [...byChoice.values()] }) }];
    },
  };
};

/** Whole objects inside Responses events (a finished part, item or response) are redacted whole. */
const redactWhole = (rules: RuleSet, hits: RuleHits, apply: (rewrite: TextRewrite) => unknown) => {
  // The same text was counted as it streamed: only a block found here (text that never streamed) counts.
  const own = emptyHits();
  apply((text) => redactText(rules, text, own));
  hits.blockedBy ??= own.blockedBy;
};

/** The Responses API's typed events: deltas stream through redactors, `*.done` events are redacted whole. */
const responsesStreamFilter = (rules: RuleSet, hits: RuleHits): StreamFilter => {
  const pool = redactorPool(rules, hits);
  const deltaKinds: Record<string, string> = {
    'response.output_text.delta': 'text',
    'response.refusal.delta': 'refusal',
    'response.function_call_arguments.delta': 'arguments',
  };
  const doneKinds: Record<string, readonly [string, string]> = {
    'response.output_text.done': ['text', 'text'],
    'response.refusal.done': ['refusal', 'refusal'],
    'response.function_call_arguments.done': ['arguments', 'arguments'],
  };
  const deltaTypeOf: Record<string, string> = {
    text: 'response.output_text.delta',
    refusal: 'response.refusal.delta',
    arguments: 'response.function_call_arguments.delta',
  };
  const keyOf = (payload: Json, kind: string) =>
    `${String(payload.item_id)}:${String(payload.content_index ?? 0)}:${kind}`;

  return {
    get blockedBy() {
      return hits.blockedBy;
    },
    event(event) {
      const payload = parse(event.data);
      const type = typeof payload?.type === 'string' ? payload.type : undefined;
      if (payload === undefined || type === undefined) return [event];
      const out: SseEvent[] = [];
      const deltaKind = deltaKinds[type];
      const done = doneKinds[type];
      if (deltaKind !== undefined) {
        field(payload, 'delta', '', (text) => pool.push(keyOf(payload, deltaKind), text));
      } else if (done !== undefined) {
        const [kind, name] = done;
        // What its redactor still holds goes out as one more delta, just before the done event.
        for (const [, text] of pool.end(keyOf(payload, kind))) {
          const { [name]: _, type: __, ...rest } = payload;
          out.push({
            event: deltaTypeOf[kind],
            data: JSON.stringify({ type: deltaTypeOf[kind], ...rest, delta: text }),
          });
        }
        redactWhole(rules, hits, (rewrite) => field(payload, name, '', rewrite));
      } else if (type === 'response.content_part.done' && isObject(payload.part)) {
        const part = payload.part;
        redactWhole(rules, hits, (rewrite) => {
          field(part, 'text', '', rewrite);
          field(part, 'refusal', '', rewrite);
        });
      } else if (type === 'response.output_item.done' && isObject(payload.item)) {
        const item = payload.item;
        redactWhole(rules, hits, (rewrite) => responseItems([item], 'output', rewrite));
      } else if (isObject(payload.response)) {
        const response = payload.response;
        redactWhole(rules, hits, (rewrite) => rewriteAnswerTexts(TextShape.responses, response, rewrite));
      } else return [event];
      if (hits.blockedBy !== undefined) return [];
      out.push({ ...event, data: JSON.stringify(payload) });
      return out;
    },
    finish() {
      if (hits.blockedBy !== undefined) return [];
      return pool.end().map(([key, text]) => {
        const [item, contentIndex, kind = 'text'] = key.split(':');
        const type = deltaTypeOf[kind] ?? 'response.output_text.delta';
        return {
          event: type,
          data: JSON.stringify({ type, item_id: item, content_index: Number(contentIndex), delta: text }),
        };
      });
    },
  };
};

/** The text fields a Messages content block streams (a block has one), with the type of their deltas. */
const MESSAGES_DELTA_TYPES: ReadonlyMap<string, string> = new Map([
  ['text', 'text_delta'],
  ['thinking', 'thinking_delta'],
]);
const MESSAGES_FIELDS: ReadonlyMap<string, string> = new Map(
  [...MESSAGES_DELTA_TYPES].map(([name, type]) => [type, name]),
);

/**
 * Anthropic's Messages events: each content block's text (or thinking) through its own redactor. A delta goes
 * out with what its redactor releases, or not at all while all of it is held; at the block's stop, what is
 * still held goes out first as one more delta. Events the filter did not change are passed on as they came.
 */
const messagesStreamFilter = (rules: RuleSet, hits: RuleHits): StreamFilter => {
  const pool = redactorPool(rules, hits);
  // Keys are `index:field`: a prefix ends with the colon, so ending block 1 leaves block 10 alone.
  const heldDeltas = (prefix: string): SseEvent[] =>
    pool.end(prefix).map(([key, text]) => {
      const [index, name = 'text'] = key.split(':');
      const delta = { type: MESSAGES_DELTA_TYPES.get(name) ?? 'text_delta', [name]: text };
      return {
        event: 'content_block_delta',
        data: JSON.stringify({ type: 'content_block_delta', index: Number(index), delta }),
      };
    });

  return {
    get blockedBy() {
      return hits.blockedBy;
    },
    event(event) {
      const payload = parse(event.data);
      if (payload === undefined) return [event];
      const index = String(payload.index);
      const held: SseEvent[] = [];
      let changed = false;
      let allHeld = false;
      if (payload.type === 'content_block_delta' && isObject(payload.delta)) {
        const delta = payload.delta;
        const name = typeof delta.type === 'string' ? MESSAGES_FIELDS.get(delta.type) : undefined;
        if (name !== undefined) {
          changed = field(delta, name, '', (text) => pool.push(`${index}:${name}`, text));
          allHeld = changed && delta[name] === '';
        }
      } else if (payload.type === 'content_block_start' && isObject(payload.content_block)) {
        // Blocks start empty, but text a start did carry is the block's first text all the same.
        const block = payload.content_block;
        const name = typeof block.type === 'string' ? block.type : '';
        if (MESSAGES_DELTA_TYPES.has(name))
          changed = field(block, name, '', (text) => pool.push(`${index}:${name}`, text));
      } else if (payload.type === 'content_block_stop') held.push(...heldDeltas(`${index}:`));
      if (hits.blockedBy !== undefined || allHeld) return [];
      held.push(changed ? { ...event, data: JSON.stringify(payload) } : event);
      return held;
    },
    finish() {
      if (hits.blockedBy !== undefined) return [];
      // A stream that ended with blocks still open (cut short upstream): what their redactors hold.
      return heldDeltas('');
    },
  };
};
