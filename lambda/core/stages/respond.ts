// Stage: the upstream call and the answer. The request goes to the route's targets with failover (the body as
// the client sent it, unless the gateway must change it); the answer is relayed as it arrives (an SSE stream
// event by event), or read whole when response rules or the ids it creates need all of it; an upstream's refusal
// of the request is passed on redacted. The request settles when its body ends, however it ends.
import { RequestOutcome, type UpstreamResponse } from '../../ports.ts';
import {
  type AnswerRecorder,
  AnswerShape,
  type AnswerShapeName,
  createAnswerRecorder,
} from '../answer-ids.ts';
import type { CachePlan } from '../cache-policy.ts';
import { answersHaveText, redactAnswer } from '../content-fields.ts';
import { emptyHits, type RuleHits } from '../content-rules.ts';
import { createStreamFilter } from '../content-stream.ts';
import type { GatewayContext } from '../context.ts';
import type { Endpoint } from '../endpoints/catalogue.ts';
import { anthropicErrorType, ClientApi, type ClientApiName, errorBodyIn } from '../error-bodies.ts';
import { contentFiltered, invalidRequest, upstreamError } from '../errors.ts';
import type { GatewayRequest, GatewayResponse } from '../exchange.ts';
import { errorResponse } from '../http.ts';
import { type RelayEnd, relayBody } from '../relay.ts';
import { baseHeaders, type RequestState } from '../state.ts';
import { readBody } from '../upstream/client.ts';
import { MAX_UPSTREAM_ERROR_BYTES, redactUpstreamError } from '../upstream-errors.ts';
import { readAnswer, type WholeAnswer, wholeAnswerEnd } from '../whole-answer.ts';
import { storeAnswer } from './cache.ts';
import { reportHits } from './content.ts';
import type { ReadRequest } from './read-request.ts';
import type { Resolved } from './resolve-model.ts';

/** Headers a client may send that the upstream should see; everything else (the gateway key first) stays here. */
const FORWARDED_REQUEST_HEADERS: Readonly<Record<ClientApiName, readonly string[]>> = {
  [ClientApi.openai]: ['content-type', 'accept', 'openai-beta'],
  // The version and betas a Messages client asked for: an Anthropic target gets them as they are.
  [ClientApi.anthropic]: ['content-type', 'accept', 'anthropic-version', 'anthropic-beta'],
};
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'openai-processing-ms', 'cache-control'] as const;
/** Upstream refusals about the client's request: passed on (redacted) so the client learns what to fix. */
const UPSTREAM_STATUS_FOR_CLIENT_FAULT = new Set([400, 404, 409, 413, 415, 422]);
/** Stands in for the hits of a request no response rule reads: never written to. */
const NO_HITS: RuleHits = emptyHits();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The gateway asks a stream for its usage chunk on the client's behalf (to meter it), unless the client did. */
const asksForUsage = (endpoint: Endpoint, json: Record<string, unknown> | undefined): boolean =>
  json?.stream === true &&
  endpoint.streamUsageOption &&
  (json.stream_options as { include_usage?: unknown } | undefined)?.include_usage !== true;

/**
 * The body for a target's model name: the client's bytes untouched unless the model name, the stream options
 * (`injectUsage`) or the gateway's own changes (a cap set, text redacted) must go upstream; each rewrite made once.
 */
export const upstreamBodies = (
  state: RequestState,
  read: ReadRequest,
  injectUsage: boolean,
): ((upstreamModel: string) => Uint8Array) => {
  const { model, json, raw } = read;
  let bodies: Map<string, Uint8Array> | undefined;
  return (upstreamModel) => {
    if (json === undefined || (upstreamModel === model && !injectUsage && !state.bodyRewritten)) return raw;
    bodies ??= new Map();
    let body = bodies.get(upstreamModel);
    if (body === undefined) {
      const rewritten: Record<string, unknown> = { ...json, model: upstreamModel };
      if (injectUsage)
        rewritten.stream_options = { ...(json.stream_options as object | undefined), include_usage: true };
      body = encoder.encode(JSON.stringify(rewritten));
      bodies.set(upstreamModel, body);
    }
    return body;
  };
};

