// Files, uploads and fine-tuning through the real local gateway, with the official SDK as the client and a fake
// OpenAI platform as the upstream whose jobs advance with a clock the test moves. Two tenants share it.
import OpenAI, { toFile } from 'openai';
import { MemoryKeyStore } from '../../lambda/adapters/memory/index.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createJobObserver, fineTuneRequestId, trackJobs } from '../../lambda/core/jobs.ts';
import { createTargetClient } from '../../lambda/core/upstream/client.ts';
import { OwnedKind } from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { type FakePlatform, platformAnswer, startFakePlatform } from '../fixtures/fake-platform.ts';
import { type GatewayHarness, startGateway, TEST_KEY } from '../fixtures/gateway-harness.ts';
import { seedKey, testKey } from '../fixtures/tenants.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
const KEY_B = testKey('tenant-b-key-0001');
const BASE_MODEL = 'gpt-4o-mini-2024-07-18';
const MAX_FILE_BYTES = 64 * 1024;
const TRAINING = `${JSON.stringify({
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'hello' },
  ],
})}\n`;

const clock = new FakeClock(Date.UTC(2026, 11, 2, 12));
let platform: FakePlatform;
let gateway: GatewayHarness;
let a: OpenAI;
let b: OpenAI;
let track: () => ReturnType<typeof trackJobs>;

const configInput = (baseUrl: string) => ({
  routes: [
    {
      model: 'gpt-',
      match: 'prefix' as const,
      targets: [{ id: 'openai', provider: 'openai' as const, baseUrl, secretName: 'openai-api-key' }],
    },
  ],
  prices: { [BASE_MODEL]: { input: 0.15, output: 0.6, training: 3 } },
  fineTuning: { maxFileBytes: MAX_FILE_BYTES, pollIntervalMs: 1_000, maxPollIntervalMs: 8_000 },
});

beforeAll(async () => {
  platform = await startFakePlatform({ now: () => clock.now(), apiKey: UPSTREAM_KEY, stepMs: 1_000 });
  gateway = await startGateway(configInput(platform.baseUrl), {
    secrets: { 'openai-api-key': UPSTREAM_KEY },
    clock,
  });
  seedKey(gateway.db, KEY_B, { tenantId: 'tenant-b' });
  a = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });
  b = new OpenAI({ apiKey: KEY_B, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });
  // The scheduled tracker, over the gateway's own stores.
  const config = parseGatewayConfig(configInput(platform.baseUrl));
  const upstream = createNodeHttpUpstream();
  const observer = createJobObserver({
    config,
    ownership: gateway.ownership,
    ledger: gateway.ledger,
    events: gateway.jobEvents,
    keys: new MemoryKeyStore(gateway.db),
    clock,
    logger: gateway.logger,
  });
  const targets = createTargetClient({ config, secrets: gateway.secrets, upstream });
  track = () =>
    trackJobs({
      ownership: gateway.ownership,
      observer,
      targets,
      clock,
      logger: gateway.logger,
      metrics: gateway.metrics,
    });
});

afterAll(async () => {
  await gateway.close();
  await platform.close();
});

const upload = async (client: OpenAI, text = TRAINING, name = 'train.jsonl') =>
  client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'fine-tune' });

