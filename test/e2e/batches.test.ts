// The Batch API through the local gateway `npm start` runs (createLocalApp, its SQLite store), with the official
// openai SDK as the client and the fake platform as the upstream, whose batches advance with a clock the test
// moves. The input file is checked line by line and reaches the upstream with upstream model names and redacted
// text; the batch is held against the budget, metered once at the batch price when it ends, and it and its result
// files are its tenant's alone.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { batchRequestId } from '../../lambda/core/batch-jobs.ts';
import { generateKey, hashKey } from '../../lambda/core/keys.ts';
import { billingMonthOf } from '../../lambda/core/pricing.ts';
import { KeyStatus, OwnedKind, TenantStatus } from '../../lambda/ports.ts';
import { CLI_TIMEOUT_MS, runCli } from '../fixtures/admin-cli.ts';
import { type FakePlatform, platformChatUsage, startFakePlatform } from '../fixtures/fake-platform.ts';
import { type RunningLocalApp, startLocalApp } from '../fixtures/local-app.ts';

const UPSTREAM_KEY = 'sk-upstream-batches';
const STEP_MS = 1_000;
const MODEL = 'gpt-4o-mini';
const UPSTREAM_MODEL = 'gpt-4o-mini-2024-07-18';
/** $2 and $8 per 1M tokens: a batch line of the platform's chat usage costs 10 × $1 + 3 × $4 per 1M = 22 µ$. */
const LINE_COST = platformChatUsage.prompt_tokens * 1 + platformChatUsage.completion_tokens * 4;

let platformNow = Date.now();
let platform: FakePlatform;
let running: RunningLocalApp;
let configDir: string;
let a: OpenAI;
let b: OpenAI;
let poor: OpenAI;

const gatewayConfig = (baseUrl: string) => ({
  routes: [
    {
      model: MODEL,
      targets: [
        { id: 'openai', provider: 'openai', baseUrl, secretName: 'openai-api-key', model: UPSTREAM_MODEL },
      ],
    },
    {
      model: 'gpt-unpriced',
      targets: [{ id: 'openai-unpriced', provider: 'openai', baseUrl, secretName: 'openai-api-key' }],
    },
    {
      model: 'claude-',
      match: 'prefix',
      targets: [{ id: 'compat', provider: 'openai-compatible', baseUrl, secretName: 'openai-api-key' }],
    },
  ],
  prices: { [MODEL]: { input: 2, output: 8 }, 'claude-': { free: true } },
  filters: {
    rules: [
      { name: 'secret-words', keywords: ['password'], action: 'block', scope: 'request' },
      { name: 'aws-key', pattern: '\\bAKIA[0-9A-Z]{16}\\b', action: 'redact', scope: 'request' },
      { name: 'answer-words', keywords: ['answer from'], action: 'redact', scope: 'response' },
    ],
  },
});

/** A tenant and a key of it in the local store, as `gateway-admin tenants create` and `keys create` make them. */
const addTenant = async (tenantId: string, monthlyBudgetMicroUsd?: number): Promise<OpenAI> => {
  const { store } = running.app;
  await store.keys.createTenant({
    tenantId,
    name: tenantId,
    tier: 'default',
    status: TenantStatus.active,
    monthlyBudgetMicroUsd,
    createdAt: Date.now(),
  });
  const { key, keyId, displayPrefix } = generateKey();
  await store.keys.createKey({
    keyId,
    tenantId,
    displayPrefix,
    secretHash: hashKey(store.pepper(), key),
    status: KeyStatus.active,
    createdAt: Date.now(),
  });
  return new OpenAI({ apiKey: key, baseURL: running.client.baseURL, maxRetries: 0 });
};

