// The gateway: a web Request → Response function. Every side effect goes through a port.
import {
  type BudgetStore,
  type Clock,
  type JobEvents,
  type KeyStore,
  type Logger,
  type Metrics,
  OwnedKind,
  type OwnedObject,
  type OwnershipStore,
  type Principal,
  RequestOutcome,
  type RequestOutcomeKind,
  type ResponseCache,
  type SecretSource,
  type TokenCounter,
  type TokenUsage,
  type Upstream,
  UpstreamError,
  UpstreamFailure,
  type UpstreamResponse,
  type UsageLedger,
  type UsageRecord,
} from '../ports.ts';
import {
  type AnswerRecorder,
  AnswerShape,
  type AnswerShapeName,
  createAnswerRecorder,
} from './answer-ids.ts';
import { createBackgroundWork } from './background.ts';
import { IdShape, type IdShapeName, idsInRequest } from './body-ids.ts';
import {
  assembleStream,
  type CacheEntry,
  parseEntry,
  replayJson,
  replaySse,
  serializeEntry,
} from './cache-entry.ts';
import { type CachePlan, CacheStatus, type CacheStatusName, planCache } from './cache-policy.ts';
import {
  type GatewayConfig,
  type PriceConfig,
  Provider,
  type RouteConfig,
  type TargetConfig,
} from './config.ts';
import {
  answersHaveText,
  createStreamFilter,
  redactAnswer,
  rewriteRequestTexts,
  type TextShapeName,
} from './content-fields.ts';
import {
  type ContentFilters,
  emptyHits,
  hasContentRules,
  type RuleHits,
  redactText,
} from './content-rules.ts';
import {
  BodyKind,
  type Endpoint,
  HEALTH_PATH,
  MODELS_PATH,
  PROXIED_ENDPOINTS,
  V1_HEALTH_PATH,
} from './endpoints.ts';
import {
  asGatewayError,
  contentFiltered,
  ErrorType,
  forbidden,
  GatewayError,
  invalidRequest,
  methodNotAllowed,
  notFound,
  serverError,
  toErrorBody,
  unauthorized,
  unsupportedMediaType,
} from './errors.ts';
import { fileEstimateTokens, fileHoldTokens, fileInputOf } from './file-inputs.ts';
import {
  bearerToken,
  errorResponse,
  jsonResponse,
  mediaType,
  parseRetryAfter,
  readBodyWithLimit,
} from './http.ts';
import { createJobObserver } from './jobs.ts';
import { createKeyVerifier, modelAllowed } from './keys.ts';
import { createUsageWriter } from './ledger-writer.ts';
import {
  checkJsonCharset,
  checkJsonShape,
  decodeUtf8,
  enforceParameterLimits,
  largestBodyLimit,
  maxBodyBytesFor,
} from './limits.ts';
import { maxOutputTokens, promptTokens, TokenShape, type TokenShapeName, ZERO_USAGE } from './metering.ts';
import { createOwnedIds, NO_RECORDS, type OwnedRecords, targetsHolding } from './owned-ids.ts';
import { createOwnedRoutes } from './owned-routes.ts';
import { billingMonthOf, budgetResetAt, costOf, formatUsd, priceFor, worstCaseCost } from './pricing.ts';
import { type RelayEnd, relayBody } from './relay.ts';
import { checkModelName, checkRequestFields, refuseRepeatedFields } from './request-fields.ts';
import { CircuitBreakers, chooseTarget, createRouteTable } from './routing.ts';
import { authHeadersFor, createTargetClient, readBody } from './targets.ts';
import { MAX_UPSTREAM_ERROR_BYTES, redactUpstreamError } from './upstream-errors.ts';
import { usageFromOpenAI } from './usage.ts';

export interface GatewayDeps {
  readonly config: GatewayConfig;
  readonly keys: KeyStore;
  readonly budgets: BudgetStore;
  readonly tokens: TokenCounter;
  /** The response cache; left out, no request is cached (`x-gateway-cache: bypass`). */
  readonly cache?: ResponseCache | undefined;
  /** The config's content rules, compiled (compileContentFilters); required when the config enables any. */
  readonly filters?: ContentFilters | undefined;
  /** Ownership of files, uploads, fine-tuning jobs and models; left out, those routes answer 503. */
  readonly ownership?: OwnershipStore | undefined;
  /** Where fine-tuning status changes go. @default - a log line per change */
  readonly jobEvents?: JobEvents | undefined;
  readonly secrets: SecretSource;
  readonly upstream: Upstream;
  readonly ledger: UsageLedger;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** [0, 1); injected so that weighted choice is testable. */
  readonly random?: () => number;
  readonly newRequestId?: () => string;
}

export interface RequestContext {
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal;
  /**
   * The request body, when the entry point already holds its bytes (a Lambda event, a body the local
   * server read). The core then reads these instead of `request.body`: building a web Request around a
   * body costs tens of microseconds per request on Node 20.
   */
  readonly body?: Uint8Array;
  /** The caller's address, for keys with a CIDR allowlist. */
  readonly clientIp?: string;
  /**
   * A caller already authenticated in front of the gateway (the API Gateway authorizer ran the same key
   * verification). Entry points set it only from a source the client cannot forge.
   */
  readonly principal?: Principal;
}

export interface Gateway {
  handle(request: Request, context?: RequestContext): Promise<Response>;
  readonly breakers: CircuitBreakers;
  /** Entry points that read the body themselves stop reading past this many bytes. */
  readonly maxBodyBytes: number;
  /** Resolves once every usage record started so far is stored (or logged): Lambda awaits it before returning. */
  drain(): Promise<void>;
}

/** Headers a client may send that the upstream should see; everything else (the gateway key first) stays here. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'openai-beta'] as const;
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'openai-processing-ms', 'cache-control'] as const;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Stands in for the hits of a request no response rule reads: never written to. */
const NO_HITS: RuleHits = emptyHits();
const UPSTREAM_STATUS_FOR_CLIENT_FAULT = new Set([400, 404, 409, 413, 415, 422]);
/**
 * What usage records and metrics name a request by when it named no model the gateway serves: a client's
 * string never reaches them unless it is a valid name that routes.
 */
export const UNKNOWN_MODEL = '(unknown model)';
/** The metric dimension of fine-tuned models: one value for all, since each tenant can create any number. */
export const FINE_TUNED_METRIC_MODEL = 'ft:*';

type AttemptFailure =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterMs: number | undefined }
  | { readonly kind: 'error'; readonly error: UpstreamError };

