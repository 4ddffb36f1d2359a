// Batches: input files checked line by line at upload (batch-input.ts) and sent to the target their lines route
// to; a batch only of the tenant's own checked file, with its worst case at the batch price held against the
// budget until it ends; ids, lists, retrieves and cancels only of the tenant's own batches. Every answer about a
// batch is also a look at it (recorded, its result files made the tenant's, metered and announced once).
import {
  type BatchHold,
  type BatchInput,
  OwnedKind,
  RequestOutcome,
  UpstreamError,
  UpstreamFailure,
} from '../../ports.ts';
import { batchUrlFor, checkBatchInput } from '../batch-input.ts';
import { resultResponse } from '../batch-jobs.ts';
import type { PriceConfig, TargetConfig } from '../config.ts';
import { answersHaveText, redactAnswer } from '../content-fields.ts';
import { emptyHits } from '../content-rules.ts';
import { PROXIED_ENDPOINTS } from '../endpoints/catalogue.ts';
import { toErrorBody } from '../error-bodies.ts';
import {
  contentFiltered,
  GatewayError,
  invalidRequest,
  modelNotPriced,
  notBatchInput,
  unreadableResult,
} from '../errors.ts';
import { type GatewayResponse, jsonResponse } from '../exchange.ts';
import { initialTracking } from '../jobs.ts';
import { mapLines } from '../jsonl.ts';
import { ZERO_USAGE } from '../metering.ts';
import { batchPriceFor, billingMonthOf, formatUsd, worstCaseCost } from '../pricing.ts';
import type { RouteSpec } from '../route-table.ts';
import { reserveHold } from '../stages/budget.ts';
import { reportHits } from '../stages/content.ts';
import { findRoute, requireAllowed } from '../stages/resolve-model.ts';
import { type Json, type OwnedCall, type OwnedCommon, type OwnedHandler, route } from './common.ts';
import { cursorList } from './lists.ts';

const encoder = new TextEncoder();

/**
 * Whether a failed create left no batch upstream: no connection was made, or the batch was made but could not be
 * recorded and was cancelled again (createOwned's undo).
 */
const createdNothing = (error: unknown): boolean =>
  error instanceof GatewayError &&
  ((error.code === 'upstream_unreachable' &&
    error.cause instanceof UpstreamError &&
    error.cause.kind === UpstreamFailure.connect) ||
    error.code === 'ownership_unavailable');

/** The id a batch's hold is placed under: the batch has no id before the upstream creates it. */
export const batchHoldId = (requestId: string): string => `batch-hold#${requestId}`;

