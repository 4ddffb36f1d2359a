// The job observer and tracker: status changes recorded once, a succeeded job metered once (two trackers at
// once, a crash after metering), one event per change (a publish that fails, a tracker that died mid-publish),
// and polling with backoff. In-memory twins, a fake platform upstream, a clock moved by hand.
import {
  MemoryDatabase,
  MemoryJobEvents,
  MemoryKeyStore,
  MemoryLogger,
  MemoryMetrics,
  MemoryOwnershipStore,
  MemorySecretSource,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import {
  createJobObserver,
  fineTuneRequestId,
  initialTracking,
  JobTrackingError,
  trackJobs,
} from '../../lambda/core/jobs.ts';
import { createTargetClient } from '../../lambda/core/upstream/client.ts';
import { OwnedKind, type OwnedObject, type OwnershipStore, type UsageLedger } from '../../lambda/ports.ts';
import { crashOnceBeforeMetered } from '../fixtures/crashing-ownership.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { type FakePlatform, startFakePlatform } from '../fixtures/fake-platform.ts';

const STEP_MS = 1_000;
let platform: FakePlatform;
const upstream = createNodeHttpUpstream();
const clock = new FakeClock(Date.UTC(2026, 11, 2));

beforeAll(async () => {
  platform = await startFakePlatform({ now: () => clock.now(), stepMs: STEP_MS, trainedTokens: 1_000_000 });
});
afterAll(async () => {
  upstream.close();
  await platform.close();
});

const config = (baseUrl = platform.baseUrl) =>
  parseGatewayConfig({
    routes: [{ model: 'gpt-', match: 'prefix', targets: [{ id: 'p', provider: 'openai', baseUrl }] }],
    prices: { 'gpt-4o-mini': { input: 1, output: 1, training: 2 } },
    fineTuning: { pollIntervalMs: STEP_MS, maxPollIntervalMs: 8 * STEP_MS },
  });

type Overrides = { ownership?: OwnershipStore; ledger?: UsageLedger };

interface World {
  readonly db: MemoryDatabase;
  readonly ownership: OwnershipStore;
  readonly ledger: UsageLedger;
  readonly events: MemoryJobEvents;
  readonly logger: MemoryLogger;
  readonly metrics: MemoryMetrics;
  readonly run: (options?: Overrides) => ReturnType<typeof trackJobs>;
  /** Creates a job upstream, its record and a first look, as the gateway's POST /v1/fine_tuning/jobs does. */
  readonly createJob: (fileText?: string) => Promise<OwnedObject>;
}

const world = (baseUrl = platform.baseUrl): World => {
  const db = new MemoryDatabase();
  const ownership = new MemoryOwnershipStore(db);
  const ledger = new MemoryUsageLedger(db);
  const events = new MemoryJobEvents();
  const logger = new MemoryLogger();
  const metrics = new MemoryMetrics();
  const keys = new MemoryKeyStore(db);
  db.tenants.set('acme', { tenantId: 'acme', name: 'acme', tier: 'pro', status: 'active', createdAt: 0 });
  const cfg = config(baseUrl);
  const targets = createTargetClient({ config: cfg, secrets: new MemorySecretSource(new Map()), upstream });
  const observerOf = (options: Overrides = {}) =>
    createJobObserver({
      config: cfg,
      ownership: options.ownership ?? ownership,
      ledger: options.ledger ?? ledger,
      events,
      keys,
      clock,
      logger,
    });
  const run = (options: Overrides = {}) =>
    trackJobs({
      ownership: options.ownership ?? ownership,
      observer: observerOf(options),
      targets,
      clock,
      logger,
      metrics,
    });
  const createJob = async (fileText = 'training data') => {
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', new Blob([fileText]), 'train.jsonl');
    const file = (await (await fetch(`${baseUrl}/files`, { method: 'POST', body: form })).json()) as {
      id: string;
    };
    const job = (await (
      await fetch(`${baseUrl}/fine_tuning/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', training_file: file.id }),
      })
    ).json()) as Record<string, unknown>;
    const record: OwnedObject = {
      kind: OwnedKind.job,
      id: String(job.id),
      tenantId: 'acme',
      keyId: 'acmekey000000000',
      targetId: 'p',
      createdAt: clock.now(),
      version: 1,
      object: job,
      tracking: initialTracking(String(job.status), clock.now(), STEP_MS),
    };
    await ownership.create(record);
    return observerOf().observe(record, job);
  };
  return { db, ownership, ledger, events, logger, metrics, run, createJob };
};

/** Moves the clock a step and runs the tracker: the job is due again after each change. */
const step = async (w: World, runs = 1) => {
  clock.advance(STEP_MS);
  for (let i = 0; i < runs; i += 1) await w.run();
};

describe('trackJobs', () => {
  it('records each status once and publishes one event per change, then leaves the job alone', async () => {
    // Prepare
    const w = world();
    const job = await w.createJob();

    // Act: one look per step, and two more runs after the end
    for (let i = 0; i < 4; i += 1) await step(w);
    await step(w, 2);

    // Assess
    expect(w.events.published.map((e) => [e.previousStatus, e.status])).toEqual([
      [undefined, 'validating_files'],
      ['validating_files', 'queued'],
      ['queued', 'running'],
      ['running', 'succeeded'],
    ]);
    const record = await w.ownership.get(OwnedKind.job, job.id);
    expect(record?.tracking).toMatchObject({
      status: 'succeeded',
      announcedStatus: 'succeeded',
      metered: true,
      done: true,
    });
    expect(await w.ownership.dueJobs(clock.now() + 3_600_000, 10)).toEqual([]);
    // the fine-tuned model is recorded for its tenant and target
    const model = String(record?.object.fine_tuned_model);
    expect(await w.ownership.get(OwnedKind.model, model)).toMatchObject({ tenantId: 'acme', targetId: 'p' });
  });

  it('meters a succeeded job once, at the training price, in the usage record and the rollup', async () => {
    // Prepare
    const w = world();
    const job = await w.createJob();

    // Act
    for (let i = 0; i < 5; i += 1) await step(w);

    // Assess: 1,000,000 trained tokens × $2 per 1M = 2,000,000 µUSD
    const record = w.db.records.get(fineTuneRequestId(job.id));
    expect(record).toMatchObject({
      tenantId: 'acme',
      tier: 'pro',
      model: 'gpt-4o-mini',
      endpoint: '/v1/fine_tuning/jobs',
      costMicroUsd: 2_000_000,
      exact: true,
    });
    expect(record?.usage.trainedTokens).toBe(1_000_000);
    expect(w.db.records.size).toBe(1);
    const usage = await w.ledger.monthlyUsage('acme', record!.month);
    expect(usage.total).toMatchObject({ requests: 1, trainedTokens: 1_000_000, costMicroUsd: 2_000_000 });
  });

  it('meters once and announces once when two trackers run at the same time', async () => {
    // Prepare: the job is done upstream before anyone looks
    const w = world();
    const job = await w.createJob();
    clock.advance(4 * STEP_MS);

    // Act: two trackers at once, then again
    await Promise.all([w.run(), w.run()]);
    await Promise.all([w.run(), w.run()]);

    // Assess
    expect(w.db.records.size).toBe(1);
    const usage = await w.ledger.monthlyUsage('acme', w.db.records.get(fineTuneRequestId(job.id))!.month);
    expect(usage.total.trainedTokens).toBe(1_000_000);
    // the first look's event at creation, then succeeded exactly once
    expect(w.events.published.map((e) => e.status)).toEqual(['validating_files', 'succeeded']);
    expect((await w.ownership.get(OwnedKind.job, job.id))?.tracking?.done).toBe(true);
  });

  it('meters once when the tracker crashed after metering, before it could note so', async () => {
    // Prepare: a store that fails the update that would set `metered` — once — as a crash there would
    const w = world();
    const job = await w.createJob();
    clock.advance(4 * STEP_MS);
    const crashing = crashOnceBeforeMetered(w.ownership);

    // Act
    await expect(w.run({ ownership: crashing.store })).rejects.toThrow(JobTrackingError);
    clock.advance(60 * STEP_MS);
    await w.run();

    // Assess: the ledger took the second write as the replay it was
    expect(crashing.crashed()).toBe(true);
    expect(w.db.records.size).toBe(1);
    const usage = await w.ledger.monthlyUsage('acme', w.db.records.get(fineTuneRequestId(job.id))!.month);
    expect(usage.total).toMatchObject({ requests: 1, trainedTokens: 1_000_000 });
    expect((await w.ownership.get(OwnedKind.job, job.id))?.tracking).toMatchObject({
      metered: true,
      done: true,
    });
  });

  it('does not mark a job metered when the ledger refused the record, and meters it on a later run', async () => {
    // Prepare
    const w = world();
    await w.createJob();
    clock.advance(4 * STEP_MS);
    const refusing: UsageLedger = {
      record: async () => {
        throw new Error('ledger unavailable');
      },
      monthlyUsage: (t, m) => w.ledger.monthlyUsage(t, m),
    };

    // Act
    const error = await w.run({ ledger: refusing }).catch((caught: unknown) => caught);
    clock.advance(60 * STEP_MS);
    await w.run();

    // Assess
    expect(error).toBeInstanceOf(JobTrackingError);
    expect((error as JobTrackingError).run.failed).toHaveLength(1);
    expect(w.db.records.size).toBe(1);
  });

  it('publishes an event again when publishing failed, and only once it went through', async () => {
    // Prepare
    const w = world();
    const job = await w.createJob();
    clock.advance(STEP_MS);
    w.events.failNext = 1;

    // Act: the run whose publish fails, then the next one (the scheduler's retry), at once
    const error = await w.run().catch((caught: unknown) => caught);
    const afterFailure = await w.ownership.get(OwnedKind.job, job.id);
    await w.run();

    // Assess: the failed run alarms; the status was recorded once, its event published once, by the retry
    expect(error).toBeInstanceOf(JobTrackingError);
    expect(afterFailure?.tracking).toMatchObject({ status: 'queued', announcedStatus: 'validating_files' });
    expect(afterFailure?.tracking?.announcing).toBeUndefined();
    expect(w.events.published.map((e) => [e.previousStatus, e.status])).toEqual([
      [undefined, 'validating_files'],
      ['validating_files', 'queued'],
    ]);
    expect(w.metrics.sum('JobTrackingFailures')).toBe(1);
  });

  it('takes over the announcement of a tracker that died while publishing, once its lease ran out', async () => {
    // Prepare: a record that says another tracker is publishing 'queued' for the next 60 s
    const w = world();
    const job = await w.createJob();
    const stored = (await w.ownership.get(OwnedKind.job, job.id))!;
    await w.ownership.update({
      ...stored,
      version: stored.version + 1,
      object: { ...stored.object, status: 'queued' },
      tracking: {
        ...stored.tracking!,
        status: 'queued',
        nextPollAt: clock.now(),
        announcing: { status: 'queued', until: clock.now() + 60_000 },
      },
    });

    // Act: a run within the lease leaves it; one after it publishes
    clock.advance(1_500); // still queued upstream (created 1.5 s ago)
    await w.run();
    const within = [...w.events.published];
    clock.advance(60_000);
    await w.run();

    // Assess: nothing from the run within the lease (only the first look's event, from before); one event from
    // the run after it, for the status the job has by then
    expect(within.map((e) => e.status)).toEqual(['validating_files']);
    expect(w.events.published.slice(1)).toHaveLength(1);
    expect(w.events.published[1]).toMatchObject({ previousStatus: 'validating_files', status: 'succeeded' });
  });

  it('waits twice as long after each look that changed nothing, up to the maximum', async () => {
    // Prepare: a platform whose jobs stay in validating_files for an hour
    const slow = await startFakePlatform({ now: () => clock.now(), stepMs: 3_600_000 });
    try {
      const w = world(slow.baseUrl);
      const job = await w.createJob();
      const intervals: number[] = [];

      // Act: run whenever the job is due
      for (let i = 0; i < 6; i += 1) {
        const current = (await w.ownership.get(OwnedKind.job, job.id))!;
        clock.advance(current.tracking!.nextPollAt - clock.now());
        await w.run();
        intervals.push((await w.ownership.get(OwnedKind.job, job.id))!.tracking!.pollIntervalMs);
      }

      // Assess: doubled after each look that changed nothing, up to the maximum
      expect(intervals).toEqual([2, 4, 8, 8, 8, 8].map((n) => n * STEP_MS));
      expect(slow.requests.filter((r) => r.method === 'GET').length).toBe(6);
    } finally {
      await slow.close();
    }
  });

  it('backs off and fails the run when the upstream cannot be asked; other jobs are still tracked', async () => {
    // Prepare: one job on a target that is not configured, one normal
    const w = world();
    const good = await w.createJob();
    await w.ownership.create({
      ...good,
      id: 'ftjob-lost',
      targetId: 'gone',
      tracking: initialTracking('queued', clock.now(), STEP_MS),
    });

    // Act
    clock.advance(STEP_MS);
    const error = await w.run().catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(JobTrackingError);
    expect((error as JobTrackingError).message).toBe(
      '1 of 2 fine-tuning jobs and batches could not be tracked: ftjob-lost',
    );
    const lost = await w.ownership.get(OwnedKind.job, 'ftjob-lost');
    expect(lost?.tracking?.pollIntervalMs).toBe(2 * STEP_MS);
    expect((await w.ownership.get(OwnedKind.job, good.id))?.tracking?.status).toBe('queued');
    expect(JSON.stringify(w.logger.lines)).toContain("target 'gone' is not in the config");
  });

  it('records a failed job once, with no metering and no model', async () => {
    const w = world();
    const job = await w.createJob('FAIL this training file');
    for (let i = 0; i < 5; i += 1) await step(w);
    const record = await w.ownership.get(OwnedKind.job, job.id);
    expect(record?.tracking).toMatchObject({ status: 'failed', done: true, metered: false });
    expect(w.events.published.at(-1)).toMatchObject({ status: 'failed', previousStatus: 'running' });
    expect(w.db.records.size).toBe(0);
    expect([...w.db.owned.values()].some((o) => o.kind === OwnedKind.model)).toBe(false);
  });
});

describe('createJobObserver', () => {
  it('does not go back to an older status when two looks are recorded out of order', async () => {
    // Prepare: the job recorded as running
    const w = world();
    const job = await w.createJob();
    const observer = createJobObserver({
      config: config(),
      ownership: w.ownership,
      ledger: w.ledger,
      events: w.events,
      keys: new MemoryKeyStore(w.db),
      clock,
      logger: w.logger,
    });
    const running = await observer.observe(job, { ...job.object, status: 'running' });

    // Act: an older look arrives later
    const after = await observer.observe(running, { ...job.object, status: 'queued' });

    // Assess
    expect(after.tracking?.status).toBe('running');
    expect(w.events.published.map((e) => e.status)).toEqual(['validating_files', 'running']);
  });
});
