// What the tracker does for a batch: its statuses, the result files it makes the tenant's once it has ended, and
// its one usage record (`batch#<id>`) at the batch price, written when it ends however it ends (completed,
// expired or cancelled: the part that ran; failed: nothing), which also releases the hold placed at its creation.
import {
  OwnedKind,
  type OwnedObject,
  RequestOutcome,
  type RequestOutcomeKind,
  StoreConflictError,
  type TokenUsage,
  type UsageRecord,
} from '../ports.ts';
import { isObject } from './content-fields.ts';
import type { TrackedKind, TrackedKindDeps } from './jobs.ts';
import { eachLine } from './jsonl.ts';
import { ZERO_USAGE } from './metering.ts';
import { batchPriceFor, billingMonthOf, costOf } from './pricing.ts';
import { readBody } from './upstream/client.ts';
import { usageFromOpenAI } from './usage.ts';

type Json = Record<string, unknown>;

export const BatchStatus = {
  validating: 'validating',
  inProgress: 'in_progress',
  finalizing: 'finalizing',
  completed: 'completed',
  failed: 'failed',
  expired: 'expired',
  cancelling: 'cancelling',
  cancelled: 'cancelled',
} as const;
const FINAL: ReadonlySet<string> = new Set([
  BatchStatus.completed,
  BatchStatus.failed,
  BatchStatus.expired,
  BatchStatus.cancelled,
]);

/** How a batch's usage record says it ended. */
const OUTCOME: Readonly<Record<string, RequestOutcomeKind>> = {
  [BatchStatus.completed]: RequestOutcome.complete,
  [BatchStatus.expired]: RequestOutcome.timeout,
  [BatchStatus.cancelled]: RequestOutcome.clientAbort,
  [BatchStatus.failed]: RequestOutcome.rejected,
};

/** The usage record of an ended batch: idempotent by this id. */
export const batchRequestId = (batchId: string): string => `batch#${batchId}`;

const decoder = new TextDecoder();

const addUsage = (total: TokenUsage, usage: TokenUsage): TokenUsage => ({
  inputTokens: total.inputTokens + usage.inputTokens,
  cachedInputTokens: total.cachedInputTokens + usage.cachedInputTokens,
  outputTokens: total.outputTokens + usage.outputTokens,
  reasoningTokens: total.reasoningTokens + usage.reasoningTokens,
});

/** A parsed result line's `response` (status and body), and its JSON `body`, where the line has them. */
export const resultResponse = (result: unknown): { readonly response?: Json; readonly body?: Json } => {
  const response = isObject(result) && isObject(result.response) ? result.response : undefined;
  return { response, body: response !== undefined && isObject(response.body) ? response.body : undefined };
};

/** Sums the usage of a batch's result lines, one at a time. */
export const resultUsage = () => {
  let usage = ZERO_USAGE;
  let exact = true;
  return {
    /** One line of the output file: a success's `response.body.usage` is added; an error line cost nothing. */
    add(line: string): void {
      if (line.trim() === '') return;
      let result: unknown;
      try {
        result = JSON.parse(line);
      } catch {
        exact = false;
        return;
      }
      const { response, body } = resultResponse(result);
      if (response === undefined || typeof response.status_code !== 'number' || response.status_code >= 300)
        return;
      // A success without usage cannot be counted: the sum is what could be read, and says so.
      const counted = usageFromOpenAI(body?.usage);
      if (counted === undefined) exact = false;
      else usage = addUsage(usage, counted);
    },
    get total(): { readonly usage: TokenUsage; readonly exact: boolean } {
      return { usage, exact };
    },
  };
};

/** The tokens of a whole output file's text (see resultUsage). */
export const usageOfResults = (text: string): { readonly usage: TokenUsage; readonly exact: boolean } => {
  const sum = resultUsage();
  for (const line of text.split('\n')) sum.add(line);
  return sum.total;
};

