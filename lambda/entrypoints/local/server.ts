// The local entry point's HTTP server: node:http in front of the core gateway, streaming both ways.
//
// Every request Node accepts gets an answer and no request can take the process down: each step (target,
// headers, body, the core, writing) turns a failure into a response, or, once the status line is
// out, into a cut connection. Requests Node's own parser refuses are answered from the 'clientError' event.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { asGatewayError, ErrorType } from '../../core/errors.ts';
import {
  type BodySource,
  type GatewayResponse,
  headersOf,
  isBodySource,
  splitTarget,
} from '../../core/exchange.ts';
import type { Gateway } from '../../core/gateway.ts';
import { errorResponse } from '../../core/http.ts';

/**
 * Connection timeouts. Node's semantics (node:http, Node 20): `headersTimeout` and `requestTimeout` run from
 * the first byte of a request (or from the connection, for its first request) and stop once the request is
 * fully received, so neither limits how long a response streams; idle kept-alive connections are subject
 * only to `keepAliveTimeout`. `headersTimeout` must not exceed `requestTimeout` (Node throws otherwise).
 */
export interface LocalServerOptions {
  /**
   * How long an idle kept-alive connection stays open after a response (ms). Longer than the idle timeouts
   * of common HTTP clients (undici/fetch 4 s, Node's http.Agent and httpx 5 s) and of the load balancers and
   * proxies that may pool connections to it (AWS ALB, nginx: 60 s), so the client closes a pooled connection
   * first instead of reusing one the server is closing (EPIPE/ECONNRESET on its next request). Node
   * announces it as `Keep-Alive: timeout=65`, which undici and Node's http.Agent stay under, and Node 20.20
   * closes the socket 1 s after the announced time. @default 65_000
   */
  readonly keepAliveTimeout?: number;
  /**
   * How long a client has to send a request's complete headers (ms); then it gets a 408 and the connection
   * is closed. Cuts off slow-headers (slowloris) clients, which Node's 60 s default lets hold a connection
   * far longer. Enforced every `connectionsCheckingInterval`. @default 15_000, or `requestTimeout` if smaller
   */
  readonly headersTimeout?: number;
  /**
   * How long a client has to send a whole request, headers and body (ms); then it gets a 408 and the
   * connection is closed. Bounds a slow upload; it does not limit a long streamed response, which starts
   * once the request is received. @default 300_000 (5 min)
   */
  readonly requestTimeout?: number;
  /**
   * How often Node checks in-flight requests against `headersTimeout` and `requestTimeout` (ms): a timeout
   * is enforced up to this much late. Node's default of 30 s would let a 15 s header timeout stretch to
   * 45 s; the check only walks connections that are receiving a request. @default 1_000
   */
  readonly connectionsCheckingInterval?: number;
}

const DEFAULT_OPTIONS: Required<LocalServerOptions> = {
  keepAliveTimeout: 65_000,
  headersTimeout: 15_000,
  requestTimeout: 300_000,
  connectionsCheckingInterval: 1_000,
};

/** Methods that Node parses and the gateway does not serve (a tunnel, a loop-back). */
const UNSUPPORTED_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * The request target as a path and query: origin-form as sent (appended to the origin, so that `//x/y` stays
 * a path), absolute-form (http/https) reduced to it; undefined for any other form.
 */
const pathAndQuery = (target: string): string | undefined => {
  if (target.startsWith('/')) return target;
  if (!/^https?:\/\//i.test(target)) return undefined;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return undefined;
  }
};

/** An OpenAI error body; a 5xx message carries the request id, as the core's do. */
const errorJson = (status: number, message: string, code: string, requestId: string): string =>
  JSON.stringify({
    error: {
      message: status >= 500 ? `${message} (request id: ${requestId})` : message,
      type: ErrorType.invalidRequest,
      param: null,
      code,
    },
  });

/** Answers with an OpenAI error from the server itself, before the core saw the request. */
const sendError = (res: http.ServerResponse, status: number, message: string, code: string): void => {
  const requestId = randomUUID();
  const body = errorJson(status, message, code, requestId);
  // The reason phrase is given: a failed writeHead may have left the previous status's one behind.
  res.writeHead(status, http.STATUS_CODES[status] ?? 'Error', {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  });
  res.end(body);
};

