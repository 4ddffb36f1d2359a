// The bodies owned routes take: files and upload parts (multipart, up to fineTuning.maxFileBytes, a file's
// fields each sent once) and JSON objects (within the request limits).
import type { GatewayConfig } from '../config.ts';
import { GatewayError, invalidRequest, tooLarge, unsupportedMediaType } from '../errors.ts';
import { bodyWithinLimit, mediaType } from '../http.ts';
import { checkJsonShape, decodeUtf8 } from '../limits.ts';
import { readForm } from '../request-fields.ts';
import type { Json, OwnedCall } from './common.ts';

/** A multipart body (a file or a part), refused past fineTuning.maxFileBytes with the way to send more. */
export const readFileBody = async (
  config: GatewayConfig,
  call: OwnedCall,
  what: 'file' | 'part',
): Promise<Uint8Array> => {
  const policy = config.fineTuning;
  const contentType = call.request.headers.get('content-type');
  if (mediaType(contentType) !== 'multipart/form-data')
    throw unsupportedMediaType(contentType ?? null, 'multipart/form-data');
  const limit = policy.maxFileBytes;
  let body: Uint8Array;
  try {
    body = bodyWithinLimit(call.request.headers, call.request.body, limit);
  } catch (error) {
    if (!(error instanceof GatewayError) || error.code !== 'request_too_large') throw error;
    throw tooLarge(
      what === 'file'
        ? `POST /v1/files takes files of up to ${limit} bytes. Upload larger files in parts: POST /v1/uploads, then POST /v1/uploads/{upload_id}/parts with parts of up to ${limit} bytes each, then POST /v1/uploads/{upload_id}/complete.`
        : `An upload part can be at most ${limit} bytes: split the file into more parts.`,
    );
  }
  if (what === 'part') return body;
  // A file whose fields could be read one way here and another upstream is refused.
  await readForm(body, contentType);
  return body;
};

export const readJson = (config: GatewayConfig, call: OwnedCall): { bytes: Uint8Array; body: Json } => {
  const contentType = call.request.headers.get('content-type');
  if (mediaType(contentType) !== 'application/json')
    throw unsupportedMediaType(contentType ?? null, 'application/json');
  const bytes = bodyWithinLimit(call.request.headers, call.request.body, config.limits.maxBodyBytes);
  checkJsonShape(bytes, config.limits);
  let body: unknown;
  try {
    body = JSON.parse(decodeUtf8(bytes));
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw invalidRequest(
      'We could not parse the JSON body of your request. Send a JSON object.',
      null,
      null,
      error,
    );
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalidRequest('The request body must be a JSON object.');
  return { bytes, body: body as Json };
};