export const batches = (deps: TrackedKindDeps): TrackedKind => {
  const { ownership, logger } = deps;

  const targetOf = (record: OwnedObject) => {
    const target = deps.targets?.target(record.targetId);
    if (deps.targets === undefined || target === undefined)
      throw new Error(`target '${record.targetId}' of batch ${record.id} is not in the config`);
    return { client: deps.targets, target };
  };

  /** A result file the upstream made for the batch, recorded as its tenant's (with the upstream's file object). */
  const ensureFile = async (batch: OwnedObject, fileId: string, now: number) => {
    const existing = await ownership.get(OwnedKind.file, fileId);
    if (existing !== undefined) {
      if (existing.tenantId !== batch.tenantId)
        logger.error('batch result file recorded for another tenant', { fileId, batchId: batch.id });
      return;
    }
    const { client, target } = targetOf(batch);
    const response = await client.send(target, {
      method: 'GET',
      path: `/files/${encodeURIComponent(fileId)}`,
    });
    const body = await readBody(response.body);
    if (response.status !== 200) throw new Error(`the upstream answered ${response.status} for ${fileId}`);
    const object: unknown = JSON.parse(decoder.decode(body));
    if (!isObject(object) || object.id !== fileId) throw new Error(`the upstream answered no file ${fileId}`);
    try {
      await ownership.create({
        kind: OwnedKind.file,
        id: fileId,
        tenantId: batch.tenantId,
        keyId: batch.keyId,
        targetId: batch.targetId,
        createdAt: now,
        version: 1,
        object,
        // Its answers go through the response content rules when it is read (batches.ts).
        batchResult: {
          batchId: batch.id,
          endpoint: batch.batchInput?.endpoint ?? String(batch.object.endpoint ?? ''),
        },
      });
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
    }
  };

  /** The batch's usage: what its object reports, else the sum of its output file's results. */
  const usageOf = async (
    record: OwnedObject,
    batch: Json,
  ): Promise<{ readonly usage: TokenUsage; readonly exact: boolean }> => {
    const reported = usageFromOpenAI(batch.usage);
    if (reported !== undefined) return { usage: reported, exact: true };
    if (typeof batch.output_file_id !== 'string' || batch.output_file_id === '')
      return { usage: ZERO_USAGE, exact: true };
    const { client, target } = targetOf(record);
    const response = await client.send(target, {
      method: 'GET',
      path: `/files/${encodeURIComponent(batch.output_file_id)}/content`,
    });
    if (response.status !== 200) {
      await response.body.cancel().catch(() => {});
      throw new Error(`the upstream answered ${response.status} for the output of batch ${record.id}`);
    }
    // A line at a time: an output file can be far larger than the tracker's memory.
    const sum = resultUsage();
    await eachLine(response.body, sum.add);
    return sum.total;
  };

  return {
    kind: OwnedKind.batch,
    noun: 'batch',
    path: (id) => `/batches/${encodeURIComponent(id)}`,
    progressOf: (status) =>
      FINAL.has(status)
        ? 3
        : status === BatchStatus.validating
          ? 0
          : status === BatchStatus.inProgress
            ? 1
            : // finalizing, cancelling, and statuses this gateway does not know
              2,
    isFinal: (status) => FINAL.has(status),
    billable: (status) => FINAL.has(status),
    follow: async (record, batch, now) => {
      if (!FINAL.has(record.tracking?.status ?? '')) return;
      for (const id of [batch.output_file_id, batch.error_file_id])
        if (typeof id === 'string' && id !== '') await ensureFile(record, id, now);
    },
    usageRecord: async (record, batch, now): Promise<UsageRecord> => {
      const input = record.batchInput;
      const hold = record.batchHold;
      const status = record.tracking?.status ?? BatchStatus.failed;
      const model = input?.model ?? (typeof batch.model === 'string' ? batch.model : 'unknown');
      const { usage, exact } = await usageOf(record, batch);
      const tenant = await deps.keys.getTenant(record.tenantId);
      return {
        requestId: batchRequestId(record.id),
        tenantId: record.tenantId,
        keyId: record.keyId,
        tier: tenant?.tier ?? 'default',
        endpoint: '/v1/batches',
        model,
        targetId: record.targetId,
        status: 200,
        outcome: OUTCOME[status] ?? RequestOutcome.complete,
        usage,
        exact,
        cacheHit: false,
        costMicroUsd: costOf(usage, batchPriceFor(model, deps.config.prices)),
        reservedMicroUsd: hold?.amountMicroUsd ?? 0,
        // The batch is billed in the month its hold was placed (its creation's), which the record releases.
        month: hold?.month ?? billingMonthOf(record.createdAt),
        startedAt: record.createdAt,
        latencyMs: Math.max(0, now - record.createdAt),
        ttfbMs: undefined,
        ...(hold === undefined ? {} : { holdId: hold.holdId }),
      };
    },
    event: (record, batch) => ({
      model: record.batchInput?.model ?? (typeof batch.model === 'string' ? batch.model : ''),
      fineTunedModel: undefined,
      trainedTokens: undefined,
    }),
  };
};