/** Per-request state that the log line, metrics and usage record are built from. */
interface Trace {
  readonly requestId: string;
  readonly startedAt: number;
  readonly method: string;
  readonly path: string;
  principal: Principal | undefined;
  /** A proxied endpoint: its request gets a usage record, whatever way it ends. */
  metered: boolean;
  /** The ownership records of the ids the body names. */
  records: OwnedRecords;
  /** The model, once it is a valid name that routes (else the record says UNKNOWN_MODEL). */
  model: string | undefined;
  /** The configured route's name (`gpt-4o`, `gpt-*`, `ft:*`): the only model values metrics carry. */
  metricModel: string | undefined;
  price: PriceConfig | undefined;
  /** The parsed JSON body and its endpoint's token shape, for estimates. */
  json: Record<string, unknown> | undefined;
  tokenShape: TokenShapeName;
  reservedMicroUsd: number;
  /** An upstream accepted the request (answered 2xx/3xx), so tokens were spent even if no usage came back. */
  upstreamAccepted: boolean;
  /** The client left while the request was with an upstream: the provider may bill its prompt. */
  abortedInFlight: boolean;
  /** The gateway changed the parsed body (a cap set, text redacted): it goes upstream re-encoded. */
  bodyRewritten: boolean;
  cacheStatus: CacheStatusName;
  /** A cache hit: the tokens it saved and what it is billed. */
  cacheHit: { readonly usage: TokenUsage; readonly costMicroUsd: number } | undefined;
  targetId: string | undefined;
  attempts: number;
  upstreamMs: number;
  status: number;
}

