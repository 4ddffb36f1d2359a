// One request's state as it goes through the stages: what each stage found out, and what the settlement (one log
// line, one metrics batch, one usage record) is built from when the request ends.
import type { Principal, RequestOutcomeKind, TokenUsage } from '../ports.ts';
import { CacheStatus, type CacheStatusName } from './cache-policy.ts';
import type { PriceConfig } from './config.ts';
import type { Endpoint } from './endpoints/catalogue.ts';
import { ClientApi, type ClientApiName } from './error-bodies.ts';
import { TokenShape, type TokenShapeName } from './metering.ts';
import { NO_RECORDS, type OwnedRecords } from './owned-ids.ts';

/**
 * What usage records and metrics name a request by when it named no model the gateway serves: a client's
 * string never reaches them unless it is a valid name that routes.
 */
export const UNKNOWN_MODEL = '(unknown model)';
/** The metric dimension of fine-tuned models: one value for all, since each tenant can create any number. */
export const FINE_TUNED_METRIC_MODEL = 'ft:*';

/** How a response body ended, as the relay saw it (or the stage that answered without one). */
export interface BodyEnd {
  readonly outcome: RequestOutcomeKind;
  readonly usage: TokenUsage | undefined;
  /** Time the first body byte arrived from upstream, if any did. */
  readonly firstByteAt: number | undefined;
  /** For a body that ended without usage: the output tokens produced so far, counted with `count`. */
  readonly estimateOutputTokens?: ((count: (text: string) => number) => number) | undefined;
}

export interface RequestState {
  readonly requestId: string;
  readonly startedAt: number;
  readonly method: string;
  readonly path: string;
  principal: Principal | undefined;
  /** The API the client called (its route's): the shape of its errors. */
  api: ClientApiName;
  /** A proxied endpoint: its request gets a usage record, whatever way it ends. */
  metered: boolean;
  endpoint: Endpoint | undefined;
  /** The model, once it is a valid name that routes (else the record says UNKNOWN_MODEL). */
  model: string | undefined;
  /** The configured route's name (`gpt-4o`, `gpt-*`, `ft:*`): the only model values metrics carry. */
  metricModel: string | undefined;
  price: PriceConfig | undefined;
  /** The parsed JSON body, for estimates. */
  json: Record<string, unknown> | undefined;
  tokenShape: TokenShapeName;
  /** The ownership records of the ids the body names. */
  records: OwnedRecords;
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
  /** Time spent waiting on upstreams (excluded from the gateway's own overhead). */
  upstreamMs: number;
  status: number;
  /** How the request ended; set by the stage that answered (or the body, for a relayed one). */
  outcome: RequestOutcomeKind | undefined;
  /** The error the request was answered with: logged (with its cause) when it settles. */
  error: Error | undefined;
  /** The response's body is relayed, and settles the request when it ends (else the request settles at once). */
  relaying: boolean;
  /** Settled: its log line, metrics and usage record are made (once). */
  settled: boolean;
}

export const newRequestState = (
  requestId: string,
  startedAt: number,
  method: string,
  path: string,
): RequestState => ({
  requestId,
  startedAt,
  method,
  path,
  principal: undefined,
  api: ClientApi.openai,
  metered: false,
  endpoint: undefined,
  model: undefined,
  metricModel: undefined,
  price: undefined,
  json: undefined,
  tokenShape: TokenShape.other,
  records: NO_RECORDS,
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
  outcome: undefined,
  error: undefined,
  relaying: false,
  settled: false,
});

/**
 * Headers every gateway response carries: the request id (also as `request-id`, where Anthropic's SDKs read it, on
 * the Messages front door), and the time spent in the gateway so far.
 */
export const baseHeaders = (state: RequestState, now: number): Record<string, string> => {
  const headers: Record<string, string> = {
    'x-request-id': state.requestId,
    'x-gateway-overhead-ms': (now - state.startedAt - state.upstreamMs).toFixed(2),
  };
  if (state.api === ClientApi.anthropic) headers['request-id'] = state.requestId;
  return headers;
};
