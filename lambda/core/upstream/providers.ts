// The kinds of upstream the gateway calls, each behind one interface: where a request goes, how it carries the
// provider key, how a request and its answer translate between OpenAI's wire format and the provider's, and what
// the client is told when the provider failed. OpenAI, Azure OpenAI and any OpenAI-compatible server speak
// OpenAI's API (no translation); a provider that does not (Bedrock, Anthropic) implements the translations.
import { type UpstreamError, UpstreamFailure, type UpstreamResponse } from '../../ports.ts';
import { Provider, type ProviderName, type TargetConfig } from '../config.ts';
import {
  type GatewayError,
  invalidRequest,
  rateLimited,
  upstreamAuthFailed,
  upstreamError,
  upstreamNotReady,
  upstreamTimeout,
  upstreamUnreachable,
} from '../errors.ts';
import { ANTHROPIC_VERSION, type AnthropicContext, toAnthropicRequest } from './anthropic-request.ts';
import { fromAnthropicResponse } from './anthropic-response.ts';
import { type BedrockMessagesContext, fromInvokeMessages, toInvokeMessages } from './bedrock-messages.ts';
import { type BedrockContext, toConverseRequest, toEmbeddingsRequest } from './bedrock-request.ts';
import { fromBedrockResponse } from './bedrock-response.ts';
import { fromChatResponse } from './chat-to-messages.ts';
import { type MessagesContext, toChatRequest } from './messages-to-chat.ts';

/** A request to a proxied endpoint, in the provider's terms once translated. */
export interface ProviderRequest {
  /** OpenAI's path after `/v1` (`/chat/completions`), or the provider's own once translated. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | undefined;
  /** The model the client asked for (the body names the target's once renamed): what a translated answer names. */
  readonly model?: string;
  /** What the translation of the answer needs to know of the request (a translating provider's own). */
  readonly context?: unknown;
}

/** How an attempt failed: an answer that is the target's failure (429, 5xx, 401/403), or no answer at all. */
export type AttemptFailure =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterMs: number | undefined }
  | { readonly kind: 'error'; readonly error: UpstreamError };

export interface UpstreamProvider {
  readonly name: ProviderName;
  /** Where a proxied endpoint's request goes; `path` is the (translated) path after `/v1`. */
  endpointUrl(base: string, target: TargetConfig, path: string, upstreamModel: string): string;
  /** Where an account-level path goes (files, uploads, fine-tuning jobs, responses, conversations), query included. */
  accountUrl(base: string, target: TargetConfig, path: string): string;
  /** The headers that carry the provider key. */
  authHeaders(secret: string): Record<string, string>;
  /**
   * The client's request (OpenAI's wire format) as this provider takes it. Throws a GatewayError (a 400 naming
   * the parameter and the target) for what the provider cannot honour: failover does not try another target.
   */
  translateRequest(request: ProviderRequest, upstreamModel: string, target: TargetConfig): ProviderRequest;
  /** The provider's answer to `request` (as translated) in OpenAI's wire format: status, headers, a JSON or SSE body. */
  translateResponse(response: UpstreamResponse, request: ProviderRequest): UpstreamResponse;
  /** What the client is told when the last attempt, on this provider, failed this way. */
  failureError(failure: AttemptFailure, model: string): GatewayError;
  /** Requests are signed with SigV4 for this AWS service (in the target's region) instead of carrying a key. */
  readonly sigV4Service?: string;
}

/** OpenAI's failures as the gateway's errors: a timeout, no connection, a rate limit, refused credentials. */
export const openAiFailureError = (failure: AttemptFailure, model: string): GatewayError => {
  if (failure.kind === 'error') {
    return failure.error.kind === UpstreamFailure.timeout
      ? upstreamTimeout(undefined, failure.error)
      : upstreamUnreachable(failure.error);
  }
  if (failure.status === 429) {
    const seconds =
      failure.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(failure.retryAfterMs / 1000));
    return rateLimited(
      `The upstream provider is rate limiting requests for model '${model}'.${seconds === undefined ? '' : ` Retry after ${seconds} s.`}`,
      seconds === undefined ? undefined : String(seconds),
    );
  }
  if (failure.status === 401 || failure.status === 403) return upstreamAuthFailed();
  return upstreamError();
};

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The paths of Anthropic's Messages front door (after `/v1`), as the client sent them. */
export const MESSAGES_PATH = '/messages';
export const COUNT_TOKENS_PATH = '/messages/count_tokens';