export const createGateway = (deps: GatewayDeps): Gateway => {
  const { config, clock, logger } = deps;
  if (hasContentRules(config.filters) && deps.filters === undefined) {
    // Never serve with rules configured but not applied.
    throw new Error(
      'the config enables content rules: pass them compiled as deps.filters (compileContentFilters)',
    );
  }
  const filters = deps.filters;
  const random = deps.random ?? Math.random;
  const newRequestId = deps.newRequestId ?? (() => crypto.randomUUID());
  const routes = createRouteTable(config.routes);
  const breakers = new CircuitBreakers(config.breaker, clock);
  const startedAt = Math.floor(clock.now() / 1000);
  const modelList = {
    object: 'list',
    data: routes.modelIds.map((id) => ({ id, object: 'model', created: startedAt, owned_by: 'gateway' })),
  };
  const verifier = createKeyVerifier({
    store: deps.keys,
    secrets: deps.secrets,
    pepperSecretName: config.keys.pepperSecretName,
    tiers: config.tiers,
    clock,
    cacheTtlMs: config.keys.cacheTtlMs,
  });
  const usageWriter = createUsageWriter({ ledger: deps.ledger, logger, metrics: deps.metrics, clock });
  const ownedIds = createOwnedIds({ ownership: deps.ownership, clock, logger, metrics: deps.metrics });
  const targets = createTargetClient({ config, secrets: deps.secrets, upstream: deps.upstream });
  const jobEvents: JobEvents = deps.jobEvents ?? {
    publish: async (change) => logger.info('fine-tuning job status changed', { ...change }),
  };
  const observer =
    deps.ownership === undefined
      ? undefined
      : createJobObserver({
          config,
          ownership: deps.ownership,
          ledger: deps.ledger,
          events: jobEvents,
          keys: deps.keys,
          clock,
          logger,
        });
  const targetBaseUrls = new Map<string, string>();
  for (const route of config.routes) {
    for (const target of route.targets) targetBaseUrls.set(target.id, target.baseUrl.replace(/\/+$/, ''));
  }

  const baseHeaders = (trace: Trace): Record<string, string> => ({
    'x-request-id': trace.requestId,
    'x-gateway-overhead-ms': (clock.now() - trace.startedAt - trace.upstreamMs).toFixed(2),
  });

  const finish = (
    trace: Trace,
    outcome: RequestOutcomeKind,
    usage: TokenUsage | undefined,
    firstByteAt?: number,
    estimateOutputTokens?: RelayEnd['estimateOutputTokens'],
  ) => {
    const latencyMs = clock.now() - trace.startedAt;
    const ttfbMs = firstByteAt === undefined ? undefined : firstByteAt - trace.startedAt;
    const model = trace.metricModel ?? UNKNOWN_MODEL;
    logger.info('request', {
      requestId: trace.requestId,
      tenantId: trace.principal?.tenantId,
      keyId: trace.principal?.keyId,
      method: trace.method,
      path: trace.path,
      model: trace.model,
      target: trace.targetId,
      status: trace.status,
      outcome,
      attempts: trace.attempts,
      latencyMs: round(latencyMs),
      ttfbMs: ttfbMs === undefined ? undefined : round(ttfbMs),
      overheadMs: round(latencyMs - trace.upstreamMs),
      tokens: usage,
    });
    deps.metrics.emit({
      dimensions: { model },
      values: [
        { name: 'Requests', value: 1, unit: 'Count' },
        { name: 'ClientErrors', value: trace.status >= 400 && trace.status < 500 ? 1 : 0, unit: 'Count' },
        { name: 'ServerErrors', value: trace.status >= 500 ? 1 : 0, unit: 'Count' },
        {
          name: 'StreamFailures',
          value: outcome === RequestOutcome.upstreamError || outcome === RequestOutcome.timeout ? 1 : 0,
          unit: 'Count',
        },
        { name: 'Failovers', value: Math.max(0, trace.attempts - 1), unit: 'Count' },
        { name: 'Latency', value: latencyMs, unit: 'Milliseconds' },
        ...(ttfbMs === undefined
          ? []
          : [{ name: 'TimeToFirstByte', value: ttfbMs, unit: 'Milliseconds' as const }]),
      ],
    });
    if (trace.principal === undefined || !trace.metered) return;
    usageWriter.write(
      meter(
        trace,
        trace.principal,
        trace.model ?? UNKNOWN_MODEL,
        outcome,
        usage,
        estimateOutputTokens,
        latencyMs,
        ttfbMs,
      ),
    );
  };

  /** The priced usage record of a finished request; tokens are estimated when the upstream reported none. */
  const meter = async (
    trace: Trace,
    principal: Principal,
    model: string,
    outcome: RequestOutcomeKind,
    reported: TokenUsage | undefined,
    estimateOutputTokens: RelayEnd['estimateOutputTokens'] | undefined,
    latencyMs: number,
    ttfbMs: number | undefined,
  ): Promise<UsageRecord> => {
    const hit = trace.cacheHit;
    if (hit !== undefined)
      return usageRecord(
        trace,
        principal,
        model,
        outcome,
        hit.usage,
        true,
        hit.costMicroUsd,
        latencyMs,
        ttfbMs,
      );
    let usage = reported ?? ZERO_USAGE;
    let exact = true;
    if (
      reported === undefined &&
      (trace.upstreamAccepted || trace.abortedInFlight) &&
      trace.tokenShape !== TokenShape.other
    ) {
      // Cut short (or an upstream that reports no usage): count what was sent and what came back so far. A client
      // that left while the upstream had the request is charged its prompt: the provider may bill it. A request
      // no upstream accepted (refused, failed) is not charged.
      await deps.tokens.ready().catch(() => {});
      const count = (text: string) => deps.tokens.count(text);
      // Counted again, not taken from the budget hold: that count may predate the tokenizer (an upper bound).
      const inputTokens =
        trace.json === undefined
          ? 0
          : promptTokens(trace.tokenShape, trace.json, deps.tokens, {
              fileTokens: (part) => fileEstimateTokens(fileInputOf(part, trace.records)),
            });
      usage = { ...ZERO_USAGE, inputTokens, outputTokens: estimateOutputTokens?.(count) ?? 0 };
      exact = false;
    }
    const costMicroUsd = costOf(usage, trace.price);
    const metricModel = trace.metricModel ?? UNKNOWN_MODEL;
    deps.metrics.emit({
      dimensions: { model: metricModel },
      values: [
        { name: 'InputTokens', value: usage.inputTokens, unit: 'Count' },
        { name: 'OutputTokens', value: usage.outputTokens, unit: 'Count' },
        { name: 'CostMicroUsd', value: costMicroUsd, unit: 'Count' },
      ],
    });
    if (trace.price === undefined && (usage.inputTokens > 0 || usage.outputTokens > 0)) {
      deps.metrics.emit({
        dimensions: { model: metricModel },
        values: [{ name: 'UnpricedRequests', value: 1, unit: 'Count' }],
      });
    }
    if (trace.reservedMicroUsd > 0 && costMicroUsd > trace.reservedMicroUsd) {
      logger.warn('request cost more than its budget hold', {
        requestId: trace.requestId,
        tenantId: principal.tenantId,
        model,
        costMicroUsd,
        reservedMicroUsd: trace.reservedMicroUsd,
      });
      deps.metrics.emit({
        dimensions: { model: metricModel },
        values: [{ name: 'BudgetHoldExceeded', value: 1, unit: 'Count' }],
      });
    }
    return usageRecord(trace, principal, model, outcome, usage, exact, costMicroUsd, latencyMs, ttfbMs);
  };

  const usageRecord = (
    trace: Trace,
    principal: Principal,
    model: string,
    outcome: RequestOutcomeKind,
    usage: TokenUsage,
    exact: boolean,
    costMicroUsd: number,
    latencyMs: number,
    ttfbMs: number | undefined,
  ): UsageRecord => ({
    requestId: trace.requestId,
    tenantId: principal.tenantId,
    keyId: principal.keyId,
    tier: principal.tier,
    endpoint: trace.path,
    model,
    // A hit went to no upstream, whatever target the route would have chosen.
    targetId: trace.cacheHit === undefined ? trace.targetId : undefined,
    status: trace.status,
    outcome,
    usage,
    exact,
    cacheHit: trace.cacheHit !== undefined,
    costMicroUsd,
    reservedMicroUsd: trace.reservedMicroUsd,
    month: billingMonthOf(trace.startedAt),
    startedAt: trace.startedAt,
    latencyMs,
    ttfbMs,
  });

  const respondWithError = (trace: Trace, thrown: unknown): Response => {
    const error = asGatewayError(thrown);
    if (!(thrown instanceof GatewayError)) {
      logger.error('internal error', {
        requestId: trace.requestId,
        error: thrown instanceof Error ? thrown.stack : String(thrown),
      });
    }
    trace.status = error.status;
    const response = errorResponse(error, trace.requestId, baseHeaders(trace));
    finish(trace, error.status >= 500 ? RequestOutcome.upstreamError : RequestOutcome.rejected, undefined);
    return response;
  };

  const authenticate = async (request: Request, context: RequestContext): Promise<Principal> => {
    if (context.principal !== undefined) return context.principal;
    const key = bearerToken(request.headers);
    if (key === undefined) {
      throw unauthorized(
        "You didn't provide an API key. Send your gateway key as 'Authorization: Bearer <key>' (or the x-api-key header).",
      );
    }
    return (await verifier.verify(key, context.clientIp)).principal;
  };

  /** The key's and the tier's model allowlists. */
  const mayUse = (principal: Principal, model: string): boolean =>
    modelAllowed(model, principal.models) && modelAllowed(model, config.tiers[principal.tier]?.models);

  const ownedRoutes = createOwnedRoutes({
    config,
    ownership: deps.ownership,
    ownedIds,
    targets,
    observer,
    budgets: deps.budgets,
    clock,
    logger,
    mayUse,
  });

  /** A fine-tuned model's record and its route (to the target that trained it), built once per lookup. */
  interface FineTunedModel {
    readonly record: OwnedObject;
    readonly route: RouteConfig;
    readonly baseModel: string | undefined;
  }
  /** Fine-tuned models by name, for a while: ownership never changes, so a hit is reused for longer than a miss. */
  const fineTuned = new Map<string, { model: FineTunedModel | undefined; until: number }>();
  const FINE_TUNED_HIT_MS = 5 * 60_000;
  const FINE_TUNED_MISS_MS = 5_000;

  const lookUpFineTuned = async (name: string): Promise<FineTunedModel | undefined> => {
    const record = await deps.ownership?.get(OwnedKind.model, name);
    const target = record === undefined ? undefined : targets.target(record.targetId);
    if (record === undefined || target === undefined) return undefined;
    const { model: _upstreamModel, ...trained } = target;
    return {
      record,
      route: { model: name, match: 'exact', cache: true, targets: [{ ...trained, weight: 1, priority: 0 }] },
      baseModel: typeof record.object.base_model === 'string' ? record.object.base_model : undefined,
    };
  };

  /**
   * A fine-tuned model (`ft:…`) of the caller's tenant, routed to the target that trained it. Undefined when the
   * tenant does not own it, whoever does.
   */
  const fineTunedModel = async (principal: Principal, name: string): Promise<FineTunedModel | undefined> => {
    if (deps.ownership === undefined) return undefined;
    const now = clock.now();
    let cached = fineTuned.get(name);
    if (cached === undefined || cached.until <= now) {
      const model = await lookUpFineTuned(name);
      cached = { model, until: now + (model === undefined ? FINE_TUNED_MISS_MS : FINE_TUNED_HIT_MS) };
      if (fineTuned.size > 10_000) fineTuned.clear();
      fineTuned.set(name, cached);
    }
    return cached.model?.record.tenantId === principal.tenantId ? cached.model : undefined;
  };

  /**
   * Holds the worst-case cost of the request against the tenant's monthly budget, in one atomic conditional
   * write, before anything goes upstream. Refused: 429 insufficient_quota.
   */
  const reserveBudget = async (
    trace: Trace,
    principal: Principal,
    model: string,
    json: Record<string, unknown> | undefined,
    rawBody: Uint8Array,
  ) => {
    const limit = principal.monthlyBudgetMicroUsd;
    if (limit === undefined || trace.price === undefined) return;
    let withMargin: number;
    if (trace.tokenShape === TokenShape.other || json === undefined) {
      // Images, audio, moderations: no tokenizer estimate of the input, so every byte of the body counts as a
      // token (never fewer than the real count for text; far more for audio), and the output at its cap.
      withMargin = rawBody.byteLength;
    } else {
      const imageTokens = trace.price.imageInputTokens ?? config.budgets.defaultImageInputTokens;
      const contextWindow = trace.price.maxInputTokens ?? config.budgets.defaultMaxInputTokens;
      const input = promptTokens(trace.tokenShape, json, deps.tokens, {
        imageTokens,
        fileTokens: (part) => fileHoldTokens(fileInputOf(part, trace.records), contextWindow),
      });
      withMargin = Math.ceil((input * (100 + config.budgets.inputMarginPercent)) / 100);
      // A Responses request can continue a stored conversation the gateway never sees: its whole context.
      if (
        trace.tokenShape === TokenShape.responses &&
        (json.previous_response_id != null || json.conversation != null || json.prompt != null)
      ) {
        withMargin += trace.price.maxInputTokens ?? config.budgets.defaultMaxInputTokens;
      }
    }
    const output = maxOutputTokens(
      trace.tokenShape,
      json ?? {},
      trace.price,
      config.budgets.defaultMaxOutputTokens,
    );
    const amount = worstCaseCost(withMargin, output, trace.price);
    if (amount === 0) return;
    await placeHold(trace, principal, model, amount);
  };

  /**
   * One atomic conditional write of `amount` against the tenant's budget. Refused: 429 insufficient_quota.
   * The store unreachable: fail closed (503), since without the hold concurrent requests could overspend.
   */
  const placeHold = async (trace: Trace, principal: Principal, model: string, amount: number) => {
    const limit = principal.monthlyBudgetMicroUsd ?? 0;
    const month = billingMonthOf(trace.startedAt);
    let result: Awaited<ReturnType<BudgetStore['reserve']>>;
    try {
      result = await deps.budgets.reserve({
        tenantId: principal.tenantId,
        month,
        requestId: trace.requestId,
        amountMicroUsd: amount,
        limitMicroUsd: limit,
      });
    } catch (error) {
      logger.error('budget reservation failed', { requestId: trace.requestId, error: String(error) });
      throw serverError(
        503,
        'budget_unavailable',
        'The gateway could not check your budget. Try again shortly.',
      );
    }
    if (!result.admitted) {
      throw new GatewayError(
        `Tenant '${principal.tenantId}' has reached its monthly budget of ${formatUsd(limit)} for ${month} ` +
          `(${formatUsd(result.committedMicroUsd)} spent or held by requests in flight; this request may cost up to ${formatUsd(amount)} for model '${model}'). ` +
          `The budget resets at ${budgetResetAt(month).toISOString()}.`,
        { status: 429, type: ErrorType.insufficientQuota, code: 'insufficient_quota' },
      );
    }
    trace.reservedMicroUsd = amount;
  };

  /** Parses the request body for what routing needs: the model, and the JSON document when there is one. */
  const readModel = async (
    request: Request,
    endpoint: Endpoint,
    body: Uint8Array,
  ): Promise<{ model: string; json: Record<string, unknown> | undefined }> => {
    if (endpoint.body === BodyKind.multipart) {
      let form: FormData;
      try {
        form = await new Response(body as Uint8Array<ArrayBuffer>, {
          headers: { 'content-type': request.headers.get('content-type') ?? '' },
        }).formData();
      } catch {
        throw invalidRequest('The multipart/form-data body could not be parsed.');
      }
      refuseRepeatedFields(form);
      const model = form.get('model');
      if (typeof model !== 'string' || model === '')
        throw invalidRequest('You must provide a model parameter.', 'model');
      checkModelName(model);
      return { model, json: undefined };
    }
    checkJsonShape(body, config.limits);
    const text = decodeUtf8(body);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw invalidRequest(
        `We could not parse the JSON body of your request: ${error instanceof Error ? error.message : 'invalid JSON'}. Send a JSON object.`,
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw invalidRequest('The request body must be a JSON object.');
    }
    const model = (json as Record<string, unknown>).model;
    if (model === undefined || model === null || model === '') {
      throw invalidRequest('You must provide a model parameter.', 'model');
    }
    if (typeof model !== 'string')
      throw invalidRequest(`'model' must be a string, got: ${JSON.stringify(model)}.`, 'model');
    checkModelName(model);
    checkRequestFields(endpoint.tokens, endpoint.upstreamPath, json as Record<string, unknown>);
    return { model, json: json as Record<string, unknown> };
  };

  const upstreamUrl = (target: TargetConfig, upstreamModel: string, endpoint: Endpoint): string => {
    const base = targetBaseUrls.get(target.id)!;
    if (target.provider === Provider.azureOpenai) {
      return `${base}/openai/deployments/${encodeURIComponent(upstreamModel)}${endpoint.upstreamPath}?api-version=${encodeURIComponent(target.apiVersion ?? '')}`;
    }
    return `${base}${endpoint.upstreamPath}`;
  };

  const authHeaders = (target: TargetConfig, fresh: boolean): Promise<Record<string, string>> =>
    authHeadersFor(target, deps.secrets, fresh);

  /** Sends to one target; a 401 makes one retry with a freshly read key (the key may have been rotated). */
  const sendTo = async (
    target: TargetConfig,
    endpoint: Endpoint,
    request: Request,
    body: Uint8Array,
    upstreamModel: string,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> => {
    const headers: Record<string, string> = { 'user-agent': 'llm-gateway' };
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const url = upstreamUrl(target, upstreamModel, endpoint);
    const timeouts = target.timeouts;
    const send = async (fresh: boolean) =>
      deps.upstream.send({
        url,
        method: endpoint.method,
        headers: { ...headers, ...(await authHeaders(target, fresh)) },
        body,
        connectTimeoutMs: timeouts.connectMs,
        firstByteTimeoutMs: timeouts.firstByteMs,
        signal,
      });
    const response = await send(false);
    if (response.status !== 401 || target.secretName === undefined) return response;
    await response.body.cancel().catch(() => {});
    return send(true);
  };

  const proxy = async (
    trace: Trace,
    request: Request,
    endpoint: Endpoint,
    route: RouteConfig,
    model: string,
    json: Record<string, unknown> | undefined,
    rawBody: Uint8Array,
    signal: AbortSignal | undefined,
    cachePlan: CachePlan | undefined,
  ): Promise<Response> => {
    const streamed = json?.stream === true;
    const clientStreamOptions = json?.stream_options as { include_usage?: unknown } | undefined;
    const clientWantsUsage = clientStreamOptions?.include_usage === true;
    const injectUsage = streamed && endpoint.streamUsageOption && !clientWantsUsage;
    const bodies = new Map<string, Uint8Array>();
    const bodyFor = (upstreamModel: string): Uint8Array => {
      // The client's bytes go upstream untouched unless the model name or stream options must change.
      if (json === undefined || (upstreamModel === model && !injectUsage && !trace.bodyRewritten))
        return rawBody;
      let body = bodies.get(upstreamModel);
      if (body === undefined) {
        const rewritten: Record<string, unknown> = { ...json, model: upstreamModel };
        if (injectUsage) rewritten.stream_options = { ...(clientStreamOptions ?? {}), include_usage: true };
        body = encoder.encode(JSON.stringify(rewritten));
        bodies.set(upstreamModel, body);
      }
      return body;
    };

    const upstreamAbort = new AbortController();
    const onClientAbort = () => upstreamAbort.abort(new Error('client disconnected'));
    signal?.addEventListener('abort', onClientAbort, { once: true });
    const release = () => signal?.removeEventListener('abort', onClientAbort);

    const tried = new Set<string>();
    let waitBudgetMs = config.retry.budgetMs;
    let lastFailure: AttemptFailure | undefined;
    let response: UpstreamResponse | undefined;
    let target: TargetConfig | undefined;

    while (trace.attempts < config.retry.maxAttempts) {
      target = chooseTarget(route.targets, (t) => !tried.has(t.id) && breakers.isAvailable(t.id), random);
      if (target === undefined) {
        // Every target was tried or is resting. One held back only by Retry-After is worth a wait within budget.
        const waiting = earliestRetry(route, clock.now());
        if (waiting === undefined || waiting.waitMs > waitBudgetMs) break;
        waitBudgetMs -= waiting.waitMs;
        const waitStart = clock.now();
        try {
          await clock.sleep(waiting.waitMs, upstreamAbort.signal);
        } catch {
          break;
        }
        trace.upstreamMs += clock.now() - waitStart;
        target = waiting.target;
      }
      tried.add(target.id);
      trace.attempts += 1;
      trace.targetId = target.id;
      breakers.onAttempt(target.id);
      const sentAt = clock.now();
      try {
        const upstreamModel = target.model ?? model;
        response = await sendTo(
          target,
          endpoint,
          request,
          bodyFor(upstreamModel),
          upstreamModel,
          upstreamAbort.signal,
        );
      } catch (error) {
        trace.upstreamMs += clock.now() - sentAt;
        if (upstreamAbort.signal.aborted) {
          // The client left while this attempt was with the upstream (not during a wait between attempts).
          trace.abortedInFlight = signal?.aborted === true;
          break;
        }
        const upstreamError =
          error instanceof UpstreamError
            ? error
            : new UpstreamError(UpstreamFailure.connect, String(error), { cause: error });
        lastFailure = { kind: 'error', error: upstreamError };
        noteFailure(target, `${upstreamError.kind}: ${upstreamError.message}`);
        continue;
      }
      trace.upstreamMs += clock.now() - sentAt;
      if (
        response.status === 429 ||
        response.status >= 500 ||
        response.status === 401 ||
        response.status === 403
      ) {
        const retryAfterMs = parseRetryAfter(response.headers['retry-after'], clock.now());
        await response.body.cancel().catch(() => {});
        lastFailure = { kind: 'status', status: response.status, retryAfterMs };
        if (response.status === 429) {
          breakers.retryAfter(target.id, clock.now() + (retryAfterMs ?? 0));
          logger.warn('upstream rate limited', {
            requestId: trace.requestId,
            target: target.id,
            retryAfterMs,
          });
        } else {
          noteFailure(target, `status ${response.status}`);
        }
        response = undefined;
        continue;
      }
      breakers.onSuccess(target.id);
      break;
    }

    if (upstreamAbort.signal.aborted) {
      release();
      if (response !== undefined) {
        // The client left as the upstream answered: an accepted request spent tokens.
        trace.abortedInFlight = response.status < 400;
        await response.body.cancel().catch(() => {});
      }
      trace.status = 499;
      finish(trace, RequestOutcome.clientAbort, undefined);
      return new Response(null, { status: 499 });
    }
    if (response === undefined || target === undefined) {
      release();
      throw failureToError(lastFailure, model, Math.ceil(config.breaker.cooldownMs / 1000));
    }

    const status = response.status;
    if (status >= 400 && !UPSTREAM_STATUS_FOR_CLIENT_FAULT.has(status)) {
      // Any other refusal is not about the client's request: a generic 502, and the upstream body is not shown.
      release();
      await response.body.cancel().catch(() => {});
      logger.warn('upstream refused the request', { requestId: trace.requestId, target: target.id, status });
      throw serverError(502, 'upstream_error', 'The upstream provider returned an error.');
    }
    if (status >= 400) {
      // About the client's request: passed on so the client learns what to fix, without what the upstream may
      // echo of the gateway's account (keys, organisation and project ids).
      release();
      return passOnRefusal(trace, response, target);
    }
    trace.status = status;
    trace.upstreamAccepted = status < 400;
    const headers = baseHeaders(trace);
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = response.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    headers['x-gateway-cache'] = trace.cacheStatus;
    const sse = (response.headers['content-type'] ?? '').startsWith('text/event-stream');
    if (sse) headers['cache-control'] = 'no-cache';
    // Response content rules: a stream is filtered event by event; a JSON answer is read whole, then filtered.
    const answerRules = status === 200 && answersHaveText(endpoint.text) ? filters?.response : undefined;
    // Only requests that response rules read pay for counting what they do.
    const answerHits = answerRules === undefined ? NO_HITS : emptyHits();
    const streamFilter =
      answerRules !== undefined && sse
        ? createStreamFilter(endpoint.text, answerRules, answerHits)
        : undefined;
    // Ids the answer creates (a response and its items, an audio answer) are the tenant's from now on.
    const answerShape = status === 200 ? answerShapeOf(endpoint, json) : undefined;
    const recorder =
      answerShape === undefined
        ? undefined
        : createAnswerRecorder(answerShape, {
            owned: ownedIds,
            principal: trace.principal!,
            targetId: target.id,
            requestId: trace.requestId,
            now: () => clock.now(),
            logger,
            metrics: deps.metrics,
          });
    const readWhole = (answerRules !== undefined || recorder !== undefined) && !sse;
    const settle = (end: RelayEnd) => {
      release();
      if (end.outcome === RequestOutcome.upstreamError || end.outcome === RequestOutcome.timeout) {
        breakers.onFailure(trace.targetId ?? '');
      }
      if (answerRules !== undefined) reportHits(trace, 'response', answerHits);
      finish(trace, end.outcome, end.usage, end.firstByteAt, end.estimateOutputTokens);
      if (
        cachePlan?.write === true &&
        end.outcome === RequestOutcome.complete &&
        end.captured !== undefined
      ) {
        storeAnswer(trace, cachePlan, endpoint, end.captured);
      }
    };
    let ended: RelayEnd | undefined;
    const body = relayBody({
      upstream: response.body,
      sse,
      sseEndsWithDone: endpoint.streamEndsWithDone,
      dropUsageChunk: injectUsage,
      jsonUsage: !sse && response.status < 400,
      ...(cachePlan?.write === true && status === 200 ? { captureMaxBytes: config.cache.maxEntryBytes } : {}),
      filter: streamFilter,
      recorder: sse ? recorder : undefined,
      heartbeatMs: config.streaming.heartbeatMs,
      idleTimeoutMs: target.timeouts.idleMs,
      requestId: trace.requestId,
      now: () => clock.now(),
      abortUpstream: (reason) => upstreamAbort.abort(new Error(reason)),
      onEnd: (end) => {
        if (readWhole) ended = end;
        else settle(end);
      },
    });
    if (!readWhole) return new Response(body, { status, headers });
    return answerWhole(
      trace,
      { shape: endpoint.text, rules: answerRules, hits: answerHits, recorder },
      body,
      headers,
      signal,
      () => settle(ended!),
    );
  };

  /**
   * Reads a JSON answer whole (through the relay, so timeouts and metering hold), records the ids it creates,
   * applies the response rules, and answers with the filtered JSON, or a 400 when a rule blocks it. `settle`
   * records the request.
   */
  const answerWhole = async (
    trace: Trace,
    after: {
      readonly shape: TextShapeName;
      readonly rules: ContentFilters['response'];
      readonly hits: RuleHits;
      readonly recorder: AnswerRecorder | undefined;
    },
    body: ReadableStream<Uint8Array>,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    settle: () => void,
  ): Promise<Response> => {
    const { shape, rules, hits, recorder } = after;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await new Response(body).arrayBuffer());
    } catch {
      // The upstream failed (or the client left) part way: the relay has noted how it ended.
      trace.status = signal?.aborted === true ? 499 : 502;
      settle();
      return errorResponse(
        serverError(502, 'upstream_error', 'The upstream provider failed while sending the response.'),
        trace.requestId,
        baseHeaders(trace),
      );
    }
    let answer: unknown;
    try {
      answer = JSON.parse(decoder.decode(bytes));
    } catch {
      answer = undefined; // not JSON after all: nothing the rules can read, passed on as it came
    }
    if (recorder !== undefined) {
      recorder.answer(answer);
      await recorder.flush();
    }
    if (rules !== undefined && typeof answer === 'object' && answer !== null && !Array.isArray(answer)) {
      const changed = redactAnswer(shape, rules, answer as Record<string, unknown>, hits);
      if (hits.blockedBy !== undefined) {
        trace.status = 400;
        settle();
        return errorResponse(
          contentFiltered(hits.blockedBy, 'response'),
          trace.requestId,
          baseHeaders(trace),
        );
      }
      if (changed) bytes = encoder.encode(JSON.stringify(answer));
    }
    settle();
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status: trace.status, headers });
  };

  /** An upstream's refusal of the client's request, redacted; the request was not accepted, so nothing is billed. */
  const passOnRefusal = async (
    trace: Trace,
    response: UpstreamResponse,
    target: TargetConfig,
  ): Promise<Response> => {
    let bytes: Uint8Array;
    try {
      bytes = redactUpstreamError(await readBody(response.body, MAX_UPSTREAM_ERROR_BYTES));
    } catch {
      // Unreadable, or longer than any error message: the status says enough.
      bytes = encoder.encode(
        JSON.stringify(
          toErrorBody(
            new GatewayError(`The upstream provider refused the request (status ${response.status}).`, {
              status: response.status,
              type: ErrorType.invalidRequest,
            }),
            trace.requestId,
          ),
        ),
      );
    }
    logger.info('upstream refused the request as invalid', {
      requestId: trace.requestId,
      target: target.id,
      status: response.status,
    });
    trace.status = response.status;
    const headers = baseHeaders(trace);
    headers['content-type'] = response.headers['content-type'] ?? 'application/json';
    headers['x-gateway-cache'] = trace.cacheStatus;
    finish(trace, RequestOutcome.rejected, undefined);
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status: response.status, headers });
  };

  /** Counts and logs what content rules did to one side of a request; never the text they matched. */
  const reportHits = (trace: Trace, side: 'request' | 'response', hits: RuleHits) => {
    const report = (rule: string, action: 'block' | 'redact', matches: number) => {
      logger.warn('content filtered', {
        requestId: trace.requestId,
        tenantId: trace.principal?.tenantId,
        side,
        rule,
        action,
        matches,
      });
      deps.metrics.emit({
        dimensions: { rule },
        values: [
          { name: action === 'block' ? 'ContentBlocked' : 'ContentRedacted', value: matches, unit: 'Count' },
        ],
      });
    };
    for (const [rule, matches] of hits.redacted) report(rule, 'redact', matches);
    if (hits.blockedBy !== undefined) report(hits.blockedBy, 'block', 1);
  };

  /** Request rules over every text the model will read; a block refuses the request. True when text changed. */
  const applyRequestRules = (trace: Trace, shape: TextShapeName, json: Record<string, unknown>): boolean => {
    const rules = filters?.request;
    if (rules === undefined) return false;
    const hits = emptyHits();
    let blockedIn: string | undefined;
    const changed = rewriteRequestTexts(shape, json, (text, path) => {
      if (hits.blockedBy !== undefined) return text;
      const out = redactText(rules, text, hits);
      if (hits.blockedBy !== undefined) blockedIn = path;
      return out;
    });
    reportHits(trace, 'request', hits);
    if (hits.blockedBy !== undefined) throw contentFiltered(hits.blockedBy, 'request', blockedIn);
    return changed;
  };

  const cacheWrites = createBackgroundWork();

  /** A cache failure never fails the request: it is logged, counted, and the request goes on as a miss. */
  const cacheFailed = (trace: Trace, operation: string, error: unknown) => {
    logger.warn('response cache failed', { requestId: trace.requestId, operation, error: String(error) });
    deps.metrics.emit({
      dimensions: { model: trace.metricModel ?? UNKNOWN_MODEL },
      values: [{ name: 'CacheErrors', value: 1, unit: 'Count' }],
    });
  };

  const countCache = (trace: Trace, name: 'CacheHits' | 'CacheMisses') =>
    deps.metrics.emit({
      dimensions: { model: trace.metricModel ?? UNKNOWN_MODEL },
      values: [{ name, value: 1, unit: 'Count' }],
    });

  /** Serves a stored answer, as JSON or replayed as a stream; undefined on a miss (or a cache failure). */
  const answerFromCache = async (
    trace: Trace,
    principal: Principal,
    plan: CachePlan,
    endpoint: Endpoint,
    json: Record<string, unknown>,
  ): Promise<Response | undefined> => {
    let stored: string | undefined;
    try {
      stored = await deps.cache?.get(plan.key);
    } catch (error) {
      cacheFailed(trace, 'get', error);
      return undefined;
    }
    const entry = stored === undefined ? undefined : parseEntry(stored, { stream: json.stream === true });
    if (entry === undefined || entry.endpoint !== endpoint.tokens) {
      countCache(trace, 'CacheMisses');
      return undefined;
    }
    const usage = usageFromOpenAI(entry.body.usage) ?? ZERO_USAGE;
    const costMicroUsd =
      config.tiers[principal.tier]?.billCacheHits === true ? costOf(usage, trace.price) : 0;
    if (costMicroUsd > 0 && principal.monthlyBudgetMicroUsd !== undefined) {
      // A billed hit holds its exact cost, like any request, so hits cannot spend past the budget either.
      await placeHold(trace, principal, trace.model ?? 'none', costMicroUsd);
    }
    trace.cacheStatus = CacheStatus.hit;
    trace.cacheHit = { usage, costMicroUsd };
    trace.status = 200;
    countCache(trace, 'CacheHits');
    const headers = baseHeaders(trace);
    headers['x-gateway-cache'] = CacheStatus.hit;
    let response: Response;
    if (json.stream === true) {
      const options = json.stream_options as { include_usage?: unknown } | undefined;
      headers['content-type'] = 'text/event-stream';
      headers['cache-control'] = 'no-cache';
      response = new Response(replaySse(entry, { includeUsage: options?.include_usage === true }).join(''), {
        status: 200,
        headers,
      });
    } else {
      headers['content-type'] = 'application/json';
      response = new Response(replayJson(entry), { status: 200, headers });
    }
    finish(trace, RequestOutcome.complete, usage, clock.now());
    return response;
  };

  /** Stores a completed answer (off the response path); oversize answers are not stored. */
  const storeAnswer = (
    trace: Trace,
    plan: CachePlan,
    endpoint: Endpoint,
    captured: NonNullable<RelayEnd['captured']>,
  ) => {
    if (deps.cache === undefined || endpoint.tokens === TokenShape.other) return;
    let body: Record<string, unknown> | undefined;
    if ('json' in captured) {
      try {
        const parsed: unknown = JSON.parse(captured.json);
        body =
          typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
      } catch {
        body = undefined;
      }
    } else if (endpoint.tokens === TokenShape.chat || endpoint.tokens === TokenShape.completions) {
      body = assembleStream(endpoint.tokens, captured.events);
    }
    if (body === undefined) return;
    if (filters?.response !== undefined && answersHaveText(endpoint.text)) {
      // Stored as the client saw it: redacted (as a stream, redacting the whole text gives the same), and
      // not at all when a rule blocks it.
      const hits = emptyHits();
      redactAnswer(endpoint.text, filters.response, body, hits);
      if (hits.blockedBy !== undefined) return;
    }
    const entry: CacheEntry = { v: 1, endpoint: endpoint.tokens, body, createdAt: clock.now() };
    const text = serializeEntry(entry);
    // What could never be served (a Responses answer that did not complete, …) is not stored.
    if (parseEntry(text, { stream: false }) === undefined) return;
    if (Buffer.byteLength(text) > config.cache.maxEntryBytes) return;
    cacheWrites.add(
      deps.cache
        .set(plan.key, text, plan.ttlSeconds)
        .catch((error: unknown) => cacheFailed(trace, 'set', error)),
    );
  };

  const drain = async (): Promise<void> => {
    await Promise.all([usageWriter.drain(), cacheWrites.drain()]);
  };

  const noteFailure = (target: TargetConfig, reason: string) => {
    const opened = breakers.onFailure(target.id);
    logger.warn('upstream attempt failed', { target: target.id, reason, circuitOpened: opened });
    if (opened)
      deps.metrics.emit({
        dimensions: { target: target.id },
        values: [{ name: 'CircuitOpened', value: 1, unit: 'Count' }],
      });
  };

  const earliestRetry = (route: RouteConfig, now: number) => {
    let best: { target: TargetConfig; waitMs: number } | undefined;
    for (const target of route.targets) {
      const retryAt = breakers.retryAt(target.id);
      if (target.weight === 0 || retryAt <= now) continue;
      if (best === undefined || retryAt - now < best.waitMs) best = { target, waitMs: retryAt - now };
    }
    return best;
  };

  const handle = async (request: Request, context: RequestContext = {}): Promise<Response> => {
    const path = pathOf(request.url);
    const trace: Trace = {
      requestId: newRequestId(),
      startedAt: clock.now(),
      method: request.method,
      path,
      principal: undefined,
      metered: false,
      records: NO_RECORDS,
      model: undefined,
      metricModel: undefined,
      price: undefined,
      json: undefined,
      tokenShape: TokenShape.other,
      reservedMicroUsd: 0,
      upstreamAccepted: false,
      abortedInFlight: false,
      bodyRewritten: false,
      cacheStatus: CacheStatus.bypass,
      cacheHit: undefined,
      targetId: undefined,
      attempts: 0,
      upstreamMs: 0,
      status: 200,
    };
    try {
      if (path === HEALTH_PATH || path === V1_HEALTH_PATH) {
        if (request.method !== 'GET' && request.method !== 'HEAD')
          throw methodNotAllowed(request.method, path, ['GET']);
        const response = jsonResponse(200, { status: 'ok' }, baseHeaders(trace));
        finish(trace, RequestOutcome.complete, undefined);
        return response;
      }
      if (ownedRoutes.matches(path)) {
        const principal = await authenticate(request, context);
        trace.principal = principal;
        const response = await ownedRoutes.handle(
          {
            request,
            principal,
            requestId: trace.requestId,
            body: context.body,
            signal: context.signal,
            headers: () => baseHeaders(trace),
          },
          path,
        );
        trace.status = response.status;
        finish(trace, response.status < 400 ? RequestOutcome.complete : RequestOutcome.rejected, undefined);
        return response;
      }
      const endpoint = PROXIED_ENDPOINTS.get(path);
      const isModels = path === MODELS_PATH || path.startsWith(`${MODELS_PATH}/`);
      if (endpoint === undefined && !isModels) {
        throw notFound(
          `Unknown request URL: ${request.method} ${path}. Please check the URL and method (the gateway serves the OpenAI API under /v1).`,
          'unknown_url',
        );
      }
      const allowed = endpoint?.method ?? 'GET';
      if (request.method !== allowed) throw methodNotAllowed(request.method, path, [allowed]);
      const principal = await authenticate(request, context);
      trace.principal = principal;

      if (endpoint === undefined) return await listModels(trace, principal, path);
      trace.metered = true;

      const expected = endpoint.body === BodyKind.multipart ? 'multipart/form-data' : 'application/json';
      const contentType = request.headers.get('content-type');
      if (mediaType(contentType) !== expected) throw unsupportedMediaType(contentType, expected);
      if (endpoint.body === BodyKind.json) checkJsonCharset(contentType);
      const tier = config.tiers[principal.tier];
      const rawBody = await readBodyWithLimit(request, maxBodyBytesFor(config, tier), context.body);
      const { model, json } = await readModel(request, endpoint, rawBody);
      // A fine-tuned model is routed by its ownership record, never by the config's routes.
      const fineTunedTo = model.startsWith('ft:') ? await fineTunedModel(principal, model) : undefined;
      const route = model.startsWith('ft:') ? fineTunedTo?.route : routes.resolve(model);
      if (route === undefined) {
        throw new GatewayError(`The model '${model}' does not exist or you do not have access to it.`, {
          status: 404,
          type: ErrorType.invalidRequest,
          code: 'model_not_found',
          param: 'model',
        });
      }
      trace.model = model;
      trace.metricModel = fineTunedTo === undefined ? routeMetricName(route) : FINE_TUNED_METRIC_MODEL;
      const baseModel = fineTunedTo?.baseModel;
      if (!mayUse(principal, model) && (baseModel === undefined || !mayUse(principal, baseModel))) {
        throw forbidden(
          `Your API key is not allowed to use the model '${model}'.`,
          'model_not_allowed',
          'model',
        );
      }
      let servingRoute = route;
      if (json !== undefined) {
        // Every id the body names is the tenant's (404 otherwise), and the request goes where those objects are.
        if (endpoint.tokens === TokenShape.responses && json.background === true) throw backgroundRefused();
        trace.records = await ownedIds.check(principal, idsInRequest(idShapeOf(endpoint), json));
        if (trace.records.size > 0) {
          servingRoute = {
            ...route,
            targets: targetsHolding(route.targets, trace.records, targets.target, model),
          };
        }
        trace.bodyRewritten = enforceParameterLimits({
          config,
          tierName: principal.tier,
          tier,
          shape: endpoint.tokens,
          model,
          body: json,
        });
        if (applyRequestRules(trace, endpoint.text, json)) trace.bodyRewritten = true;
      }
      trace.json = json;
      trace.tokenShape = endpoint.tokens;
      trace.price = priceFor(model, config.prices, baseModel);
      if (trace.price === undefined && principal.monthlyBudgetMicroUsd !== undefined) {
        throw modelNotPriced(model, principal.tenantId);
      }
      let cachePlan: CachePlan | undefined;
      if (deps.cache !== undefined && json !== undefined) {
        cachePlan = planCache({
          tenantId: principal.tenantId,
          endpointPath: path,
          endpoint,
          route,
          tier: config.tiers[principal.tier],
          body: json,
          headers: request.headers,
          config: config.cache,
          variant: filters?.responseFingerprint ?? '',
        });
        if (cachePlan !== undefined) {
          trace.cacheStatus = CacheStatus.miss;
          if (cachePlan.read) {
            const hit = await answerFromCache(trace, principal, cachePlan, endpoint, json);
            if (hit !== undefined) return hit;
          }
        }
      }
      await reserveBudget(trace, principal, model, json, rawBody);
      return await proxy(
        trace,
        request,
        endpoint,
        servingRoute,
        model,
        json,
        rawBody,
        context.signal,
        cachePlan,
      );
    } catch (thrown) {
      return respondWithError(trace, thrown);
    }
  };

  /** The tenant's fine-tuned models, as model objects (newest first). */
  const ownedModels = async (principal: Principal): Promise<Array<Record<string, unknown>>> => {
    if (deps.ownership === undefined) return [];
    const models: Array<Record<string, unknown>> = [];
    let after: string | undefined;
    for (;;) {
      const page = await deps.ownership.list(principal.tenantId, OwnedKind.model, { after, limit: 100 });
      for (const item of page.items) {
        const { base_model: _base, ...model } = item.object;
        models.push(model);
      }
      after = page.items.at(-1)?.id;
      if (!page.hasMore || after === undefined) return models;
    }
  };

  const listModels = async (trace: Trace, principal: Principal, path: string): Promise<Response> => {
    let response: Response;
    const restricted = principal.models !== undefined || config.tiers[principal.tier]?.models !== undefined;
    if (path === MODELS_PATH) {
      const configured = restricted
        ? modelList.data.filter((entry) => mayUse(principal, entry.id))
        : modelList.data;
      const fineTunedModels = await ownedModels(principal);
      const visible =
        fineTunedModels.length === 0 && !restricted
          ? modelList
          : { ...modelList, data: [...configured, ...fineTunedModels] };
      response = jsonResponse(200, visible, baseHeaders(trace));
    } else {
      const raw = path.slice(MODELS_PATH.length + 1);
      let id: string;
      try {
        id = decodeURIComponent(raw);
      } catch {
        id = raw; // a malformed escape names no model; it must not become a 500
      }
      let model: Readonly<Record<string, unknown>> | undefined;
      if (id.startsWith('ft:')) {
        const owned = await fineTunedModel(principal, id);
        if (owned !== undefined) {
          const { base_model: _base, ...shown } = owned.record.object;
          model = shown;
        }
      } else {
        model = modelList.data.find((entry) => entry.id === id && mayUse(principal, entry.id));
      }
      if (model === undefined)
        throw notFound(
          `The model '${id}' does not exist or you do not have access to it.`,
          'model_not_found',
        );
      response = jsonResponse(200, model, baseHeaders(trace));
    }
    finish(trace, RequestOutcome.complete, undefined);
    return response;
  };

  return { handle, breakers, maxBodyBytes: largestBodyLimit(config), drain };
};

