// The client-facing body of a proxied response: upstream bytes passed on as they arrive, never buffered whole.
// Pull-based with no read-ahead: a chunk is read from upstream only when the consumer asks for one, and handed
// on at once; an SSE answer goes out event by event, with heartbeats while the upstream is silent.
import {
  RequestOutcome,
  type RequestOutcomeKind,
  type TokenUsage,
  type UpstreamBody,
  type UpstreamBodyReader,
} from '../ports.ts';
import type { AnswerRecorder } from './answer-ids.ts';
import type { StreamFilter } from './content-stream.ts';
import { ClientApi, type ClientApiName, errorBodyIn } from './error-bodies.ts';
import { contentFiltered, type GatewayError, upstreamError, upstreamTimeout } from './errors.ts';
import type { BodySource, ReadResult } from './exchange.ts';
import { streamedText } from './metering.ts';
import { createSseRelay, type EventCapture, formatSseError, SSE_HEARTBEAT } from './sse.ts';
import type { BodyEnd } from './state.ts';
import {
  anthropicAnswerUsage,
  countedUsage,
  createAnthropicStreamUsage,
  usageFromJsonTail,
  usageFromOpenAI,
} from './usage.ts';

const encoder = new TextEncoder();
const HEARTBEAT_BYTES = encoder.encode(SSE_HEARTBEAT);
/** OpenAI puts `usage` last; this much of a JSON body's end is kept to find it. */
const JSON_TAIL_BYTES = 16 * 1024;
const DONE: ReadResult = { done: true };
const decoder = new TextDecoder();
/** Whole chunks as text (a JSON body's tail or all of it). */
const textOf = (chunks: readonly Uint8Array[]): string =>
  decoder.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
const DONE_PROMISE = Promise.resolve(DONE);

export interface RelayEnd extends BodyEnd {
  readonly estimateOutputTokens: (count: (text: string) => number) => number;
  /** The whole answer, when `captureMaxBytes` was set and it fit: JSON text, or the SSE events' data. */
  readonly captured: { readonly json: string } | { readonly events: readonly string[] } | undefined;
}

export interface RelayOptions {
  readonly upstream: UpstreamBody;
  readonly sse: boolean;
  /**
   * The wire format of the answer (OpenAI's, or Anthropic's Messages): where its usage is, how its stream ends,
   * and the shape of the error event that ends a failed stream.
   */
  readonly api: ClientApiName;
  /** The stream must end with its end marker (`[DONE]`, `message_stop`); a clean end without it is a failure. */
  readonly sseEndsWithDone: boolean;
  readonly dropUsageChunk: boolean;
  /** Look for `usage` in a JSON body. */
  readonly jsonUsage: boolean;
  /** Keep the whole answer up to this size, for the response cache. @default - nothing kept */
  readonly captureMaxBytes?: number | undefined;
  /** Response content rules over an SSE answer. @default - none */
  readonly filter?: StreamFilter | undefined;
  /** Records the ids an SSE answer creates; the stream's last event waits until they are recorded. */
  readonly recorder?: AnswerRecorder | undefined;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly requestId: string;
  readonly now: () => number;
  /** Aborts the upstream request (client gone, idle timeout, a blocking rule). */
  readonly abortUpstream: (reason: string) => void;
  /** Called once, when the body ended for any reason. */
  readonly onEnd: (end: RelayEnd) => void;
}

type Consumer = { resolve: (result: ReadResult) => void; reject: (error: unknown) => void };
type UpstreamRead =
  | { readonly done: false; readonly value: Uint8Array }
  | { readonly done: true; readonly value?: undefined };

