// Fine-tuning jobs: started only on the tenant's own files (and fine-tuned base models), with a priced training
// and a budget left; every answer about a job is also a look at it (recorded, metered, announced once).
import { OwnedKind, type Principal } from '../../ports.ts';
import {
  GatewayError,
  insufficientQuota,
  invalidRequest,
  modelNotAllowed,
  modelNotFound,
  trainingNotPriced,
} from '../errors.ts';
import { jsonResponse } from '../exchange.ts';
import { initialTracking } from '../jobs.ts';
import { billingMonthOf, budgetResetAt, formatUsd, priceFor } from '../pricing.ts';
import { checkModelName } from '../request-fields.ts';
import type { RouteSpec } from '../route-table.ts';
import { type Json, type OwnedCall, type OwnedCommon, type OwnedHandler, route } from './common.ts';

export const fineTuningRoutes = (o: OwnedCommon): RouteSpec[] => {
  const { g, policy } = o;
  const { config, clock } = g;

  const fileParam = async (call: OwnedCall, body: Json, param: string, required: boolean) => {
    const id = body[param];
    if (id === undefined || id === null) {
      if (required) throw invalidRequest(`Missing required parameter: '${param}'.`, param);
      return undefined;
    }
    if (typeof id !== 'string') throw invalidRequest(`'${param}' must be a file id.`, param);
    return o.owned(call.principal, OwnedKind.file, id, param);
  };

  /** A tenant with a budget trains only models whose training is priced: its cost could not be charged else. */
  const checkTrainingPrice = (principal: Principal, model: string, baseModel: string | undefined) => {
    if (principal.monthlyBudgetMicroUsd === undefined) return;
    const price = priceFor(model, config.prices, baseModel);
    if (price?.free === true || price?.training !== undefined) return;
    throw trainingNotPriced(model, baseModel ?? model, principal.tenantId);
  };

  /** A tenant past its budget starts no training (its cost is known only when the job succeeds). */
  const checkBudget = async (principal: Principal) => {
    const limit = principal.monthlyBudgetMicroUsd;
    if (limit === undefined) return;
    const month = billingMonthOf(clock.now());
    const budget = await g.deps.budgets.budget(principal.tenantId, month);
    if (budget.committedMicroUsd < limit) return;
    throw insufficientQuota(
      `Tenant '${principal.tenantId}' has reached its monthly budget of ${formatUsd(limit)} for ${month}: fine-tuning jobs can start again when it resets at ${budgetResetAt(month).toISOString()}.`,
    );
  };

  const createJob: OwnedHandler = async (call) => {
    const { bytes, body } = o.readJson(call);
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
      ? await o.owned(call.principal, OwnedKind.model, model, 'model').catch((error: unknown) => {
          throw error instanceof GatewayError && error.status === 404 ? modelNotFound(model) : error;
        })
      : undefined;
    const baseOfModel =
      typeof baseRecord?.object.base_model === 'string' ? baseRecord.object.base_model : undefined;
    if (
      !g.mayUse(call.principal, model) &&
      (baseOfModel === undefined || !g.mayUse(call.principal, baseOfModel))
    ) {
      throw modelNotAllowed(`Your API key is not allowed to fine-tune the model '${model}'.`);
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
    const created = await o.createOwned(
      call,
      OwnedKind.job,
      o.targetOf(training),
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
    if (!created.ok) return created.response;
    await o.observe(created.record, created.record.object, call.requestId);
    return jsonResponse(created.status, created.record.object, call.headers());
  };

  const listJobs: OwnedHandler = async (call) => {
    const { data, hasMore } = await o.page(call.principal, OwnedKind.job, call.query, {
      defaultLimit: 20,
      maxLimit: 100,
      order: false,
    });
    return jsonResponse(200, { object: 'list', data, has_more: hasMore }, call.headers());
  };

  /** Retrieve and cancel: the upstream's answer, which is also a look at the job. */
  const jobAction =
    (method: 'GET' | 'POST', suffix: string): OwnedHandler =>
    async (call, id) => {
      const job = await o.owned(call.principal, OwnedKind.job, id);
      const exchanged = await o.exchange(call, o.targetOf(job), {
        method,
        path: `/fine_tuning/jobs/${encodeURIComponent(job.id)}${suffix}`,
      });
      if (!exchanged.ok) return exchanged.response;
      await o.observe(job, exchanged.object, call.requestId);
      return jsonResponse(exchanged.status, exchanged.object, call.headers());
    };

  return [
    { path: '/v1/fine_tuning/jobs', methods: { POST: route(createJob), GET: route(listJobs) } },
    { path: '/v1/fine_tuning/jobs/{id}', methods: { GET: route(jobAction('GET', '')) } },
    { path: '/v1/fine_tuning/jobs/{id}/cancel', methods: { POST: route(jobAction('POST', '/cancel')) } },
    {
      path: '/v1/fine_tuning/jobs/{id}/events',
      methods: { GET: route(o.passThrough(OwnedKind.job, '/events')) },
    },
    {
      path: '/v1/fine_tuning/jobs/{id}/checkpoints',
      methods: { GET: route(o.passThrough(OwnedKind.job, '/checkpoints')) },
    },
  ];
};