/** A complete HTTP response for a socket that has no ServerResponse: it closes the connection. */
const rawErrorResponse = (status: number, message: string, code: string): string => {
  const requestId = randomUUID();
  const body = errorJson(status, message, code, requestId);
  return [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    '',
    body,
  ].join('\r\n');
};

/** Writes a last answer and closes the socket once it is flushed (or after a second, if it never is). */
const closeWith = (socket: Duplex, answer: string): void => {
  const timer = setTimeout(() => socket.destroy(), 1_000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer, () => socket.destroy());
};

/** The answer to a request Node's parser refused, by the error's code. */
const clientErrorAnswer = (code: string | undefined): [status: number, message: string, code: string] => {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'The request headers are too large.', 'request_header_fields_too_large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'The request has too many chunk extensions.', 'request_too_large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'The request was not received in time.', 'request_timeout'];
    default:
      return [400, 'The request is not valid HTTP/1.1.', 'invalid_http_request'];
  }
};

const EMPTY = new Uint8Array(0);

/**
 * Reads a request body, keeping at most `limit + 1` bytes: enough for the core to refuse an oversized
 * body, never more in memory. A body declared too large is not read at all (the core refuses it by header).
 * Rejects if the request ends before its body does (the client left, or Node cut it off).
 */
const readBody = (req: http.IncomingMessage, limit: number): Promise<Uint8Array> => {
  if (Number(req.headers['content-length']) > limit) {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    req.on('data', (chunk: Buffer) => {
      if (kept > limit) return;
      chunks.push(chunk);
      kept += chunk.byteLength;
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, kept));
    });
    req.on('error', reject);
    // Before 'end', the body will never be complete (an Error is made only then: its stack costs microseconds).
    req.on('close', () => {
      if (!ended) reject(new Error('The request ended before its body did.'));
    });
  });
};

/**
 * Sockets with a response part-written on them: raw bytes written there (a 'clientError' answer for a
 * pipelined request) would corrupt it, so such sockets are only closed.
 */
type Answering = WeakMap<object, Set<http.ServerResponse>>;

const markAnswering = (answering: Answering, socket: object, res: http.ServerResponse): void => {
  let responses = answering.get(socket);
  if (responses === undefined) {
    responses = new Set();
    answering.set(socket, responses);
  }
  responses.add(res);
  // 'close' follows 'finish', and also ends a response cut short: one listener covers both.
  res.once('close', () => responses.delete(res));
};

/** A held reference to the body being written, so that a client leaving can cancel it (stopping the upstream). */
interface Writing {
  source?: BodySource;
}

/**
 * Writes the core's response: a whole body in one write with its Content-Length, a body source as it comes (as
 * fast as the client takes it). Cuts the connection if the body fails after the status.
 */
const writeResponse = async (
  res: http.ServerResponse,
  response: GatewayResponse,
  signal: AbortSignal,
  answering: Answering,
  writing: Writing,
): Promise<void> => {
  const { body, headers } = response;
  if (body instanceof Uint8Array) headers['content-length'] = String(body.byteLength);
  try {
    res.writeHead(response.status, headers);
  } catch {
    // A status or header value Node refuses: nothing is sent yet, so the client gets a 500 instead.
    if (isBodySource(body)) await body.cancel().catch(() => {});
    sendError(res, 500, 'The gateway had an internal error.', 'internal_error');
    return;
  }
  if (body === undefined) {
    res.end();
    return;
  }
  if (body instanceof Uint8Array) {
    res.end(body);
    return;
  }
  markAnswering(answering, res.req.socket, res);
  // Known to serve()'s close handler, which cancels it when the client leaves (stopping the upstream work).
  writing.source = body;
  try {
    for (;;) {
      const result = await body.read();
      if (result.done) break;
      if (!res.write(result.value)) await once(res, 'drain', { signal });
    }
    if (!signal.aborted) res.end();
  } catch {
    // The body failed after the status was sent: cutting the connection is the only honest signal left.
    body.cancel().catch(() => {});
    res.destroy();
  }
};

