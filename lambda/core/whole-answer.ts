// A JSON answer read whole, for the requests that need all of it before the client gets any (response content
// rules, ids the answer creates): one loop over the upstream body with the relay's idle timeout, and how it ended,
// as the relay would report it. Lighter than relaying the body and collecting what the relay passes on.
import {
  RequestOutcome,
  type RequestOutcomeKind,
  type TokenUsage,
  type UpstreamBody,
  type UpstreamBodyReader,
} from '../ports.ts';
import { ClientApi, type ClientApiName } from './error-bodies.ts';
import type { RelayEnd } from './relay.ts';
import { anthropicAnswerUsage, usageFromOpenAI } from './usage.ts';

/** A JSON answer's tail that estimates its output tokens when it reports no usage (as the relay keeps). */
const ESTIMATE_TAIL_BYTES = 16 * 1024;
const decoder = new TextDecoder();

export interface WholeAnswer {
  /** The answer's bytes; undefined when the upstream failed (or went silent) part way. */
  readonly bytes: Uint8Array | undefined;
  readonly outcome: RequestOutcomeKind;
  readonly firstByteAt: number | undefined;
}

export interface WholeAnswerOptions {
  readonly upstream: UpstreamBody;
  readonly idleTimeoutMs: number;
  readonly now: () => number;
  /** Stops the upstream request (idle timeout). */
  readonly abortUpstream: (reason: string) => void;
}

export const readAnswer = async (options: WholeAnswerOptions): Promise<WholeAnswer> => {
  const reader = options.upstream.getReader() as UpstreamBodyReader;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let firstByteAt: number | undefined;
  // An answer that has already arrived whole (most JSON answers come with their headers) is taken as it is:
  // nothing to wait for, so no idle timer and no promise per chunk.
  for (let ready = reader.readNow?.(); ready !== undefined; ready = reader.readNow?.()) {
    if (ready.done) return { bytes: joined(chunks, total), outcome: RequestOutcome.complete, firstByteAt };
    firstByteAt ??= options.now();
    chunks.push(ready.value);
    total += ready.value.byteLength;
  }
  let silent = false;
  // One timer for the whole read, re-armed for each chunk: an upstream silent for idleTimeoutMs is cut off.
  const timer = setTimeout(() => {
    silent = true;
    options.abortUpstream('idle timeout');
    reader.cancel().catch(() => {});
  }, options.idleTimeoutMs);
  try {
    for (;;) {
      const result = await reader.read();
      if (silent) return { bytes: undefined, outcome: RequestOutcome.timeout, firstByteAt };
      if (result.done) break;
      firstByteAt ??= options.now();
      chunks.push(result.value);
      total += result.value.byteLength;
      timer.refresh();
    }
  } catch {
    return {
      bytes: undefined,
      outcome: silent ? RequestOutcome.timeout : RequestOutcome.upstreamError,
      firstByteAt,
    };
  } finally {
    clearTimeout(timer);
  }
  return { bytes: joined(chunks, total), outcome: RequestOutcome.complete, firstByteAt };
};

const joined = (chunks: readonly Uint8Array[], total: number): Uint8Array =>
  chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);

/** How a whole answer ended, for the settlement: its usage (from the parsed answer), an estimate, the capture. */
export const wholeAnswerEnd = (
  read: WholeAnswer,
  answer: unknown,
  captureMaxBytes: number | undefined,
  api: ClientApiName = ClientApi.openai,
): RelayEnd => {
  const { bytes } = read;
  const usage =
    bytes === undefined
      ? undefined
      : api === ClientApi.anthropic
        ? anthropicAnswerUsage(isAnswerObject(answer) ? answer.usage : undefined)
        : usageOfAnswer(answer);
  return {
    outcome: read.outcome,
    usage,
    firstByteAt: read.firstByteAt,
    estimateOutputTokens: (count) => {
      if (bytes === undefined || bytes.byteLength === 0) return 0;
      const tail =
        bytes.byteLength <= ESTIMATE_TAIL_BYTES
          ? bytes
          : bytes.subarray(bytes.byteLength - ESTIMATE_TAIL_BYTES);
      return Math.ceil((count(decoder.decode(tail)) * bytes.byteLength) / tail.byteLength);
    },
    captured:
      bytes !== undefined && captureMaxBytes !== undefined && bytes.byteLength <= captureMaxBytes
        ? { json: decoder.decode(bytes) }
        : undefined,
  };
};

/** The usage of a JSON answer: top-level (chat, completions, embeddings, a Responses answer), or its `response`'s. */
const isAnswerObject = (answer: unknown): answer is Record<string, unknown> =>
  typeof answer === 'object' && answer !== null && !Array.isArray(answer);

const usageOfAnswer = (answer: unknown): TokenUsage | undefined => {
  if (!isAnswerObject(answer)) return undefined;
  const { usage, response } = answer as { usage?: unknown; response?: unknown };
  return (
    usageFromOpenAI(usage) ??
    (typeof response === 'object' && response !== null
      ? usageFromOpenAI((response as { usage?: unknown }).usage)
      : undefined)
  );
};
