// Small HTTP helpers the stages share: error responses, Retry-After, body limits, the gateway key, media types.

import { ClientApi, type ClientApiName, errorBodyIn } from './error-bodies.ts';
import { type GatewayError, payloadTooLarge } from './errors.ts';
import { type GatewayResponse, jsonResponse, type RequestHeaders } from './exchange.ts';

/**
 * The error JSON of `error` in the shape of the API the client called (OpenAI's unless said), with the error's
 * own headers (Retry-After, Allow) over `headers`.
 */
export const errorResponse = (
  error: GatewayError,
  requestId: string,
  headers: Record<string, string>,
  api: ClientApiName = ClientApi.openai,
): GatewayResponse => {
  for (const name in error.headers) headers[name] = error.headers[name]!;
  return jsonResponse(error.status, errorBodyIn(api, error, requestId), headers);
};

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};

/**
 * The request's body, refused past `limit` bytes, declared (Content-Length: the entry point then did not read
 * it) or actual. No body reads as an empty one.
 */
export const bodyWithinLimit = (
  headers: RequestHeaders,
  body: Uint8Array | undefined,
  limit: number,
): Uint8Array => {
  const declared = headers.get('content-length');
  if (declared !== undefined && Number(declared) > limit) throw payloadTooLarge(limit);
  if (body === undefined) return EMPTY;
  if (body.byteLength > limit) throw payloadTooLarge(limit);
  return body;
};

const EMPTY = new Uint8Array(0);

/** What `readToEnd` reads: a web stream's reader, or the gateway's lighter upstream body reader. */
/** What reads a body chunk by chunk: a web stream's reader, or an upstream body's. */
export interface ChunkReader {
  read(): Promise<{ done: false; value: Uint8Array } | { done: true; value?: Uint8Array | undefined }>;
  cancel(reason?: unknown): Promise<void>;
}

/** Every chunk of a reader, joined; past `limit` bytes it cancels the reader and throws `tooLarge()`. */
export const readToEnd = async (
  reader: ChunkReader,
  limit: number,
  tooLarge: () => Error,
): Promise<Uint8Array> => {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
};

/** The media type of a Content-Type header, lower-cased, without parameters. */
export const mediaType = (contentType: string | null | undefined): string | null =>
  contentType === null || contentType === undefined
    ? null
    : // What the SDKs send, as it is: no split, trim or lower-casing on every request.
      contentType === 'application/json'
      ? contentType
      : (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();

/**
 * The gateway key: `Authorization: Bearer <key>` (what the SDKs send), else `x-api-key`. Behind a Function URL
 * with IAM auth, Authorization holds the caller's SigV4 signature and the key comes in x-api-key.
 */
export const bearerToken = (headers: RequestHeaders): string | undefined => {
  const authorization = headers.get('authorization');
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match?.[1] !== undefined) return match[1];
  }
  return headers.get('x-api-key');
};
