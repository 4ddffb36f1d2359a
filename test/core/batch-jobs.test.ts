// The tracker and batches: a batch ends once and is metered once at the batch price, from the usage its object
// reports or else from its output file; expiry and cancellation meter the part that ran; a failed batch costs
// nothing; each ending releases the hold placed when the batch was created; its result files become its
// tenant's; two trackers at once and a crash between metering and its flag still meter once. In-memory twins,
// the fake platform as the upstream, a clock moved by hand.
import {
  MemoryBudgetStore,
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
import { batchRequestId, usageOfResults } from '../../lambda/core/batch-jobs.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createJobObserver, initialTracking, JobTrackingError, trackJobs } from '../../lambda/core/jobs.ts';
import { billingMonthOf } from '../../lambda/core/pricing.ts';
import { createTargetClient } from '../../lambda/core/upstream/client.ts';
import {
  OwnedKind,
  type OwnedObject,
  type OwnershipStore,
  RequestOutcome,
  type UsageRecord,
} from '../../lambda/ports.ts';
import { crashOnceBeforeMetered } from '../fixtures/crashing-ownership.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { type FakePlatform, platformChatUsage, startFakePlatform } from '../fixtures/fake-platform.ts';

const STEP_MS = 1_000;
const MODEL = 'gpt-4o-mini';
const HOLD = 5_000;
const TENANT = 'acme';
const upstream = createNodeHttpUpstream();
const clock = new FakeClock(Date.UTC(2026, 11, 2));
let platform: FakePlatform;
let silent: FakePlatform;

beforeAll(async () => {
  platform = await startFakePlatform({ now: () => clock.now(), stepMs: STEP_MS });
  silent = await startFakePlatform({ now: () => clock.now(), stepMs: STEP_MS, batchUsage: false });
});
afterAll(async () => {
  upstream.close();
  await platform.close();
  await silent.close();
});

/** $2 and $8 per 1M tokens: $1 and $4 in a batch (the default 50%). */
const config = (baseUrl: string) =>
  parseGatewayConfig({
    routes: [{ model: 'gpt-', match: 'prefix', targets: [{ id: 'p', provider: 'openai', baseUrl }] }],
    prices: { [MODEL]: { input: 2, output: 8 } },
    fineTuning: { pollIntervalMs: STEP_MS, maxPollIntervalMs: 8 * STEP_MS },
  });

/** What `lines` chat lines cost at the batch price, each answered with the platform's chat usage. */
const batchCost = (lines: number) =>
  lines * platformChatUsage.prompt_tokens * 1 + lines * platformChatUsage.completion_tokens * 4;

const chatLines = (count: number, failing = 0) =>
  `${Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      custom_id: index < failing ? `fail-${index}` : `line-${index}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: MODEL, messages: [{ role: 'user', content: `question ${index}` }] },
    }),
  ).join('\n')}\n`;

const world = (on: FakePlatform = platform) => {
  const db = new MemoryDatabase();
  const ownership = new MemoryOwnershipStore(db);
  const ledger = new MemoryUsageLedger(db);
  const budgets = new MemoryBudgetStore(db);
  const events = new MemoryJobEvents();
  const logger = new MemoryLogger();
  const keys = new MemoryKeyStore(db);
  db.tenants.set(TENANT, { tenantId: TENANT, name: TENANT, tier: 'pro', status: 'active', createdAt: 0 });
  const cfg = config(on.baseUrl);
  const targets = createTargetClient({ config: cfg, secrets: new MemorySecretSource(new Map()), upstream });
  const observer = (store: OwnershipStore = ownership) =>
    createJobObserver({ config: cfg, ownership: store, ledger, events, keys, clock, logger, targets });
  const run = (store: OwnershipStore = ownership) =>
    trackJobs({
      ownership: store,
      observer: observer(store),
      targets,
      clock,
      logger,
      metrics: new MemoryMetrics(),
    });

  /** Uploads `text` and creates a batch of it upstream, with its record and hold, as POST /v1/batches does. */
  const createBatch = async (text: string, lines: number) => {
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([text]), 'input.jsonl');
    const file = (await (await fetch(`${on.baseUrl}/files`, { method: 'POST', body: form })).json()) as {
      id: string;
    };
    const response = await fetch(`${on.baseUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    });
    const batch = (await response.json()) as Record<string, unknown>;
    const month = billingMonthOf(clock.now());
    const holdId = `batch-hold#req-${String(batch.id)}`;
    await budgets.reserve({
      tenantId: TENANT,
      month,
      requestId: holdId,
      amountMicroUsd: HOLD,
      limitMicroUsd: 1_000_000,
      lasting: true,
    });
    const record: OwnedObject = {
      kind: OwnedKind.batch,
      id: String(batch.id),
      tenantId: TENANT,
      keyId: 'acmekey000000000',
      targetId: 'p',
      createdAt: clock.now(),
      version: 1,
      object: batch,
      tracking: initialTracking(String(batch.status), clock.now(), STEP_MS),
      batchInput: {
        endpoint: '/v1/chat/completions',
        model: MODEL,
        upstreamModel: MODEL,
        lines,
        inputTokens: 100,
        outputTokens: 100,
      },
      batchHold: { holdId, month, amountMicroUsd: HOLD },
    };
    await ownership.create(record);
    return record;
  };

  const recordOf = (batchId: string): UsageRecord | undefined => db.records.get(batchRequestId(batchId));
  const budget = () => budgets.budget(TENANT, billingMonthOf(clock.now()));
  const statusOf = async (batchId: string) => (await ownership.get(OwnedKind.batch, batchId))?.tracking;
  const announced = (batchId: string) =>
    events.published
      .filter((change) => change.jobId === batchId)
      .map((change) => [change.kind, change.status]);
  return { db, ownership, ledger, logger, run, createBatch, recordOf, budget, statusOf, announced };
};