beforeAll(async () => {
  platform = await startFakePlatform({ now: () => platformNow, apiKey: UPSTREAM_KEY, stepMs: STEP_MS });
  running = await startLocalApp(gatewayConfig(platform.baseUrl), {
    OPENAI_API_KEY: UPSTREAM_KEY,
    // Batches are looked at by the client's retrieves here; the tracker's own runs are tested in test/core.
    GATEWAY_TRACKER_INTERVAL_MS: '3600000',
  });
  configDir = mkdtempSync(join(tmpdir(), 'batches-config-'));
  writeFileSync(join(configDir, 'config.json'), JSON.stringify(gatewayConfig(platform.baseUrl)));
  a = running.client;
  b = await addTenant('tenant-b');
  poor = await addTenant('tenant-poor', 1_000);
});

afterAll(async () => {
  await running.close();
  await platform.close();
  rmSync(configDir, { recursive: true, force: true });
});

type Line = {
  custom_id?: unknown;
  method?: unknown;
  url?: unknown;
  body?: unknown;
  [field: string]: unknown;
};

const chatLine = (id: string, content: string, extra: Record<string, unknown> = {}): Line => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: MODEL, messages: [{ role: 'user', content }], max_tokens: 50, ...extra },
});

const jsonl = (lines: readonly (Line | string)[]) =>
  `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`;

const uploadBatchFile = async (client: OpenAI, lines: readonly (Line | string)[]) =>
  client.files.create({ file: await toFile(Buffer.from(jsonl(lines)), 'input.jsonl'), purpose: 'batch' });

/** What the platform holds of a file: its lines, parsed. */
const platformLines = (fileId: string) =>
  platform.files
    .get(fileId)!
    .content.toString('utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { custom_id: string; url: string; body: Record<string, unknown> });

const refusal = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('the request was not refused');
};

describe('batch input files', () => {
  it('checks every line, and the file that reaches the upstream names its models with redacted text', async () => {
    // Act
    const file = await uploadBatchFile(a, [
      chatLine('one', 'Translate hello'),
      chatLine('two', 'My key is AKIAABCDEFGHIJKLMNOP, keep it'),
    ]);

    // Assess
    expect(file).toMatchObject({ object: 'file', purpose: 'batch' });
    const lines = platformLines(file.id);
    expect(lines.map((line) => line.custom_id)).toEqual(['one', 'two']);
    expect(lines.map((line) => line.body.model)).toEqual([UPSTREAM_MODEL, UPSTREAM_MODEL]);
    expect(JSON.stringify(lines)).not.toContain('AKIAABCDEFGHIJKLMNOP');
    expect(JSON.stringify(lines[1])).toContain('[REDACTED');
    const record = await running.app.store.ownership.get(OwnedKind.file, file.id);
    expect(record?.batchInput).toMatchObject({
      endpoint: '/v1/chat/completions',
      model: MODEL,
      upstreamModel: UPSTREAM_MODEL,
      lines: 2,
      outputTokens: 100,
    });
  });

  it.each([
    ['a line that is not JSON', [chatLine('ok', 'hi'), '{"custom_id": "x",'], 2, /not JSON/],
    ['a repeated custom_id', [chatLine('same', 'hi'), chatLine('same', 'again')], 2, /unique/],
    [
      'an endpoint batches do not run',
      [{ ...chatLine('x', 'hi'), url: '/v1/images/generations' }],
      1,
      /'url'/,
    ],
    ['a streamed request', [chatLine('ok', 'hi'), chatLine('s', 'hi', { stream: true })], 2, /stream/],
    [
      'a model the gateway does not route',
      [chatLine('ok', 'hi'), { ...chatLine('x', 'hi'), body: { model: 'nope-1', messages: [] } }],
      2,
      /model/,
    ],
    [
      'a second model',
      [
        chatLine('ok', 'hi'),
        { ...chatLine('x', 'hi'), body: { model: 'claude-x', messages: [{ role: 'user', content: 'hi' }] } },
      ],
      2,
      /one model/,
    ],
    ['a blocked word', [chatLine('ok', 'hi'), chatLine('pw', 'my password is hunter2')], 2, /secret-words/],
    [
      'a body the endpoint refuses',
      [chatLine('ok', 'hi'), chatLine('t', 'hi', { temperature: 'hot' })],
      2,
      /temperature/,
    ],
    [
      'a file id the tenant does not own',
      [
        chatLine('f', 'hi', {
          messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-not-mine' } }] }],
        }),
      ],
      1,
      /file-not-mine/,
    ],
    ['an unknown field', [{ ...chatLine('x', 'hi'), priority: 'high' }], 1, /priority/],
  ])('refuses %s with a 400 naming its line, and sends nothing upstream', async (_what, lines, line, why) => {
    // Prepare
    const calls = platform.requests.length;

    // Act
    const error = await refusal(uploadBatchFile(a, lines));

    // Assess
    expect(error.status).toBe(400);
    expect(error.message).toContain(`Line ${line}`);
    expect(error.message).toMatch(why);
    expect(error.param).toBe('file');
    expect(platform.requests.length).toBe(calls);
  });

  it('refuses a batch file through the Uploads API, whose lines the gateway could not read', async () => {
    // Act
    const error = await refusal(
      a.uploads.create({ bytes: 10, filename: 'in.jsonl', mime_type: 'application/jsonl', purpose: 'batch' }),
    );

    // Assess
    expect(error.status).toBe(400);
    expect(error.message).toContain('POST /v1/files');
  });
});