describe('files', () => {
  it('uploads, lists, retrieves, reads and deletes a file, and the upstream got the upstream key', async () => {
    // Act
    const file = await upload(a);
    const listed = await a.files.list();
    const retrieved = await a.files.retrieve(file.id);
    const content = Buffer.from(await (await a.files.content(file.id)).arrayBuffer()).toString();
    const deleted = await a.files.delete(file.id);

    // Assess
    expect(file).toMatchObject({ object: 'file', purpose: 'fine-tune', bytes: Buffer.byteLength(TRAINING) });
    expect(listed.data.map((f) => f.id)).toContain(file.id);
    expect(retrieved.id).toBe(file.id);
    expect(content).toBe(TRAINING);
    expect(deleted).toMatchObject({ id: file.id, deleted: true });
    expect(platform.files.has(file.id)).toBe(false);
    expect(await gateway.ownership.get(OwnedKind.file, file.id)).toBeUndefined();
    const sent = platform.requests.filter((request) => request.path.startsWith('/v1/files'));
    expect(sent.every((request) => request.headers.authorization === `Bearer ${UPSTREAM_KEY}`)).toBe(true);
    expect(sent.some((request) => JSON.stringify(request.headers).includes(TEST_KEY))).toBe(false);
  });

  it('refuses a file over the limit with a 413 that points to the uploads path, and sends nothing upstream', async () => {
    // Prepare
    const calls = platform.requests.length;

    // Act
    const error = await upload(a, 'x'.repeat(MAX_FILE_BYTES + 1)).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const refused = error as InstanceType<typeof OpenAI.APIError>;
    expect(refused.status).toBe(413);
    expect(refused.message).toBe(
      `413 POST /v1/files takes files of up to ${MAX_FILE_BYTES} bytes. Upload larger files in parts: POST /v1/uploads, then POST /v1/uploads/{upload_id}/parts with parts of up to ${MAX_FILE_BYTES} bytes each, then POST /v1/uploads/{upload_id}/complete.`,
    );
    expect(platform.requests.length).toBe(calls);
  });

  it('takes a large file through the uploads path, in parts', async () => {
    // Prepare: 150 KiB, more than POST /v1/files takes, in three parts that fit the limit with their framing
    const whole = Buffer.alloc(150 * 1024, 'abcdefgh');
    const part = 60 * 1024;
    const pieces = [whole.subarray(0, part), whole.subarray(part, 2 * part), whole.subarray(2 * part)];

    // Act
    const started = await a.uploads.create({
      bytes: whole.byteLength,
      filename: 'big.jsonl',
      mime_type: 'text/jsonl',
      purpose: 'fine-tune',
    });
    const parts = [];
    for (const piece of pieces)
      parts.push(await a.uploads.parts.create(started.id, { data: await toFile(piece, 'part') }));
    const completed = await a.uploads.complete(started.id, { part_ids: parts.map((part) => part.id) });

    // Assess
    expect(completed.status).toBe('completed');
    const fileId = completed.file?.id ?? '';
    expect((await gateway.ownership.get(OwnedKind.file, fileId))?.tenantId).toBe('tenant-a');
    const content = Buffer.from(await (await a.files.content(fileId)).arrayBuffer());
    expect(content.equals(whole)).toBe(true);
    expect((await a.files.list()).data.map((f) => f.id)).toContain(fileId);
  });
});

