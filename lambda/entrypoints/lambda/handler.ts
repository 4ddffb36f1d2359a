// The streaming Lambda handler: a thin adapter from API Gateway / Function URL events to the core gateway.
import { pipeline, Readable } from 'node:stream';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { toErrorBody } from '../../core/error-bodies.ts';
import { invalidRequest } from '../../core/errors.ts';
import type { BodySource, GatewayRequest } from '../../core/exchange.ts';
import type { Gateway } from '../../core/gateway.ts';
import { type GatewayEvent, toGatewayRequest } from './events.ts';
import { flushPadding } from './flush.ts';

export interface LambdaHandlerOptions {
  /** 0 turns padding off. */
  readonly flushPaddingBytes: number;
  readonly flushPaddingAfterIdleMs: number;
  readonly now: () => number;
  /** Work for after the response is sent (the client is not kept waiting), e.g. loading the tokenizer. */
  readonly afterResponse?: () => Promise<unknown>;
}

export interface StreamingResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: Readable | string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A whole body as middy writes it best: a string in one write, unless its bytes are not text. */
const wholeBody = (bytes: Uint8Array): Readable | string => {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return Readable.from([bytes]);
  }
};

/**
 * A body source as a Node stream, read only as fast as the response stream takes it. Destroying it (the client
 * left) cancels the source, which stops the upstream.
 */
const readableOf = (source: BodySource): Readable =>
  new Readable({
    highWaterMark: 0,
    read() {
      source.read().then(
        (result) => this.push(result.done ? null : result.value),
        (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    },
    destroy(error, callback) {
      source.cancel(error ?? undefined).then(
        () => callback(error),
        () => callback(error),
      );
    },
  });

export const createLambdaHandler = (gateway: Gateway, options: LambdaHandlerOptions) =>
  middy(
    async (event: GatewayEvent): Promise<StreamingResult> => {
      let request: GatewayRequest;
      try {
        request = toGatewayRequest(event);
      } catch {
        // Only a malformed event gets here; the core handles everything else.
        const requestId = crypto.randomUUID();
        const error = invalidRequest('The request could not be read: its URL or headers are malformed.');
        return {
          statusCode: 400,
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: JSON.stringify(toErrorBody(error, requestId)),
        };
      }
      const response = await gateway.serve(request);
      const { status, headers, body } = response;
      if (body === undefined) return { statusCode: status, headers, body: '' };
      if (body instanceof Uint8Array) return { statusCode: status, headers, body: wholeBody(body) };
      let stream = readableOf(body);
      if (options.flushPaddingBytes > 0 && (headers['content-type'] ?? '').startsWith('text/event-stream')) {
        // pipeline, not pipe: destroying the padded stream must reach the source too.
        stream = pipeline(
          stream,
          flushPadding({
            bytes: options.flushPaddingBytes,
            afterIdleMs: options.flushPaddingAfterIdleMs,
            now: options.now,
          }),
          () => {},
        );
      }
      return { statusCode: status, headers, body: stream };
    },
    {
      executionMode: executionModeStreamifyResponse,
      // After the body is streamed (or the client left): usage records must be stored before the
      // invocation ends, or a frozen execution environment could lose them.
      requestEnd: async () => {
        await gateway.drain();
        await options.afterResponse?.().catch(() => {});
      },
    },
  );
