// The gateway's own request and response: plain structures the entry points build and write, cheaper than web
// `Request`/`Response` objects (which cost tens of microseconds each to build and read). A body is bytes, or a
// pull-based source the entry point reads as fast as the client takes it. Adapters to and from web objects
// serve tests and callers that hold those.
import type { Principal } from '../ports.ts';

/** Request headers by lower-case name; repeated headers read as one value joined with `, `. */
export interface RequestHeaders {
  get(name: string): string | undefined;
}

export interface GatewayRequest {
  readonly method: string;
  /** The path without its query and without a trailing slash (`/v1/chat/completions`). */
  readonly path: string;
  /** The query string without `?`; '' when there is none. */
  readonly query: string;
  readonly headers: RequestHeaders;
  /** The body's bytes (entry points read them before the core runs); undefined: no body. */
  readonly body?: Uint8Array | undefined;
  /** The caller's address, for keys with a CIDR allowlist. */
  readonly clientIp?: string | undefined;
  /**
   * A caller already authenticated in front of the gateway (the API Gateway authorizer ran the same key
   * verification). Entry points set it only from a source the client cannot forge.
   */
  readonly principal?: Principal | undefined;
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal | undefined;
}

export type ReadResult = { readonly done: false; readonly value: Uint8Array } | { readonly done: true };

/** A response body read chunk by chunk: nothing is read upstream before the consumer asks. */
export interface BodySource {
  read(): Promise<ReadResult>;
  /** The consumer is gone: stop (and stop the upstream). */
  cancel(reason?: unknown): Promise<void>;
}

export type ResponseBody = Uint8Array | BodySource | undefined;

export interface GatewayResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: ResponseBody;
}

export const isBodySource = (body: ResponseBody): body is BodySource =>
  body !== undefined && !(body instanceof Uint8Array);

const encoder = new TextEncoder();

export const jsonResponse = (
  status: number,
  value: unknown,
  headers: Record<string, string>,
): GatewayResponse => {
  headers['content-type'] = 'application/json';
  return { status, headers, body: encoder.encode(JSON.stringify(value)) };
};

/** Headers of a Node-style object (lower-case names, arrays for repeats), read without copying. */
export const headersOf = (
  raw: Readonly<Record<string, string | readonly string[] | undefined>>,
): RequestHeaders => ({
  get(name) {
    const value = raw[name];
    if (value === undefined || typeof value === 'string') return value;
    return value.join(', ');
  },
});

const NO_HEADERS: Record<string, string> = {};
export const EMPTY_HEADERS: RequestHeaders = headersOf(NO_HEADERS);

/** Splits a request target (`/v1/files?purpose=x`) into its path, without a trailing slash, and query. */
export const splitTarget = (target: string): { readonly path: string; readonly query: string } => {
  const mark = target.indexOf('?');
  let path = mark === -1 ? target : target.slice(0, mark);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { path: path === '' ? '/' : path, query: mark === -1 ? '' : target.slice(mark + 1) };
};

// --- Web adapters ------------------------------------------------------------------------------------------

/** What a caller holding a web Request may add: the signal, the body's bytes, who and from where. */
export interface WebRequestContext {
  readonly signal?: AbortSignal;
  /** The body, when already read; else the Request's own body is read. */
  readonly body?: Uint8Array;
  readonly clientIp?: string;
  readonly principal?: Principal;
}

/** A web Request as the gateway's request (its body read whole). */
export const fromWebRequest = async (
  request: Request,
  context: WebRequestContext = {},
): Promise<GatewayRequest> => {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const { path, query } = splitTarget(start === -1 ? '/' : url.slice(start));
  const body =
    context.body ?? (request.body === null ? undefined : new Uint8Array(await request.arrayBuffer()));
  const webHeaders = request.headers;
  return {
    method: request.method,
    path,
    query,
    headers: { get: (name) => webHeaders.get(name) ?? undefined },
    body,
    clientIp: context.clientIp,
    principal: context.principal,
    signal: context.signal,
  };
};

/** A body source as a web stream, read only as fast as its reader asks. */
export const toWebStream = (source: BodySource): ReadableStream<Uint8Array> =>
  new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const result = await source.read();
          if (result.done) controller.close();
          else controller.enqueue(result.value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );

/** The gateway's response as a web Response. */
export const toWebResponse = (response: GatewayResponse): Response => {
  const { body } = response;
  const init = { status: response.status, headers: response.headers };
  if (body === undefined) return new Response(null, init);
  if (body instanceof Uint8Array) return new Response(body as Uint8Array<ArrayBuffer>, init);
  return new Response(toWebStream(body), init);
};

/** A whole body as a source of one chunk (for callers that only read sources). */
export const sourceOf = (bytes: Uint8Array): BodySource => {
  let sent = false;
  return {
    read: async () => {
      if (sent) return { done: true };
      sent = true;
      return { done: false, value: bytes };
    },
    cancel: async () => {
      sent = true;
    },
  };
};
