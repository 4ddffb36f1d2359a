// Stage: the request body of a proxied endpoint. Its media type, its size (per tier), its shape (a JSON object
// within the depth and size limits, or a multipart form without repeated fields), the model it names, and the
// fields that must be what the upstream will read them as. Nothing here has gone upstream yet.
import type { Principal } from '../../ports.ts';
import type { GatewayContext } from '../context.ts';
import type { Endpoint } from '../endpoints/catalogue.ts';
import { invalidRequest, unsupportedMediaType } from '../errors.ts';
import type { GatewayRequest } from '../exchange.ts';
import { bodyWithinLimit, mediaType } from '../http.ts';
import { checkJsonCharset, checkJsonShape, decodeUtf8, maxBodyBytesFor } from '../limits.ts';
import { checkModelName, checkRequestFields, readForm } from '../request-fields.ts';

export interface ReadRequest {
  /** The body as the client sent it: what goes upstream unless the gateway must change it. */
  readonly raw: Uint8Array;
  readonly model: string;
  /** The parsed JSON object; undefined for a multipart body. */
  readonly json: Record<string, unknown> | undefined;
}

/** The request of a multipart endpoint (an audio transcription): its fields parsed, the model read. */
export const readMultipartRequest = async (
  g: GatewayContext,
  request: GatewayRequest,
  principal: Principal,
): Promise<ReadRequest> => {
  const contentType = request.headers.get('content-type');
  if (mediaType(contentType) !== 'multipart/form-data')
    throw unsupportedMediaType(contentType ?? null, 'multipart/form-data');
  const raw = bodyWithinLimit(
    request.headers,
    request.body,
    maxBodyBytesFor(g.config, g.config.tiers[principal.tier]),
  );
  return { raw, model: await multipartModel(raw, contentType), json: undefined };
};

/** The request of a JSON endpoint, read at once (no wait: the entry point holds the body). */
export const readRequest = (
  g: GatewayContext,
  request: GatewayRequest,
  endpoint: Endpoint,
  principal: Principal,
): ReadRequest => {
  const contentType = request.headers.get('content-type');
  if (mediaType(contentType) !== 'application/json')
    throw unsupportedMediaType(contentType ?? null, 'application/json');
  checkJsonCharset(contentType ?? null);
  const raw = bodyWithinLimit(
    request.headers,
    request.body,
    maxBodyBytesFor(g.config, g.config.tiers[principal.tier]),
  );

  checkJsonShape(raw, g.config.limits);
  const text = decodeUtf8(raw);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalidRequest(
      `We could not parse the JSON body of your request: ${error instanceof Error ? error.message : 'invalid JSON'}. Send a JSON object.`,
      null,
      null,
      error,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidRequest('The request body must be a JSON object.');
  }
  const json = parsed as Record<string, unknown>;
  const model = json.model;
  if (model === undefined || model === null || model === '')
    throw invalidRequest('You must provide a model parameter.', 'model');
  if (typeof model !== 'string')
    throw invalidRequest(`'model' must be a string, got: ${JSON.stringify(model)}.`, 'model');
  checkModelName(model);
  checkRequestFields(endpoint.tokens, endpoint.upstreamPath, json);
  return { raw, model, json };
};

/** The model of a multipart body (an audio transcription), whose fields must each come once. */
const multipartModel = async (raw: Uint8Array, contentType: string | undefined): Promise<string> => {
  const model = (await readForm(raw, contentType)).get('model');
  if (typeof model !== 'string' || model === '')
    throw invalidRequest('You must provide a model parameter.', 'model');
  checkModelName(model);
  return model;
};
