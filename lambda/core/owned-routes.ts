// Files, uploads and fine-tuning jobs: proxied to the target that holds them, with an ownership record per
// object. Every id a tenant names (in the path or in a body) is checked against those records, and lists are
// built from them: an id the tenant does not own is a 404, whoever owns it, and no list shows another tenant's.
import {
  type BudgetStore,
  type Clock,
  type Logger,
  OwnedKind,
  type OwnedKindName,
  type OwnedObject,
  type OwnershipStore,
  type Principal,
  UpstreamError,
  UpstreamFailure,
  type UpstreamResponse,
} from '../ports.ts';
import { IdShape, type IdShapeName, idsInRequest } from './body-ids.ts';
import type { GatewayConfig, TargetConfig } from './config.ts';
import {
  ErrorType,
  GatewayError,
  invalidRequest,
  methodNotAllowed,
  serverError,
  unsupportedMediaType,
} from './errors.ts';
import { mediaType, readBodyWithLimit } from './http.ts';
import { initialTracking, type JobObserver } from './jobs.ts';
import { checkJsonShape, decodeUtf8 } from './limits.ts';
import { ANSWER_OBJECT_LIFETIME_MS, type OwnedIds, targetsHolding } from './owned-ids.ts';
import { updateOwned } from './ownership.ts';
import { billingMonthOf, budgetResetAt, formatUsd, priceFor } from './pricing.ts';
import { checkModelName, refuseRepeatedFields } from './request-fields.ts';
import { readBody, type TargetClient, type TargetRequest, webStreamOf } from './targets.ts';
import { MAX_UPSTREAM_ERROR_BYTES, redactUpstreamError } from './upstream-errors.ts';

type Json = Record<string, unknown>;
const decoder = new TextDecoder();
/** Upstream statuses that are about the client's request: the upstream's error body is passed on. */
const CLIENT_FAULT = new Set([400, 404, 409, 413, 415, 422]);
/** Conditional updates of an upload's part list retried when parts arrive at once. */
const PART_UPDATE_ATTEMPTS = 20;

export interface OwnedRoutesDeps {
  readonly config: GatewayConfig;
  readonly ownership: OwnershipStore | undefined;
  /** Checks the ids a body names, and records the ids an answer shows. */
  readonly ownedIds: OwnedIds;
  readonly targets: TargetClient;
  readonly observer: JobObserver | undefined;
  readonly budgets: BudgetStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The key's and the tier's model allowlists. */
  readonly mayUse: (principal: Principal, model: string) => boolean;
}

export interface OwnedCall {
  readonly request: Request;
  readonly principal: Principal;
  readonly requestId: string;
  /** The body's bytes when the entry point already read them. */
  readonly body?: Uint8Array | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Headers every gateway response carries (request id, overhead). */
  readonly headers: () => Record<string, string>;
}

/** Answers one route: `id` is the path's object id, `itemId` a conversation item's. */
type Handler = (
  call: OwnedCall,
  id: string | undefined,
  query: URLSearchParams,
  itemId?: string | undefined,
) => Promise<Response>;

/** Where each kind of object lives in the upstream's API. */
const UPSTREAM_PATHS: Record<OwnedKindName, string> = {
  file: '/files',
  upload: '/uploads',
  job: '/fine_tuning/jobs',
  model: '/models',
  response: '/responses',
  conversation: '/conversations',
  item: '/items',
  container: '/containers',
  audio: '/audio',
};

const NOUN: Record<OwnedKindName, string> = {
  file: 'File',
  upload: 'Upload',
  job: 'fine-tuning job',
  model: 'model',
  response: 'Response',
  conversation: 'Conversation',
  item: 'Item',
  container: 'Container',
  audio: 'Audio',
};

/** Kinds whose 404 reads as OpenAI's: `No such File object: <id>.` */
const NO_SUCH_OBJECT: ReadonlySet<OwnedKindName> = new Set([
  OwnedKind.file,
  OwnedKind.upload,
  OwnedKind.model,
]);

/** What the gateway says of an id the tenant does not own: the same as of one that does not exist. */
const notOwned = (kind: OwnedKindName, id: string, param: string | null = null) =>
  new GatewayError(
    kind === OwnedKind.job
      ? `Could not find fine-tuning job: ${id}.`
      : NO_SUCH_OBJECT.has(kind)
        ? `No such ${NOUN[kind]} object: ${id}.`
        : `${NOUN[kind]} with id '${id}' not found.`,
    { status: 404, type: ErrorType.invalidRequest, code: null, param },
  );

