// Stage: the response cache. The plan (whether this request may be answered from, or stored in, the cache, and
// under which key: the tenant's own), a hit served as JSON or replayed as a stream (a billed hit holds its cost
// like any request), and a completed answer stored after it was sent, as the client saw it. A cache failure never
// fails a request: it is logged, counted, and the request goes on as a miss.
import { type Principal, RequestOutcome } from '../../ports.ts';
import { assembleStream } from '../cache-assemble.ts';
import { type CacheEntry, parseEntry, replayJson, replaySse, serializeEntry } from '../cache-entry.ts';
import { type CachePlan, CacheStatus, planCache } from '../cache-policy.ts';
import { answersHaveText, redactAnswer } from '../content-fields.ts';
import { emptyHits } from '../content-rules.ts';
import type { GatewayContext } from '../context.ts';
import type { Endpoint } from '../endpoints/catalogue.ts';
import type { GatewayRequest, GatewayResponse } from '../exchange.ts';
import { TokenShape, ZERO_USAGE } from '../metering.ts';
import { costOf } from '../pricing.ts';
import type { RelayEnd } from '../relay.ts';
import { baseHeaders, type RequestState, UNKNOWN_MODEL } from '../state.ts';
import { usageFromAnthropic, usageFromOpenAI } from '../usage.ts';
import { placeHold } from './budget.ts';
import type { Resolved } from './resolve-model.ts';

const encoder = new TextEncoder();

const cacheFailed = (g: GatewayContext, state: RequestState, operation: string, error: unknown) => {
  g.logger.warn('response cache failed', { requestId: state.requestId, operation, error: String(error) });
  g.metrics.emit({
    dimensions: { model: state.metricModel ?? UNKNOWN_MODEL },
    values: [{ name: 'CacheErrors', value: 1, unit: 'Count' }],
  });
};

const countCache = (g: GatewayContext, state: RequestState, name: 'CacheHits' | 'CacheMisses') =>
  g.metrics.emit({
    dimensions: { model: state.metricModel ?? UNKNOWN_MODEL },
    values: [{ name, value: 1, unit: 'Count' }],
  });

/** What the cache may do for this request; undefined: nothing (`x-gateway-cache: bypass`). */
export const planFor = (
  g: GatewayContext,
  state: RequestState,
  request: GatewayRequest,
  endpoint: Endpoint,
  principal: Principal,
  resolved: Resolved,
): CachePlan | undefined => {
  const json = state.json;
  if (g.deps.cache === undefined || json === undefined) return undefined;
  const plan = planCache({
    tenantId: principal.tenantId,
    endpointPath: state.path,
    endpoint,
    route: resolved.route,
    tier: g.config.tiers[principal.tier],
    body: json,
    headers: request.headers,
    config: g.config.cache,
    variant: g.filters?.responseFingerprint ?? '',
  });
  if (plan !== undefined) state.cacheStatus = CacheStatus.miss;
  return plan;
};

/** Serves a stored answer, as JSON or replayed as a stream; undefined on a miss (or a cache failure). */
export const answerFromCache = async (
  g: GatewayContext,
  state: RequestState,
  principal: Principal,
  plan: CachePlan,
  endpoint: Endpoint,
): Promise<GatewayResponse | undefined> => {
  const json = state.json!;
  let stored: string | undefined;
  try {
    stored = await g.deps.cache?.get(plan.key);
  } catch (error) {
    cacheFailed(g, state, 'get', error);
    return undefined;
  }
  const entry = stored === undefined ? undefined : parseEntry(stored, { stream: json.stream === true });
  if (entry === undefined || entry.endpoint !== endpoint.tokens) {
    countCache(g, state, 'CacheMisses');
    return undefined;
  }
  const usage =
    (endpoint.tokens === TokenShape.messages
      ? usageFromAnthropic(entry.body.usage)
      : usageFromOpenAI(entry.body.usage)) ?? ZERO_USAGE;
  const costMicroUsd =
    g.config.tiers[principal.tier]?.billCacheHits === true ? costOf(usage, state.price) : 0;
  if (costMicroUsd > 0 && principal.monthlyBudgetMicroUsd !== undefined) {
    // A billed hit holds its exact cost, like any request, so hits cannot spend past the budget either.
    await placeHold(g, state, principal, costMicroUsd);
  }
  state.cacheStatus = CacheStatus.hit;
  state.cacheHit = { usage, costMicroUsd };
  state.status = 200;
  countCache(g, state, 'CacheHits');
  const headers = baseHeaders(state, g.clock.now());
  headers['x-gateway-cache'] = CacheStatus.hit;
  let body: string;
  if (json.stream === true) {
    const options = json.stream_options as { include_usage?: unknown } | undefined;
    headers['content-type'] = 'text/event-stream';
    headers['cache-control'] = 'no-cache';
    body = replaySse(entry, { includeUsage: options?.include_usage === true }).join('');
  } else {
    headers['content-type'] = 'application/json';
    body = replayJson(entry);
  }
  g.telemetry.settle(state, { outcome: RequestOutcome.complete, usage, firstByteAt: g.clock.now() });
  return { status: 200, headers, body: encoder.encode(body) };
};

/** Stores a completed answer (off the response path); oversize answers are not stored. */
export const storeAnswer = (
  g: GatewayContext,
  state: RequestState,
  plan: CachePlan,
  endpoint: Endpoint,
  captured: NonNullable<RelayEnd['captured']>,
): void => {
  const cache = g.deps.cache;
  if (cache === undefined || endpoint.tokens === TokenShape.other) return;
  let body: Record<string, unknown> | undefined;
  if ('json' in captured) {
    try {
      const parsed: unknown = JSON.parse(captured.json);
      body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
  } else if (endpoint.tokens === TokenShape.chat || endpoint.tokens === TokenShape.completions) {
    body = assembleStream(endpoint.tokens, captured.events);
  }
  if (body === undefined) return;
  const rules = g.filters?.response;
  if (rules !== undefined && answersHaveText(endpoint.text)) {
    // Stored as the client saw it: redacted (as a stream, redacting the whole text gives the same), and not at
    // all when a rule blocks it.
    const hits = emptyHits();
    redactAnswer(endpoint.text, rules, body, hits);
    if (hits.blockedBy !== undefined) return;
  }
  const entry: CacheEntry = { v: 1, endpoint: endpoint.tokens, body, createdAt: g.clock.now() };
  const text = serializeEntry(entry);
  // What could never be served (a Responses answer that did not complete, …) is not stored.
  if (parseEntry(text, { stream: false }) === undefined) return;
  if (Buffer.byteLength(text) > g.config.cache.maxEntryBytes) return;
  g.cacheWrites.add(
    cache.set(plan.key, text, plan.ttlSeconds).catch((error: unknown) => cacheFailed(g, state, 'set', error)),
  );
};
