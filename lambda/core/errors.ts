// One error hierarchy and a named factory for every error the gateway answers with (their wire shapes are in
// error-bodies.ts). An error made from another keeps it as its `cause`, which the gateway logs once (with
// its stack) when it answers.

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
  /** What went wrong underneath (a store's or an upstream's error): logged, never shown. */
  readonly cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorTypeName;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, init: GatewayErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'GatewayError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.headers = init.headers ?? {};
  }
}

const invalid = (
  message: string,
  code: string | null,
  param: string | null = null,
  status = 400,
  cause?: unknown,
) => new GatewayError(message, { status, type: ErrorType.invalidRequest, code, param, cause });

// --- The request ----------------------------------------------------------------------------------------------

/** `cause`: what could not be read (a parser's error), for the log. */
export const invalidRequest = (
  message: string,
  param: string | null = null,
  code: string | null = null,
  cause?: unknown,
) => invalid(message, code, param, 400, cause);

export const missingParameter = (param: string) =>
  invalid(`Missing required parameter: '${param}'.`, 'missing_required_parameter', param);

const describe = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
};

export const invalidType = (param: string, expected: string, got: unknown) =>
  invalid(
    `Invalid type for '${param}': expected ${expected}, but got ${describe(got)} instead.`,
    'invalid_type',
    param,
  );

export const invalidValue = (param: string, message: string) =>
  invalid(`Invalid value for '${param}': ${message}`, 'invalid_value', param);

/** A number below (`min`) or above (`max`) what the parameter takes. */
export const outOfRange = (
  param: string,
  integer: boolean,
  bound: 'min' | 'max',
  limit: number,
  got: number,
) =>
  invalid(
    `Invalid '${param}': ${integer ? 'integer' : 'decimal'} ${bound === 'min' ? 'below minimum' : 'above maximum'} value. Expected a value ${bound === 'min' ? '>=' : '<='} ${limit}, but got ${JSON.stringify(got)} instead.`,
    `${integer ? 'integer' : 'decimal'}_${bound === 'min' ? 'below_min' : 'above_max'}_value`,
    param,
  );

/** A parameter above a cap of the gateway's config (a tier's `maxN`, a model's output cap). */
export const aboveConfiguredMaximum = (param: string, max: number, got: unknown, scope: string) =>
  invalid(
    `\`${param}\` must be at most ${max} ${scope}, got: ${JSON.stringify(got)}.`,
    'integer_above_max_value',
    param,
  );

export const invalidModelName = (model: string) => {
  const shown = JSON.stringify(model.length > 64 ? `${model.slice(0, 64)}…` : model);
  return invalid(
    `Invalid 'model': a model name is 1 to 256 printable ASCII characters without spaces, got ${model.length === 0 ? 'an empty string' : `${shown} (${model.length} characters)`}.`,
    'invalid_value',
    'model',
  );
};

/** The `stream` flag's own message, kept from the first release (clients rely on it). */
export const streamNotBoolean = (got: unknown) =>
  invalid(`'stream' must be a boolean, got: ${JSON.stringify(got)}.`, 'invalid_type', 'stream');

export const duplicateParameter = (field: string) =>
  invalid(
    `The multipart body has more than one '${field}' field: send it once.`,
    'duplicate_parameter',
    field,
  );

export const unsupportedIdField = (param: string) =>
  invalid(
    `The field '${param}' looks like the id of a stored object, and the gateway cannot check who owns it: it does not pass it on. Leave it out, or ask the gateway's operator to support it.`,
    'unsupported_id_field',
    param,
  );

/**
 * A background response is metered when it finishes, which the gateway does not see: refused until it follows
 * them like fine-tuning jobs, rather than served without its output in the usage.
 */
export const backgroundRefused = () =>
  invalid(
    "Background responses are not supported by this gateway: their usage is known only when they finish, and the gateway meters every request when it ends. Send the request without 'background' (stream it for a long task).",
    'unsupported_parameter',
    'background',
  );

