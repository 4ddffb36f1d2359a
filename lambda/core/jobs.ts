// Fine-tuning jobs and batches after they are created: every look at one (the tracker's poll, a client's
// retrieve) records what changed once, does what its status makes due (a fine-tuned model routable for its
// tenant, a batch's result files the tenant's), meters it once, and publishes each status change; and the
// scheduled tracker that polls the active ones with backoff. What differs by kind is in fine-tuning-jobs.ts and
// batch-jobs.ts.
import {
  type Clock,
  type JobEvents,
  type JobStatusChange,
  type JobTracking,
  type KeyStore,
  type Logger,
  type Metrics,
  OwnedKind,
  type OwnedObject,
  type OwnershipStore,
  type UsageLedger,
  type UsageRecord,
} from '../ports.ts';
import { batches } from './batch-jobs.ts';
import type { GatewayConfig } from './config.ts';
import { fineTuningJobs } from './fine-tuning-jobs.ts';
import { updateOwned } from './ownership.ts';
import { readBody, type TargetClient } from './upstream/client.ts';

export { fineTuneRequestId, isFinalStatus, JobStatus } from './fine-tuning-jobs.ts';

/** How long a tracker may take to publish an event before another one takes the job's announcement over. */
const ANNOUNCE_LEASE_MS = 60_000;
/** Re-reads when a record changed between a read and its conditional update (another tracker, a retrieve). */
const UPDATE_ATTEMPTS = 5;
const decoder = new TextDecoder();

type Json = Record<string, unknown>;

/** Tracking of a job just created (or seen for the first time in this status). */
export const initialTracking = (status: string, now: number, pollIntervalMs: number): JobTracking => ({
  status,
  announcedStatus: undefined,
  metered: false,
  done: false,
  nextPollAt: now + pollIntervalMs,
  pollIntervalMs,
});

const isDone = (kind: TrackedKind, tracking: JobTracking): boolean =>
  kind.isFinal(tracking.status) &&
  tracking.announcedStatus === tracking.status &&
  (!kind.billable(tracking.status) || tracking.metered);

/** What the tracker needs to know of one kind of tracked object (fine-tuning-jobs.ts, batch-jobs.ts). */
export interface TrackedKind {
  readonly kind: typeof OwnedKind.job | typeof OwnedKind.batch;
  /** What logs and errors call it. */
  readonly noun: string;
  /** Where the upstream answers a look at it. */
  path(id: string): string;
  /**
   * How far along a status is. Two looks at an object may be recorded in either order (a tracker's and a
   * client's retrieve): a status behind the one recorded is an older look and is not recorded. Final: 3.
   */
  progressOf(status: string): number;
  isFinal(status: string): boolean;
  /** A final status whose usage goes in the ledger (once; `metered` says it has). */
  billable(status: string): boolean;
  /** What is due once `record` (its tracking up to date) says what `answer` says: records it makes the tenant's. */
  follow(record: OwnedObject, answer: Json, now: number): Promise<void>;
  /** The usage record of an object in a billable status: its request id makes writing it idempotent. */
  usageRecord(record: OwnedObject, answer: Json, now: number): Promise<UsageRecord>;
  /** What its status-change event says besides the status. */
  event(
    record: OwnedObject,
    answer: Json,
  ): Pick<JobStatusChange, 'model' | 'fineTunedModel' | 'trainedTokens'>;
}

export interface JobObserverDeps {
  readonly config: GatewayConfig;
  readonly ownership: OwnershipStore;
  readonly ledger: UsageLedger;
  readonly events: JobEvents;
  /** For the tier of the job's tenant in its usage record. */
  readonly keys: KeyStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Where batches' result files are read (their object, and their usage when the batch reports none).
   * @default - batches cannot be metered, and are retried until it is given
   */
  readonly targets?: TargetClient | undefined;
}

/** What a tracked kind's profile uses. */
export type TrackedKindDeps = JobObserverDeps;

const trackedKinds = (deps: TrackedKindDeps) => ({
  [OwnedKind.job]: fineTuningJobs(deps),
  [OwnedKind.batch]: batches(deps),
});

const kindOf = (kinds: ReturnType<typeof trackedKinds>, record: OwnedObject): TrackedKind => {
  if (record.kind !== OwnedKind.job && record.kind !== OwnedKind.batch)
    throw new Error(`${record.kind} ${record.id} is not a tracked kind`);
  return kinds[record.kind];
};