const failureToError = (
  failure: AttemptFailure | undefined,
  model: string,
  restSeconds: number,
): GatewayError => {
  if (failure === undefined) {
    // Every target's circuit is open: nothing was sent. Tell the client when a probe may succeed.
    return new GatewayError(
      `No healthy upstream is available for model '${model}' right now. Try again shortly.`,
      {
        status: 503,
        type: ErrorType.server,
        code: 'no_healthy_upstream',
        headers: { 'retry-after': String(restSeconds) },
      },
    );
  }
  if (failure.kind === 'error') {
    return failure.error.kind === UpstreamFailure.timeout
      ? serverError(504, 'upstream_timeout', 'The upstream provider did not respond in time.')
      : serverError(502, 'upstream_unreachable', 'The upstream provider could not be reached.');
  }
  if (failure.status === 429) {
    const seconds =
      failure.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(failure.retryAfterMs / 1000));
    return new GatewayError(
      `The upstream provider is rate limiting requests for model '${model}'.${seconds === undefined ? '' : ` Retry after ${seconds} s.`}`,
      {
        status: 429,
        type: ErrorType.rateLimit,
        code: 'rate_limit_exceeded',
        headers: seconds === undefined ? {} : { 'retry-after': String(seconds) },
      },
    );
  }
  if (failure.status === 401 || failure.status === 403) {
    return serverError(
      502,
      'upstream_auth_failed',
      "The upstream provider refused the gateway's credentials.",
    );
  }
  return serverError(502, 'upstream_error', 'The upstream provider returned an error.');
};