/** What the gateway says of a model the tenant may not use: the same as of one that does not exist. */
const modelNotFound = (model: string) =>
  new GatewayError(`The model '${model}' does not exist or you do not have access to it.`, {
    status: 404,
    type: ErrorType.invalidRequest,
    code: 'model_not_found',
    param: 'model',
  });

const json = (status: number, body: unknown, headers: Record<string, string>): Response =>
  new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });

export const createOwnedRoutes = (deps: OwnedRoutesDeps) => {
  const { config, clock, logger } = deps;
  const policy = config.fineTuning;
  const filesTarget: TargetConfig | undefined =
    policy.target !== undefined
      ? deps.targets.target(policy.target)
      : config.routes
          .flatMap((route) => route.targets)
          .find((target) => target.provider === 'openai' || target.provider === 'azure-openai');

  const store = (): OwnershipStore => {
    if (deps.ownership === undefined) {
      throw serverError(503, 'files_unavailable', 'Files and fine-tuning are not enabled on this gateway.');
    }
    return deps.ownership;
  };

  const targetOf = (record: OwnedObject): TargetConfig => {
    const target = deps.targets.target(record.targetId);
    if (target === undefined) {
      logger.error('owned object on a target no longer configured', {
        id: record.id,
        target: record.targetId,
      });
      throw serverError(
        502,
        'upstream_unavailable',
        'The upstream that holds this object is not configured.',
      );
    }
    return target;
  };

  const newObjectsTarget = (): TargetConfig => {
    if (filesTarget === undefined) {
      throw serverError(
        503,
        'files_unavailable',
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

  const send = async (
    target: TargetConfig,
    request: Parameters<TargetClient['send']>[1],
  ): Promise<UpstreamResponse> => {
    try {
      return await deps.targets.send(target, request);
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === UpstreamFailure.timeout)
        throw serverError(504, 'upstream_timeout', 'The upstream provider did not respond in time.');
      throw serverError(502, 'upstream_unreachable', 'The upstream provider could not be reached.');
    }
  };

  /** An upstream answer that is not a success, as the client sees it. */
  const refusal = async (response: UpstreamResponse, call: OwnedCall): Promise<Response> => {
    if (CLIENT_FAULT.has(response.status)) {
      // Passed on so the client learns what to fix, without what the upstream may echo of the gateway's account.
      const body = await readBody(response.body, MAX_UPSTREAM_ERROR_BYTES).then(redactUpstreamError, () =>
        new TextEncoder().encode(
          '{"error":{"message":"The upstream provider refused the request.","type":"invalid_request_error","param":null,"code":null}}',
        ),
      );
      return new Response(body as Uint8Array<ArrayBuffer>, {
        status: response.status,
        headers: {
          ...call.headers(),
          'content-type': response.headers['content-type'] ?? 'application/json',
        },
      });
    }
    await response.body.cancel().catch(() => {});
    if (response.status === 429) {
      const retryAfter = response.headers['retry-after'];
      throw new GatewayError('The upstream provider is rate limiting requests.', {
        status: 429,
        type: ErrorType.rateLimit,
        code: 'rate_limit_exceeded',
        headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
      });
    }
    logger.warn('upstream refused a files or fine-tuning request', {
      requestId: call.requestId,
      status: response.status,
    });
    throw serverError(502, 'upstream_error', 'The upstream provider returned an error.');
  };

  /** The upstream's JSON object of a success. */
  const objectOf = async (response: UpstreamResponse): Promise<Json> => {
    const parsed: unknown = JSON.parse(decoder.decode(await readBody(response.body)));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw serverError(502, 'upstream_error', 'The upstream provider returned an unexpected answer.');
    return parsed as Json;
  };

  /**
   * Sends to the target; a success is its JSON object, anything else the Response the client gets for it
   * (the caller returns that as it is).
   */
  const exchange = async (
    call: OwnedCall,
    target: TargetConfig,
    request: Parameters<TargetClient['send']>[1],
  ): Promise<{ readonly object: Json; readonly status: number } | Response> => {
    const response = await send(target, { signal: call.signal, ...request });
    if (response.status < 200 || response.status >= 300) return refusal(response, call);
    return { object: await objectOf(response), status: response.status };
  };

  const forwardedHeaders = (request: Request): Record<string, string> => {
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'accept', 'openai-beta']) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    return headers;
  };

  /** A multipart body (a file or a part), refused past fineTuning.maxFileBytes with the way to send more. */
  const readFileBody = async (call: OwnedCall, what: 'file' | 'part'): Promise<Uint8Array> => {
    const contentType = call.request.headers.get('content-type');
    if (mediaType(contentType) !== 'multipart/form-data')
      throw unsupportedMediaType(contentType, 'multipart/form-data');
    try {
      return await readBodyWithLimit(call.request, policy.maxFileBytes, call.body);
    } catch (error) {
      if (!(error instanceof GatewayError) || error.code !== 'request_too_large') throw error;
      const limit = policy.maxFileBytes;
      throw new GatewayError(
        what === 'file'
          ? `POST /v1/files takes files of up to ${limit} bytes. Upload larger files in parts: POST /v1/uploads, then POST /v1/uploads/{upload_id}/parts with parts of up to ${limit} bytes each, then POST /v1/uploads/{upload_id}/complete.`
          : `An upload part can be at most ${limit} bytes: split the file into more parts.`,
        { status: 413, type: ErrorType.invalidRequest, code: 'request_too_large' },
      );
    }
  };

  /** A multipart body whose fields could be read one way here and another upstream is refused. */
  const checkSingleFields = async (call: OwnedCall, body: Uint8Array): Promise<void> => {
    let form: FormData;
    try {
      form = await new Response(body as Uint8Array<ArrayBuffer>, {
        headers: { 'content-type': call.request.headers.get('content-type') ?? '' },
      }).formData();
    } catch {
      throw invalidRequest('The multipart/form-data body could not be parsed.');
    }
    refuseRepeatedFields(form);
  };

  const readJson = async (call: OwnedCall): Promise<{ bytes: Uint8Array; body: Json }> => {
    const contentType = call.request.headers.get('content-type');
    if (mediaType(contentType) !== 'application/json')
      throw unsupportedMediaType(contentType, 'application/json');
    const bytes = await readBodyWithLimit(call.request, config.limits.maxBodyBytes, call.body);
    checkJsonShape(bytes, config.limits);
    let body: unknown;
    try {
      body = JSON.parse(decodeUtf8(bytes));
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw invalidRequest('We could not parse the JSON body of your request. Send a JSON object.');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw invalidRequest('The request body must be a JSON object.');
    return { bytes, body: body as Json };
  };

  /** Records a new object; when that fails, undoes it upstream (best effort) and answers 503. */
  const record = async (object: OwnedObject, undo: () => Promise<unknown>): Promise<void> => {
    try {
      await store().create(object);
    } catch (error) {
      logger.error('ownership record not stored', { kind: object.kind, id: object.id, error: String(error) });
      await undo().catch((undoError: unknown) =>
        logger.error('could not undo an unrecorded upstream object', {
          kind: object.kind,
          id: object.id,
          error: String(undoError),
        }),
      );
      throw serverError(
        503,
        'ownership_unavailable',
        'The gateway could not record the new object. Try again.',
      );
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
      throw serverError(502, 'upstream_error', `The upstream provider returned a ${what} without an id.`);
    return object.id;
  };

  /**
   * Creates an object upstream and records it as the tenant's; when the record cannot be stored, `undo` (given
   * the new id) is sent upstream, so that no object is left that no tenant owns. The upstream's refusal is
   * returned as the client's Response.
   */
  const createOwned = async (
    call: OwnedCall,
    kind: OwnedKindName,
    target: TargetConfig,
    request: Omit<TargetRequest, 'method'>,
    undo: (id: string) => TargetRequest,
    extra: (object: Json) => Partial<OwnedObject> = () => ({}),
  ): Promise<{ readonly record: OwnedObject; readonly status: number } | Response> => {
    const exchanged = await exchange(call, target, { method: 'POST', ...request });
    if (exchanged instanceof Response) return exchanged;
    const { object, status } = exchanged;
    const id = idOf(object, NOUN[kind]);
    const created = newRecord(call, kind, target, object, extra(object));
    await record(created, () => send(target, undo(id)));
    return { record: created, status };
  };

  /** Replaces a record's snapshot (and maybe more), retrying on conflicts; false when it could not be stored. */
  const refresh = (record: OwnedObject, change: (current: OwnedObject) => Partial<OwnedObject>) =>
    updateOwned(store(), record, change, PART_UPDATE_ATTEMPTS).then(
      () => true,
      () => false,
    );

  /** Lists the tenant's objects, newest first by default, filtered, from the ownership records. */
  const page = async (
    principal: Principal,
    kind: OwnedKindName,
    query: URLSearchParams,
    options: { readonly defaultLimit: number; readonly maxLimit: number; readonly order: boolean },
    keep: (object: OwnedObject) => boolean = () => true,
  ): Promise<{ data: unknown[]; hasMore: boolean }> => {
    const rawLimit = query.get('limit');
    const limit = rawLimit === null ? options.defaultLimit : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > options.maxLimit) {
      throw invalidRequest(
        `'limit' must be an integer from 1 to ${options.maxLimit}, got: ${JSON.stringify(rawLimit)}.`,
        'limit',
      );
    }
    const order = options.order ? (query.get('order') ?? 'desc') : 'desc';
    if (order !== 'asc' && order !== 'desc')
      throw invalidRequest(`'order' must be "asc" or "desc", got: ${JSON.stringify(order)}.`, 'order');
    const after = query.get('after') ?? undefined;
    const matched: OwnedObject[] = [];
    // Newest first from the store; `asc` needs them all (a tenant's files, not everyone's).
    const want = order === 'asc' ? Number.POSITIVE_INFINITY : limit + 1;
    let cursor = order === 'asc' ? undefined : after;
    for (;;) {
      const batch = await store().list(principal.tenantId, kind, { after: cursor, limit: 100 });
      for (const item of batch.items) if (keep(item)) matched.push(item);
      const last = batch.items.at(-1);
      if (!batch.hasMore || matched.length >= want || last === undefined) break;
      cursor = last.id;
    }
    let items = matched;
    if (order === 'asc') {
      items = matched.reverse();
      if (after !== undefined) {
        const at = items.findIndex((item) => item.id === after);
        items = at === -1 ? [] : items.slice(at + 1);
      }
    }
    return { data: items.slice(0, limit).map((item) => item.object), hasMore: items.length > limit };
  };

  // --- Files ------------------------------------------------------------------------------------------------

  const createFile: Handler = async (call) => {
    const target = newObjectsTarget();
    const body = await readFileBody(call, 'file');
    await checkSingleFields(call, body);
    const created = await createOwned(
      call,
      OwnedKind.file,
      target,
      { path: '/files', headers: forwardedHeaders(call.request), body },
      (id) => ({ method: 'DELETE', path: `/files/${encodeURIComponent(id)}` }),
    );
    if (created instanceof Response) return created;
    return json(created.status, created.record.object, call.headers());
  };

  const listFiles: Handler = async (call, _id, query) => {
    const purpose = query.get('purpose');
    const { data, hasMore } = await page(
      call.principal,
      OwnedKind.file,
      query,
      { defaultLimit: 10_000, maxLimit: 10_000, order: true },
      (file) => purpose === null || file.object.purpose === purpose,
    );
    const first = data[0] as Json | undefined;
    const last = data.at(-1) as Json | undefined;
    return json(
      200,
      { object: 'list', data, first_id: first?.id ?? null, last_id: last?.id ?? null, has_more: hasMore },
      call.headers(),
    );
  };

  /** A GET (or DELETE) of an owned object, passed through: the upstream has the current state. */
  const passThrough =
    (kind: OwnedKindName, suffix: string, method: 'GET' | 'DELETE' | 'POST' = 'GET'): Handler =>
    async (call, id, query) => {
      const record = await owned(call.principal, kind, id ?? '');
      const upstreamPath = UPSTREAM_PATHS[kind];
      const search = query.toString();
      const response = await send(targetOf(record), {
        method,
        path: `${upstreamPath}/${encodeURIComponent(record.id)}${suffix}${search === '' ? '' : `?${search}`}`,
        headers: { accept: call.request.headers.get('accept') ?? 'application/json' },
        signal: call.signal,
      });
      if (response.status < 200 || response.status >= 300) return refusal(response, call);
      const headers = call.headers();
      for (const name of ['content-type', 'content-length', 'content-disposition']) {
        const value = response.headers[name];
        if (value !== undefined) headers[name] = value;
      }
      return new Response(webStreamOf(response.body), { status: response.status, headers });
    };

  // --- Uploads ----------------------------------------------------------------------------------------------

  const createUpload: Handler = async (call) => {
    const target = newObjectsTarget();
    const { bytes } = await readJson(call);
    const created = await createOwned(
      call,
      OwnedKind.upload,
      target,
      { path: '/uploads', headers: { 'content-type': 'application/json' }, body: bytes },
      (id) => ({ method: 'POST', path: `/uploads/${encodeURIComponent(id)}/cancel` }),
      () => ({ parts: [] }),
    );
    if (created instanceof Response) return created;
    return json(created.status, created.record.object, call.headers());
  };

  const addPart: Handler = async (call, id) => {
    const upload = await owned(call.principal, OwnedKind.upload, id ?? '');
    const body = await readFileBody(call, 'part');
    const exchanged = await exchange(call, targetOf(upload), {
      method: 'POST',
      path: `/uploads/${encodeURIComponent(upload.id)}/parts`,
      headers: forwardedHeaders(call.request),
      body,
    });
    if (exchanged instanceof Response) return exchanged;
    const { object: part, status } = exchanged;
    const partId = idOf(part, 'part');
    const stored = await refresh(upload, (current) => ({ parts: [...(current.parts ?? []), partId] }));
    if (!stored) {
      throw serverError(
        503,
        'ownership_unavailable',
        'The gateway could not record the part. Send it again.',
      );
    }
    return json(status, part, call.headers());
  };

  const completeUpload: Handler = async (call, id) => {
    const upload = await owned(call.principal, OwnedKind.upload, id ?? '');
    const { bytes, body } = await readJson(call);
    const partIds = body.part_ids;
    if (!Array.isArray(partIds) || partIds.some((part) => typeof part !== 'string')) {
      throw invalidRequest("'part_ids' must be an array of part ids.", 'part_ids');
    }
    const known = new Set(upload.parts ?? []);
    for (const part of partIds as string[]) {
      if (!known.has(part)) {
        throw new GatewayError(`No such Upload Part object: ${part}.`, {
          status: 404,
          type: ErrorType.invalidRequest,
          code: null,
          param: 'part_ids',
        });
      }
    }
    const target = targetOf(upload);
    const exchanged = await exchange(call, target, {
      method: 'POST',
      path: `/uploads/${encodeURIComponent(upload.id)}/complete`,
      headers: { 'content-type': 'application/json' },
      body: bytes,
    });
    if (exchanged instanceof Response) return exchanged;
    const { object: completed, status } = exchanged;
    const file = completed.file;
    if (typeof file === 'object' && file !== null && !Array.isArray(file)) {
      const fileId = idOf(file as Json, 'file');
      await record(newRecord(call, OwnedKind.file, target, file as Json), () =>
        send(target, { method: 'DELETE', path: `/files/${encodeURIComponent(fileId)}` }),
      );
    }
    await refresh(upload, () => ({ object: completed }));
    return json(status, completed, call.headers());
  };

  const cancelUpload: Handler = async (call, id) => {
    const upload = await owned(call.principal, OwnedKind.upload, id ?? '');
    const exchanged = await exchange(call, targetOf(upload), {
      method: 'POST',
      path: `/uploads/${encodeURIComponent(upload.id)}/cancel`,
    });
    if (exchanged instanceof Response) return exchanged;
    const { object: cancelled, status } = exchanged;
    await refresh(upload, () => ({ object: cancelled }));
    return json(status, cancelled, call.headers());
  };

  // --- Fine-tuning jobs -------------------------------------------------------------------------------------

  /** Looks at a job through the observer (records, meters, announces); a failure there is the tracker's to retry. */
  const observe = async (record: OwnedObject, job: Json, requestId: string) => {
    if (deps.observer === undefined) return;
    try {
      await deps.observer.observe(record, job);
    } catch (error) {
      logger.warn('fine-tuning job not observed', { requestId, jobId: record.id, error: String(error) });
    }
  };

  const fileParam = async (call: OwnedCall, body: Json, param: string, required: boolean) => {
    const id = body[param];
    if (id === undefined || id === null) {
      if (required) throw invalidRequest(`Missing required parameter: '${param}'.`, param);
      return undefined;
    }
    if (typeof id !== 'string') throw invalidRequest(`'${param}' must be a file id.`, param);
    return owned(call.principal, OwnedKind.file, id, param);
  };

  /** A tenant with a budget trains only models whose training is priced: its cost could not be charged else. */
  const checkTrainingPrice = (principal: Principal, model: string, baseModel: string | undefined) => {
    if (principal.monthlyBudgetMicroUsd === undefined) return;
    const price = priceFor(model, config.prices, baseModel);
    if (price?.free === true || price?.training !== undefined) return;
    throw new GatewayError(
      `Fine-tuning '${model}' has no price in the gateway's catalogue, and tenant '${principal.tenantId}' has a monthly budget: its training cost could not be charged. The gateway's operator can price it in the config field \`prices["${baseModel ?? model}"].training\` (or a family or \`prefix*\` entry that matches it).`,
      { status: 400, type: ErrorType.invalidRequest, code: 'model_not_priced', param: 'model' },
    );
  };

  /** A tenant past its budget starts no training (its cost is known only when the job succeeds). */
  const checkBudget = async (principal: Principal) => {
    const limit = principal.monthlyBudgetMicroUsd;
    if (limit === undefined) return;
    const month = billingMonthOf(clock.now());
    const budget = await deps.budgets.budget(principal.tenantId, month);
    if (budget.committedMicroUsd < limit) return;
    throw new GatewayError(
      `Tenant '${principal.tenantId}' has reached its monthly budget of ${formatUsd(limit)} for ${month}: fine-tuning jobs can start again when it resets at ${budgetResetAt(month).toISOString()}.`,
      { status: 429, type: ErrorType.insufficientQuota, code: 'insufficient_quota' },
    );
  };

  const createJob: Handler = async (call) => {
    const { bytes, body } = await readJson(call);
    const training = await fileParam(call, body, 'training_file', true);
    const validation = await fileParam(call, body, 'validation_file', false);
    if (training === undefined)
      throw invalidRequest("Missing required parameter: 'training_file'.", 'training_file');
    if (validation !== undefined && validation.targetId !== training.targetId) {
      throw invalidRequest(
        'The training and validation files are held by different upstreams: upload both through the same one.',
        'validation_file',
      );
    }
    const model = body.model;
    if (typeof model !== 'string' || model === '')
      throw invalidRequest("Missing required parameter: 'model'.", 'model');
    checkModelName(model);
    // A fine-tuned base model must be the tenant's own: the job's result would be a copy of it.
    const baseRecord = model.startsWith('ft:')
      ? await owned(call.principal, OwnedKind.model, model, 'model').catch((error: unknown) => {
          throw error instanceof GatewayError && error.status === 404 ? modelNotFound(model) : error;
        })
      : undefined;
    const baseOfModel =
      typeof baseRecord?.object.base_model === 'string' ? baseRecord.object.base_model : undefined;
    if (
      !deps.mayUse(call.principal, model) &&
      (baseOfModel === undefined || !deps.mayUse(call.principal, baseOfModel))
    ) {
      throw new GatewayError(`Your API key is not allowed to fine-tune the model '${model}'.`, {
        status: 403,
        type: ErrorType.permission,
        code: 'model_not_allowed',
        param: 'model',
      });
    }
    if (baseRecord !== undefined && baseRecord.targetId !== training.targetId) {
      throw invalidRequest(
        `The model '${model}' and the training file are held by different upstreams: upload the file through the one that trained the model.`,
        'model',
      );
    }
    checkTrainingPrice(call.principal, model, baseOfModel);
    await checkBudget(call.principal);
    // The job runs where its files are.
    const target = targetOf(training);
    const created = await createOwned(
      call,
      OwnedKind.job,
      target,
      { path: '/fine_tuning/jobs', headers: { 'content-type': 'application/json' }, body: bytes },
      (id) => ({ method: 'POST', path: `/fine_tuning/jobs/${encodeURIComponent(id)}/cancel` }),
      (job) => ({
        tracking: initialTracking(
          typeof job.status === 'string' ? job.status : 'validating_files',
          clock.now(),
          policy.pollIntervalMs,
        ),
      }),
    );
    if (created instanceof Response) return created;
    await observe(created.record, created.record.object, call.requestId);
    return json(created.status, created.record.object, call.headers());
  };

  const listJobs: Handler = async (call, _id, query) => {
    const { data, hasMore } = await page(call.principal, OwnedKind.job, query, {
      defaultLimit: 20,
      maxLimit: 100,
      order: false,
    });
    return json(200, { object: 'list', data, has_more: hasMore }, call.headers());
  };

  /** Retrieve and cancel: the upstream's answer, which is also a look at the job. */
  const jobAction =
    (method: 'GET' | 'POST', suffix: string): Handler =>
    async (call, id) => {
      const job = await owned(call.principal, OwnedKind.job, id ?? '');
      const exchanged = await exchange(call, targetOf(job), {
        method,
        path: `/fine_tuning/jobs/${encodeURIComponent(job.id)}${suffix}`,
      });
      if (exchanged instanceof Response) return exchanged;
      const { object: answer, status } = exchanged;
      await observe(job, answer, call.requestId);
      return json(status, answer, call.headers());
    };

  // --- Responses and conversations ------------------------------------------------------------------------

  /** Records item ids an answer shows the tenant (in an object it owns), so that later requests may name them. */
  const recordItems = async (
    call: OwnedCall,
    target: TargetConfig,
    items: unknown,
    expires: boolean,
  ): Promise<void> => {
    if (!Array.isArray(items)) return;
    const now = clock.now();
    const writes = items.flatMap((item) => {
      if (typeof item !== 'object' || item === null) return [];
      const { id, type } = item as Json;
      if (typeof id !== 'string' || id === '') return [];
      return [
        deps.ownedIds
          .record(
            newRecord(
              call,
              OwnedKind.item,
              target,
              { id, ...(typeof type === 'string' ? { type } : {}) },
              expires ? { expiresAt: now + ANSWER_OBJECT_LIFETIME_MS } : {},
            ),
          )
          .catch((error: unknown) =>
            logger.error('an item id was not recorded', {
              requestId: call.requestId,
              id,
              error: String(error),
            }),
          ),
      ];
    });
    await Promise.all(writes);
  };

  /**
   * The ids a JSON body names, checked (404 for one the tenant does not own), and the target to send it to: the
   * one holding `holder` (the object in the path), on whose account the named objects must also be.
   */
  const checkBodyIds = async (
    call: OwnedCall,
    shape: IdShapeName,
    body: Json,
    holder: TargetConfig | undefined,
  ): Promise<TargetConfig> => {
    const records = await deps.ownedIds.check(call.principal, idsInRequest(shape, body));
    const candidates = holder === undefined ? [newObjectsTarget()] : [holder];
    if (records.size === 0) return candidates[0]!;
    if (holder === undefined) {
      // A new conversation goes where the objects it names are.
      const first = records.values().next().value!;
      return targetsHolding([targetOf(first)], records, deps.targets.target, 'conversations')[0]!;
    }
    return targetsHolding(candidates, records, deps.targets.target, 'conversations')[0]!;
  };

  const search = (query: URLSearchParams): string => {
    const text = query.toString();
    return text === '' ? '' : `?${text}`;
  };

  /** Removes an object upstream, then its record (also when the upstream had already forgotten it). */
  const deleteOwned =
    (kind: OwnedKindName): Handler =>
    async (call, id) => {
      const record = await owned(call.principal, kind, id ?? '');
      const response = await send(targetOf(record), {
        method: 'DELETE',
        path: `${UPSTREAM_PATHS[kind]}/${encodeURIComponent(record.id)}`,
        signal: call.signal,
      });
      if (response.status === 404 || (response.status >= 200 && response.status < 300)) {
        await store().remove(kind, record.id);
        deps.ownedIds.forget(kind, record.id);
      }
      if (response.status < 200 || response.status >= 300) return refusal(response, call);
      const answer = await objectOf(response);
      return json(response.status, answer, call.headers());
    };

  const listInputItems: Handler = async (call, id, query) => {
    const response = await owned(call.principal, OwnedKind.response, id ?? '');
    const target = targetOf(response);
    const exchanged = await exchange(call, target, {
      method: 'GET',
      path: `/responses/${encodeURIComponent(response.id)}/input_items${search(query)}`,
    });
    if (exchanged instanceof Response) return exchanged;
    await recordItems(call, target, exchanged.object.data, true);
    return json(exchanged.status, exchanged.object, call.headers());
  };

  const createConversation: Handler = async (call) => {
    const { bytes, body } = await readJson(call);
    const target = await checkBodyIds(call, IdShape.conversation, body, undefined);
    const created = await createOwned(
      call,
      OwnedKind.conversation,
      target,
      { path: '/conversations', headers: { 'content-type': 'application/json' }, body: bytes },
      (id) => ({ method: 'DELETE', path: `/conversations/${encodeURIComponent(id)}` }),
    );
    if (created instanceof Response) return created;
    return json(created.status, created.record.object, call.headers());
  };

  /** A POST with a JSON body to an owned conversation (update, add items): its ids checked, its items recorded. */
  const conversationPost =
    (suffix: string, shape: IdShapeName): Handler =>
    async (call, id, query) => {
      const conversation = await owned(call.principal, OwnedKind.conversation, id ?? '');
      const { bytes, body } = await readJson(call);
      const target = await checkBodyIds(call, shape, body, targetOf(conversation));
      const exchanged = await exchange(call, target, {
        method: 'POST',
        path: `/conversations/${encodeURIComponent(conversation.id)}${suffix}${search(query)}`,
        headers: { 'content-type': 'application/json' },
        body: bytes,
      });
      if (exchanged instanceof Response) return exchanged;
      if (suffix === '/items') await recordItems(call, target, exchanged.object.data, false);
      return json(exchanged.status, exchanged.object, call.headers());
    };

  /** A GET (list or one item) or DELETE of an owned conversation's items; the items it shows are recorded. */
  const conversationItems =
    (method: 'GET' | 'DELETE'): Handler =>
    async (call, id, query, itemId) => {
      const conversation = await owned(call.principal, OwnedKind.conversation, id ?? '');
      const target = targetOf(conversation);
      const item = itemId === undefined ? '' : `/${encodeURIComponent(itemId)}`;
      const exchanged = await exchange(call, target, {
        method,
        path: `/conversations/${encodeURIComponent(conversation.id)}/items${item}${search(query)}`,
      });
      if (exchanged instanceof Response) return exchanged;
      if (method === 'GET') {
        // A list, or the one item asked for: either way items of the tenant's conversation.
        const items = itemId === undefined ? exchanged.object.data : [exchanged.object];
        await recordItems(call, target, items, false);
      }
      return json(exchanged.status, exchanged.object, call.headers());
    };

  const ROUTES: ReadonlyArray<{
    readonly pattern: RegExp;
    readonly methods: Readonly<Record<string, Handler>>;
  }> = [
    { pattern: /^\/v1\/files$/, methods: { POST: createFile, GET: listFiles } },
    {
      pattern: /^\/v1\/files\/([^/]+)$/,
      methods: { GET: passThrough(OwnedKind.file, ''), DELETE: deleteOwned(OwnedKind.file) },
    },
    { pattern: /^\/v1\/files\/([^/]+)\/content$/, methods: { GET: passThrough(OwnedKind.file, '/content') } },
    { pattern: /^\/v1\/uploads$/, methods: { POST: createUpload } },
    { pattern: /^\/v1\/uploads\/([^/]+)\/parts$/, methods: { POST: addPart } },
    { pattern: /^\/v1\/uploads\/([^/]+)\/complete$/, methods: { POST: completeUpload } },
    { pattern: /^\/v1\/uploads\/([^/]+)\/cancel$/, methods: { POST: cancelUpload } },
    { pattern: /^\/v1\/fine_tuning\/jobs$/, methods: { POST: createJob, GET: listJobs } },
    { pattern: /^\/v1\/fine_tuning\/jobs\/([^/]+)$/, methods: { GET: jobAction('GET', '') } },
    {
      pattern: /^\/v1\/fine_tuning\/jobs\/([^/]+)\/cancel$/,
      methods: { POST: jobAction('POST', '/cancel') },
    },
    {
      pattern: /^\/v1\/fine_tuning\/jobs\/([^/]+)\/events$/,
      methods: { GET: passThrough(OwnedKind.job, '/events') },
    },
    {
      pattern: /^\/v1\/fine_tuning\/jobs\/([^/]+)\/checkpoints$/,
      methods: { GET: passThrough(OwnedKind.job, '/checkpoints') },
    },
    {
      pattern: /^\/v1\/responses\/([^/]+)$/,
      methods: { GET: passThrough(OwnedKind.response, ''), DELETE: deleteOwned(OwnedKind.response) },
    },
    {
      pattern: /^\/v1\/responses\/([^/]+)\/cancel$/,
      methods: { POST: passThrough(OwnedKind.response, '/cancel', 'POST') },
    },
    { pattern: /^\/v1\/responses\/([^/]+)\/input_items$/, methods: { GET: listInputItems } },
    { pattern: /^\/v1\/conversations$/, methods: { POST: createConversation } },
    {
      pattern: /^\/v1\/conversations\/([^/]+)$/,
      methods: {
        GET: passThrough(OwnedKind.conversation, ''),
        POST: conversationPost('', IdShape.other),
        DELETE: deleteOwned(OwnedKind.conversation),
      },
    },
    {
      pattern: /^\/v1\/conversations\/([^/]+)\/items$/,
      methods: { GET: conversationItems('GET'), POST: conversationPost('/items', IdShape.conversation) },
    },
    {
      pattern: /^\/v1\/conversations\/([^/]+)\/items\/([^/]+)$/,
      methods: { GET: conversationItems('GET'), DELETE: conversationItems('DELETE') },
    },
  ];

  /** Parts of the Responses API this gateway does not serve (a POST there is not a response id's 405). */
  const NOT_SERVED = /^\/v1\/responses\/(?:input_tokens|compact)$/;

  return {
    /** Whether `path` is one of these routes (then `handle` answers it, a wrong method included). */
    matches: (path: string): boolean =>
      path.startsWith('/v1/files') ||
      path.startsWith('/v1/uploads') ||
      path.startsWith('/v1/fine_tuning') ||
      path.startsWith('/v1/responses/') ||
      path.startsWith('/v1/conversations'),

    async handle(call: OwnedCall, path: string): Promise<Response> {
      if (NOT_SERVED.test(path)) {
        throw new GatewayError(`${call.request.method} ${path} is not served by this gateway.`, {
          status: 404,
          type: ErrorType.invalidRequest,
          code: 'unknown_url',
        });
      }
      for (const route of ROUTES) {
        const match = route.pattern.exec(path);
        if (match === null) continue;
        const handler = route.methods[call.request.method];
        if (handler === undefined)
          throw methodNotAllowed(call.request.method, path, Object.keys(route.methods));
        const decode = (raw: string | undefined): string | undefined => {
          if (raw === undefined) return undefined;
          try {
            return decodeURIComponent(raw);
          } catch {
            throw notOwned(OwnedKind.file, raw);
          }
        };
        const query = new URL(call.request.url).searchParams;
        return handler(call, decode(match[1]), query, decode(match[2]));
      }
      throw new GatewayError(
        `Unknown request URL: ${call.request.method} ${path}. Please check the URL and method.`,
        { status: 404, type: ErrorType.invalidRequest, code: 'unknown_url' },
      );
    },
  };
};

export type OwnedRoutes = ReturnType<typeof createOwnedRoutes>;