export interface JobObserver {
  /**
   * Records what `job` (the upstream's job object) says, then does what is due: the fine-tuned model's record,
   * the usage record of a succeeded job, the status-change event. Safe to run twice at once, or again after a
   * crash at any step: each step is conditional, or idempotent. Resolves to the stored record. `poll`: the
   * tracker's scheduled look, which sets the next one (later and later while nothing changes); a client's look
   * moves the schedule only when the status changed.
   */
  observe(record: OwnedObject, job: Json, how?: { readonly poll: boolean }): Promise<OwnedObject>;
  /** After a failed look upstream: waits longer before the next one. */
  backOff(record: OwnedObject): Promise<void>;
  /** After a look whose follow-up failed (store, ledger, event bus): the next run tries again at once. */
  retrySoon(record: OwnedObject): Promise<void>;
  /** What kind of tracked object the record is: where to look at it, which statuses are final. */
  kindOf(record: OwnedObject): TrackedKind;
}

export const createJobObserver = (deps: JobObserverDeps): JobObserver => {
  const { ownership, clock } = deps;
  const policy = deps.config.fineTuning;
  const kinds = trackedKinds(deps);

  /**
   * Applies `change` to the latest stored record with a conditional update, reading it again after a conflict.
   * `change` returns undefined when there is nothing to write.
   */
  const mutate = async (
    record: OwnedObject,
    change: (current: OwnedObject, tracking: JobTracking) => Partial<OwnedObject> | undefined,
  ) =>
    updateOwned(
      ownership,
      record,
      (current) => {
        if (current.tracking === undefined) throw new Error(`${record.kind} ${record.id} has no tracking`);
        return change(current, current.tracking);
      },
      UPDATE_ATTEMPTS,
    );

  const announce = async (record: OwnedObject, job: Json, now: number): Promise<OwnedObject> => {
    const free = (tracking: JobTracking) =>
      tracking.announcedStatus !== tracking.status &&
      !(tracking.announcing?.status === tracking.status && tracking.announcing.until > now);
    // Claim the announcement, so that of two trackers at once only one publishes it.
    const claim = await mutate(record, (_current, tracking) =>
      free(tracking)
        ? {
            tracking: {
              ...tracking,
              announcing: { status: tracking.status, until: now + ANNOUNCE_LEASE_MS },
            },
          }
        : undefined,
    );
    if (!claim.changed) return claim.record;
    const tracking = claim.record.tracking!;
    const status = tracking.status;
    const release = (announced: boolean) =>
      mutate(claim.record, (_current, latest) =>
        latest.announcing?.status !== status
          ? undefined
          : {
              tracking: {
                ...latest,
                announcing: undefined,
                ...(announced ? { announcedStatus: status } : {}),
              },
            },
      );
    const kind = kindOf(kinds, record);
    try {
      await deps.events.publish({
        ...(kind.kind === OwnedKind.job ? {} : { kind: kind.kind }),
        jobId: record.id,
        tenantId: record.tenantId,
        targetId: record.targetId,
        ...kind.event(record, job),
        status,
        previousStatus: tracking.announcedStatus,
        observedAt: now,
      });
    } catch (error) {
      await release(false).catch(() => {});
      throw error;
    }
    return (await release(true)).record;
  };

  const observe = async (
    record: OwnedObject,
    job: Json,
    how: { readonly poll: boolean } = { poll: false },
  ): Promise<OwnedObject> => {
    const now = clock.now();
    const kind = kindOf(kinds, record);
    const progressOf = kind.progressOf;
    const reported = typeof job.status === 'string' ? job.status : undefined;
    // 1. What the upstream says, and when to look again: soon after a change, ever later while nothing changes.
    let current = (
      await mutate(record, (stored, tracking) => {
        if (reported !== undefined && progressOf(reported) < progressOf(tracking.status)) {
          job = stored.object as Json; // an older look than the one recorded
        }
        const status =
          reported === undefined || progressOf(reported) < progressOf(tracking.status)
            ? tracking.status
            : reported;
        const changed = status !== tracking.status;
        const same = !changed && JSON.stringify(job) === JSON.stringify(stored.object);
        if (same && (tracking.done || !how.poll)) return undefined;
        if (!changed && !how.poll) return { object: job };
        const interval = changed
          ? policy.pollIntervalMs
          : Math.min(tracking.pollIntervalMs * 2, policy.maxPollIntervalMs);
        return {
          object: job,
          tracking: { ...tracking, status, pollIntervalMs: interval, nextPollAt: now + interval },
        };
      })
    ).record;
    const status = current.tracking!.status;
    // 2. What the status makes the tenant's: a fine-tuned model, a batch's result files.
    await kind.follow(current, job, now);
    // 3. Metering: the ledger is idempotent by request id, so a second writer (or a replay after a crash
    // between this write and the flag below) counts nothing.
    if (kind.isFinal(status) && kind.billable(status) && !current.tracking!.metered) {
      await deps.ledger.record(await kind.usageRecord(current, job, now));
      current = (
        await mutate(current, (_stored, tracking) =>
          tracking.metered ? undefined : { tracking: { ...tracking, metered: true } },
        )
      ).record;
    }
    // 4. One event per status change.
    current = await announce(current, job, now);
    // 5. Done: nothing more to do for a final, announced, metered job or batch.
    return (
      await mutate(current, (_stored, tracking) => {
        const done = isDone(kind, tracking);
        return done === tracking.done ? undefined : { tracking: { ...tracking, done } };
      })
    ).record;
  };

  const backOff = async (record: OwnedObject): Promise<void> => {
    const now = clock.now();
    await mutate(record, (_stored, tracking) => {
      const interval = Math.min(tracking.pollIntervalMs * 2, policy.maxPollIntervalMs);
      return { tracking: { ...tracking, pollIntervalMs: interval, nextPollAt: now + interval } };
    });
  };

  const retrySoon = async (record: OwnedObject): Promise<void> => {
    const now = clock.now();
    await mutate(record, (_stored, tracking) => ({ tracking: { ...tracking, nextPollAt: now } }));
  };

  return { observe, backOff, retrySoon, kindOf: (record) => kindOf(kinds, record) };
};