/** Which ids an endpoint's body can name. */
const idShapeOf = (endpoint: Endpoint): IdShapeName =>
  endpoint.tokens === TokenShape.chat
    ? IdShape.chat
    : endpoint.tokens === TokenShape.responses
      ? IdShape.responses
      : IdShape.other;

/** What an answer of this request creates that the tenant may name later; undefined: nothing. */
const answerShapeOf = (
  endpoint: Endpoint,
  json: Record<string, unknown> | undefined,
): AnswerShapeName | undefined => {
  if (endpoint.tokens === TokenShape.responses) return AnswerShape.responses;
  if (endpoint.tokens !== TokenShape.chat || json === undefined) return undefined;
  const audio = json.audio !== undefined && json.audio !== null;
  const modalities = Array.isArray(json.modalities) && json.modalities.includes('audio');
  return audio || modalities ? AnswerShape.chatAudio : undefined;
};

/**
 * A background response is metered when it finishes, which the gateway does not see: refused until it follows
 * them like fine-tuning jobs, rather than served without its output in the usage.
 */
const backgroundRefused = (): GatewayError =>
  new GatewayError(
    "Background responses are not supported by this gateway: their usage is known only when they finish, and the gateway meters every request when it ends. Send the request without 'background' (stream it for a long task).",
    { status: 400, type: ErrorType.invalidRequest, code: 'unsupported_parameter', param: 'background' },
  );

/** A route's name as metrics show it: a prefix route `gpt-` is `gpt-*`. */
const routeMetricName = (route: RouteConfig): string =>
  route.match === 'prefix' ? `${route.model}*` : route.model;

/** A model without a price, asked for by a tenant with a budget: its cost could not be held. */
const modelNotPriced = (model: string, tenantId: string): GatewayError =>
  new GatewayError(
    `The model '${model}' has no price in the gateway's catalogue, and tenant '${tenantId}' has a monthly budget: its cost cannot be held against it. The gateway's operator can price it in the config field \`prices\` (\`prices["${model}"]\`, a family or \`prefix*\` entry that matches it, or \`{ "free": true }\`).`,
    { status: 400, type: ErrorType.invalidRequest, code: 'model_not_priced', param: 'model' },
  );

/** The path of a request URL without parsing the whole URL (hot path). */
const pathOf = (url: string): string => {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const query = url.indexOf('?', start);
  const path = query === -1 ? url.slice(start) : url.slice(start, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
};

const round = (ms: number): number => Math.round(ms * 100) / 100;
