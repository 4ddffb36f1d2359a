// What the tracker does for a fine-tuning job: its statuses, the fine-tuned model it makes routable for its
// tenant when it succeeds, and the usage record of its trained tokens.
import {
  OwnedKind,
  type OwnedObject,
  RequestOutcome,
  StoreConflictError,
  type UsageRecord,
} from '../ports.ts';
import type { TrackedKind, TrackedKindDeps } from './jobs.ts';
import { ZERO_USAGE } from './metering.ts';
import { billingMonthOf, costOf, priceFor } from './pricing.ts';

type Json = Record<string, unknown>;

export const JobStatus = {
  validatingFiles: 'validating_files',
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
const FINAL_STATUSES: ReadonlySet<string> = new Set([
  JobStatus.succeeded,
  JobStatus.failed,
  JobStatus.cancelled,
]);
export const isFinalStatus = (status: string): boolean => FINAL_STATUSES.has(status);

/** The usage record of a succeeded job: idempotent by this id, so it is counted once however often it is written. */
export const fineTuneRequestId = (jobId: string): string => `fine-tune#${jobId}`;

export const fineTuningJobs = (deps: TrackedKindDeps): TrackedKind => {
  const { ownership } = deps;

  const ensureModel = async (job: OwnedObject, name: string, now: number) => {
    try {
      await ownership.create({
        kind: OwnedKind.model,
        id: name,
        tenantId: job.tenantId,
        keyId: job.keyId,
        targetId: job.targetId,
        createdAt: now,
        version: 1,
        object: {
          id: name,
          object: 'model',
          created: Math.floor(now / 1000),
          owned_by: job.tenantId,
          // Which base model it was trained from: the tier and key allowlists are applied to that.
          base_model: job.object.model,
        },
      });
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      const existing = await ownership.get(OwnedKind.model, name);
      if (existing !== undefined && existing.tenantId !== job.tenantId) {
        deps.logger.error('fine-tuned model recorded for another tenant', { model: name, jobId: job.id });
      }
    }
  };

  return {
    kind: OwnedKind.job,
    noun: 'fine-tuning job',
    path: (id) => `/fine_tuning/jobs/${encodeURIComponent(id)}`,
    // Two looks may be recorded in either order; statuses this gateway does not know (OpenAI adds some, e.g.
    // paused) count as running.
    progressOf: (status) =>
      isFinalStatus(status)
        ? 3
        : status === JobStatus.validatingFiles
          ? 0
          : status === JobStatus.queued
            ? 1
            : 2,
    isFinal: isFinalStatus,
    billable: (status) => status === JobStatus.succeeded,
    follow: async (record, job, now) => {
      // A fine-tuned model is routable for its tenant, on the target that trained it.
      if (record.tracking?.status === JobStatus.succeeded && typeof job.fine_tuned_model === 'string')
        await ensureModel(record, job.fine_tuned_model, now);
    },
    usageRecord: async (job: OwnedObject, answer: Json, now: number): Promise<UsageRecord> => {
      const model = typeof job.object.model === 'string' ? job.object.model : 'unknown';
      const tenant = await deps.keys.getTenant(job.tenantId);
      const trainedTokens = typeof answer.trained_tokens === 'number' ? answer.trained_tokens : 0;
      const usage = { ...ZERO_USAGE, trainedTokens };
      return {
        requestId: fineTuneRequestId(job.id),
        tenantId: job.tenantId,
        keyId: job.keyId,
        tier: tenant?.tier ?? 'default',
        endpoint: '/v1/fine_tuning/jobs',
        model,
        targetId: job.targetId,
        status: 200,
        outcome: RequestOutcome.complete,
        usage,
        exact: true,
        cacheHit: false,
        costMicroUsd: costOf(usage, priceFor(model, deps.config.prices)),
        reservedMicroUsd: 0,
        month: billingMonthOf(now),
        startedAt: now,
        latencyMs: 0,
        ttfbMs: undefined,
      };
    },
    event: (record, job) => ({
      model: typeof job.model === 'string' ? job.model : String(record.object.model ?? ''),
      fineTunedModel: typeof job.fine_tuned_model === 'string' ? job.fine_tuned_model : undefined,
      trainedTokens: typeof job.trained_tokens === 'number' ? job.trained_tokens : undefined,
    }),
  };
};