export interface TrackJobsDeps {
  readonly ownership: OwnershipStore;
  readonly observer: JobObserver;
  readonly targets: TargetClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Jobs looked at per run. @default 50 */
  readonly batch?: number;
  /** Jobs looked at at once. @default 4 */
  readonly concurrency?: number;
}

export interface TrackingRun {
  readonly due: number;
  readonly statusChanges: number;
  readonly failed: readonly string[];
}

/** Thrown when some jobs could not be tracked: the scheduled invocation fails, so it is retried and alarms. */
export class JobTrackingError extends Error {
  constructor(readonly run: TrackingRun) {
    super(
      `${run.failed.length} of ${run.due} fine-tuning jobs and batches could not be tracked: ${run.failed.join(', ')}`,
    );
    this.name = 'JobTrackingError';
  }
}

/**
 * One run of the scheduled tracker: each due job is polled upstream (unless its status is final and only its
 * event or metering is left) and observed. Throws JobTrackingError when any job failed; the others are done.
 */
export const trackJobs = async (deps: TrackJobsDeps): Promise<TrackingRun> => {
  const due = await deps.ownership.dueJobs(deps.clock.now(), deps.batch ?? 50);
  const failed: string[] = [];
  let statusChanges = 0;

  const track = async (record: OwnedObject) => {
    const before = record.tracking?.status;
    let asked = false;
    try {
      const kind = deps.observer.kindOf(record);
      let job = record.object as Json;
      if (before === undefined || !kind.isFinal(before)) {
        const target = deps.targets.target(record.targetId);
        if (target === undefined) throw new Error(`target '${record.targetId}' is not in the config`);
        const response = await deps.targets.send(target, { method: 'GET', path: kind.path(record.id) });
        const body = await readBody(response.body);
        if (response.status !== 200) throw new Error(`the upstream answered ${response.status}`);
        const parsed: unknown = JSON.parse(decoder.decode(body));
        if (typeof parsed !== 'object' || parsed === null)
          throw new Error(`the upstream answered no ${kind.noun}`);
        job = parsed as Json;
      }
      asked = true;
      const after = await deps.observer.observe(record, job, { poll: true });
      if (after.tracking?.status !== before) statusChanges += 1;
    } catch (error) {
      failed.push(record.id);
      deps.logger.error('tracking failed', { kind: record.kind, id: record.id, error: String(error) });
      // An upstream that cannot answer is asked again later and later; what failed after its answer (recording,
      // metering, publishing) is tried again on the next run, Lambda's retry of this one included.
      await (asked ? deps.observer.retrySoon(record) : deps.observer.backOff(record)).catch(() => {});
    }
  };

  const queue = [...due];
  const workers = Array.from({ length: Math.min(deps.concurrency ?? 4, queue.length) }, async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await track(next);
  });
  await Promise.all(workers);

  deps.metrics.emit({
    dimensions: { component: 'job-tracker' },
    values: [
      { name: 'JobsTracked', value: due.length, unit: 'Count' },
      { name: 'JobStatusChanges', value: statusChanges, unit: 'Count' },
      { name: 'JobTrackingFailures', value: failed.length, unit: 'Count' },
    ],
  });
  const run = { due: due.length, statusChanges, failed };
  if (failed.length > 0) throw new JobTrackingError(run);
  return run;
};