/**
 * What a translated answer needs, by which translation made the request: the Messages front door's
 * (`messages`: the answer goes back into Anthropic's format) or the provider's own.
 */
type TranslationContext =
  | { readonly messages: MessagesContext | BedrockMessagesContext }
  | { readonly provider: unknown };
const messagesContextOf = (request: ProviderRequest) => {
  const context = request.context as TranslationContext | undefined;
  return context !== undefined && 'messages' in context ? context.messages : undefined;
};
const providerContextOf = (request: ProviderRequest): unknown => {
  const context = request.context as TranslationContext | undefined;
  return context !== undefined && 'provider' in context ? context.provider : undefined;
};

/**
 * OpenAI's API as it is; a Messages request (Anthropic's front door) translated into chat completions, and its
 * answer back (messages-to-chat.ts, chat-to-messages.ts).
 */
const openAi = (name: ProviderName): UpstreamProvider => ({
  name,
  endpointUrl: (base, _target, path) => `${base}${path}`,
  accountUrl: (base, _target, path) => `${base}${path}`,
  authHeaders: (secret) => ({ authorization: `Bearer ${secret}` }),
  translateRequest: (request, upstreamModel, target) => {
    if (request.path !== MESSAGES_PATH) return request;
    const body = parseBody(request);
    const { request: translated, context } = toChatRequest(
      body,
      upstreamModel,
      target,
      request.model ?? upstreamModel,
    );
    return {
      path: '/chat/completions',
      headers: { 'content-type': 'application/json', accept: request.headers.accept ?? 'application/json' },
      body: encoder.encode(JSON.stringify(translated)),
      context: { messages: context } satisfies TranslationContext,
    };
  },
  translateResponse: (response, request) => {
    const messages = messagesContextOf(request);
    return messages === undefined ? response : fromChatResponse(response, messages as MessagesContext);
  },
  failureError: openAiFailureError,
});

const parseBody = (request: ProviderRequest): Record<string, unknown> => {
  try {
    return JSON.parse(decoder.decode(request.body ?? new Uint8Array())) as Record<string, unknown>;
  } catch (error) {
    throw invalidRequest('The request body is not valid JSON.', null, null, error);
  }
};

/**
 * Anthropic's Messages API behind chat completions: `x-api-key` and `anthropic-version` (the target's
 * `apiVersion`), the request and answer translated (anthropic-request.ts, anthropic-response.ts). It serves chat
 * completions only.
 */
const anthropic: UpstreamProvider = {
  name: Provider.anthropic,
  endpointUrl: (base, _target, path) => `${base}${path}`,
  accountUrl: (base, _target, path) => `${base}${path}`,
  authHeaders: (secret) => ({ 'x-api-key': secret }),
  translateRequest: (request, upstreamModel, target) => {
    if (request.path === MESSAGES_PATH || request.path === COUNT_TOKENS_PATH) {
      // Anthropic's own API: the body as the client sent it (the model renamed if the target does), with the
      // client's version and betas (the target's version when the client named none).
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'anthropic-version': request.headers['anthropic-version'] ?? target.apiVersion ?? ANTHROPIC_VERSION,
      };
      for (const name of ANTHROPIC_OPTIONAL_HEADERS)
        if (request.headers[name] !== undefined) headers[name] = request.headers[name];
      return { path: request.path, headers, body: request.body };
    }
    if (request.path !== '/chat/completions')
      throw notServedByTarget(target, request.path, 'chat completions and Anthropic messages');
    const { request: translated, context } = toAnthropicRequest(parseBody(request), upstreamModel, target);
    return {
      path: '/messages',
      // OpenAI's own headers (openai-beta) mean nothing to Anthropic: only what Messages reads is sent.
      headers: {
        ...(request.headers.accept === undefined ? {} : { accept: request.headers.accept }),
        'content-type': 'application/json',
        'anthropic-version': target.apiVersion ?? ANTHROPIC_VERSION,
      },
      body: encoder.encode(JSON.stringify(translated)),
      context: { provider: context } satisfies TranslationContext,
    };
  },
  translateResponse: (response, request) =>
    request.context === undefined
      ? response
      : fromAnthropicResponse(response, providerContextOf(request) as AnthropicContext | undefined),
  failureError: openAiFailureError,
};