describe('fine-tuning', () => {
  it('creates a job on the target with its file, follows it to success, meters it once, and routes its model', async () => {
    // Prepare
    const file = await upload(a);
    const published = gateway.jobEvents.published.length;

    // Act: create, then the tracker runs as the job advances a step at a time
    const job = await a.fineTuning.jobs.create({
      model: BASE_MODEL,
      training_file: file.id,
      suffix: 'support',
    });
    const listed = await a.fineTuning.jobs.list();
    const statuses = [];
    for (let step = 0; step < 4; step += 1) {
      clock.advance(1_000);
      await track();
      statuses.push((await gateway.ownership.get(OwnedKind.job, job.id))?.tracking?.status);
    }
    await track(); // nothing left to do: no second metering, no event
    const retrieved = await a.fineTuning.jobs.retrieve(job.id);
    const events = await a.fineTuning.jobs.listEvents(job.id);
    const checkpoints = await a.fineTuning.jobs.checkpoints.list(job.id);

    // Assess: the job, its statuses and one event per change
    expect(job).toMatchObject({
      object: 'fine_tuning.job',
      status: 'validating_files',
      training_file: file.id,
    });
    expect(listed.data.map((j) => j.id)).toEqual([job.id]);
    expect(statuses).toEqual(['queued', 'running', 'succeeded', 'succeeded']);
    expect(retrieved.status).toBe('succeeded');
    const model = retrieved.fine_tuned_model ?? '';
    expect(model.startsWith(`ft:${BASE_MODEL}:`)).toBe(true);
    expect(events.data.length).toBeGreaterThan(0);
    expect(checkpoints.data).toHaveLength(1);
    const changes = gateway.jobEvents.published.slice(published).filter((change) => change.jobId === job.id);
    expect(changes.map((change) => [change.previousStatus, change.status])).toEqual([
      [undefined, 'validating_files'],
      ['validating_files', 'queued'],
      ['queued', 'running'],
      ['running', 'succeeded'],
    ]);
    expect(changes.at(-1)).toMatchObject({
      tenantId: 'tenant-a',
      fineTunedModel: model,
      trainedTokens: 12_345,
    });

    // metered once, at the training price: 12,345 tokens × $3 per 1M = 37,035 µUSD
    const records = gateway.ledger.records.filter((record) => record.requestId === fineTuneRequestId(job.id));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      tenantId: 'tenant-a',
      model: BASE_MODEL,
      costMicroUsd: 37_035,
      exact: true,
    });
    expect(records[0]?.usage.trainedTokens).toBe(12_345);
    const usage = await gateway.ledger.monthlyUsage('tenant-a', records[0]!.month);
    expect(usage.byModel.get(BASE_MODEL)?.trainedTokens).toBe(12_345);

    // and the fine-tuned model answers for its tenant, on the target that trained it
    const answer = await a.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]?.message.content).toBe(platformAnswer(model));
    expect((await a.models.list()).data.map((m) => m.id)).toContain(model);
    expect((await a.models.retrieve(model)).id).toBe(model);

    // and for no one else
    const other = await b.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(other).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await b.models.list()).data.map((m) => m.id)).not.toContain(model);
    await expect(b.models.retrieve(model)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('cancels a job, and the tracker records the cancellation once', async () => {
    // Prepare
    const file = await upload(a);
    const job = await a.fineTuning.jobs.create({ model: BASE_MODEL, training_file: file.id });

    // Act
    const cancelled = await a.fineTuning.jobs.cancel(job.id);
    clock.advance(1_000);
    await track();
    await track();

    // Assess
    expect(cancelled.status).toBe('cancelled');
    const record = await gateway.ownership.get(OwnedKind.job, job.id);
    expect(record?.tracking).toMatchObject({ status: 'cancelled', announcedStatus: 'cancelled', done: true });
    const changes = gateway.jobEvents.published.filter((change) => change.jobId === job.id);
    expect(changes.map((change) => change.status)).toEqual(['validating_files', 'cancelled']);
    expect(gateway.ledger.records.some((r) => r.requestId === fineTuneRequestId(job.id))).toBe(false);
  });

  it('pages the job list with after and limit, newest first', async () => {
    // Prepare: a tenant of its own, with three jobs
    const key = testKey('paging-tenant-01');
    seedKey(gateway.db, key, { tenantId: 'tenant-paging' });
    const client = new OpenAI({ apiKey: key, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });
    const file = await upload(client);
    const ids = [];
    for (let i = 0; i < 3; i += 1) {
      clock.advance(10);
      ids.push((await client.fineTuning.jobs.create({ model: BASE_MODEL, training_file: file.id })).id);
    }

    // Act
    const first = await client.fineTuning.jobs.list({ limit: 2 });
    const rest = await client.fineTuning.jobs.list({ limit: 2, after: first.data.at(-1)?.id });

    // Assess
    expect(first.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    expect(rest.data.map((j) => j.id)).toEqual([ids[0]]);
    expect(rest.has_more).toBe(false);
  });
});

