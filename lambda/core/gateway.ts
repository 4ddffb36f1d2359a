// The gateway: one request in, one response out, every side effect through a port. A request is matched in the
// route table (404/405 there), its caller authenticated when the route needs a key, and handed to the route's
// handler (a proxied endpoint's stages, the models list, an owned-object route). Whatever way it ends (an answer,
// a thrown error, a relayed body that finishes or is cut) it is settled exactly once.
import { RequestOutcome } from '../ports.ts';
import { createContext, type GatewayDeps } from './context.ts';
import { PROXIED_ENDPOINTS } from './endpoints/catalogue.ts';
import { healthRoutes } from './endpoints/health.ts';
import { messagesRoutes } from './endpoints/messages.ts';
import { modelRoutes } from './endpoints/models.ts';
import { proxiedEndpoint } from './endpoints/proxied.ts';
import { asGatewayError } from './errors.ts';
import {
  fromWebRequest,
  type GatewayRequest,
  type GatewayResponse,
  toWebResponse,
  type WebRequestContext,
} from './exchange.ts';
import { errorResponse } from './http.ts';
import { largestBodyLimit } from './limits.ts';
import { batchRoutes } from './owned/batches.ts';
import { createOwnedCommon } from './owned/common.ts';
import { conversationRoutes } from './owned/conversations.ts';
import { fileRoutes } from './owned/files.ts';
import { fineTuningRoutes } from './owned/fine-tuning.ts';
import { createRouteTable, type RouteSpec } from './route-table.ts';
import type { CircuitBreakers } from './routing.ts';
import { authenticate } from './stages/authenticate.ts';
import { baseHeaders, newRequestState, type RequestState } from './state.ts';

export type { GatewayDeps } from './context.ts';
export { FINE_TUNED_METRIC_MODEL, UNKNOWN_MODEL } from './state.ts';

export interface Gateway {
  /** Answers one request. Never rejects: every failure is an OpenAI-shaped error response. */
  serve(request: GatewayRequest): Promise<GatewayResponse>;
  /** `serve` for a caller holding a web Request (tests, fetch-style hosts). */
  handle(request: Request, context?: WebRequestContext): Promise<Response>;
  readonly breakers: CircuitBreakers;
  /** Entry points that read the body themselves stop reading past this many bytes. */
  readonly maxBodyBytes: number;
  /** Resolves once every usage record and cache store started so far is done: Lambda awaits it before returning. */
  drain(): Promise<void>;
}

/** How a request that settles as soon as it is answered ended, by its status. */
const outcomeOf = (status: number) =>
  status >= 500
    ? RequestOutcome.upstreamError
    : status >= 400
      ? RequestOutcome.rejected
      : RequestOutcome.complete;

export const createGateway = (deps: GatewayDeps): Gateway => {
  const g = createContext(deps);
  const owned = createOwnedCommon(g);
  const batches = batchRoutes(owned);
  const routes: RouteSpec[] = [
    ...healthRoutes,
    ...modelRoutes(g),
    ...[...PROXIED_ENDPOINTS].map(([path, endpoint]) => ({
      path,
      methods: { [endpoint.method]: proxiedEndpoint(endpoint) },
      metered: true,
    })),
    ...messagesRoutes,
    ...fileRoutes(owned, batches),
    ...fineTuningRoutes(owned),
    ...batches.routes,
    ...conversationRoutes(owned),
  ];
  const table = createRouteTable(routes);

  const settleNow = (state: RequestState) =>
    g.telemetry.settle(state, { outcome: outcomeOf(state.status), usage: undefined, firstByteAt: undefined });

  const serve = async (request: GatewayRequest): Promise<GatewayResponse> => {
    const state = newRequestState(g.newRequestId(), g.clock.now(), request.method, request.path);
    try {
      const match = table.match(request.method, request.path);
      state.api = match.api;
      if (match.auth) state.principal = await authenticate(g, request);
      state.metered = match.metered;
      const response = await match.handler(g, state, request, match.params);
      state.status = response.status;
      if (!state.relaying) settleNow(state);
      return response;
    } catch (thrown) {
      const error = asGatewayError(thrown);
      state.error = error;
      state.status = error.status;
      const response = errorResponse(error, state.requestId, baseHeaders(state, g.clock.now()), state.api);
      settleNow(state);
      return response;
    }
  };

  return {
    serve,
    handle: async (request, context) => toWebResponse(await serve(await fromWebRequest(request, context))),
    breakers: g.breakers,
    maxBodyBytes: largestBodyLimit(deps.config),
    drain: async () => {
      await Promise.all([g.usageWriter.drain(), g.cacheWrites.drain()]);
    },
  };
};
