// The one place a request is settled: when it ends (its response built, or its relayed body finished), it gets
// exactly one log line, one batch of metrics and, for a metered endpoint with a known caller, exactly one usage
// record. Every exit path of every stage ends here, once.
import {
  type MetricValue,
  type Principal,
  RequestOutcome,
  type TokenUsage,
  type UsageRecord,
} from '../ports.ts';
import type { GatewayContext } from './context.ts';
import { GatewayError } from './errors.ts';
import { fileEstimateTokens, fileInputOf } from './file-inputs.ts';
import { promptTokens, TokenShape, ZERO_USAGE } from './metering.ts';
import { billingMonthOf, costOf } from './pricing.ts';
import { type BodyEnd, type RequestState, UNKNOWN_MODEL } from './state.ts';

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** The counts every request's batch carries, as shared values: most are 0 or 1, and a batch is made per request. */
const count = (name: string, value: number): MetricValue => ({ name, value, unit: 'Count' });
const zeroOrOne = (name: string) => [count(name, 0), count(name, 1)] as const;
const REQUESTS = count('Requests', 1);
const CLIENT_ERRORS = zeroOrOne('ClientErrors');
const SERVER_ERRORS = zeroOrOne('ServerErrors');
const STREAM_FAILURES = zeroOrOne('StreamFailures');
const NO_FAILOVERS = count('Failovers', 0);

/** What the request line says of the error it was answered with; an unexpected one's stack, once. */
const errorFields = (error: Error): Record<string, unknown> => {
  if (!(error instanceof GatewayError))
    return { error: 'internal_error', cause: error.stack ?? String(error) };
  const cause = error.cause;
  return {
    error: error.code ?? error.type,
    ...(cause === undefined
      ? {}
      : { cause: cause instanceof Error ? (cause.stack ?? cause.message) : String(cause) }),
  };
};

export interface Telemetry {
  /** Settles the request: a second call is a no-op, so every exit path may call it. */
  settle(state: RequestState, end: BodyEnd): void;
}

