// Server-sent events: re-framing an upstream stream event by event, with usage capture.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { TokenUsage } from '../ports.ts';
import type { StreamFilter } from './content-stream.ts';
import type { AnthropicErrorBody, OpenAIErrorBody } from './error-bodies.ts';
import { usageFromPayload } from './usage.ts';

export const SSE_HEARTBEAT = ': ping\n\n';
const USAGE_FIELD = /"usage"\s*:\s*\{|"response"\s*:\s*\{/;

/** Serialises one event in the standard framing; multi-line data becomes several `data:` lines. */
export const formatSseEvent = (event: EventSourceMessage): string => {
  let out = '';
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  const data = event.data;
  out += data.includes('\n') ? `data: ${data.split('\n').join('\ndata: ')}\n\n` : `data: ${data}\n\n`;
  return out;
};

/**
 * The explicit error event that ends a stream which failed after its first byte (the OpenAI and Anthropic SDKs
 * throw on it).
 */
export const formatSseError = (body: OpenAIErrorBody | AnthropicErrorBody): string =>
  `event: error\ndata: ${JSON.stringify(body)}\n\n`;

export interface SseRelayOptions {
  /** Remove the usage-only chunk (empty `choices` with `usage`) that the gateway asked for on the client's behalf. */
  readonly dropUsageChunk: boolean;
  readonly onUsage: (usage: TokenUsage) => void;
  /** Keeps each event's data here until usage arrives, so a stream cut short can be estimated. */
  readonly keepEvents?: string[];
  /** Keeps every event's data (the whole answer, for the response cache) up to a size. */
  readonly capture?: EventCapture;
  /** Response content rules: events go out as the filter rewrites them. */
  readonly filter?: StreamFilter | undefined;
  /** Sees every event as it came from upstream (`[DONE]` included), before anything else. */
  readonly observe?: ((event: EventSourceMessage) => void) | undefined;
  /** The event that ends a complete stream where it is not `data: [DONE]` (Anthropic's `message_stop`). */
  readonly endEvent?: string | undefined;
  /** Reads usage from an event's payload (a stream's own reader when its usage spans events). @default usageFromPayload */
  readonly usageOf?: ((payload: unknown) => TokenUsage | undefined) | undefined;
}

/** Event data kept for the response cache; `overflowed` once more than `maxChars` arrived. */
export interface EventCapture {
  readonly events: string[];
  readonly maxChars: number;
  chars: number;
  overflowed: boolean;
}

/** Past this much kept event text, a cut-short stream's estimate stops growing (and memory stays bounded). */
const KEPT_EVENT_CHARS = 4 * 1024 * 1024;

/**
 * Re-frames upstream SSE text into whole events. `push` returns the text to send now (possibly empty
 * when no event is complete yet), so one upstream read becomes at most one downstream write.
 */
export const createSseRelay = (options: SseRelayOptions) => {
  let out = '';
  let done = false;
  let keep = options.keepEvents;
  let keptChars = 0;
  const filter = options.filter;
  const observe = options.observe;
  const endEvent = options.endEvent;
  const usageOf = options.usageOf ?? usageFromPayload;
  const parser = createParser({
    onEvent(event) {
      observe?.(event);
      // The end of a complete stream: OpenAI's `[DONE]` (sent on as it is), or the stream's end event.
      if (endEvent === undefined ? event.data === '[DONE]' : event.event === endEvent) {
        done = true;
        if (filter !== undefined) for (const held of filter.finish()) out += formatSseEvent(held);
        if (filter?.blockedBy === undefined)
          out += endEvent === undefined ? 'data: [DONE]\n\n' : formatSseEvent(event);
        return;
      }
      const capture = options.capture;
      if (capture !== undefined && !capture.overflowed) {
        capture.chars += event.data.length;
        if (capture.chars > capture.maxChars) {
          capture.overflowed = true;
          capture.events.length = 0;
        } else capture.events.push(event.data);
      }
      if (keep !== undefined && keptChars < KEPT_EVENT_CHARS) {
        keep.push(event.data);
        keptChars += event.data.length;
      }
      // Only events that can carry usage are parsed; ordinary token chunks pass through untouched.
      if (USAGE_FIELD.test(event.data)) {
        let payload: unknown;
        try {
          payload = JSON.parse(event.data);
        } catch {
          payload = undefined;
        }
        const usage = usageOf(payload);
        if (usage !== undefined) {
          options.onUsage(usage);
          if (keep !== undefined) {
            keep.length = 0;
            keep = undefined;
          }
          if (options.dropUsageChunk && isUsageOnlyChunk(payload)) return;
        }
      }
      if (filter === undefined) out += formatSseEvent(event);
      else if (filter.blockedBy === undefined)
        for (const sent of filter.event(event)) out += formatSseEvent(sent);
    },
  });
  return {
    push(text: string): string {
      parser.feed(text);
      const ready = out;
      out = '';
      return ready;
    },
    /** True once the upstream sent `[DONE]` (or the end event). */
    get sawDone(): boolean {
      return done;
    },
    /** At the end of a stream without `[DONE]`: the events the filter still holds. */
    finish(): string {
      if (filter === undefined || done) return '';
      let rest = '';
      for (const held of filter.finish()) rest += formatSseEvent(held);
      return rest;
    },
    /** The rule that blocked the answer, once one did: the stream must end with an error. */
    get blockedBy(): string | undefined {
      return filter?.blockedBy;
    },
  };
};

const isUsageOnlyChunk = (payload: unknown): boolean =>
  typeof payload === 'object' &&
  payload !== null &&
  Array.isArray((payload as { choices?: unknown }).choices) &&
  (payload as { choices: unknown[] }).choices.length === 0;
