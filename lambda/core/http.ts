// Small HTTP helpers shared by the pipeline: JSON responses, Retry-After, body reading with a limit.
import { type GatewayError, payloadTooLarge, toErrorBody } from './errors.ts';

export const jsonResponse = (status: number, body: unknown, headers: Record<string, string>): Response =>
  new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });

export const errorResponse = (
  error: GatewayError,
  requestId: string,
  headers: Record<string, string>,
): Response => jsonResponse(error.status, toErrorBody(error, requestId), { ...headers, ...error.headers });

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};

/** Reads a request body (or takes the bytes the entry point read), refusing it past `limit` bytes (declared or actual). */
export const readBodyWithLimit = async (
  request: Request,
  limit: number,
  preRead?: Uint8Array,
): Promise<Uint8Array> => {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw payloadTooLarge(limit);
  if (preRead !== undefined) {
    if (preRead.byteLength > limit) throw payloadTooLarge(limit);
    return preRead;
  }
  if (request.body === null) return new Uint8Array(0);
  return readToEnd(request.body.getReader(), limit, () => payloadTooLarge(limit));
};

/** What `readToEnd` reads: a web stream's reader, or the gateway's lighter upstream body reader. */
interface ChunkReader {
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
export const mediaType = (contentType: string | null): string | null =>
  contentType === null ? null : (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();

/**
 * The gateway key: `Authorization: Bearer <key>` (what the SDKs send), else `x-api-key`. Behind a Function URL
 * with IAM auth, Authorization holds the caller's SigV4 signature and the key comes in x-api-key.
 */
export const bearerToken = (headers: Headers): string | undefined => {
  const authorization = headers.get('authorization');
  if (authorization !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match?.[1] !== undefined) return match[1];
  }
  return headers.get('x-api-key') ?? undefined;
};