export const createTelemetry = (
  ctx: Pick<GatewayContext, 'deps' | 'clock' | 'logger' | 'metrics' | 'usageWriter'>,
): Telemetry => {
  const { clock, logger, metrics } = ctx;
  const tokens = ctx.deps.tokens;

  /**
   * The priced usage record of a finished request; tokens are estimated when the upstream reported none (after
   * waiting for the tokenizer: then the record is a promise).
   */
  const meter = (
    state: RequestState,
    principal: Principal,
    end: BodyEnd,
    latencyMs: number,
    ttfbMs: number | undefined,
    batch: MetricValue[],
  ): UsageRecord | Promise<UsageRecord> => {
    const hit = state.cacheHit;
    if (hit !== undefined)
      return usageRecord(state, principal, end, hit.usage, true, hit.costMicroUsd, latencyMs, ttfbMs);
    if (
      end.usage === undefined &&
      (state.upstreamAccepted || state.abortedInFlight) &&
      state.tokenShape !== TokenShape.other
    ) {
      // Cut short (or an upstream that reports no usage): count what was sent and what came back so far. A client
      // that left while the upstream had the request is charged its prompt: the provider may bill it. A request
      // no upstream accepted (refused, failed) is not charged.
      return tokens
        .ready()
        .catch(() => {})
        .then(() =>
          priced(state, principal, end, estimatedUsage(state, end), false, latencyMs, ttfbMs, undefined),
        );
    }
    return priced(state, principal, end, end.usage ?? ZERO_USAGE, true, latencyMs, ttfbMs, batch);
  };

  /** Input counted again (not taken from the budget hold, which may predate the tokenizer), output from the body. */
  const estimatedUsage = (state: RequestState, end: BodyEnd): TokenUsage => {
    const count = (text: string) => tokens.count(text);
    const inputTokens =
      state.json === undefined
        ? 0
        : promptTokens(state.tokenShape, state.json, tokens, {
            fileTokens: (part) => fileEstimateTokens(fileInputOf(part, state.records)),
          });
    return { ...ZERO_USAGE, inputTokens, outputTokens: end.estimateOutputTokens?.(count) ?? 0 };
  };

  const priced = (
    state: RequestState,
    principal: Principal,
    end: BodyEnd,
    usage: TokenUsage,
    exact: boolean,
    latencyMs: number,
    ttfbMs: number | undefined,
    /** The request's batch, when the record is priced as it settles; undefined: a batch of its own. */
    batch: MetricValue[] | undefined,
  ): UsageRecord => {
    const model = state.model ?? UNKNOWN_MODEL;
    const costMicroUsd = costOf(usage, state.price);
    const values = batch ?? [];
    values.push(
      { name: 'InputTokens', value: usage.inputTokens, unit: 'Count' },
      { name: 'OutputTokens', value: usage.outputTokens, unit: 'Count' },
      { name: 'CostMicroUsd', value: costMicroUsd, unit: 'Count' },
    );
    if (state.price === undefined && (usage.inputTokens > 0 || usage.outputTokens > 0)) {
      values.push({ name: 'UnpricedRequests', value: 1, unit: 'Count' });
    }
    if (state.reservedMicroUsd > 0 && costMicroUsd > state.reservedMicroUsd) {
      logger.warn('request cost more than its budget hold', {
        requestId: state.requestId,
        tenantId: principal.tenantId,
        model,
        costMicroUsd,
        reservedMicroUsd: state.reservedMicroUsd,
      });
      values.push({ name: 'BudgetHoldExceeded', value: 1, unit: 'Count' });
    }
    if (batch === undefined)
      metrics.emit({ dimensions: { model: state.metricModel ?? UNKNOWN_MODEL }, values });
    return usageRecord(state, principal, end, usage, exact, costMicroUsd, latencyMs, ttfbMs);
  };

  const usageRecord = (
    state: RequestState,
    principal: Principal,
    end: BodyEnd,
    usage: TokenUsage,
    exact: boolean,
    costMicroUsd: number,
    latencyMs: number,
    ttfbMs: number | undefined,
  ): UsageRecord => ({
    requestId: state.requestId,
    tenantId: principal.tenantId,
    keyId: principal.keyId,
    tier: principal.tier,
    endpoint: state.path,
    model: state.model ?? UNKNOWN_MODEL,
    // A hit went to no upstream, whatever target the route would have chosen.
    targetId: state.cacheHit === undefined ? state.targetId : undefined,
    status: state.status,
    outcome: end.outcome,
    usage,
    exact,
    cacheHit: state.cacheHit !== undefined,
    costMicroUsd,
    reservedMicroUsd: state.reservedMicroUsd,
    month: billingMonthOf(state.startedAt),
    startedAt: state.startedAt,
    latencyMs,
    ttfbMs,
  });

  const settle = (state: RequestState, end: BodyEnd): void => {
    if (state.settled) return;
    state.settled = true;
    state.outcome = end.outcome;
    const latencyMs = clock.now() - state.startedAt;
    const ttfbMs = end.firstByteAt === undefined ? undefined : end.firstByteAt - state.startedAt;
    const model = state.metricModel ?? UNKNOWN_MODEL;
    const status = state.status;
    const fields: Record<string, unknown> = {
      requestId: state.requestId,
      tenantId: state.principal?.tenantId,
      keyId: state.principal?.keyId,
      method: state.method,
      path: state.path,
      model: state.model,
      target: state.targetId,
      status,
      outcome: end.outcome,
      attempts: state.attempts,
      latencyMs: round(latencyMs),
      ttfbMs: ttfbMs === undefined ? undefined : round(ttfbMs),
      overheadMs: round(latencyMs - state.upstreamMs),
      tokens: end.usage ?? state.cacheHit?.usage,
    };
    // Added only when there is one: spreading an empty object into every request's line costs a copy.
    if (state.error !== undefined) Object.assign(fields, errorFields(state.error));
    // A 5xx is the gateway's or an upstream's failure: an error line, with its cause.
    (status >= 500 ? logger.error : logger.info).call(logger, 'request', fields);
    const streamFailed =
      end.outcome === RequestOutcome.upstreamError || end.outcome === RequestOutcome.timeout;
    const values: MetricValue[] = [
      REQUESTS,
      CLIENT_ERRORS[status >= 400 && status < 500 ? 1 : 0],
      SERVER_ERRORS[status >= 500 ? 1 : 0],
      STREAM_FAILURES[streamFailed ? 1 : 0],
      state.attempts <= 1 ? NO_FAILOVERS : count('Failovers', state.attempts - 1),
      { name: 'Latency', value: latencyMs, unit: 'Milliseconds' },
    ];
    if (ttfbMs !== undefined) values.push({ name: 'TimeToFirstByte', value: ttfbMs, unit: 'Milliseconds' });
    if (state.principal !== undefined && state.metered) {
      let record: UsageRecord | Promise<UsageRecord>;
      try {
        // A record priced now adds its token and cost metrics to this batch: one batch (one EMF line) a request.
        record = meter(state, state.principal, end, latencyMs, ttfbMs, values);
      } catch (error) {
        // Never reached by a valid request; a bug here must not take the response (or other records) with it.
        record = Promise.reject(error);
      }
      ctx.usageWriter.write(record, model);
    }
    metrics.emit({ dimensions: { model }, values });
  };

  return { settle };
};