/** The client's headers the upstream reads (its API's), and the gateway's user agent. */
export const upstreamHeaders = (request: GatewayRequest, api: ClientApiName): Record<string, string> => {
  const headers: Record<string, string> = { 'user-agent': 'llm-gateway' };
  for (const name of FORWARDED_REQUEST_HEADERS[api]) {
    const value = request.headers.get(name);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
};

/** An upstream request's abort controller, aborted when the client leaves; `release` unhooks it from the client. */
export const abortWithClient = (signal: AbortSignal | undefined) => {
  const controller = new AbortController();
  const onClientAbort = () => controller.abort(new Error('client disconnected'));
  if (signal?.aborted === true) onClientAbort();
  else signal?.addEventListener('abort', onClientAbort, { once: true });
  return { controller, release: () => signal?.removeEventListener('abort', onClientAbort) };
};

/**
 * An upstream's 4xx/5xx answer that failover did not move past: a refusal of the client's request is passed on
 * (redacted); any other is not about the request, so the client gets a generic 502 and not the upstream's body.
 */
export const answerRefusal = async (
  g: GatewayContext,
  state: RequestState,
  response: UpstreamResponse,
  targetId: string,
  api: ClientApiName,
): Promise<GatewayResponse> => {
  if (UPSTREAM_STATUS_FOR_CLIENT_FAULT.has(response.status))
    return passOnRefusal(g, state, response, targetId, api);
  await response.body.cancel().catch(() => {});
  g.logger.warn('upstream refused the request', {
    requestId: state.requestId,
    target: targetId,
    status: response.status,
  });
  throw upstreamError();
};

/** What an answer of this request creates that the tenant may name later; undefined: nothing. */
const answerShapeOf = (
  endpoint: Endpoint,
  json: Record<string, unknown> | undefined,
): AnswerShapeName | undefined => {
  if (endpoint.tokens === 'responses') return AnswerShape.responses;
  if (endpoint.tokens !== 'chat' || json === undefined) return undefined;
  const audio = json.audio !== undefined && json.audio !== null;
  const modalities = Array.isArray(json.modalities) && json.modalities.includes('audio');
  return audio || modalities ? AnswerShape.chatAudio : undefined;
};

export const respond = async (
  g: GatewayContext,
  state: RequestState,
  request: GatewayRequest,
  endpoint: Endpoint,
  read: ReadRequest,
  resolved: Resolved,
  plan: CachePlan | undefined,
): Promise<GatewayResponse> => {
  const { model, json } = read;
  const injectUsage = asksForUsage(endpoint, json);
  const bodyFor = upstreamBodies(state, read, injectUsage);
  const headers = upstreamHeaders(request, endpoint.api);
  // The upstream request stops when the client leaves, when the relay times out, or when a rule blocks the answer.
  const { controller: upstreamAbort, release } = abortWithClient(request.signal);

  let result: Awaited<ReturnType<GatewayContext['failover']['send']>>;
  try {
    result = await g.failover.send(state, {
      route: resolved.serving,
      model,
      method: endpoint.method,
      path: endpoint.upstreamPath,
      headers,
      bodyFor,
      signal: upstreamAbort.signal,
    });
  } catch (error) {
    release();
    throw error;
  }
  if (result.kind === 'aborted') {
    release();
    state.abortedInFlight = result.inFlight;
    state.status = 499;
    g.telemetry.settle(state, {
      outcome: RequestOutcome.clientAbort,
      usage: undefined,
      firstByteAt: undefined,
    });
    return { status: 499, headers: {}, body: undefined };
  }
  const { response, target } = result;
  const status = response.status;
  if (status >= 400) {
    release();
    return answerRefusal(g, state, response, target.id, endpoint.api);
  }
  state.status = status;
  state.upstreamAccepted = true;
  const out = baseHeaders(state, g.clock.now());
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = response.headers[name];
    if (value !== undefined) out[name] = value;
  }
  out['x-gateway-cache'] = state.cacheStatus;
  const sse = (response.headers['content-type'] ?? '').startsWith('text/event-stream');
  if (sse) out['cache-control'] = 'no-cache';
  // Response content rules: a stream is filtered event by event; a JSON answer is read whole, then filtered.
  const rules = status === 200 && answersHaveText(endpoint.text) ? g.filters?.response : undefined;
  // Only requests that response rules read pay for counting what they do.
  const hits = rules === undefined ? NO_HITS : emptyHits();
  // Ids the answer creates (a response and its items, an audio answer) are the tenant's from now on.
  const answerShape = status === 200 ? answerShapeOf(endpoint, json) : undefined;
  const recorder =
    answerShape === undefined
      ? undefined
      : createAnswerRecorder(answerShape, {
          owned: g.ownedIds,
          principal: state.principal!,
          targetId: target.id,
          requestId: state.requestId,
          now: () => g.clock.now(),
          logger: g.logger,
          metrics: g.metrics,
        });
  const captureMaxBytes = plan?.write === true && status === 200 ? g.config.cache.maxEntryBytes : undefined;
  const settle = (end: RelayEnd) => {
    release();
    if (end.outcome === RequestOutcome.upstreamError || end.outcome === RequestOutcome.timeout) {
      g.breakers.onFailure(target.id);
    }
    if (rules !== undefined) reportHits(g, state, 'response', hits);
    g.telemetry.settle(state, end);
    if (plan?.write === true && end.outcome === RequestOutcome.complete && end.captured !== undefined) {
      storeAnswer(g, state, plan, endpoint, end.captured);
    }
  };
  const abortUpstream = (reason: string) => upstreamAbort.abort(new Error(reason));
  if ((rules !== undefined || recorder !== undefined) && !sse) {
    // A JSON answer the rules or the recorder need whole: read, then answered at once (a stream is never whole).
    const read = await readAnswer({
      upstream: response.body,
      idleTimeoutMs: target.timeouts.idleMs,
      now: () => g.clock.now(),
      abortUpstream,
    });
    return answerWhole(
      g,
      state,
      request,
      { endpoint, rules, hits, recorder, captureMaxBytes },
      read,
      out,
      settle,
    );
  }
  const body = relayBody({
    upstream: response.body,
    sse,
    api: endpoint.api,
    sseEndsWithDone: endpoint.streamEndsWithDone,
    dropUsageChunk: injectUsage,
    jsonUsage: !sse,
    captureMaxBytes,
    filter: rules !== undefined && sse ? createStreamFilter(endpoint.text, rules, hits) : undefined,
    recorder: sse ? recorder : undefined,
    heartbeatMs: g.config.streaming.heartbeatMs,
    idleTimeoutMs: target.timeouts.idleMs,
    requestId: state.requestId,
    now: () => g.clock.now(),
    abortUpstream,
    onEnd: settle,
  });
  // A JSON body passes through byte for byte: its length is the upstream's (one write, no chunked framing).
  const length = response.headers['content-length'];
  if (!sse && length !== undefined) out['content-length'] = length;
  // Settled by the body when it ends.
  state.relaying = true;
  return { status, headers: out, body };
};

