// The client-facing body of a proxied response: upstream bytes passed on as they arrive, never buffered whole.
import { RequestOutcome, type RequestOutcomeKind, type TokenUsage, type UpstreamBody } from '../ports.ts';
import type { AnswerRecorder } from './answer-ids.ts';
import type { StreamFilter } from './content-fields.ts';
import { contentFiltered, serverError, toErrorBody } from './errors.ts';
import { streamedText } from './metering.ts';
import { createSseRelay, type EventCapture, formatSseError, SSE_HEARTBEAT } from './sse.ts';
import { usageFromJsonTail } from './usage.ts';

const encoder = new TextEncoder();
const HEARTBEAT_BYTES = encoder.encode(SSE_HEARTBEAT);
/** OpenAI puts `usage` last; this much of a JSON body's end is kept to find it. */
const JSON_TAIL_BYTES = 16 * 1024;

export interface RelayEnd {
  readonly outcome: RequestOutcomeKind;
  readonly usage: TokenUsage | undefined;
  /** Time the first body byte arrived from upstream, if any did. */
  readonly firstByteAt: number | undefined;
  /**
   * For a body that ended without usage: the output tokens produced so far, counted with `count` (stream:
   * the text of the events; JSON: the kept tail, scaled to the bytes received).
   */
  readonly estimateOutputTokens: (count: (text: string) => number) => number;
  /** The whole answer, when `captureMaxBytes` was set and it fit: JSON text, or the SSE events' data. */
  readonly captured: { readonly json: string } | { readonly events: readonly string[] } | undefined;
}

export interface RelayOptions {
  readonly upstream: UpstreamBody;
  readonly sse: boolean;
  /** The stream must end with `[DONE]`; a clean end without it counts as an upstream failure. */
  readonly sseEndsWithDone: boolean;
  readonly dropUsageChunk: boolean;
  /** Look for `usage` in a JSON body. */
  readonly jsonUsage: boolean;
  /** Keep the whole answer up to this size, for the response cache. @default - nothing kept */
  readonly captureMaxBytes?: number;
  /** Response content rules over an SSE answer. @default - none */
  readonly filter?: StreamFilter | undefined;
  /**
   * Records the ids an SSE answer creates; the stream's last event waits until they are recorded. @default - none
   */
  readonly recorder?: AnswerRecorder | undefined;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly requestId: string;
  readonly now: () => number;
  /** Aborts the upstream request (client gone, idle timeout). */
  readonly abortUpstream: (reason: string) => void;
  /** Called once, when the body ended for any reason. */
  readonly onEnd: (end: RelayEnd) => void;
}

/**
 * Builds the response body. Pull-based with no read-ahead (highWaterMark 0): a chunk is read from
 * upstream only when the client side is ready for it, and handed on at once.
 */
