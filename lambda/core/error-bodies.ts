// The error bodies the gateway sends: OpenAI's shape, and Anthropic's on the routes of its Messages API. 5xx
// messages carry the request id, so support can find the log line.
import type { GatewayError } from './errors.ts';

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

/** The API a client speaks to the gateway: OpenAI's, or Anthropic's Messages API (the second front door). */
export const ClientApi = { openai: 'openai', anthropic: 'anthropic' } as const;
export type ClientApiName = (typeof ClientApi)[keyof typeof ClientApi];

export interface AnthropicErrorBody {
  readonly type: 'error';
  readonly error: { readonly type: string; readonly message: string };
  readonly request_id: string;
}

/**
 * Anthropic's error types by status, as its SDKs read them (the SDK picks its error class by status; the type
 * names the kind for a client that reads the body): 529 is its overloaded status, which the gateway's 503 means.
 */
const ANTHROPIC_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

export const anthropicErrorType = (status: number): string =>
  ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');

/** The Anthropic error body for an error: the same message (and request id for a 5xx) as OpenAI's. */
export const toAnthropicErrorBody = (error: GatewayError, requestId: string): AnthropicErrorBody => ({
  type: 'error',
  error: { type: anthropicErrorType(error.status), message: toErrorBody(error, requestId).error.message },
  request_id: requestId,
});

/** The error body in the shape of the API the client called. */
export const errorBodyIn = (
  api: ClientApiName,
  error: GatewayError,
  requestId: string,
): OpenAIErrorBody | AnthropicErrorBody =>
  api === ClientApi.anthropic ? toAnthropicErrorBody(error, requestId) : toErrorBody(error, requestId);
