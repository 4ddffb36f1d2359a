// API Gateway REST (v1 proxy) and Function URL (v2) events, normalised into the gateway's request.
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { type GatewayRequest, headersOf, splitTarget } from '../../core/exchange.ts';
import type { Principal } from '../../ports.ts';

export type GatewayEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

/**
 * A header value as node:http would hand it over: its UTF-8 bytes read as Latin-1. Lambda events carry header
 * values as decoded strings; a value above U+00FF could not be sent on upstream (Node takes byte strings only).
 */
const byteString = (value: string): string =>
  /[\u0100-\uffff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;

const isV2 = (event: GatewayEvent): event is APIGatewayProxyEventV2 =>
  (event as APIGatewayProxyEventV2).version === '2.0';

const bodyOf = (body: string | null | undefined, base64: boolean): Buffer | undefined =>
  body === null || body === undefined ? undefined : Buffer.from(body, base64 ? 'base64' : 'utf8');

/**
 * The principal from the API Gateway authorizer's context (set by API Gateway, not by the client). Values
 * there are strings, numbers or booleans: `models` is a JSON array or empty.
 */
const budgetOf = (value: unknown): number | undefined => {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
};

/** A JSON array of model names; anything else (absent, '', not an array) means no key-level allowlist. */
const modelsOf = (value: unknown): string[] | undefined => {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) && parsed.every((model) => typeof model === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
};

export const principalFromAuthorizer = (
  authorizer: Record<string, unknown> | null | undefined,
): Principal | undefined => {
  const tenantId = authorizer?.tenantId;
  const keyId = authorizer?.keyId;
  const tier = authorizer?.tier;
  if (typeof tenantId !== 'string' || typeof keyId !== 'string' || typeof tier !== 'string') return undefined;
  return {
    tenantId,
    keyId,
    tier,
    models: modelsOf(authorizer?.models),
    monthlyBudgetMicroUsd: budgetOf(authorizer?.monthlyBudgetMicroUsd),
  };
};

/** An API Gateway or Function URL event as the gateway's request. */
export const toGatewayRequest = (event: GatewayEvent): GatewayRequest => {
  const headers: Record<string, string> = {};
  /** Names lower-cased, repeats joined with `, ` (as node:http and web Headers read them). */
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const previous = headers[key];
    headers[key] = previous === undefined ? byteString(value) : `${previous}, ${byteString(value)}`;
  };
  let method: string;
  let target: string;
  let query: string;
  let body: Buffer | undefined;
  let clientIp: string | undefined;
  let principal: Principal | undefined;
  if (isV2(event)) {
    clientIp = event.requestContext.http.sourceIp;
    for (const [name, value] of Object.entries(event.headers ?? {}))
      if (value !== undefined) add(name, value);
    if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
    method = event.requestContext.http.method;
    target = event.rawPath;
    query = event.rawQueryString ?? '';
    body = bodyOf(event.body, event.isBase64Encoded);
  } else {
    const multi = event.multiValueHeaders ?? {};
    for (const [name, values] of Object.entries(multi)) for (const value of values ?? []) add(name, value);
    for (const [name, value] of Object.entries(event.headers ?? {})) {
      if (value !== undefined && !(name in multi)) add(name, value);
    }
    method = event.httpMethod;
    clientIp = event.requestContext.identity?.sourceIp ?? undefined;
    principal = principalFromAuthorizer(event.requestContext.authorizer);
    // The REST API's stage is `v1`, so `/chat/completions` on the stage is the SDK's `/v1/chat/completions`.
    target = `/${event.requestContext.stage}${event.path}`;
    const search = new URLSearchParams();
    for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
      for (const value of values ?? []) search.append(name, value);
    }
    query = search.toString();
    body = bodyOf(event.body, event.isBase64Encoded);
  }
  const { path } = splitTarget(target);
  const hasBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
  return {
    method,
    path,
    query,
    headers: headersOf(headers),
    body: hasBody ? body : undefined,
    clientIp,
    principal,
  };
};