/** A model without a price, asked for by a tenant with a budget: its cost could not be held. */
export const modelNotPriced = (model: string, tenantId: string) =>
  invalid(
    `The model '${model}' has no price in the gateway's catalogue, and tenant '${tenantId}' has a monthly budget: its cost cannot be held against it. The gateway's operator can price it in the config field \`prices\` (\`prices["${model}"]\`, a family or \`prefix*\` entry that matches it, or \`{ "free": true }\`).`,
    'model_not_priced',
    'model',
  );

/** Fine-tuning a model without a training price, asked for by a tenant with a budget. */
export const trainingNotPriced = (model: string, priced: string, tenantId: string) =>
  invalid(
    `Fine-tuning '${model}' has no price in the gateway's catalogue, and tenant '${tenantId}' has a monthly budget: its training cost could not be charged. The gateway's operator can price it in the config field \`prices["${priced}"].training\` (or a family or \`prefix*\` entry that matches it).`,
    'model_not_priced',
    'model',
  );

// --- Batches ----------------------------------------------------------------------------------------------------

/** A line of a batch input file the gateway refuses, with why (the error the line's request would have got). */
export const badBatchLine = (line: number, customId: string | undefined, why: GatewayError) =>
  invalid(
    `Line ${line}${customId === undefined ? '' : ` (custom_id ${JSON.stringify(customId)})`} of the batch input file: ${why.message}`,
    why.code ?? 'invalid_batch_line',
    'file',
    400,
    why,
  );

/** A batch input file the gateway refuses as a whole (empty, too many lines, not UTF-8). */
export const badBatchFile = (message: string) => invalid(message, 'invalid_batch_file', 'file');

/** A line of a batch's result file that is not JSON: the response rules could not read it, so it is not shown. */
export const unreadableResult = () =>
  serverError(
    502,
    'unreadable_result',
    'The upstream returned a result line the gateway could not read to apply its content rules.',
  );

/** A batch asked of a file the gateway did not check as a batch input file. */
export const notBatchInput = (fileId: string) =>
  invalid(
    `File '${fileId}' was not uploaded as a batch input file through this gateway: upload it with POST /v1/files and purpose "batch" (the gateway checks every line then), and create the batch from the new file's id.`,
    'invalid_input_file',
    'input_file_id',
  );

export const payloadTooLarge = (limitBytes: number) =>
  invalid(`Request body is larger than the limit of ${limitBytes} bytes.`, 'request_too_large', null, 413);

/** A body too large, with a message that says what to do instead (a file over the upload limit). */
export const tooLarge = (message: string) => invalid(message, 'request_too_large', null, 413);

export const unsupportedMediaType = (got: string | null, expected: string) =>
  invalid(
    `Unsupported content type ${got === null ? '(none)' : JSON.stringify(got)}: this endpoint expects ${expected}.`,
    'unsupported_media_type',
    null,
    415,
  );

/**
 * A content rule blocked the request (or the answer). The message names the rule and the field, never the
 * text that matched.
 */