/** One request, from Node's IncomingMessage to the core and back. Each failure becomes an answer. */
const serve = async (
  gateway: Gateway,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  answering: Answering,
): Promise<void> => {
  const disconnected = new AbortController();
  const writing: Writing = {};
  res.on('close', () => {
    if (res.writableFinished) return;
    // The client left before the response was complete: stop the upstream work.
    disconnected.abort();
    writing.source?.cancel().catch(() => {});
  });
  const method = req.method ?? 'GET';
  const target = pathAndQuery(req.url ?? '');
  if (target === undefined) {
    sendError(
      res,
      400,
      'The request target must be a path (such as /v1/chat/completions) or an absolute http(s) URL.',
      'invalid_request_target',
    );
    return;
  }
  // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host (Node's own check would
  // answer without a body). The value itself is never used.
  if (req.httpVersion !== '1.0' && req.headers.host === undefined) {
    sendError(res, 400, 'An HTTP/1.1 request must have a Host header.', 'missing_host_header');
    return;
  }
  if (UNSUPPORTED_METHODS.has(method)) {
    sendError(res, 501, `The method ${method} is not supported.`, 'unsupported_method');
    return;
  }
  let body: Uint8Array | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    try {
      body = await readBody(req, gateway.maxBodyBytes);
    } catch {
      // The client is gone (or Node answered it from 'clientError'): there is no one left to answer.
      res.destroy();
      return;
    }
  }
  const { path, query } = splitTarget(target);
  // The core turns every failure into a response; this guard only keeps a bug from killing the process.
  let response: GatewayResponse;
  try {
    response = await gateway.serve({
      method,
      path,
      query,
      // Node has checked every header name and value, lower-cased the names and joined repeats.
      headers: headersOf(req.headers),
      body,
      clientIp: req.socket.remoteAddress,
      signal: disconnected.signal,
    });
  } catch (error) {
    const requestId = randomUUID();
    response = errorResponse(asGatewayError(error), requestId, { 'x-request-id': requestId });
  }
  if (disconnected.signal.aborted) {
    if (isBodySource(response.body)) await response.body.cancel().catch(() => {});
    return;
  }
  await writeResponse(res, response, disconnected.signal, answering, writing);
};

/**
 * The local server: the gateway on node:http. Every request Node accepts gets an answer (an OpenAI error
 * when the server itself refuses it), requests Node's parser refuses get a minimal HTTP error, and no client
 * can make a rejection escape into the process.
 */
export const createLocalServer = (gateway: Gateway, options: LocalServerOptions = {}): http.Server => {
  const answering: Answering = new WeakMap();
  const requestTimeout = options.requestTimeout ?? DEFAULT_OPTIONS.requestTimeout;
  const server = http.createServer(
    {
      keepAliveTimeout: options.keepAliveTimeout ?? DEFAULT_OPTIONS.keepAliveTimeout,
      // Node refuses a headersTimeout above a non-zero requestTimeout: the default gives way to a smaller one.
      headersTimeout:
        options.headersTimeout ??
        (requestTimeout > 0
          ? Math.min(DEFAULT_OPTIONS.headersTimeout, requestTimeout)
          : DEFAULT_OPTIONS.headersTimeout),
      requestTimeout,
      connectionsCheckingInterval:
        options.connectionsCheckingInterval ?? DEFAULT_OPTIONS.connectionsCheckingInterval,
      // serve() answers a missing Host itself, with an OpenAI error body.
      requireHostHeader: false,
    },
    (req, res) => {
      // A write on a destroyed response must not become an unhandled 'error' event.
      res.on('error', () => {});
      serve(gateway, req, res, answering).catch(() => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        try {
          sendError(res, 500, 'The gateway had an internal error.', 'internal_error');
        } catch {
          res.destroy();
        }
      });
    },
  );
  // Requests Node's parser refuses (bad request line, headers over maxHeaderSize, invalid characters), a
  // header or request timeout, and socket errors. Listening replaces Node's bodyless default answers.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    try {
      const busy = (answering.get(socket)?.size ?? 0) > 0;
      if (error.code === 'ECONNRESET' || !socket.writable || busy) {
        socket.destroy();
        return;
      }
      closeWith(socket, rawErrorResponse(...clientErrorAnswer(error.code)));
    } catch {
      socket.destroy();
    }
  });
  // CONNECT (authority-form): Node hands the socket over here, or destroys it unanswered without a listener.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    try {
      closeWith(socket, rawErrorResponse(501, 'The method CONNECT is not supported.', 'unsupported_method'));
    } catch {
      socket.destroy();
    }
  });
  return server;
};
