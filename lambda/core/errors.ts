// One error hierarchy and one serializer to the OpenAI error JSON shape.

export const ErrorType = {
  invalidRequest: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  notFound: 'not_found_error',
  rateLimit: 'rate_limit_error',
  insufficientQuota: 'insufficient_quota',
  server: 'server_error',
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

export interface GatewayErrorInit {
  readonly status: number;
  readonly type: ErrorTypeName;
  readonly code?: string | null;
  readonly param?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorTypeName;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, init: GatewayErrorInit) {
    super(message);
    this.name = 'GatewayError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.headers = init.headers ?? {};
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new GatewayError(message, { status: 400, type: ErrorType.invalidRequest, param, code });

export const notFound = (message: string, code = 'not_found') =>
  new GatewayError(message, { status: 404, type: ErrorType.invalidRequest, code });

export const methodNotAllowed = (method: string, path: string, allowed: readonly string[]) =>
  new GatewayError(`Method ${method} is not allowed on ${path}. Allowed: ${allowed.join(', ')}.`, {
    status: 405,
    type: ErrorType.invalidRequest,
    code: 'method_not_allowed',
    headers: { allow: allowed.join(', ') },
  });

export const unauthorized = (message: string) =>
  new GatewayError(message, { status: 401, type: ErrorType.invalidRequest, code: 'invalid_api_key' });

export const forbidden = (message: string, code: string, param: string | null = null) =>
  new GatewayError(message, { status: 403, type: ErrorType.permission, code, param });

export const payloadTooLarge = (limitBytes: number) =>
  new GatewayError(`Request body is larger than the limit of ${limitBytes} bytes.`, {
    status: 413,
    type: ErrorType.invalidRequest,
    code: 'request_too_large',
  });

export const unsupportedMediaType = (got: string | null, expected: string) =>
  new GatewayError(
    `Unsupported content type ${got === null ? '(none)' : JSON.stringify(got)}: this endpoint expects ${expected}.`,
    { status: 415, type: ErrorType.invalidRequest, code: 'unsupported_media_type' },
  );

/**
 * A content rule blocked the request (or the answer). The message names the rule and the field, never the
 * text that matched.
 */
export const contentFiltered = (rule: string, side: 'request' | 'response', field?: string) =>
  new GatewayError(
    side === 'request'
      ? `The request was blocked by the content rule '${rule}'${field === undefined ? '' : ` (in \`${field}\`)`}.`
      : `The answer was blocked by the content rule '${rule}'.`,
    { status: 400, type: ErrorType.invalidRequest, code: 'content_filtered', param: field ?? null },
  );

/** A 5xx: the caller sees a generic message and the request id, never the internal detail. */
export const serverError = (status: 500 | 502 | 503 | 504, code: string, publicMessage: string) =>
  new GatewayError(publicMessage, { status, type: ErrorType.server, code });

export interface OpenAIErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/** The OpenAI error body for an error. 5xx messages always carry the request id so support can find the log. */
export const toErrorBody = (error: GatewayError, requestId: string): OpenAIErrorBody => ({
  error: {
    message: error.status >= 500 ? `${error.message} (request id: ${requestId})` : error.message,
    type: error.type,
    param: error.param,
    code: error.code,
  },
});

/** Anything thrown that is not a GatewayError is an internal error: its message is not shown. */
export const asGatewayError = (thrown: unknown): GatewayError =>
  thrown instanceof GatewayError
    ? thrown
    : serverError(500, 'internal_error', 'The gateway had an internal error.');