export const batchRoutes = (o: OwnedCommon) => {
  const { g, policy } = o;
  const { config, clock, logger } = g;
  const asStored = o.passThrough(OwnedKind.file, '/content');

  /** A file with purpose `batch`: every line checked, and sent where its lines route, as the upstream can run it. */
  const createInputFile = async (call: OwnedCall, form: FormData): Promise<GatewayResponse> => {
    const file = form.get('file');
    if (!(file instanceof Blob)) throw invalidRequest("Missing required parameter: 'file'.", 'file');
    const checked = await checkBatchInput(
      g,
      call.state,
      call.principal,
      new Uint8Array(await file.arrayBuffer()),
    );
    const upstreamForm = new FormData();
    for (const [name, value] of form) {
      if (name === 'file')
        upstreamForm.append(
          name,
          new Blob([checked.content as Uint8Array<ArrayBuffer>], { type: file.type }),
          (value as File).name,
        );
      else upstreamForm.append(name, value);
    }
    const encoded = new Request('http://gateway.invalid/', { method: 'POST', body: upstreamForm });
    const created = await o.createOwned(
      call,
      OwnedKind.file,
      checked.target,
      {
        path: '/files',
        headers: { 'content-type': encoded.headers.get('content-type') ?? '' },
        body: new Uint8Array(await encoded.arrayBuffer()),
      },
      (id) => ({ method: 'DELETE', path: `/files/${encodeURIComponent(id)}` }),
      () => ({ batchInput: checked.input }),
    );
    if (!created.ok) return created.response;
    return jsonResponse(created.status, created.record.object, call.headers());
  };

  /** The file's model is still routed to the file's target, allowed for this key, and priced for a budget. */
  const checkModel = async (call: OwnedCall, input: BatchInput, target: TargetConfig) => {
    const { principal } = call;
    const { route: modelRoute, baseModel } = await findRoute(g, principal, input.model);
    requireAllowed(g, principal, input.model, baseModel);
    if (modelRoute?.targets.some((candidate) => candidate.id === target.id) !== true) {
      throw invalidRequest(
        `The model '${input.model}' is no longer routed to target '${target.id}', which holds the input file: upload the file again.`,
        'input_file_id',
        'input_file_outdated',
      );
    }
    const price = batchPriceFor(input.model, config.prices, baseModel);
    if (price === undefined && principal.monthlyBudgetMicroUsd !== undefined)
      throw modelNotPriced(input.model, principal.tenantId);
    return price;
  };

  /** Holds the batch's worst case against the tenant's budget (429 when it does not fit); undefined: none held. */
  const hold = async (
    call: OwnedCall,
    input: BatchInput,
    price: PriceConfig | undefined,
  ): Promise<BatchHold | undefined> => {
    const { principal } = call;
    const limit = principal.monthlyBudgetMicroUsd;
    if (limit === undefined || price === undefined) return undefined;
    const amount = worstCaseCost(input.inputTokens, input.outputTokens, price);
    if (amount === 0) return undefined;
    const held: BatchHold = {
      holdId: batchHoldId(call.requestId),
      month: billingMonthOf(call.state.startedAt),
      amountMicroUsd: amount,
    };
    await reserveHold(
      g,
      principal,
      { requestId: held.holdId, month: held.month, amountMicroUsd: amount, lasting: true },
      () =>
        `this batch of ${input.lines} requests may cost up to ${formatUsd(amount)} at the batch price of model '${input.model}'`,
    );
    return held;
  };

  /** Releases the hold of a batch that was not created: a usage record of nothing, under the hold's id. */
  const release = async (
    call: OwnedCall,
    input: BatchInput,
    target: TargetConfig,
    held: BatchHold,
    status: number,
  ) => {
    const now = clock.now();
    try {
      await g.deps.ledger.record({
        requestId: held.holdId,
        tenantId: call.principal.tenantId,
        keyId: call.principal.keyId,
        tier: call.principal.tier,
        endpoint: '/v1/batches',
        model: input.model,
        targetId: target.id,
        status,
        outcome: status >= 500 ? RequestOutcome.upstreamError : RequestOutcome.rejected,
        usage: ZERO_USAGE,
        exact: true,
        cacheHit: false,
        costMicroUsd: 0,
        reservedMicroUsd: held.amountMicroUsd,
        month: held.month,
        startedAt: call.state.startedAt,
        latencyMs: now - call.state.startedAt,
        ttfbMs: undefined,
      });
    } catch (error) {
      // Still held: the budget cannot be overspent, only under-used until an operator releases it.
      logger.error('batch hold not released', {
        requestId: call.requestId,
        holdId: held.holdId,
        error: String(error),
      });
    }
  };

  const createBatch: OwnedHandler = async (call) => {
    const { body } = o.readJson(call);
    const fileId = body.input_file_id;
    if (typeof fileId !== 'string' || fileId === '')
      throw invalidRequest("Missing required parameter: 'input_file_id'.", 'input_file_id');
    const file = await o.owned(call.principal, OwnedKind.file, fileId, 'input_file_id');
    const input = file.batchInput;
    if (input === undefined) throw notBatchInput(fileId);
    if (body.endpoint !== input.endpoint) {
      throw invalidRequest(
        `'endpoint' must be the endpoint the input file's lines call, ${input.endpoint}, got: ${JSON.stringify(body.endpoint)}.`,
        'endpoint',
      );
    }
    const target = o.targetOf(file);
    const held = await hold(call, input, await checkModel(call, input, target));
    // What was checked is what goes: the parsed body, written again (a repeated key is read one way only).
    const upstreamBody = encoder.encode(
      JSON.stringify(
        target.provider === 'azure-openai'
          ? { ...body, endpoint: batchUrlFor(target, input.endpoint) }
          : body,
      ),
    );
    let created: Awaited<ReturnType<typeof o.createOwned>>;
    try {
      created = await o.createOwned(
        call,
        OwnedKind.batch,
        target,
        { path: '/batches', headers: { 'content-type': 'application/json' }, body: upstreamBody },
        (id) => ({ method: 'POST', path: `/batches/${encodeURIComponent(id)}/cancel` }),
        (batch) => ({
          tracking: initialTracking(
            typeof batch.status === 'string' ? batch.status : 'validating',
            clock.now(),
            policy.pollIntervalMs,
          ),
          batchInput: input,
          ...(held === undefined ? {} : { batchHold: held }),
        }),
      );
    } catch (error) {
      if (held !== undefined) {
        if (createdNothing(error)) await release(call, input, target, held, 502);
        // The upstream may have created the batch (a timeout, a reset, an answer that could not be read):
        // its hold stays, so that whatever runs is covered, until the month's budget resets.
        else
          logger.error('batch hold kept after a failed create', {
            requestId: call.requestId,
            holdId: held.holdId,
            amountMicroUsd: held.amountMicroUsd,
            error: String(error),
          });
      }
      throw error;
    }
    if (!created.ok) {
      if (held !== undefined) await release(call, input, target, held, created.response.status);
      return created.response;
    }
    await o.observe(created.record, created.record.object, call.requestId);
    return jsonResponse(created.status, created.record.object, call.headers());
  };

  const listBatches: OwnedHandler = async (call) => {
    const page = await o.page(call.principal, OwnedKind.batch, call.query, {
      defaultLimit: 20,
      maxLimit: 100,
      order: false,
    });
    return jsonResponse(200, cursorList(page), call.headers());
  };

  /** Retrieve and cancel: the upstream's answer, which is also a look at the batch. */
  const batchAction =
    (method: 'GET' | 'POST', suffix: string): OwnedHandler =>
    async (call, id) => {
      const batch = await o.owned(call.principal, OwnedKind.batch, id);
      const exchanged = await o.exchange(call, o.targetOf(batch), {
        method,
        path: `/batches/${encodeURIComponent(batch.id)}${suffix}`,
      });
      if (!exchanged.ok) return exchanged.response;
      await o.observe(batch, exchanged.object, call.requestId);
      return jsonResponse(exchanged.status, exchanged.object, call.headers());
    };

  /**
   * The content of a file: a batch's result file goes through the response content rules, answer by answer (a
   * redaction rewrites the answer, a block replaces it with the error a request would have got); any other file
   * as the upstream holds it.
   */
  const fileContent: OwnedHandler = async (call, id) => {
    const rules = g.filters?.response;
    const found = await o.owned(call.principal, OwnedKind.file, id);
    const endpoint =
      found.batchResult === undefined ? undefined : PROXIED_ENDPOINTS.get(found.batchResult.endpoint);
    if (rules === undefined || endpoint === undefined || !answersHaveText(endpoint.text))
      return asStored(call, id);
    const response = await o.send(o.targetOf(found), {
      method: 'GET',
      path: `/files/${encodeURIComponent(found.id)}/content`,
      signal: call.request.signal,
    });
    if (response.status < 200 || response.status >= 300) return o.refusal(response, call);
    const hits = emptyHits();
    const filter = (line: string): string => {
      if (line.trim() === '') return line;
      let result: unknown;
      try {
        result = JSON.parse(line);
      } catch {
        // A line the rules cannot read is not passed on unread.
        return JSON.stringify(toErrorBody(unreadableResult(), call.requestId));
      }
      const { response: outcome, body } = resultResponse(result);
      if (outcome === undefined || body === undefined) return line;
      const lineHits = emptyHits();
      const changed = redactAnswer(endpoint.text, rules, body, lineHits);
      for (const [rule, count] of lineHits.redacted)
        hits.redacted.set(rule, (hits.redacted.get(rule) ?? 0) + count);
      if (lineHits.blockedBy === undefined) return changed ? JSON.stringify(result) : line;
      hits.blockedBy ??= lineHits.blockedBy;
      const blocked = contentFiltered(lineHits.blockedBy, 'response');
      (result as Json).response = {
        ...outcome,
        status_code: blocked.status,
        body: toErrorBody(blocked, call.requestId),
      };
      return JSON.stringify(result);
    };
    const headers = call.headers();
    headers['content-type'] = response.headers['content-type'] ?? 'application/octet-stream';
    // Line by line as the upstream sends it: a result file can be larger than the function's memory.
    return {
      status: response.status,
      headers,
      body: mapLines(response.body, filter, () => reportHits(g, call.state, 'response', hits)),
    };
  };

  const routes: RouteSpec[] = [
    { path: '/v1/batches', methods: { POST: route(createBatch), GET: route(listBatches) } },
    { path: '/v1/batches/{id}', methods: { GET: route(batchAction('GET', '')) } },
    { path: '/v1/batches/{id}/cancel', methods: { POST: route(batchAction('POST', '/cancel')) } },
  ];
  return { routes, createInputFile, fileContent };
};