/** Past validation (one step), the lines (one step) and finalizing (one step). */
const TO_COMPLETION = 3 * STEP_MS + 1;

describe('trackJobs with batches', () => {
  it('meters a completed batch once at the batch price from its usage, releases its hold, and gives its tenant the output file', async () => {
    // Prepare
    const w = world();
    const batch = await w.createBatch(chatLines(3), 3);
    clock.advance(TO_COMPLETION);

    // Act
    await w.run();
    clock.advance(60 * STEP_MS);
    const again = await w.run();

    // Assess
    const record = w.recordOf(batch.id);
    expect(record).toMatchObject({
      tenantId: TENANT,
      tier: 'pro',
      endpoint: '/v1/batches',
      model: MODEL,
      outcome: RequestOutcome.complete,
      exact: true,
      usage: { inputTokens: 30, outputTokens: 9 },
      costMicroUsd: batchCost(3),
      reservedMicroUsd: HOLD,
      holdId: `batch-hold#req-${batch.id}`,
    });
    expect(batchCost(3)).toBe(66);
    expect(w.db.records.size).toBe(1);
    expect(await w.budget()).toEqual({ spentMicroUsd: 66, committedMicroUsd: 66 });
    expect(await w.statusOf(batch.id)).toMatchObject({ status: 'completed', metered: true, done: true });
    expect(again.due).toBe(0);
    const upstreamBatch = platform.batches.get(batch.id)!.view();
    const output = await w.ownership.get(OwnedKind.file, String(upstreamBatch.output_file_id));
    expect(output).toMatchObject({ tenantId: TENANT, targetId: 'p', object: { purpose: 'batch_output' } });
    expect(w.announced(batch.id)).toEqual([['batch', 'completed']]);
    const usage = await w.ledger.monthlyUsage(TENANT, record!.month);
    expect(usage.byModel.get(MODEL)).toMatchObject({ requests: 1, inputTokens: 30, costMicroUsd: 66 });
  });

  it('meters from the output file when the batch reports no usage, and gives its tenant the error file too', async () => {
    // Prepare: one of four lines fails upstream
    const w = world(silent);
    const batch = await w.createBatch(chatLines(4, 1), 4);
    clock.advance(TO_COMPLETION);

    // Act
    await w.run();

    // Assess
    const view = silent.batches.get(batch.id)!.view();
    expect('usage' in view).toBe(false);
    expect(w.recordOf(batch.id)).toMatchObject({
      usage: { inputTokens: 30, outputTokens: 9 },
      exact: true,
      costMicroUsd: 66,
    });
    expect(await w.ownership.get(OwnedKind.file, String(view.error_file_id))).toMatchObject({
      tenantId: TENANT,
    });
    expect(await w.ownership.get(OwnedKind.file, String(view.output_file_id))).toMatchObject({
      tenantId: TENANT,
    });
  });

  it('meters the part of an expired batch that ran', async () => {
    // Prepare: four lines, each done a quarter step apart once running; expired after two of them
    const w = world();
    const batch = await w.createBatch(chatLines(4), 4);
    clock.advance(STEP_MS + STEP_MS / 2 + 1);
    await w.run();
    platform.expire(batch.id);
    clock.advance(STEP_MS);

    // Act
    await w.run();

    // Assess
    expect(await w.statusOf(batch.id)).toMatchObject({ status: 'expired', metered: true, done: true });
    expect(w.recordOf(batch.id)).toMatchObject({
      outcome: RequestOutcome.timeout,
      usage: { inputTokens: 20, outputTokens: 6 },
      costMicroUsd: batchCost(2),
    });
    expect(await w.budget()).toEqual({ spentMicroUsd: batchCost(2), committedMicroUsd: batchCost(2) });
    expect(w.announced(batch.id)).toEqual([
      ['batch', 'in_progress'],
      ['batch', 'expired'],
    ]);
  });

  it('meters the part of a cancelled batch that ran, and nothing while it is only cancelling', async () => {
    // Prepare: cancelled when three of four lines are done
    const w = world();
    const batch = await w.createBatch(chatLines(4), 4);
    clock.advance(STEP_MS + (3 * STEP_MS) / 4 + 1);
    await fetch(`${platform.baseUrl}/batches/${batch.id}/cancel`, { method: 'POST' });

    // Act
    await w.run();
    const whileCancelling = w.recordOf(batch.id);
    clock.advance(STEP_MS);
    await w.run();

    // Assess
    expect(whileCancelling).toBeUndefined();
    expect(await w.statusOf(batch.id)).toMatchObject({ status: 'cancelled', metered: true, done: true });
    expect(w.recordOf(batch.id)).toMatchObject({
      outcome: RequestOutcome.clientAbort,
      usage: { inputTokens: 30, outputTokens: 9 },
      costMicroUsd: batchCost(3),
    });
    expect(w.announced(batch.id)).toEqual([
      ['batch', 'cancelling'],
      ['batch', 'cancelled'],
    ]);
  });

  it('records a batch that failed validation upstream at no cost, which releases its hold', async () => {
    // Prepare: a line the upstream refuses (the gateway would have, at upload)
    const w = world();
    const batch = await w.createBatch(`${chatLines(1)}{"custom_id":"x","method":"POST"}\n`, 2);
    clock.advance(TO_COMPLETION);

    // Act
    await w.run();

    // Assess
    expect(await w.statusOf(batch.id)).toMatchObject({ status: 'failed', metered: true, done: true });
    expect(w.recordOf(batch.id)).toMatchObject({ outcome: RequestOutcome.rejected, costMicroUsd: 0 });
    expect(await w.budget()).toEqual({ spentMicroUsd: 0, committedMicroUsd: 0 });
  });

  it('meters once and announces once when two trackers run at the same time', async () => {
    // Prepare
    const w = world();
    const batch = await w.createBatch(chatLines(3), 3);
    clock.advance(TO_COMPLETION);

    // Act
    await Promise.allSettled([w.run(), w.run()]);
    clock.advance(60 * STEP_MS);
    await w.run();

    // Assess
    expect(w.db.records.size).toBe(1);
    expect(w.recordOf(batch.id)?.costMicroUsd).toBe(66);
    expect(await w.budget()).toEqual({ spentMicroUsd: 66, committedMicroUsd: 66 });
    expect(w.announced(batch.id)).toEqual([['batch', 'completed']]);
    expect(await w.statusOf(batch.id)).toMatchObject({ metered: true, done: true });
  });

  it('meters once when the tracker crashed between metering and noting so', async () => {
    // Prepare: a store that fails the update that would set `metered` — once — as a crash there would
    const w = world();
    const batch = await w.createBatch(chatLines(3), 3);
    clock.advance(TO_COMPLETION);
    const crashing = crashOnceBeforeMetered(w.ownership);

    // Act
    await expect(w.run(crashing.store)).rejects.toThrow(JobTrackingError);
    const afterCrash = w.recordOf(batch.id);
    clock.advance(60 * STEP_MS);
    await w.run();

    // Assess: the ledger took the second write as the replay it was
    expect(crashing.crashed()).toBe(true);
    expect(afterCrash?.costMicroUsd).toBe(66);
    expect(w.db.records.size).toBe(1);
    expect(await w.budget()).toEqual({ spentMicroUsd: 66, committedMicroUsd: 66 });
    expect(await w.statusOf(batch.id)).toMatchObject({ metered: true, done: true });
  });
});

describe('usageOfResults', () => {
  it('sums the usage of successful results, skips errors, and is inexact when a success has none', () => {
    // Prepare
    const ok = (usage: unknown) => JSON.stringify({ response: { status_code: 200, body: { usage } } });
    const text = [
      ok({ prompt_tokens: 10, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 4 } }),
      ok({ input_tokens: 5, output_tokens: 2, output_tokens_details: { reasoning_tokens: 1 } }),
      JSON.stringify({ response: { status_code: 400, body: { error: { message: 'no' } } } }),
      '',
    ].join('\n');

    // Act
    const counted = usageOfResults(text);
    const missing = usageOfResults(`${text}\n${ok(undefined)}\nnot json`);

    // Assess
    expect(counted).toEqual({
      usage: { inputTokens: 15, cachedInputTokens: 4, outputTokens: 5, reasoningTokens: 1 },
      exact: true,
    });
    expect(missing).toEqual({ usage: counted.usage, exact: false });
  });
});