/**
 * Answers with a JSON answer read whole: records the ids it creates, applies the response rules, and answers
 * with the filtered JSON, or a 400 when a rule blocks it. The request settles before the answer is sent.
 */
const answerWhole = async (
  g: GatewayContext,
  state: RequestState,
  request: GatewayRequest,
  after: {
    readonly endpoint: Endpoint;
    readonly rules: NonNullable<GatewayContext['filters']>['response'];
    readonly hits: RuleHits;
    readonly recorder: AnswerRecorder | undefined;
    readonly captureMaxBytes: number | undefined;
  },
  read: WholeAnswer,
  headers: Record<string, string>,
  settle: (end: RelayEnd) => void,
): Promise<GatewayResponse> => {
  const { endpoint, rules, hits, recorder } = after;
  let bytes = read.bytes;
  if (bytes === undefined) {
    // The upstream failed, went silent, or the client left part way.
    state.status = request.signal?.aborted === true ? 499 : 502;
    const error = upstreamError('The upstream provider failed while sending the response.');
    state.error = error;
    settle(wholeAnswerEnd(read, undefined, undefined));
    return errorResponse(error, state.requestId, baseHeaders(state, g.clock.now()), state.api);
  }
  let answer: unknown;
  try {
    answer = JSON.parse(decoder.decode(bytes));
  } catch {
    answer = undefined; // not JSON after all: nothing the rules can read, passed on as it came
  }
  const end = wholeAnswerEnd(read, answer, after.captureMaxBytes, endpoint.api);
  if (recorder !== undefined) {
    recorder.answer(answer);
    await recorder.flush();
  }
  if (rules !== undefined && typeof answer === 'object' && answer !== null && !Array.isArray(answer)) {
    const changed = redactAnswer(endpoint.text, rules, answer as Record<string, unknown>, hits);
    if (hits.blockedBy !== undefined) {
      const error = contentFiltered(hits.blockedBy, 'response');
      state.status = 400;
      state.error = error;
      // A blocked answer was generated (and billed) in full: it ends as a blocked stream does.
      settle({ ...end, outcome: RequestOutcome.contentFiltered });
      return errorResponse(error, state.requestId, baseHeaders(state, g.clock.now()), state.api);
    }
    if (changed) bytes = encoder.encode(JSON.stringify(answer));
  }
  settle(end);
  return { status: state.status, headers, body: bytes };
};

