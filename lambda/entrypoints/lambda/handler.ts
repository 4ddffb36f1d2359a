// The streaming Lambda handler: a thin adapter from API Gateway / Function URL events to the core gateway.
import { pipeline, Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { invalidRequest, toErrorBody } from '../../core/errors.ts';
import type { Gateway } from '../../core/pipeline.ts';
import { type GatewayEvent, type GatewayInput, toWebRequest } from './events.ts';
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

export const createLambdaHandler = (gateway: Gateway, options: LambdaHandlerOptions) =>
  middy(
    async (event: GatewayEvent): Promise<StreamingResult> => {
      let input: GatewayInput;
      try {
        input = toWebRequest(event);
      } catch {
        // Only a malformed event (e.g. an invalid Host header) gets here; the core handles everything else.
        const requestId = crypto.randomUUID();
        const error = invalidRequest('The request could not be read: its URL or headers are malformed.');
        return {
          statusCode: 400,
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: JSON.stringify(toErrorBody(error, requestId)),
        };
      }
      const response = await gateway.handle(input.request, {
        body: input.body,
        ...(input.clientIp === undefined ? {} : { clientIp: input.clientIp }),
        ...(input.principal === undefined ? {} : { principal: input.principal }),
      });
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      if (response.body === null) return { statusCode: response.status, headers, body: '' };
      // When the client disconnects, the pipeline destroys this Readable, which cancels the web stream
      // and so aborts the upstream request.
      let body: Readable = Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>, {
        highWaterMark: 0,
      });
      if (options.flushPaddingBytes > 0 && (headers['content-type'] ?? '').startsWith('text/event-stream')) {
        // pipeline, not pipe: destroying the padded stream must reach the source too.
        body = pipeline(
          body,
          flushPadding({
            bytes: options.flushPaddingBytes,
            afterIdleMs: options.flushPaddingAfterIdleMs,
            now: options.now,
          }),
          () => {},
        );
      }
      return { statusCode: response.status, headers, body };
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
