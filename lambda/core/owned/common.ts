// What every owned-object route shares: the ownership store, the target that holds an object, calls to it that
// turn an upstream's refusal into the client's answer, JSON and file bodies, recording new objects (undone
// upstream when the record cannot be stored), and lists built from the tenant's records.
import {
  OwnedKind,
  type OwnedKindName,
  type OwnedObject,
  type OwnershipStore,
  type Principal,
  UpstreamError,
  UpstreamFailure,
  type UpstreamResponse,
} from '../../ports.ts';
import type { TargetConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import {
  filesUnavailable,
  ownershipUnavailable,
  rateLimited,
  upstreamError,
  upstreamTimeout,
  upstreamUnavailable,
  upstreamUnreachable,
} from '../errors.ts';
import { type GatewayRequest, type GatewayResponse, jsonResponse } from '../exchange.ts';
import { updateOwned } from '../ownership.ts';
import type { RouteHandler } from '../route-table.ts';
import { baseHeaders, type RequestState } from '../state.ts';
import { readBody, sourceOfUpstream, type TargetRequest } from '../upstream/client.ts';
import { MAX_UPSTREAM_ERROR_BYTES, redactUpstreamError } from '../upstream-errors.ts';
import { readFileBody, readJson } from './bodies.ts';
import { NOUN, notOwned, UPSTREAM_PATHS } from './kinds.ts';
import { listPage, type PageArgs } from './lists.ts';

export type Json = Record<string, unknown>;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Upstream statuses that are about the client's request: the upstream's error body is passed on. */
const CLIENT_FAULT = new Set([400, 404, 409, 413, 415, 422]);
/** Conditional updates of a record (an upload's part list) retried when changes arrive at once. */
const UPDATE_ATTEMPTS = 20;
const REFUSED = encoder.encode(
  '{"error":{"message":"The upstream provider refused the request.","type":"invalid_request_error","param":null,"code":null}}',
);

/** One request to an owned-object route: who asks, and what they sent. */
export interface OwnedCall {
  readonly principal: Principal;
  readonly requestId: string;
  readonly request: GatewayRequest;
  readonly query: URLSearchParams;
  /** The request's state: what its log line and content-rule reports name. */
  readonly state: RequestState;
  /** Headers every gateway response carries (request id, overhead), fresh for each response. */
  headers(): Record<string, string>;
}

/** Answers one owned route: `id` is the path's object id, `itemId` a conversation item's (both decoded). */
export type OwnedHandler = (call: OwnedCall, id: string, itemId?: string) => Promise<GatewayResponse>;

/** A path segment, decoded; a malformed escape names no object the tenant owns. */
const decodeId = (raw: string | undefined): string => {
  if (raw === undefined) return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw notOwned(OwnedKind.file, raw);
  }
};

/** A route handler of the gateway's table from an owned handler. */
export const route =
  (handler: OwnedHandler): RouteHandler =>
  (g, state, request, params) =>
    handler(
      {
        principal: state.principal!,
        requestId: state.requestId,
        request,
        query: new URLSearchParams(request.query),
        state,
        headers: () => baseHeaders(state, g.clock.now()),
      },
      decodeId(params[0]),
      params[1] === undefined ? undefined : decodeId(params[1]),
    );

