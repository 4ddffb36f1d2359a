// Sending a request to a route's targets with failover: the target chosen by weight within the best priority,
// another one after a connect error, a timeout, a 429, a 5xx or a 401/403 (the client has no byte yet), waits
// for Retry-After within the retry budget, and each target's circuit breaker told how it went.
import {
  type Clock,
  type Logger,
  type Metrics,
  UpstreamError,
  UpstreamFailure,
  type UpstreamResponse,
} from '../../ports.ts';
import type { GatewayConfig, RouteConfig, TargetConfig } from '../config.ts';
import { GatewayError, noHealthyUpstream } from '../errors.ts';
import { parseRetryAfter } from '../http.ts';
import { type CircuitBreakers, chooseTarget } from '../routing.ts';
import type { RequestState } from '../state.ts';
import type { TargetClient } from './client.ts';
import { type AttemptFailure, PROVIDERS } from './providers.ts';

export interface FailoverDeps {
  readonly client: TargetClient;
  readonly breakers: CircuitBreakers;
  readonly clock: Clock;
  /** [0, 1): weighted choice. */
  readonly random: () => number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly retry: GatewayConfig['retry'];
  /** How long an open circuit rests: what a 503 tells the client to wait. */
  readonly cooldownMs: number;
}

export interface FailoverRequest {
  readonly route: RouteConfig;
  /** The model the client asked for: a target without a `model` of its own sends it as it is. */
  readonly model: string;
  readonly method: string;
  /** OpenAI's path after `/v1`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body for a target's model name (it changes when the target renames the model). */
  readonly bodyFor: (upstreamModel: string) => Uint8Array | undefined;
  /** Aborts the attempt in flight: the client left. */
  readonly signal: AbortSignal;
}

/**
 * The upstream's answer (2xx, or a refusal about the request) and who gave it; `aborted`: the client left, while
 * an upstream had the request (`inFlight`: the provider may bill its prompt) or between attempts.
 */
export type FailoverResult =
  | { readonly kind: 'answered'; readonly response: UpstreamResponse; readonly target: TargetConfig }
  | { readonly kind: 'aborted'; readonly inFlight: boolean };

/** Statuses that move a request to another target: the target failed, not the request. */
const failsOver = (status: number): boolean =>
  status === 429 || status >= 500 || status === 401 || status === 403;

export const createFailover = (deps: FailoverDeps) => {
  const { breakers, clock, logger } = deps;

  const noteFailure = (target: TargetConfig, reason: string, requestId: string) => {
    const opened = breakers.onFailure(target.id);
    logger.warn('upstream attempt failed', { requestId, target: target.id, reason, circuitOpened: opened });
    if (opened)
      deps.metrics.emit({
        dimensions: { target: target.id },
        values: [{ name: 'CircuitOpened', value: 1, unit: 'Count' }],
      });
  };

  /** The target held back only by a Retry-After that ends soonest, and how long until it does. */
  const earliestRetry = (route: RouteConfig, now: number) => {
    let best: { target: TargetConfig; waitMs: number } | undefined;
    for (const target of route.targets) {
      const retryAt = breakers.retryAt(target.id);
      if (target.weight === 0 || retryAt <= now) continue;
      if (best === undefined || retryAt - now < best.waitMs) best = { target, waitMs: retryAt - now };
    }
    return best;
  };

  /**
   * Sends `request` until a target answers with something that is not its own failure, at most
   * `retry.maxAttempts` times. Throws the gateway error of the last failure when every attempt failed.
   */
  const send = async (state: RequestState, request: FailoverRequest): Promise<FailoverResult> => {
    const { route, signal } = request;
    const tried = new Set<string>();
    let waitBudgetMs = deps.retry.budgetMs;
    let lastFailure: { readonly failure: AttemptFailure; readonly target: TargetConfig } | undefined;
    while (state.attempts < deps.retry.maxAttempts) {
      // A client already gone gets nothing sent on its behalf (it would be generated, and billed, for no one).
      if (signal.aborted) return { kind: 'aborted', inFlight: false };
      let target = chooseTarget(
        route.targets,
        (t) => !tried.has(t.id) && breakers.isAvailable(t.id),
        deps.random,
      );
      if (target === undefined) {
        // Every target was tried or is resting. One held back only by Retry-After is worth a wait within budget.
        const waiting = earliestRetry(route, clock.now());
        if (waiting === undefined || waiting.waitMs > waitBudgetMs) break;
        waitBudgetMs -= waiting.waitMs;
        const waitStart = clock.now();
        try {
          await clock.sleep(waiting.waitMs, signal);
        } catch {
          return { kind: 'aborted', inFlight: false };
        }
        state.upstreamMs += clock.now() - waitStart;
        target = waiting.target;
      }
      tried.add(target.id);
      state.attempts += 1;
      state.targetId = target.id;
      breakers.onAttempt(target.id);
      const sentAt = clock.now();
      let response: UpstreamResponse;
      try {
        const upstreamModel = target.model ?? request.model;
        response = await deps.client.sendEndpoint(target, {
          method: request.method,
          path: request.path,
          upstreamModel,
          model: request.model,
          headers: request.headers,
          body: request.bodyFor(upstreamModel),
          signal,
        });
      } catch (error) {
        state.upstreamMs += clock.now() - sentAt;
        // A translating provider refused the request (a parameter it cannot honour): the client's to fix.
        if (error instanceof GatewayError) throw error;
        // The client left while this attempt was with the upstream (not during a wait between attempts).
        if (signal.aborted) return { kind: 'aborted', inFlight: true };
        const failure =
          error instanceof UpstreamError
            ? error
            : new UpstreamError(UpstreamFailure.connect, String(error), { cause: error });
        lastFailure = { failure: { kind: 'error', error: failure }, target };
        noteFailure(target, `${failure.kind}: ${failure.message}`, state.requestId);
        continue;
      }
      state.upstreamMs += clock.now() - sentAt;
      if (signal.aborted) {
        // The client left as the upstream answered: an accepted request spent tokens.
        await response.body.cancel().catch(() => {});
        return { kind: 'aborted', inFlight: response.status < 400 };
      }
      if (!failsOver(response.status)) {
        breakers.onSuccess(target.id);
        return { kind: 'answered', response, target };
      }
      const retryAfterMs = parseRetryAfter(response.headers['retry-after'], clock.now());
      await response.body.cancel().catch(() => {});
      lastFailure = { failure: { kind: 'status', status: response.status, retryAfterMs }, target };
      if (response.status === 429) {
        breakers.retryAfter(target.id, clock.now() + (retryAfterMs ?? 0));
        logger.warn('upstream rate limited', { requestId: state.requestId, target: target.id, retryAfterMs });
      } else {
        noteFailure(target, `status ${response.status}`, state.requestId);
      }
    }
    if (signal.aborted) return { kind: 'aborted', inFlight: false };
    // Every target's circuit is open: nothing was sent. The client is told when a probe may succeed.
    if (lastFailure === undefined) throw noHealthyUpstream(request.model, Math.ceil(deps.cooldownMs / 1000));
    throw PROVIDERS[lastFailure.target.provider].failureError(lastFailure.failure, request.model);
  };

  return { send };
};

export type Failover = ReturnType<typeof createFailover>;
