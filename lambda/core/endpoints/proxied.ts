// A proxied endpoint (chat completions, responses, embeddings, …): the stages in order. Every request that gets
// here is metered: whatever way it ends from now on, it gets a usage record.

import type { RouteHandler } from '../route-table.ts';
import { reserveBudget } from '../stages/budget.ts';
import { answerFromCache, planFor } from '../stages/cache.ts';
import { readMultipartRequest, readRequest } from '../stages/read-request.ts';
import { resolveModel } from '../stages/resolve-model.ts';
import { respond } from '../stages/respond.ts';
import { BodyKind, type Endpoint } from './catalogue.ts';

export const proxiedEndpoint =
  (endpoint: Endpoint): RouteHandler =>
  async (g, state, request) => {
    const principal = state.principal!;
    state.endpoint = endpoint;
    const read =
      endpoint.body === BodyKind.multipart
        ? await readMultipartRequest(g, request, principal)
        : readRequest(g, request, endpoint, principal);
    const resolved = await resolveModel(g, state, endpoint, principal, read);
    const plan = planFor(g, state, request, endpoint, principal, resolved);
    if (plan?.read === true) {
      const hit = await answerFromCache(g, state, principal, plan, endpoint);
      if (hit !== undefined) return hit;
    }
    await reserveBudget(g, state, principal, read.raw);
    return respond(g, state, request, endpoint, read, resolved, plan);
  };