/**
 * An upstream's refusal of the client's request, redacted, in the shape of the client's API; the request was not
 * accepted, so nothing is billed.
 */
const passOnRefusal = async (
  g: GatewayContext,
  state: RequestState,
  response: UpstreamResponse,
  targetId: string,
  api: ClientApiName,
): Promise<GatewayResponse> => {
  const refused = (message: string) =>
    encoder.encode(JSON.stringify(errorBodyIn(api, invalidRequest(message), state.requestId)));
  let bytes: Uint8Array;
  try {
    bytes = redactUpstreamError(await readBody(response.body, MAX_UPSTREAM_ERROR_BYTES));
    if (api === ClientApi.anthropic) bytes = asAnthropicRefusal(bytes, response.status, state.requestId);
  } catch {
    // Unreadable, or longer than any error message: the status says enough.
    bytes = refused(`The upstream provider refused the request (status ${response.status}).`);
  }
  g.logger.info('upstream refused the request as invalid', {
    requestId: state.requestId,
    target: targetId,
    status: response.status,
  });
  state.status = response.status;
  const headers = baseHeaders(state, g.clock.now());
  headers['content-type'] =
    api === ClientApi.anthropic
      ? 'application/json'
      : (response.headers['content-type'] ?? 'application/json');
  headers['x-gateway-cache'] = state.cacheStatus;
  g.telemetry.settle(state, { outcome: RequestOutcome.rejected, usage: undefined, firstByteAt: undefined });
  return { status: response.status, headers, body: bytes };
};

/**
 * An upstream's refusal (already redacted) as Anthropic's error JSON: an Anthropic target's passes as it is; an
 * OpenAI target's (`error.message`) or Bedrock's (`message`) keeps its message under the type its status means.
 */
const asAnthropicRefusal = (bytes: Uint8Array, status: number, requestId: string): Uint8Array => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    parsed = undefined;
  }
  const body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  if (body.type === 'error' && typeof body.error === 'object' && body.error !== null) return bytes;
  const inner =
    typeof body.error === 'object' && body.error !== null ? (body.error as Record<string, unknown>) : {};
  const message =
    typeof inner.message === 'string'
      ? inner.message
      : typeof body.message === 'string'
        ? body.message
        : `The upstream provider refused the request (status ${status}).`;
  return encoder.encode(
    JSON.stringify({
      type: 'error',
      error: { type: anthropicErrorType(status), message },
      request_id: requestId,
    }),
  );
};