export const contentFiltered = (rule: string, side: 'request' | 'response', field?: string) =>
  invalid(
    side === 'request'
      ? `The request was blocked by the content rule '${rule}'${field === undefined ? '' : ` (in \`${field}\`)`}.`
      : `The answer was blocked by the content rule '${rule}'.`,
    'content_filtered',
    field ?? null,
  );

// --- Who is asking --------------------------------------------------------------------------------------------

export const unauthorized = (message: string) => invalid(message, 'invalid_api_key', null, 401);

export const forbidden = (message: string, code: string, param: string | null = null) =>
  new GatewayError(message, { status: 403, type: ErrorType.permission, code, param });

export const modelNotAllowed = (message: string) => forbidden(message, 'model_not_allowed', 'model');

/** The tenant's monthly budget cannot hold what this request may cost. */
export const insufficientQuota = (message: string) =>
  new GatewayError(message, { status: 429, type: ErrorType.insufficientQuota, code: 'insufficient_quota' });

// --- What is asked for ----------------------------------------------------------------------------------------

export const notFound = (message: string, code = 'not_found') => invalid(message, code, null, 404);

/** An object the tenant does not own: the same answer as for one that does not exist. */
export const objectNotFound = (message: string, param: string | null = null) =>
  invalid(message, null, param, 404);

export const modelNotFound = (model: string, param: string | null = 'model') =>
  invalid(
    `The model '${model}' does not exist or you do not have access to it.`,
    'model_not_found',
    param,
    404,
  );

export const unknownUrl = (method: string, path: string) =>
  notFound(
    `Unknown request URL: ${method} ${path}. Please check the URL and method (the gateway serves the OpenAI API under /v1).`,
    'unknown_url',
  );

export const notServed = (method: string, path: string) =>
  notFound(`${method} ${path} is not served by this gateway.`, 'unknown_url');

export const methodNotAllowed = (method: string, path: string, allowed: readonly string[]) =>
  new GatewayError(`Method ${method} is not allowed on ${path}. Allowed: ${allowed.join(', ')}.`, {
    status: 405,
    type: ErrorType.invalidRequest,
    code: 'method_not_allowed',
    headers: { allow: allowed.join(', ') },
  });

// --- Upstreams ------------------------------------------------------------------------------------------------

/** Every upstream is rate limiting the request and its Retry-After does not fit the retry budget. */
export const rateLimited = (message: string, retryAfter: string | undefined) =>
  new GatewayError(message, {
    status: 429,
    type: ErrorType.rateLimit,
    code: 'rate_limit_exceeded',
    headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
  });

/** Every target's circuit is open: nothing was sent. Tells the client when a probe may succeed. */
export const noHealthyUpstream = (model: string, restSeconds: number) =>
  new GatewayError(`No healthy upstream is available for model '${model}' right now. Try again shortly.`, {
    status: 503,
    type: ErrorType.server,
    code: 'no_healthy_upstream',
    headers: { 'retry-after': String(restSeconds) },
  });

/** A 5xx: the caller sees a generic message and the request id, never the internal detail. */
export const serverError = (
  status: 500 | 502 | 503 | 504,
  code: string,
  publicMessage: string,
  cause?: unknown,
) => new GatewayError(publicMessage, { status, type: ErrorType.server, code, cause });

export const upstreamError = (
  message = 'The upstream provider returned an error.',
  cause?: unknown,
): GatewayError => serverError(502, 'upstream_error', message, cause);

export const upstreamUnreachable = (cause?: unknown) =>
  serverError(502, 'upstream_unreachable', 'The upstream provider could not be reached.', cause);

export const upstreamTimeout = (
  message = 'The upstream provider did not respond in time.',
  cause?: unknown,
) => serverError(504, 'upstream_timeout', message, cause);

export const upstreamAuthFailed = () =>
  serverError(502, 'upstream_auth_failed', "The upstream provider refused the gateway's credentials.");

/** The provider cannot serve the model right now (not ready, unavailable): the client may retry shortly. */
export const upstreamNotReady = (model: string) =>
  new GatewayError(
    `The upstream provider cannot serve model '${model}' right now (not ready or unavailable). Try again shortly.`,
    { status: 503, type: ErrorType.server, code: 'upstream_not_ready', headers: { 'retry-after': '5' } },
  );

/** An object is held by a target the config no longer has. */
export const upstreamUnavailable = (message: string) => serverError(502, 'upstream_unavailable', message);

// --- The gateway's own stores ---------------------------------------------------------------------------------

export const budgetUnavailable = (cause: unknown) =>
  serverError(
    503,
    'budget_unavailable',
    'The gateway could not check your budget. Try again shortly.',
    cause,
  );

export const ownershipUnavailable = (message: string, cause?: unknown) =>
  serverError(503, 'ownership_unavailable', message, cause);

export const filesUnavailable = (message: string) => serverError(503, 'files_unavailable', message);

export const tierNotConfigured = () =>
  serverError(500, 'tier_not_configured', 'The gateway is not configured for this tenant.');

export const internalError = (cause: unknown) =>
  serverError(500, 'internal_error', 'The gateway had an internal error.', cause);

/** Anything thrown that is not a GatewayError is an internal error: its message is not shown, it is the cause. */
export const asGatewayError = (thrown: unknown): GatewayError =>
  thrown instanceof GatewayError ? thrown : internalError(thrown);
