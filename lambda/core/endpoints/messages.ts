// Anthropic's Messages API as a second front door: `POST /v1/messages` runs the same stages as a chat completion
// (keys, budgets, content rules, cache, failover, metering), in Anthropic's wire format end to end; `POST
// /v1/messages/count_tokens` asks an Anthropic target, or answers with the gateway's own count. Every other path
// under `/v1/messages/` (message batches) is not served. All of them answer errors in Anthropic's shape.

import type { RouteConfig } from '../config.ts';
import { Provider } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { ClientApi } from '../error-bodies.ts';
import type { GatewayRequest, GatewayResponse } from '../exchange.ts';
import { promptTokens, TokenShape } from '../metering.ts';
import type { RouteHandler, RouteSpec } from '../route-table.ts';
import { type ReadRequest, readRequest } from '../stages/read-request.ts';
import { resolveModel } from '../stages/resolve-model.ts';
import { abortWithClient, answerRefusal, upstreamBodies, upstreamHeaders } from '../stages/respond.ts';
import { baseHeaders, type RequestState } from '../state.ts';
import { readBody } from '../upstream/client.ts';
import { COUNT_TOKENS_PATH } from '../upstream/providers.ts';
import { type Endpoint, MESSAGES_ENDPOINT } from './catalogue.ts';
import { proxiedEndpoint } from './proxied.ts';

/** The header that says a token count is the gateway's estimate, not the model's tokenizer's. */
export const TOKEN_COUNT_HEADER = 'x-gateway-token-count';

/**
 * count_tokens reads a Messages body without `max_tokens` and generates nothing: no output cap is set (the
 * upstream would refuse the field), and it is not metered.
 */
const COUNT_TOKENS_ENDPOINT: Endpoint = {
  ...MESSAGES_ENDPOINT,
  upstreamPath: COUNT_TOKENS_PATH,
  tokens: TokenShape.other,
};

const encoder = new TextEncoder();
const UPSTREAM_COUNT_BYTES = 64 * 1024;

const countTokens: RouteHandler = async (g, state, request) => {
  const principal = state.principal!;
  state.endpoint = COUNT_TOKENS_ENDPOINT;
  const read = readRequest(g, request, COUNT_TOKENS_ENDPOINT, principal);
  const { serving } = await resolveModel(g, state, COUNT_TOKENS_ENDPOINT, principal, read);
  // Only Anthropic's API has the endpoint; a route with an Anthropic target asks it (with failover among them).
  const anthropic = serving.targets.filter((target) => target.provider === Provider.anthropic);
  if (anthropic.length === 0) return estimate(g, state, read.json!);
  return askTarget(g, state, request, { ...serving, targets: anthropic }, read);
};

/** The gateway's own count (the tokenizer the budget holds use), marked as an estimate. */
const estimate = (g: GatewayContext, state: RequestState, json: Record<string, unknown>): GatewayResponse => {
  const inputTokens = promptTokens(TokenShape.messages, json, g.deps.tokens);
  const headers = baseHeaders(state, g.clock.now());
  headers['content-type'] = 'application/json';
  headers[TOKEN_COUNT_HEADER] = 'estimate';
  return { status: 200, headers, body: encoder.encode(JSON.stringify({ input_tokens: inputTokens })) };
};

/** The count from the route's Anthropic targets: the body as a message would go (redacted by the rules too). */
const askTarget = async (
  g: GatewayContext,
  state: RequestState,
  request: GatewayRequest,
  route: RouteConfig,
  read: ReadRequest,
): Promise<GatewayResponse> => {
  const { controller, release } = abortWithClient(request.signal);
  try {
    const result = await g.failover.send(state, {
      route,
      model: read.model,
      method: 'POST',
      path: COUNT_TOKENS_PATH,
      headers: upstreamHeaders(request, ClientApi.anthropic),
      bodyFor: upstreamBodies(state, read, false),
      signal: controller.signal,
    });
    if (result.kind === 'aborted') return { status: 499, headers: {}, body: undefined };
    const { response, target } = result;
    if (response.status >= 400)
      return await answerRefusal(g, state, response, target.id, ClientApi.anthropic);
    const body = await readBody(response.body, UPSTREAM_COUNT_BYTES);
    const headers = baseHeaders(state, g.clock.now());
    headers['content-type'] = 'application/json';
    return { status: response.status, headers, body };
  } finally {
    release();
  }
};

export const messagesRoutes: readonly RouteSpec[] = [
  {
    path: '/v1/messages',
    methods: { POST: proxiedEndpoint(MESSAGES_ENDPOINT) },
    metered: true,
    api: ClientApi.anthropic,
  },
  { path: '/v1/messages/count_tokens', methods: { POST: countTokens }, api: ClientApi.anthropic },
  // Message batches and anything else under Messages: Anthropic-shaped 404s, never taken for another route.
  { path: '/v1/messages/{rest+}', methods: {}, notServed: true, api: ClientApi.anthropic },
];
