// Upstream over node:http/https with keep-alive pools (chosen over undici: see docs/decisions/001).
import http from 'node:http';
import https from 'node:https';
import type {
  LightUpstreamBody,
  Upstream,
  UpstreamBodyReader,
  UpstreamRequest,
  UpstreamResponse,
} from '../../ports.ts';
import { UpstreamError, UpstreamFailure, type UpstreamFailureKind } from '../../ports.ts';

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

type ReadResult = Awaited<ReturnType<UpstreamBodyReader['read']>>;
const DONE: ReadResult = { done: true, value: undefined };

/**
 * The response body as a reader, without a web stream: it reads from the socket only as fast as it is
 * consumed (the response is paused while a chunk waits), and cancelling destroys the request.
 */
class IncomingBody implements LightUpstreamBody, UpstreamBodyReader {
  private readonly queue: Buffer[] = [];
  private waiter: { resolve: (result: ReadResult) => void; reject: (error: unknown) => void } | undefined;
  private finished = false;
  private failure: UpstreamError | undefined;

  constructor(
    private readonly response: http.IncomingMessage,
    private readonly request: http.ClientRequest,
  ) {
    response.on('data', (chunk: Buffer) => {
      const waiter = this.waiter;
      if (waiter !== undefined) {
        this.waiter = undefined;
        waiter.resolve({ done: false, value: chunk });
        return;
      }
      this.queue.push(chunk);
      response.pause();
    });
    response.on('end', () => this.settle());
    response.on('close', () => {
      // A socket closed before the message completed is a reset, not a clean end.
      if (!response.complete)
        this.settle(new UpstreamError(UpstreamFailure.reset, 'upstream closed the connection mid-response'));
    });
    response.on('error', (error) =>
      this.settle(new UpstreamError(UpstreamFailure.reset, error.message, { cause: error })),
    );
  }

  private settle(failure?: UpstreamError): void {
    if (this.finished || this.failure !== undefined) return;
    if (failure === undefined) this.finished = true;
    else this.failure = failure;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) return;
    if (failure === undefined) waiter.resolve(DONE);
    else waiter.reject(failure);
  }

  getReader(): UpstreamBodyReader {
    return this;
  }

  readNow(): ReadResult | undefined {
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      if (this.queue.length === 0) this.response.resume();
      return { done: false, value: chunk };
    }
    return this.finished && this.failure === undefined ? DONE : undefined;
  }

  read(): Promise<ReadResult> {
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      if (this.queue.length === 0) this.response.resume();
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.finished) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  async cancel(): Promise<void> {
    this.queue.length = 0;
    this.settle();
    this.request.destroy();
    this.response.destroy();
  }
}

interface Target {
  readonly secure: boolean;
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly path: string;
  /** The request's first headers: `host` as node:http would write it, and Basic auth from the URL's user. */
  readonly baseHeaders: readonly string[];
}

/**
 * A URL as node:http's request options, parsed once: the gateway calls the same few URLs (a target's base and
 * an endpoint path) over and over, and parsing a URL string costs more than the rest of building the request.
 */
const targets = new Map<string, Target>();
const TARGETS_KEPT = 1_000;
const targetOf = (url: string): Target => {
  let target = targets.get(url);
  if (target === undefined) {
    const parsed = new URL(url);
    const secure = parsed.protocol === 'https:';
    // `host` as the URL has it (brackets kept, default port left out, as node:http writes it).
    const baseHeaders = ['host', parsed.host];
    if (parsed.username !== '' || parsed.password !== '') {
      const auth = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
      baseHeaders.push('authorization', `Basic ${Buffer.from(auth).toString('base64')}`);
    }
    target = {
      secure,
      protocol: parsed.protocol,
      // node:http takes an IPv6 literal without its brackets.
      hostname: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
      port: parsed.port === '' ? (secure ? '443' : '80') : parsed.port,
      path: `${parsed.pathname}${parsed.search}`,
      baseHeaders,
    };
    if (targets.size >= TARGETS_KEPT) targets.clear();
    targets.set(url, target);
  }
  return target;
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

  const send = (upstreamRequest: UpstreamRequest, retryStaleSocket = true): Promise<UpstreamResponse> =>
    new Promise((resolve, reject) => {
      const { signal } = upstreamRequest;
      if (signal.aborted) {
        reject(new UpstreamError(UpstreamFailure.aborted, 'aborted before sending'));
        return;
      }
      const target = targetOf(upstreamRequest.url);
      const secure = target.secure;
      // Headers as a flat list: node:http writes them as they are (each name and value still validated), without
      // building its own map of them first. `host` and the URL's Basic auth come first, as node:http would add them.
      const headers = [...target.baseHeaders];
      const given = upstreamRequest.headers;
      for (const name in given) {
        // The URL's credentials stand unless the request sets its own, as node:http has it.
        if (name === 'authorization' && headers[2] === 'authorization') headers.splice(2, 2);
        headers.push(name, given[name]!);
      }
      if (upstreamRequest.body !== undefined)
        headers.push('content-length', String(upstreamRequest.body.byteLength));
      const request = (secure ? https : http).request({
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        path: target.path,
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
        signal.removeEventListener('abort', onAbort);
        if (!settled) {
          settled = true;
          reject(error);
        }
        request.destroy(error);
      };
      const onAbort = () => fail(new UpstreamError(UpstreamFailure.aborted, 'aborted by the gateway'));
      signal.addEventListener('abort', onAbort, { once: true });

      const failAfter = (ms: number, kind: UpstreamFailureKind, what: string) =>
        setTimeout(() => fail(new UpstreamError(kind, `${what} within ${ms} ms`)), ms);
      // Only a new connection is timed for connecting (a kept-alive socket is connected): one timer less per
      // request on a warm pool. A request waiting for a free socket is bounded by the first-byte timer.
      request.on('socket', (socket) => {
        if (!socket.connecting || settled) return;
        connectTimer = failAfter(upstreamRequest.connectTimeoutMs, UpstreamFailure.connect, 'no connection');
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      firstByteTimer = failAfter(upstreamRequest.firstByteTimeoutMs, UpstreamFailure.timeout, 'no response');
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
          body: new IncomingBody(response, request),
        });
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof UpstreamError) return fail(error);
        // A kept-alive socket that the server closed while it sat idle fails at once, before the request
        // reached the server: send it again, once, on a fresh socket (the pattern Node's docs give for
        // `reusedSocket`) instead of failing the target over a stale connection.
        if (
          !settled &&
          retryStaleSocket &&
          request.reusedSocket &&
          (error.code === 'ECONNRESET' || error.code === 'EPIPE')
        ) {
          settled = true;
          clearTimers();
          signal.removeEventListener('abort', onAbort);
          resolve(send(upstreamRequest, false));
          return;
        }
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