describe("tenant isolation: tenant B and tenant A's objects", () => {
  let fileA: string;
  let uploadA: string;
  let partA: string;
  let jobA: string;

  beforeAll(async () => {
    fileA = (await upload(a)).id;
    const started = await a.uploads.create({
      bytes: 4,
      filename: 'x.jsonl',
      mime_type: 'text/jsonl',
      purpose: 'fine-tune',
    });
    uploadA = started.id;
    partA = (await a.uploads.parts.create(uploadA, { data: await toFile(Buffer.from('abcd'), 'p') })).id;
    jobA = (await a.fineTuning.jobs.create({ model: BASE_MODEL, training_file: fileA })).id;
  });

  const notFound = async (act: () => Promise<unknown>) => {
    const calls = platform.requests.length;
    const error = await act().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    // refused by the gateway itself: the upstream never saw the request
    expect(platform.requests.length).toBe(calls);
    return error as InstanceType<typeof OpenAI.NotFoundError>;
  };

  it.each([
    ['retrieve the file', () => b.files.retrieve(fileA)],
    ['read the file', () => b.files.content(fileA)],
    ['delete the file', () => b.files.delete(fileA)],
    [
      'add a part to the upload',
      async () => b.uploads.parts.create(uploadA, { data: await toFile(Buffer.from('x'), 'p') }),
    ],
    ['complete the upload', () => b.uploads.complete(uploadA, { part_ids: [partA] })],
    ['cancel the upload', () => b.uploads.cancel(uploadA)],
    ['retrieve the job', () => b.fineTuning.jobs.retrieve(jobA)],
    ['cancel the job', () => b.fineTuning.jobs.cancel(jobA)],
    ["list the job's events", () => b.fineTuning.jobs.listEvents(jobA)],
    ["list the job's checkpoints", () => b.fineTuning.jobs.checkpoints.list(jobA)],
  ])('404: %s', async (_name, act) => {
    await notFound(act);
  });

  it("404 for A's file inside B's job body, as training_file or validation_file", async () => {
    const ownFile = (await upload(b)).id;
    const training = await notFound(() =>
      b.fineTuning.jobs.create({ model: BASE_MODEL, training_file: fileA }),
    );
    expect(training.param).toBe('training_file');
    expect(training.message).toBe(`404 No such File object: ${fileA}.`);
    const validation = await notFound(() =>
      b.fineTuning.jobs.create({ model: BASE_MODEL, training_file: ownFile, validation_file: fileA }),
    );
    expect(validation.param).toBe('validation_file');
  });

  it("404 for A's part ids in B's own upload", async () => {
    const own = await b.uploads.create({
      bytes: 4,
      filename: 'y.jsonl',
      mime_type: 'text/jsonl',
      purpose: 'fine-tune',
    });
    const error = await notFound(() => b.uploads.complete(own.id, { part_ids: [partA] }));
    expect(error.param).toBe('part_ids');
  });

  it('the same 404 for an id that exists nowhere', async () => {
    const unknown = await notFound(() => b.files.retrieve('file-doesnotexist'));
    const others = await notFound(() => b.files.retrieve(fileA));
    expect(unknown.message.replace('file-doesnotexist', 'ID')).toBe(others.message.replace(fileA, 'ID'));
  });

  it("never lists A's objects to B, though the upstream's own lists hold them", async () => {
    const bFiles = (await b.files.list()).data.map((f) => f.id);
    const bJobs = (await b.fineTuning.jobs.list()).data.map((j) => j.id);
    expect(bFiles).not.toContain(fileA);
    expect(bJobs).not.toContain(jobA);
    expect(bFiles.every((id) => gateway.db.owned.get(`file#${id}`)?.tenantId === 'tenant-b')).toBe(true);
    // the upstream's list (every tenant's) does hold A's file
    const upstream = new OpenAI({ apiKey: UPSTREAM_KEY, baseURL: platform.baseUrl, maxRetries: 0 });
    expect((await upstream.files.list()).data.map((f) => f.id)).toContain(fileA);
  });
});
