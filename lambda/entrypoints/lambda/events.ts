// API Gateway REST (v1 proxy) and Function URL (v2) events, normalised into one web Request.
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';

export type GatewayEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

/**
 * A header value as node:http would hand it over: its UTF-8 bytes read as Latin-1. Lambda events carry
 * header values as decoded strings, but a web Headers only takes byte strings (it throws above U+00FF).
 */
const byteString = (value: string): string =>
  /[\u0100-\uffff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;

const isV2 = (event: GatewayEvent): event is APIGatewayProxyEventV2 =>
  (event as APIGatewayProxyEventV2).version === '2.0';

const bodyOf = (body: string | null | undefined, base64: boolean): Buffer | undefined =>
  body === null || body === undefined ? undefined : Buffer.from(body, base64 ? 'base64' : 'utf8');

export interface GatewayInput {
  /** The request line and headers; the body travels beside it (see RequestContext.body). */
  readonly request: Request;
  readonly body: Uint8Array | undefined;
}

export const toWebRequest = (event: GatewayEvent): GatewayInput => {
  const headers = new Headers();
  let method: string;
  let url: string;
  let body: Buffer | undefined;
  if (isV2(event)) {
    for (const [name, value] of Object.entries(event.headers ?? {}))
      if (value !== undefined) headers.set(name, byteString(value));
    if (event.cookies?.length) headers.set('cookie', event.cookies.join('; '));
    method = event.requestContext.http.method;
    const host = headers.get('host') ?? event.requestContext.domainName;
    url = `https://${host}${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
    body = bodyOf(event.body, event.isBase64Encoded);
  } else {
    const multi = event.multiValueHeaders ?? {};
    for (const [name, values] of Object.entries(multi))
      for (const value of values ?? []) headers.append(name, byteString(value));
    for (const [name, value] of Object.entries(event.headers ?? {})) {
      if (value !== undefined && !(name in multi)) headers.set(name, byteString(value));
    }
    method = event.httpMethod;
    // The REST API's stage is `v1`, so `/chat/completions` on the stage is the SDK's `/v1/chat/completions`.
    const path = `/${event.requestContext.stage}${event.path}`;
    const query = new URLSearchParams();
    for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
      for (const value of values ?? []) query.append(name, value);
    }
    const host = headers.get('host') ?? event.requestContext.domainName ?? 'localhost';
    url = `https://${host}${path}${query.size > 0 ? `?${query}` : ''}`;
    body = bodyOf(event.body, event.isBase64Encoded);
  }
  const hasBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
  return { request: new Request(url, { method, headers }), body: hasBody ? body : undefined };
};