/** The services owned routes use, built once per gateway. */
export const createOwnedCommon = (g: GatewayContext) => {
  const { config, clock, logger } = g;
  const ownership = g.deps.ownership;
  const policy = config.fineTuning;
  const filesTarget: TargetConfig | undefined =
    policy.target !== undefined
      ? g.targets.target(policy.target)
      : config.routes
          .flatMap((entry) => entry.targets)
          .find((target) => target.provider === 'openai' || target.provider === 'azure-openai');

  const store = (): OwnershipStore => {
    if (ownership === undefined)
      throw filesUnavailable('Files and fine-tuning are not enabled on this gateway.');
    return ownership;
  };

  const targetOf = (record: OwnedObject): TargetConfig => {
    const target = g.targets.target(record.targetId);
    if (target === undefined) {
      logger.error('owned object on a target no longer configured', {
        id: record.id,
        target: record.targetId,
      });
      throw upstreamUnavailable('The upstream that holds this object is not configured.');
    }
    return target;
  };

  /** Where new files, uploads and conversations go. */
  const newObjectsTarget = (): TargetConfig => {
    if (filesTarget === undefined) {
      throw filesUnavailable(
        'Files and fine-tuning have no upstream: set fineTuning.target in the gateway config.',
      );
    }
    return filesTarget;
  };

  /** The tenant's record of an id, or a 404 that says nothing of whether someone else has one. */
  const owned = async (
    principal: Principal,
    kind: OwnedKindName,
    id: string,
    param: string | null = null,
  ) => {
    const record = await store().get(kind, id);
    if (record === undefined || record.tenantId !== principal.tenantId) throw notOwned(kind, id, param);
    return record;
  };

  const send = async (target: TargetConfig, request: TargetRequest): Promise<UpstreamResponse> => {
    try {
      return await g.targets.send(target, request);
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === UpstreamFailure.timeout)
        throw upstreamTimeout(undefined, error);
      throw upstreamUnreachable(error);
    }
  };

  /** An upstream answer that is not a success, as the client sees it. */
  const refusal = async (response: UpstreamResponse, call: OwnedCall): Promise<GatewayResponse> => {
    if (CLIENT_FAULT.has(response.status)) {
      // Passed on so the client learns what to fix, without what the upstream may echo of the gateway's account.
      const body = await readBody(response.body, MAX_UPSTREAM_ERROR_BYTES).then(
        redactUpstreamError,
        () => REFUSED,
      );
      const headers = call.headers();
      headers['content-type'] = response.headers['content-type'] ?? 'application/json';
      return { status: response.status, headers, body };
    }
    await response.body.cancel().catch(() => {});
    if (response.status === 429) {
      throw rateLimited('The upstream provider is rate limiting requests.', response.headers['retry-after']);
    }
    logger.warn('upstream refused a files or fine-tuning request', {
      requestId: call.requestId,
      status: response.status,
    });
    throw upstreamError();
  };

  /** The upstream's JSON object of a success. */
  const objectOf = async (response: UpstreamResponse): Promise<Json> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(await readBody(response.body)));
    } catch (error) {
      throw upstreamError('The upstream provider returned an unexpected answer.', error);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw upstreamError('The upstream provider returned an unexpected answer.');
    return parsed as Json;
  };

  /** Sends to the target: a success is its JSON object, anything else the client's answer for it. */
  const exchange = async (
    call: OwnedCall,
    target: TargetConfig,
    request: TargetRequest,
  ): Promise<
    | { readonly ok: true; readonly object: Json; readonly status: number }
    | { readonly ok: false; readonly response: GatewayResponse }
  > => {
    const response = await send(target, { signal: call.request.signal, ...request });
    if (response.status < 200 || response.status >= 300)
      return { ok: false, response: await refusal(response, call) };
    return { ok: true, object: await objectOf(response), status: response.status };
  };

  const forwardedHeaders = (request: GatewayRequest): Record<string, string> => {
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'accept', 'openai-beta']) {
      const value = request.headers.get(name);
      if (value !== undefined) headers[name] = value;
    }
    return headers;
  };

  /** Records a new object; when that fails, undoes it upstream (best effort) and answers 503. */
  const record = async (object: OwnedObject, undo: () => Promise<unknown>): Promise<void> => {
    try {
      await store().create(object);
    } catch (error) {
      await undo().catch((undoError: unknown) =>
        logger.error('could not undo an unrecorded upstream object', {
          kind: object.kind,
          id: object.id,
          error: String(undoError),
        }),
      );
      throw ownershipUnavailable('The gateway could not record the new object. Try again.', error);
    }
  };

  const newRecord = (
    call: OwnedCall,
    kind: OwnedKindName,
    target: TargetConfig,
    object: Json,
    extra: Partial<OwnedObject> = {},
  ): OwnedObject => ({
    kind,
    id: String(object.id),
    tenantId: call.principal.tenantId,
    keyId: call.principal.keyId,
    targetId: target.id,
    createdAt: clock.now(),
    version: 1,
    object,
    ...extra,
  });

  const idOf = (object: Json, what: string): string => {
    if (typeof object.id !== 'string' || object.id === '')
      throw upstreamError(`The upstream provider returned a ${what} without an id.`);
    return object.id;
  };

  /**
   * Creates an object upstream and records it as the tenant's; when the record cannot be stored, `undo` (given
   * the new id) is sent upstream, so that no object is left that no tenant owns. The upstream's refusal is the
   * client's answer.
   */
  const createOwned = async (
    call: OwnedCall,
    kind: OwnedKindName,
    target: TargetConfig,
    request: Omit<TargetRequest, 'method'>,
    undo: (id: string) => TargetRequest,
    extra: (object: Json) => Partial<OwnedObject> = () => ({}),
  ): Promise<
    | { readonly ok: true; readonly record: OwnedObject; readonly status: number }
    | { readonly ok: false; readonly response: GatewayResponse }
  > => {
    const exchanged = await exchange(call, target, { method: 'POST', ...request });
    if (!exchanged.ok) return exchanged;
    const id = idOf(exchanged.object, NOUN[kind]);
    const created = newRecord(call, kind, target, exchanged.object, extra(exchanged.object));
    await record(created, () => send(target, undo(id)));
    return { ok: true, record: created, status: exchanged.status };
  };

  /** Replaces a record's snapshot (and maybe more), retrying on conflicts; false when it could not be stored. */
  const refresh = (current: OwnedObject, change: (latest: OwnedObject) => Partial<OwnedObject>) =>
    updateOwned(store(), current, change, UPDATE_ATTEMPTS).then(
      () => true,
      () => false,
    );

  /** A GET (or POST, DELETE) of an owned object, passed through: the upstream has the current state. */
  const passThrough =
    (kind: OwnedKindName, suffix: string, method: 'GET' | 'DELETE' | 'POST' = 'GET'): OwnedHandler =>
    async (call, id) => {
      const found = await owned(call.principal, kind, id);
      const search = call.query.toString();
      const response = await send(targetOf(found), {
        method,
        path: `${UPSTREAM_PATHS[kind]}/${encodeURIComponent(found.id)}${suffix}${search === '' ? '' : `?${search}`}`,
        headers: { accept: call.request.headers.get('accept') ?? 'application/json' },
        signal: call.request.signal,
      });
      if (response.status < 200 || response.status >= 300) return refusal(response, call);
      const headers = call.headers();
      for (const name of ['content-type', 'content-length', 'content-disposition']) {
        const value = response.headers[name];
        if (value !== undefined) headers[name] = value;
      }
      return { status: response.status, headers, body: sourceOfUpstream(response.body) };
    };

  /** Removes an object upstream, then its record (also when the upstream had already forgotten it). */
  const deleteOwned =
    (kind: OwnedKindName): OwnedHandler =>
    async (call, id) => {
      const found = await owned(call.principal, kind, id);
      const response = await send(targetOf(found), {
        method: 'DELETE',
        path: `${UPSTREAM_PATHS[kind]}/${encodeURIComponent(found.id)}`,
        signal: call.request.signal,
      });
      if (response.status === 404 || (response.status >= 200 && response.status < 300)) {
        await store().remove(kind, found.id);
        g.ownedIds.forget(kind, found.id);
      }
      if (response.status < 200 || response.status >= 300) return refusal(response, call);
      return jsonResponse(response.status, await objectOf(response), call.headers());
    };

  /**
   * Looks at a job or batch through the observer (records, meters, announces) with the upstream's `answer`; a
   * failure there is logged, and is the tracker's to retry.
   */
  const observe = async (record: OwnedObject, answer: Json, requestId: string): Promise<void> => {
    if (g.observer === undefined) return;
    try {
      await g.observer.observe(record, answer);
    } catch (error) {
      logger.warn('not observed', { requestId, kind: record.kind, id: record.id, error: String(error) });
    }
  };

  return {
    g,
    policy,
    observe,
    store,
    targetOf,
    newObjectsTarget,
    owned,
    send,
    refusal,
    exchange,
    forwardedHeaders,
    readFileBody: (call: OwnedCall, what: 'file' | 'part') => readFileBody(config, call, what),
    readJson: (call: OwnedCall) => readJson(config, call),
    record,
    newRecord,
    idOf,
    createOwned,
    refresh,
    page: (...args: PageArgs) => listPage(store(), ...args),
    passThrough,
    deleteOwned,
  };
};

export type OwnedCommon = ReturnType<typeof createOwnedCommon>;
