// The JobEvents port on EventBridge: one PutEvents entry per status change of a fine-tuning job or a batch.
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { JobEvents, JobStatusChange } from '../../ports.ts';

/** What the events look like on the bus: rules match on these (the stack's example rule does). */
export const JobStatusEvent = {
  /** The default `source`. */
  source: 'llm-gateway',
  detailType: 'Fine-tuning job status changed',
  /** The `detail-type` of a batch's status change (its `jobId` is the batch's id). */
  batchDetailType: 'Batch status changed',
} as const;

export interface EventBridgeJobEventsOptions {
  /** The event bus (name or ARN) the stack created. */
  readonly busName: string;
  /** @default 'llm-gateway' (JobStatusEvent.source) */
  readonly source?: string;
}

/**
 * The event's `detail`. A status change can be published more than once (a tracker that dies after publishing
 * is taken over), so `eventId` names the change itself: consumers drop the duplicates by it. Absent values are
 * null, so that every event has every field and rules can match on null.
 */
export interface JobStatusEventDetail {
  readonly eventId: string;
  readonly jobId: string;
  readonly tenantId: string;
  readonly targetId: string;
  readonly model: string;
  readonly status: string;
  readonly previousStatus: string | null;
  readonly fineTunedModel: string | null;
  readonly trainedTokens: number | null;
  /** ISO 8601, when the gateway saw the change. */
  readonly observedAt: string;
}

export const jobStatusEventDetail = (change: JobStatusChange): JobStatusEventDetail => ({
  eventId: `${change.jobId}#${change.status}`,
  jobId: change.jobId,
  tenantId: change.tenantId,
  targetId: change.targetId,
  model: change.model,
  status: change.status,
  previousStatus: change.previousStatus ?? null,
  fineTunedModel: change.fineTunedModel ?? null,
  trainedTokens: change.trainedTokens ?? null,
  observedAt: new Date(change.observedAt).toISOString(),
});

/** EventBridge answered the PutEvents call but did not take the event (it reports that per entry, with HTTP 200). */
export class JobEventRejectedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobEventRejectedError';
  }
}

export const eventBridgeJobEvents = (
  client: EventBridgeClient,
  options: EventBridgeJobEventsOptions,
): JobEvents => ({
  publish: async (change) => {
    const result = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: options.busName,
            Source: options.source ?? JobStatusEvent.source,
            DetailType: change.kind === 'batch' ? JobStatusEvent.batchDetailType : JobStatusEvent.detailType,
            Detail: JSON.stringify(jobStatusEventDetail(change)),
            Time: new Date(change.observedAt),
          },
        ],
      }),
    );
    const [entry] = result.Entries ?? [];
    if ((result.FailedEntryCount ?? 0) > 0 || entry?.ErrorCode !== undefined) {
      const code = entry?.ErrorCode ?? 'Unknown';
      throw new JobEventRejectedError(
        code,
        `EventBridge did not accept the status event of ${change.kind === 'batch' ? 'batch' : 'job'} ${change.jobId} (${change.status}): ` +
          `${code}: ${entry?.ErrorMessage ?? 'no message'}`,
      );
    }
  },
});
