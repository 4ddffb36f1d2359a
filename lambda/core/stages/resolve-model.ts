// Stage: what the request asks of which model, and whether the caller may ask it. The route (the config's, or a
// fine-tuned model's own), the key's and tier's allowlists, every id the body names (the tenant's, and on the
// upstream that will serve it), the tier's parameter limits, the request content rules, and a price for a tenant
// with a budget. After this stage the request's state says what it is for the record.
import type { Principal } from '../../ports.ts';
import { IdShape, type IdShapeName, idsInRequest } from '../body-ids.ts';
import type { RouteConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import type { Endpoint } from '../endpoints/catalogue.ts';
import { ClientApi } from '../error-bodies.ts';
import { backgroundRefused, modelNotAllowed, modelNotFound, modelNotPriced } from '../errors.ts';
import { enforceParameterLimits } from '../limits.ts';
import { TokenShape } from '../metering.ts';
import { targetsHolding } from '../owned-ids.ts';
import { priceFor } from '../pricing.ts';
import { FINE_TUNED_METRIC_MODEL, type RequestState } from '../state.ts';
import { applyRequestRules } from './content.ts';
import type { ReadRequest } from './read-request.ts';

export interface Resolved {
  /** The model's route, as configured: the cache key names it. */
  readonly route: RouteConfig;
  /** The targets that may serve this request: the route's, narrowed to those holding the objects it names. */
  readonly serving: RouteConfig;
}

/** Which ids an endpoint's body can name. */
export const idShapeOf = (endpoint: Endpoint): IdShapeName =>
  endpoint.tokens === TokenShape.chat
    ? IdShape.chat
    : endpoint.tokens === TokenShape.responses
      ? IdShape.responses
      : endpoint.api === ClientApi.anthropic
        ? IdShape.messages
        : IdShape.other;

/** A route's name as metrics show it: a prefix route `gpt-` is `gpt-*`. */
const routeMetricName = (route: RouteConfig): string =>
  route.match === 'prefix' ? `${route.model}*` : route.model;

/**
 * A model's route: a fine-tuned model's own (by its ownership record, for its tenant only), never the config's
 * routes for it; any other model's from the config. `route` is undefined when there is none.
 */
export const findRoute = async (g: GatewayContext, principal: Principal, model: string) =>
  model.startsWith('ft:') ? fineTunedRoute(g, principal, model) : configuredRoute(g, model);

/** A fine-tuned model's route: its ownership record's, for its tenant only. */
const fineTunedRoute = async (g: GatewayContext, principal: Principal, model: string) => {
  const fineTuned = await g.fineTuned.find(principal, model);
  return { route: fineTuned?.route, fineTuned, baseModel: fineTuned?.baseModel };
};

/** Any other model's route, from the config: found without a wait. */
const configuredRoute = (g: GatewayContext, model: string) => ({
  route: g.routes.resolve(model),
  fineTuned: undefined,
  baseModel: undefined,
});

/** The key's and tier's allowlists take the model, or (a fine-tuned one) the model it was trained from. */
export const requireAllowed = (
  g: GatewayContext,
  principal: Principal,
  model: string,
  baseModel: string | undefined,
): void => {
  if (!g.mayUse(principal, model) && (baseModel === undefined || !g.mayUse(principal, baseModel)))
    throw modelNotAllowed(`Your API key is not allowed to use the model '${model}'.`);
};

export const resolveModel = async (
  g: GatewayContext,
  state: RequestState,
  endpoint: Endpoint,
  principal: Principal,
  read: ReadRequest,
): Promise<Resolved> => {
  const { model, json } = read;
  // Only a fine-tuned model's route is looked up in a store: the others' are found without a wait.
  const { route, fineTuned, baseModel } = model.startsWith('ft:')
    ? await fineTunedRoute(g, principal, model)
    : configuredRoute(g, model);
  if (route === undefined) throw modelNotFound(model);
  state.model = model;
  state.metricModel = fineTuned === undefined ? routeMetricName(route) : FINE_TUNED_METRIC_MODEL;
  requireAllowed(g, principal, model, baseModel);
  let serving = route;
  if (json !== undefined) {
    // Every id the body names is the tenant's (404 otherwise), and the request goes where those objects are.
    if (endpoint.tokens === TokenShape.responses && json.background === true) throw backgroundRefused();
    const ids = idsInRequest(idShapeOf(endpoint), json);
    if (ids.length > 0) state.records = await g.ownedIds.check(principal, ids);
    if (state.records.size > 0) {
      serving = { ...route, targets: targetsHolding(route.targets, state.records, g.targets.target, model) };
    }
    state.bodyRewritten = enforceParameterLimits({
      config: g.config,
      tierName: principal.tier,
      tier: g.config.tiers[principal.tier],
      shape: endpoint.tokens,
      model,
      body: json,
    });
    if (applyRequestRules(g, state, endpoint.text, json)) state.bodyRewritten = true;
  }
  state.json = json;
  state.tokenShape = endpoint.tokens;
  state.price = priceFor(model, g.config.prices, baseModel);
  if (state.price === undefined && principal.monthlyBudgetMicroUsd !== undefined) {
    throw modelNotPriced(model, principal.tenantId);
  }
  return { route, serving };
};