class RelayBody implements BodySource {
  private readonly reader: UpstreamBodyReader;
  /** Decodes an SSE body across chunk boundaries (a stream's own: it keeps a split character). */
  private readonly decoder: TextDecoder | undefined;
  private readonly sseRelay: ReturnType<typeof createSseRelay> | undefined;
  private readonly capture: EventCapture | undefined;
  private readonly bodyChunks: Uint8Array[] | undefined;
  private readonly keptEvents: string[] = [];
  private readonly tail: Uint8Array[] = [];
  private readonly silenceMs: number;
  private usage: TokenUsage | undefined;
  private tailBytes = 0;
  private bodyBytes = 0;
  private firstByteAt: number | undefined;
  /** Bytes owed to the consumer after the end (a final error event). */
  private outbox: Uint8Array | undefined;
  /** A JSON body that failed part way: every later read fails too. */
  private failure: Error | undefined;
  private ended = false;
  /** No more reads: the end was delivered (or the body failed). */
  private closed = false;
  private consumer: Consumer | undefined;
  private inFlight = false;
  private waitingSince = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RelayOptions) {
    this.reader = options.upstream.getReader() as UpstreamBodyReader;
    this.capture =
      options.captureMaxBytes === undefined
        ? undefined
        : { events: [], maxChars: options.captureMaxBytes, chars: 0, overflowed: false };
    this.bodyChunks = this.capture === undefined || options.sse ? undefined : [];
    this.decoder = options.sse ? new TextDecoder() : undefined;
    const anthropic = options.api === ClientApi.anthropic;
    this.sseRelay = options.sse
      ? createSseRelay({
          // Anthropic's stream ends with message_stop, and its usage spans message_start and message_delta.
          endEvent: anthropic ? 'message_stop' : undefined,
          usageOf: anthropic ? countedUsage(createAnthropicStreamUsage().event) : undefined,
          dropUsageChunk: options.dropUsageChunk,
          onUsage: (reported) => {
            this.usage = reported;
          },
          keepEvents: this.keptEvents,
          ...(this.capture === undefined ? {} : { capture: this.capture }),
          filter: options.filter,
          observe: options.recorder?.event,
        })
      : undefined;
    this.silenceMs = options.sse
      ? Math.min(options.heartbeatMs, options.idleTimeoutMs)
      : options.idleTimeoutMs;
  }

  read(): Promise<ReadResult> {
    const owed = this.outbox;
    if (owed !== undefined) {
      this.outbox = undefined;
      return Promise.resolve({ done: false, value: owed });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return DONE_PROMISE;
    return new Promise<ReadResult>((resolve, reject) => {
      this.consumer = { resolve, reject };
      this.pump();
    });
  }

  async cancel(): Promise<void> {
    if (this.closed && this.ended) return;
    // The client went away: stop the upstream generation, which would otherwise run (and bill) on.
    this.options.abortUpstream('client disconnected');
    this.reader.cancel().catch(() => {});
    this.finish(RequestOutcome.clientAbort);
  }

  /** Reads from upstream unless a read is already on its way; one timer per body, re-armed for each wait. */
  private pump(): void {
    if (this.inFlight || this.closed) return;
    this.inFlight = true;
    this.waitingSince = this.options.now();
    if (this.timer === undefined) this.timer = setTimeout(this.onSilence, this.silenceMs);
    else this.timer.refresh();
    this.reader.read().then(this.onRead, this.onReadError);
  }

  private readonly onSilence = (): void => {
    // Only a read of the upstream's counts: a client slow to ask for more is backpressure, not silence (the timer
    // lapses, and the next read arms it again).
    if (this.closed || !this.inFlight) return;
    if (this.options.now() - this.waitingSince >= this.options.idleTimeoutMs) {
      this.options.abortUpstream('idle timeout');
      this.fail(RequestOutcome.timeout);
      return;
    }
    if (this.options.sse && this.consumer !== undefined) this.deliver(HEARTBEAT_BYTES);
    this.timer?.refresh();
  };

  private readonly onReadError = (): void => {
    this.inFlight = false;
    if (!this.closed) this.fail(RequestOutcome.upstreamError);
  };

  private readonly onRead = (result: UpstreamRead): void => {
    this.inFlight = false;
    if (this.closed) return;
    if (result.done) {
      void this.onUpstreamEnd();
      return;
    }
    const chunk = result.value;
    this.firstByteAt ??= this.options.now();
    const sse = this.sseRelay;
    if (sse === undefined) {
      this.keepJson(chunk);
      this.deliver(chunk);
      return;
    }
    const text = sse.push(this.decoder!.decode(chunk, { stream: true }));
    if (sse.blockedBy !== undefined) {
      if (text !== '') this.deliver(encoder.encode(text));
      this.failFiltered(sse.blockedBy);
      return;
    }
    // No whole event yet: read on without making the consumer ask again.
    if (text === '') this.pump();
    else void this.deliverRecorded(encoder.encode(text));
  };

  private async onUpstreamEnd(): Promise<void> {
    const sse = this.sseRelay;
    if (sse !== undefined) {
      const rest = sse.push(this.decoder!.decode()) + sse.finish();
      if (this.options.recorder !== undefined) {
        await this.options.recorder.flush();
        if (this.closed) return;
      }
      if (sse.blockedBy !== undefined) {
        if (rest !== '') this.deliver(encoder.encode(rest));
        this.failFiltered(sse.blockedBy);
        return;
      }
      if (this.options.sseEndsWithDone && !sse.sawDone) {
        if (rest !== '') this.deliver(encoder.encode(rest));
        this.fail(RequestOutcome.upstreamError);
        return;
      }
      this.finish(RequestOutcome.complete);
      if (rest !== '') this.deliver(encoder.encode(rest));
      else this.deliverDone();
      return;
    }
    if (this.options.jsonUsage && this.tailBytes > 0) {
      this.usage = usageFromJsonTail(
        textOf(this.tail),
        this.options.api === ClientApi.anthropic ? anthropicAnswerUsage : usageFromOpenAI,
      );
    }
    this.finish(RequestOutcome.complete);
    this.deliverDone();
  }

  /** The last event names ids the client may use at once: they are recorded before it leaves. */
  private async deliverRecorded(bytes: Uint8Array): Promise<void> {
    const recorder = this.options.recorder;
    if (recorder?.holding === true) {
      await recorder.flush();
      if (this.closed && this.ended) return;
    }
    this.deliver(bytes);
  }

  /**
   * Bytes for the consumer: to the waiting read now, or kept for the next one (a heartbeat may have answered the
   * read this chunk was meant for).
   */
  private deliver(bytes: Uint8Array): void {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer !== undefined) consumer.resolve({ done: false, value: bytes });
    else this.outbox = this.outbox === undefined ? bytes : Buffer.concat([this.outbox, bytes]);
  }

  private deliverDone(): void {
    const consumer = this.consumer;
    this.consumer = undefined;
    consumer?.resolve(DONE);
  }

  private keepJson(chunk: Uint8Array): void {
    this.bodyBytes += chunk.byteLength;
    this.tail.push(chunk);
    this.tailBytes += chunk.byteLength;
    while (this.tail.length > 1 && this.tailBytes - (this.tail[0]?.byteLength ?? 0) >= JSON_TAIL_BYTES) {
      this.tailBytes -= this.tail.shift()?.byteLength ?? 0;
    }
    const capture = this.capture;
    if (this.bodyChunks !== undefined && capture !== undefined && !capture.overflowed) {
      capture.chars += chunk.byteLength;
      if (capture.chars > capture.maxChars) {
        capture.overflowed = true;
        this.bodyChunks.length = 0;
      } else this.bodyChunks.push(chunk);
    }
  }

  /** The upstream failed (or went silent) after the first byte: SSE ends with an error event, JSON is cut. */
  private fail(outcome: RequestOutcomeKind): void {
    this.reader.cancel().catch(() => {});
    this.finish(outcome);
    if (this.options.sse) {
      const error =
        outcome === RequestOutcome.timeout
          ? upstreamTimeout('The upstream provider stopped sending data.')
          : upstreamError('The upstream provider failed while streaming the response.');
      this.deliverError(error);
      return;
    }
    // A JSON body cannot carry an error once started: an abrupt end is the honest signal.
    this.failure = new Error(`upstream ${outcome}`);
    const consumer = this.consumer;
    this.consumer = undefined;
    consumer?.reject(this.failure);
  }

  /** A response rule blocked the answer: what was sent stays sent, the rest is an error event. */
  private failFiltered(rule: string): void {
    this.options.abortUpstream('content filtered');
    this.reader.cancel().catch(() => {});
    this.finish(RequestOutcome.contentFiltered);
    this.deliverError(contentFiltered(rule, 'response'));
  }

  /** The error event that ends a stream, in the shape of the client's API. */
  private deliverError(error: GatewayError): void {
    const body = errorBodyIn(this.options.api, error, this.options.requestId);
    this.deliver(encoder.encode(formatSseError(body)));
  }

  private finish(outcome: RequestOutcomeKind): void {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ended) return;
    this.ended = true;
    this.options.onEnd({
      outcome,
      usage: this.usage,
      firstByteAt: this.firstByteAt,
      estimateOutputTokens: this.estimateOutputTokens,
      captured: this.capturedAnswer(),
    });
  }

  private capturedAnswer(): RelayEnd['captured'] {
    const capture = this.capture;
    if (capture === undefined || capture.overflowed) return undefined;
    if (this.options.sse) return { events: capture.events };
    if (this.bodyChunks === undefined) return undefined;
    return { json: textOf(this.bodyChunks) };
  }

  private readonly estimateOutputTokens = (count: (text: string) => number): number => {
    if (this.options.sse) return count(streamedText(this.keptEvents));
    if (this.tailBytes === 0) return 0;
    const tokens = count(textOf(this.tail));
    return Math.ceil((tokens * this.bodyBytes) / this.tailBytes);
  };
}

/** The relayed body of an upstream answer. */
export const relayBody = (options: RelayOptions): BodySource => new RelayBody(options);