describe('batches', () => {
  it(
    'runs a batch to completion: output downloaded, usage recorded once at the batch price, in gateway-admin usage',
    async () => {
      // Prepare
      const file = await uploadBatchFile(a, [
        chatLine('c1', 'one'),
        chatLine('c2', 'two'),
        chatLine('c3', 'three'),
      ]);

      // Act
      const created = await a.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      platformNow += 3 * STEP_MS + 1;
      const done = await a.batches.retrieve(created.id);
      const again = await a.batches.retrieve(created.id);
      const output = await (await a.files.content(String(done.output_file_id))).text();
      const listed = await a.batches.list();
      const usage = await runCli([
        '--state-dir',
        running.app.stateDir,
        '--config',
        join(configDir, 'config.json'),
        '--json',
        'usage',
        '--tenant',
        'dev',
      ]);

      // Assess
      expect(created.status).toBe('validating');
      expect(done.status).toBe('completed');
      expect(again.status).toBe('completed');
      const results = output
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { custom_id: string; response: { body: { model: string } } });
      expect(results.map((result) => result.custom_id).sort()).toEqual(['c1', 'c2', 'c3']);
      // The answers went through the response rules; the upstream's file holds them as the model wrote them.
      expect(output).toContain('[REDACTED');
      expect(output).not.toContain('answer from');
      expect(platform.files.get(String(done.output_file_id))!.content.toString()).toContain('answer from');
      expect(
        platform.batches
          .get(created.id)!
          .inputLines.map((line) => (line as { body: { model: string } }).body.model),
      ).toEqual([UPSTREAM_MODEL, UPSTREAM_MODEL, UPSTREAM_MODEL]);
      const records = running.app.store.ledger
        .records()
        .filter((record) => record.requestId === batchRequestId(created.id));
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({
        tenantId: 'dev',
        endpoint: '/v1/batches',
        model: MODEL,
        usage: { inputTokens: 30, outputTokens: 9 },
        costMicroUsd: 3 * LINE_COST,
        exact: true,
      });
      expect(listed.data.map((batch) => batch.id)).toContain(created.id);
      expect(usage.code).toBe(0);
      const shown = JSON.parse(usage.stdout) as {
        byModel: Record<string, { costMicroUsd: number; inputTokens: number }>;
      };
      expect(shown.byModel[MODEL]).toMatchObject({ inputTokens: 30 });
      expect(shown.byModel[MODEL]!.costMicroUsd).toBeGreaterThanOrEqual(3 * LINE_COST);
    },
    CLI_TIMEOUT_MS,
  );

  it('keeps a batch, its output file and its cancel from another tenant (404), and out of its lists', async () => {
    // Prepare
    const file = await uploadBatchFile(a, [chatLine('p1', 'private')]);
    const batch = await a.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    platformNow += 3 * STEP_MS + 1;
    const done = await a.batches.retrieve(batch.id);
    const outputId = String(done.output_file_id);

    // Act
    const retrieve = await refusal(b.batches.retrieve(batch.id));
    const cancel = await refusal(b.batches.cancel(batch.id));
    const output = await refusal(b.files.retrieve(outputId));
    const content = await refusal(b.files.content(outputId));
    const fromFile = await refusal(
      b.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );
    const theirBatches = await b.batches.list();
    const theirFiles = await b.files.list();

    // Assess
    for (const error of [retrieve, cancel, output, content, fromFile]) expect(error.status).toBe(404);
    expect(theirBatches.data).toEqual([]);
    expect(theirFiles.data.map((f) => f.id)).not.toContain(outputId);
    expect((await a.files.retrieve(outputId)).purpose).toBe('batch_output');
    expect(platform.batches.get(batch.id)!.view().status).toBe('completed');
  });

  it('refuses a batch over the budget with a 429 and creates nothing upstream; one that fits holds, then costs what ran', async () => {
    // Prepare: a budget of $0.001; three lines of up to 50 output tokens hold about 600 µ$ at the batch price
    const big = await uploadBatchFile(
      poor,
      Array.from({ length: 40 }, (_, index) => chatLine(`b${index}`, 'a question')),
    );
    const small = await uploadBatchFile(poor, [chatLine('s1', 'one'), chatLine('s2', 'two')]);
    const month = billingMonthOf(Date.now());
    const batchesBefore = platform.batches.size;

    // Act
    const refused = await refusal(
      poor.batches.create({
        input_file_id: big.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );
    const batchesAfterRefusal = platform.batches.size;
    const fits = await poor.batches.create({
      input_file_id: small.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const held = await running.app.store.budgets.budget('tenant-poor', month);
    platformNow += 3 * STEP_MS + 1;
    await poor.batches.retrieve(fits.id);
    const settled = await running.app.store.budgets.budget('tenant-poor', month);

    // Assess
    expect(refused.status).toBe(429);
    expect(refused.code).toBe('insufficient_quota');
    expect(refused.message).toContain('batch of 40 requests');
    expect(batchesAfterRefusal).toBe(batchesBefore);
    expect(held.committedMicroUsd).toBeGreaterThan(2 * LINE_COST);
    expect(held.spentMicroUsd).toBe(0);
    expect(settled).toEqual({ spentMicroUsd: 2 * LINE_COST, committedMicroUsd: 2 * LINE_COST });
  });

  it('refuses a batch of a model without a price to a tenant with a budget, and creates nothing upstream', async () => {
    // Prepare
    const file = await uploadBatchFile(poor, [
      {
        ...chatLine('u1', 'hi'),
        body: { model: 'gpt-unpriced', messages: [{ role: 'user', content: 'hi' }] },
      },
    ]);
    const batchesBefore = platform.batches.size;

    // Act
    const error = await refusal(
      poor.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );

    // Assess
    expect(error.status).toBe(400);
    expect(error.code).toBe('model_not_priced');
    expect(platform.batches.size).toBe(batchesBefore);
  });

  it('meters the part of a cancelled batch that ran', async () => {
    // Prepare: four lines, three of them done when it is cancelled
    const file = await uploadBatchFile(
      a,
      [1, 2, 3, 4].map((n) => chatLine(`x${n}`, `q${n}`)),
    );
    const batch = await a.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    platformNow += STEP_MS + (3 * STEP_MS) / 4 + 1;

    // Act
    const cancelling = await a.batches.cancel(batch.id);
    platformNow += STEP_MS;
    const cancelled = await a.batches.retrieve(batch.id);

    // Assess
    expect(cancelling.status).toBe('cancelling');
    expect(cancelled.status).toBe('cancelled');
    const record = running.app.store.ledger.records().find((r) => r.requestId === batchRequestId(batch.id));
    expect(record).toMatchObject({ outcome: 'client_abort', costMicroUsd: 3 * LINE_COST });
  });

  it('refuses a batch of a file that was not checked as a batch input, and one naming another endpoint', async () => {
    // Prepare
    const plain = await a.files.create({
      file: await toFile(Buffer.from('{}\n'), 'x.jsonl'),
      purpose: 'fine-tune',
    });
    const checked = await uploadBatchFile(a, [chatLine('e1', 'hi')]);

    // Act
    const unchecked = await refusal(
      a.batches.create({
        input_file_id: plain.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );
    const otherEndpoint = await refusal(
      a.batches.create({ input_file_id: checked.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
    );

    // Assess
    expect(unchecked.status).toBe(400);
    expect(unchecked.param).toBe('input_file_id');
    expect(otherEndpoint.status).toBe(400);
    expect(otherEndpoint.param).toBe('endpoint');
  });
});

describe('batch results and response rules', () => {
  it('replaces an answer a response rule blocks with the error a request would have got', async () => {
    // Prepare: a gateway whose response rules block the platform's answers
    const blocking = await startLocalApp(
      {
        ...gatewayConfig(platform.baseUrl),
        filters: {
          rules: [{ name: 'no-answers', keywords: ['answer from'], action: 'block', scope: 'response' }],
        },
      },
      { OPENAI_API_KEY: UPSTREAM_KEY, GATEWAY_TRACKER_INTERVAL_MS: '3600000' },
    );
    try {
      const file = await uploadBatchFile(blocking.client, [chatLine('k1', 'one'), chatLine('k2', 'two')]);
      const batch = await blocking.client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      platformNow += 3 * STEP_MS + 1;
      const done = await blocking.client.batches.retrieve(batch.id);

      // Act
      const output = await (await blocking.client.files.content(String(done.output_file_id))).text();

      // Assess
      const results = output
        .trim()
        .split('\n')
        .map(
          (line) =>
            JSON.parse(line) as { custom_id: string; response: { status_code: number; body: unknown } },
        );
      expect(results.map((result) => result.custom_id).sort()).toEqual(['k1', 'k2']);
      for (const result of results) {
        expect(result.response.status_code).toBe(400);
        expect(result.response.body).toMatchObject({
          error: {
            code: 'content_filtered',
            message: "The answer was blocked by the content rule 'no-answers'.",
          },
        });
      }
      expect(output).not.toContain('answer from');
    } finally {
      await blocking.close();
    }
  });
});

describe('a batch the upstream never got', () => {
  it('releases its hold when no connection could be made, and keeps the budget whole', async () => {
    // Prepare: a budgeted gateway whose upstream goes away between the upload and the batch
    const gone = await startFakePlatform({ now: () => platformNow, apiKey: UPSTREAM_KEY, stepMs: STEP_MS });
    const budgeted = await startLocalApp(
      { ...gatewayConfig(gone.baseUrl), tiers: { default: { monthlyBudgetUsd: 5 } } },
      { OPENAI_API_KEY: UPSTREAM_KEY, GATEWAY_TRACKER_INTERVAL_MS: '3600000' },
    );
    try {
      const file = await uploadBatchFile(budgeted.client, [chatLine('g1', 'one')]);
      await gone.close();
      const month = billingMonthOf(Date.now());

      // Act
      const error = await refusal(
        budgeted.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
      );

      // Assess
      expect(error.status).toBe(502);
      expect(await budgeted.app.store.budgets.budget('dev', month)).toEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 0,
      });
      const released = budgeted.app.store.ledger
        .records()
        .filter((record) => record.requestId.startsWith('batch-hold#'));
      expect(released).toHaveLength(1);
      expect(released[0]).toMatchObject({ outcome: 'upstream_error', costMicroUsd: 0 });
      expect(released[0]!.reservedMicroUsd).toBeGreaterThan(0);
    } finally {
      await budgeted.close();
    }
  });
});