export const relayBody = (options: RelayOptions): ReadableStream<Uint8Array> => {
  const reader = options.upstream.getReader();
  const decoder = new TextDecoder();
  let usage: TokenUsage | undefined;
  const keptEvents: string[] = [];
  const capture: EventCapture | undefined =
    options.captureMaxBytes === undefined
      ? undefined
      : { events: [], maxChars: options.captureMaxBytes, chars: 0, overflowed: false };
  const bodyChunks: Uint8Array[] | undefined = capture === undefined || options.sse ? undefined : [];
  const sseRelay = options.sse
    ? createSseRelay({
        dropUsageChunk: options.dropUsageChunk,
        onUsage: (reported) => {
          usage = reported;
        },
        keepEvents: keptEvents,
        ...(capture === undefined ? {} : { capture }),
        filter: options.filter,
        observe: options.recorder?.event,
      })
    : undefined;
  const recorder = options.recorder;
  const tail: Uint8Array[] = [];
  let tailBytes = 0;
  let bodyBytes = 0;
  let firstByteAt: number | undefined;
  /** When the current wait for upstream bytes began; only time spent waiting counts as silence. */
  let waitingSince = 0;
  let reading = false;
  let ended = false;
  let silenceTimer: NodeJS.Timeout | undefined;
  let stream: ReadableStreamDefaultController<Uint8Array> | undefined;

  const end = (outcome: RequestOutcomeKind) => {
    if (ended) return;
    ended = true;
    clearTimeout(silenceTimer);
    options.onEnd({ outcome, usage, firstByteAt, estimateOutputTokens, captured: capturedAnswer() });
  };

  const capturedAnswer = (): RelayEnd['captured'] => {
    if (capture === undefined || capture.overflowed) return undefined;
    if (options.sse) return { events: capture.events };
    if (bodyChunks === undefined) return undefined;
    return { json: new TextDecoder().decode(Buffer.concat(bodyChunks)) };
  };

  const estimateOutputTokens = (count: (text: string) => number): number => {
    if (options.sse) return count(streamedText(keptEvents));
    if (tailBytes === 0) return 0;
    const tokens = count(new TextDecoder().decode(Buffer.concat(tail)));
    return Math.ceil((tokens * bodyBytes) / tailBytes);
  };

  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, outcome: RequestOutcomeKind) => {
    reader.cancel().catch(() => {});
    end(outcome);
    if (options.sse) {
      const error =
        outcome === RequestOutcome.timeout
          ? serverError(504, 'upstream_timeout', 'The upstream provider stopped sending data.')
          : serverError(502, 'upstream_error', 'The upstream provider failed while streaming the response.');
      controller.enqueue(encoder.encode(formatSseError(toErrorBody(error, options.requestId))));
      controller.close();
    } else {
      // A JSON body cannot carry an error once started: an abrupt end is the honest signal.
      controller.error(new Error(`upstream ${outcome}`));
    }
  };

  /** A response rule blocked the answer: what was sent stays sent, the rest is an error event. */
  const failFiltered = (controller: ReadableStreamDefaultController<Uint8Array>, rule: string) => {
    options.abortUpstream('content filtered');
    reader.cancel().catch(() => {});
    end(RequestOutcome.contentFiltered);
    controller.enqueue(
      encoder.encode(formatSseError(toErrorBody(contentFiltered(rule, 'response'), options.requestId))),
    );
    controller.close();
  };

  // One timer per stream, re-armed rather than re-created: it sends heartbeats (SSE) and enforces the
  // idle timeout. A client that is slow to read is backpressure, not upstream silence.
  // A timer that fires while no read is pending lapses; the next read re-arms it, so an abandoned body
  // leaves no timer behind.
  const onSilence = () => {
    if (ended || !reading || stream === undefined) return;
    if (options.now() - waitingSince >= options.idleTimeoutMs) {
      options.abortUpstream('idle timeout');
      fail(stream, RequestOutcome.timeout);
      return;
    }
    if (options.sse) stream.enqueue(HEARTBEAT_BYTES);
    silenceTimer?.refresh();
  };
  const silenceMs = options.sse
    ? Math.min(options.heartbeatMs, options.idleTimeoutMs)
    : options.idleTimeoutMs;

  const keepTail = (chunk: Uint8Array) => {
    tail.push(chunk);
    tailBytes += chunk.byteLength;
    while (tail.length > 1 && tailBytes - (tail[0]?.byteLength ?? 0) >= JSON_TAIL_BYTES) {
      tailBytes -= tail.shift()?.byteLength ?? 0;
    }
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        stream ??= controller;
        for (;;) {
          reading = true;
          waitingSince = options.now();
          if (silenceTimer === undefined) silenceTimer = setTimeout(onSilence, silenceMs);
          else silenceTimer.refresh();
          let result: Awaited<ReturnType<typeof reader.read>>;
          try {
            result = await reader.read();
          } catch {
            reading = false;
            if (!ended) fail(controller, RequestOutcome.upstreamError);
            return;
          }
          reading = false;
          if (ended) return;
          if (result.done) {
            if (sseRelay !== undefined) {
              const rest = sseRelay.push(decoder.decode()) + sseRelay.finish();
              if (recorder !== undefined) {
                await recorder.flush();
                if (ended) return;
              }
              if (rest !== '') controller.enqueue(encoder.encode(rest));
              if (sseRelay.blockedBy !== undefined) {
                failFiltered(controller, sseRelay.blockedBy);
                return;
              }
              if (options.sseEndsWithDone && !sseRelay.sawDone) {
                fail(controller, RequestOutcome.upstreamError);
                return;
              }
            } else if (options.jsonUsage && tailBytes > 0) {
              usage = usageFromJsonTail(decoder.decode(Buffer.concat(tail)));
            }
            end(RequestOutcome.complete);
            controller.close();
            return;
          }
          const chunk = result.value;
          firstByteAt ??= options.now();
          if (sseRelay === undefined) {
            bodyBytes += chunk.byteLength;
            keepTail(chunk);
            if (bodyChunks !== undefined && capture !== undefined && !capture.overflowed) {
              capture.chars += chunk.byteLength;
              if (capture.chars > capture.maxChars) {
                capture.overflowed = true;
                bodyChunks.length = 0;
              } else bodyChunks.push(chunk);
            }
            controller.enqueue(chunk);
            return;
          }
          const text = sseRelay.push(decoder.decode(chunk, { stream: true }));
          if (sseRelay.blockedBy !== undefined) {
            if (text !== '') controller.enqueue(encoder.encode(text));
            failFiltered(controller, sseRelay.blockedBy);
            return;
          }
          if (text !== '') {
            // The last event names ids the client may use at once: they are recorded first.
            if (recorder?.holding === true) {
              await recorder.flush();
              if (ended) return;
            }
            controller.enqueue(encoder.encode(text));
            return;
          }
          // No whole event yet: read on without making the client wait for a pull.
        }
      },
      cancel() {
        // The client went away: stop the upstream generation, which would otherwise run (and bill) on.
        options.abortUpstream('client disconnected');
        reader.cancel().catch(() => {});
        end(RequestOutcome.clientAbort);
      },
    },
    { highWaterMark: 0 },
  );
};
