// Upstream over node:http/https with keep-alive pools (chosen over undici: see docs/decisions/001).
import http from 'node:http';
import https from 'node:https';
import type { Upstream, UpstreamRequest, UpstreamResponse } from '../../ports.ts';
import { UpstreamError, UpstreamFailure } from '../../ports.ts';

export interface NodeHttpUpstreamOptions {
  /** Sockets per origin. @default 256 */
  readonly maxSockets?: number;
}

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CERT_HAS_EXPIRED',
]);

const flattenHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const flat: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
};

/** A web stream over the response that reads from the socket only as fast as it is consumed. */
const bodyStream = (
  response: http.IncomingMessage,
  request: http.ClientRequest,
): ReadableStream<Uint8Array> => {
  // Socket events may still fire after the consumer cancelled: the controller must not be touched then.
  let open = true;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const failWith = (error: UpstreamError) => {
          if (!open) return;
          open = false;
          controller.error(error);
        };
        response.on('data', (chunk: Buffer) => {
          if (!open) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) response.pause();
        });
        response.on('end', () => {
          if (!open) return;
          open = false;
          controller.close();
        });
        response.on('close', () => {
          // A socket closed before the message completed is a reset, not a clean end.
          if (!response.complete)
            failWith(new UpstreamError(UpstreamFailure.reset, 'upstream closed the connection mid-response'));
        });
        response.on('error', (error) =>
          failWith(new UpstreamError(UpstreamFailure.reset, error.message, { cause: error })),
        );
      },
      pull() {
        response.resume();
      },
      cancel() {
        open = false;
        request.destroy();
        response.destroy();
      },
    },
    { highWaterMark: 1 },
  );
};

export const createNodeHttpUpstream = (
  options: NodeHttpUpstreamOptions = {},
): Upstream & { close(): void } => {
  const agentOptions: http.AgentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
    scheduling: 'lifo',
  };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  const send = (upstreamRequest: UpstreamRequest): Promise<UpstreamResponse> =>
    new Promise((resolve, reject) => {
      const { signal } = upstreamRequest;
      if (signal.aborted) {
        reject(new UpstreamError(UpstreamFailure.aborted, 'aborted before sending'));
        return;
      }
      const secure = upstreamRequest.url.startsWith('https:');
      const headers: Record<string, string | number> = { ...upstreamRequest.headers };
      if (upstreamRequest.body !== undefined) headers['content-length'] = upstreamRequest.body.byteLength;
      const request = (secure ? https : http).request(upstreamRequest.url, {
        method: upstreamRequest.method,
        headers,
        agent: secure ? httpsAgent : httpAgent,
      });
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      let firstByteTimer: NodeJS.Timeout | undefined;
      const clearTimers = () => {
        clearTimeout(connectTimer);
        clearTimeout(firstByteTimer);
      };
      const fail = (error: UpstreamError) => {
        clearTimers();
        if (!settled) {
          settled = true;
          reject(error);
        }
        request.destroy(error);
      };
      const onAbort = () => fail(new UpstreamError(UpstreamFailure.aborted, 'aborted by the gateway'));
      signal.addEventListener('abort', onAbort, { once: true });

      connectTimer = setTimeout(
        () =>
          fail(
            new UpstreamError(
              UpstreamFailure.connect,
              `no connection within ${upstreamRequest.connectTimeoutMs} ms`,
            ),
          ),
        upstreamRequest.connectTimeoutMs,
      );
      request.on('socket', (socket) => {
        if (!socket.connecting) {
          clearTimeout(connectTimer);
          return;
        }
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      firstByteTimer = setTimeout(
        () =>
          fail(
            new UpstreamError(
              UpstreamFailure.timeout,
              `no response within ${upstreamRequest.firstByteTimeoutMs} ms`,
            ),
          ),
        upstreamRequest.firstByteTimeoutMs,
      );
      request.on('response', (response) => {
        clearTimers();
        if (settled) {
          response.destroy();
          return;
        }
        settled = true;
        response.once('close', () => signal.removeEventListener('abort', onAbort));
        resolve({
          status: response.statusCode ?? 502,
          headers: flattenHeaders(response.headers),
          body: bodyStream(response, request),
        });
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof UpstreamError) return fail(error);
        const kind =
          error.code !== undefined && CONNECT_ERRORS.has(error.code)
            ? UpstreamFailure.connect
            : UpstreamFailure.reset;
        fail(new UpstreamError(kind, `${error.code ?? 'error'}: ${error.message}`, { cause: error }));
      });
      request.end(upstreamRequest.body);
    });

  return {
    send,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
};