/** What a Messages client may send that Anthropic reads, passed on when sent. */
const ANTHROPIC_OPTIONAL_HEADERS = ['accept', 'anthropic-beta'] as const;

/** A proxied endpoint that a translated provider has no counterpart for. */
const notServedByTarget = (target: TargetConfig, path: string, serves: string) =>
  invalidRequest(
    `Target '${target.id}' (${target.provider}) serves ${serves} only, not /v1${path}: route this model to an OpenAI target.`,
    null,
    'unsupported_endpoint',
  );

/** Azure OpenAI: a deployment per model (the target's `model`), an `api-version` on every call, `api-key`. */
const azureOpenAi: UpstreamProvider = {
  ...openAi(Provider.azureOpenai),
  endpointUrl: (base, target, path, upstreamModel) =>
    `${base}/openai/deployments/${encodeURIComponent(upstreamModel)}${path}?api-version=${encodeURIComponent(target.apiVersion ?? '')}`,
  accountUrl: (base, target, path) =>
    `${base}/openai${path}${path.includes('?') ? '&' : '?'}api-version=${encodeURIComponent(target.apiVersion ?? '')}`,
  authHeaders: (secret) => ({ 'api-key': secret }),
};

/**
 * Amazon Bedrock's runtime: chat completions as Converse/ConverseStream, embeddings as InvokeModel (Titan Text
 * Embeddings v2, Cohere Embed), signed with SigV4 by the runtime's credentials (no key, no secret).
 */
const bedrock: UpstreamProvider = {
  name: Provider.bedrock,
  endpointUrl: (base, _target, path) => `${base}${path}`,
  accountUrl: (base, _target, path) => `${base}${path}`,
  authHeaders: () => ({}),
  sigV4Service: 'bedrock',
  translateRequest: (request, upstreamModel, target) => {
    if (request.path === MESSAGES_PATH) {
      // A Messages request goes in its native form: InvokeModel with Anthropic's body (bedrock-messages.ts).
      const { path, body, context } = toInvokeMessages(
        parseBody(request),
        upstreamModel,
        request.headers['anthropic-beta'],
      );
      return {
        path,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: encoder.encode(JSON.stringify(body)),
        context: {
          messages: { ...context, model: request.model ?? context.model },
        } satisfies TranslationContext,
      };
    }
    const translate =
      request.path === '/chat/completions'
        ? toConverseRequest
        : request.path === '/embeddings'
          ? toEmbeddingsRequest
          : undefined;
    if (translate === undefined)
      throw notServedByTarget(target, request.path, 'chat completions, embeddings and Anthropic messages');
    const { path, body, context } = translate(parseBody(request), upstreamModel, target, upstreamModel);
    return {
      path,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: encoder.encode(JSON.stringify(body)),
      context: { provider: context } satisfies TranslationContext,
    };
  },
  translateResponse: (response, request) => {
    const messages = messagesContextOf(request);
    return messages !== undefined
      ? fromInvokeMessages(response, messages as BedrockMessagesContext)
      : fromBedrockResponse(response, providerContextOf(request) as BedrockContext | undefined);
  },
  failureError: (failure, model) =>
    failure.kind === 'status' && failure.status === 503
      ? upstreamNotReady(model)
      : failure.kind === 'status' && failure.status === 403
        ? upstreamError(
            `Amazon Bedrock refused access to model '${model}': enable access to it in the Bedrock console of the target's region, and check that the gateway function's role may bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on it (and on the models of its inference profile).`,
          )
        : openAiFailureError(failure, model),
};

export const PROVIDERS: Readonly<Record<ProviderName, UpstreamProvider>> = {
  [Provider.openai]: openAi(Provider.openai),
  [Provider.openaiCompatible]: openAi(Provider.openaiCompatible),
  [Provider.azureOpenai]: azureOpenAi,
  [Provider.anthropic]: anthropic,
  [Provider.bedrock]: bedrock,
};
