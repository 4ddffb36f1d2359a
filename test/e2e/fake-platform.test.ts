// The fake OpenAI platform driven straight by the official SDK (no gateway): shapes, pagination, job and batch clocks,
// errors, and the Responses and Conversations APIs refusing every id they do not hold.
import OpenAI, { toFile } from 'openai';
import type { BatchCreateParams } from 'openai/resources/batches';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { ResponseInputItem, ResponseStreamEvent } from 'openai/resources/responses/responses';
import {
  type FakePlatform,
  type PlatformBatchResult,
  platformAnswer,
  platformBatchFailurePrefix,
  platformChatUsage,
  platformEmbedding,
  platformEmbeddingUsage,
  platformFunctionArguments,
  platformResponseUsage,
  startFakePlatform,
} from '../fixtures/fake-platform.ts';

const START_MS = 1_700_000_000_000;
const STEP_MS = 1000;
const TRAINING = '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\n';

const fileOf = (content: string, filename = 'part') => toFile(Buffer.from(content), filename);

const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
};

const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  parameters: { type: 'object', properties: {} },
  strict: true,
} as const;

const NOT_STORED = (id: string) =>
  `Item with id '${id}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`;

/** The id of an item the SDK types with an optional id (function calls, some conversation items). */
const idOf = (item: { id?: string } | undefined): string => {
  if (!item?.id) throw new Error('expected an item with an id');
  return item.id;
};

const notFoundBody = (error: unknown) => {
  expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  return (error as InstanceType<typeof OpenAI.NotFoundError>).error;
};

const openAiError = (message: string | RegExp, param: string | null = null, code: string | null = null) => ({
  error: {
    message: typeof message === 'string' ? message : expect.stringMatching(message),
    type: 'invalid_request_error',
    param,
    code,
  },
});

describe('fake platform, driven by the OpenAI SDK', () => {
  let now = START_MS;
  let platform: FakePlatform;
  let client: OpenAI;

  const upload = async (content: string, filename = 'train.jsonl') =>
    client.files.create({ file: await fileOf(content, filename), purpose: 'fine-tune' });

  beforeAll(async () => {
    platform = await startFakePlatform({ now: () => now, stepMs: STEP_MS, trainedTokens: 777 });
    client = new OpenAI({ baseURL: platform.baseUrl, apiKey: 'sk-test', maxRetries: 0 });
  });
  afterAll(() => platform.close());
  beforeEach(() => {
    now = START_MS;
  });

  describe('files', () => {
    it('stores an upload and returns the file object', async () => {
      // Act
      const file = await upload(TRAINING);

      // Assess
      expect(file).toEqual({
        id: expect.stringMatching(/^file-[0-9A-Za-z]{24}$/),
        object: 'file',
        bytes: Buffer.byteLength(TRAINING),
        created_at: START_MS / 1000,
        filename: 'train.jsonl',
        purpose: 'fine-tune',
        status: 'processed',
        expires_at: null,
        status_details: null,
      });
      expect(platform.files.get(file.id)?.content.toString()).toBe(TRAINING);
      const recorded = platform.requests.at(-1)!;
      expect(recorded).toEqual(
        expect.objectContaining({ method: 'POST', path: '/v1/files', json: undefined }),
      );
      expect(recorded.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    });

    it('retrieves, serves the content of, and deletes a file; then it is a 404', async () => {
      // Prepare
      const file = await upload('{"a":1}\n', 'small.jsonl');

      // Act
      const retrieved = await client.files.retrieve(file.id);
      const content = await client.files.content(file.id);
      const deleted = await client.files.delete(file.id);
      const error = await rejectionOf(client.files.retrieve(file.id));

      // Assess
      expect(retrieved).toEqual(file);
      expect(content.headers.get('content-type')).toBe('application/octet-stream');
      expect(await content.text()).toBe('{"a":1}\n');
      expect(deleted).toEqual({ id: file.id, object: 'file', deleted: true });
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual(
        openAiError(`No such File object: ${file.id}`, 'id').error,
      );
    });

    it('lists newest first, filters by purpose, pages with limit/after, and sorts ascending on request', async () => {
      // Prepare
      now = START_MS + 10_000;
      const first = await upload('1\n', 'one.jsonl');
      now += 1000;
      const second = await upload('2\n', 'two.jsonl');
      now += 1000;
      const third = await client.files.create({
        file: await fileOf('3', 'three.txt'),
        purpose: 'assistants',
      });

      // Act
      const fineTune = await client.files.list({ purpose: 'fine-tune', limit: 1 });
      const next = await fineTune.getNextPage();
      const ascending = await client.files.list({ order: 'asc' });
      const all: string[] = [];
      for await (const file of client.files.list({ limit: 2 })) all.push(file.id);
      // The SDK's page drops first_id and last_id.
      const raw = await (await fetch(`${platform.baseUrl}/files?limit=2`)).json();

      // Assess
      expect(fineTune.data.map((f) => f.id)).toEqual([second.id]);
      expect(fineTune.has_more).toBe(true);
      expect(next.data.map((f) => f.id)).toEqual([first.id]);
      expect(raw).toEqual(
        expect.objectContaining({ object: 'list', has_more: true, first_id: third.id, last_id: second.id }),
      );
      expect(ascending.data.at(-1)?.id).toBe(third.id);
      expect(all.slice(0, 3)).toEqual([third.id, second.id, first.id]);
      expect(all).toHaveLength(platform.files.size);
    });

    it.each([
      [
        'no purpose',
        { file: ['x', 'a.jsonl'] },
        "Missing required parameter: 'purpose'.",
        'purpose',
        'missing_required_parameter',
      ],
      [
        'no file',
        { purpose: 'fine-tune' },
        "Missing required parameter: 'file'.",
        'file',
        'missing_required_parameter',
      ],
      [
        'an unknown purpose',
        { purpose: 'nope', file: ['x', 'a.jsonl'] },
        /^'nope' is not one of/,
        'purpose',
        null,
      ],
    ] as const)('refuses a file with %s (400)', async (_case, fields, message, param, code) => {
      // Prepare
      const form = new FormData();
      if ('purpose' in fields) form.append('purpose', fields.purpose);
      if ('file' in fields) form.append('file', new Blob([fields.file[0]]), fields.file[1]);

      // Act
      const response = await fetch(`${platform.baseUrl}/files`, { method: 'POST', body: form });

      // Assess
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(openAiError(message, param, code));
    });
  });

  describe('uploads', () => {
    it('puts three parts together in the order given at completion and makes a file', async () => {
      // Prepare
      const pieces = ['{"part":1}\n', '{"part":2}\n', '{"part":3}\n'];
      const whole = pieces.join('');
      const created = await client.uploads.create({
        filename: 'big.jsonl',
        purpose: 'fine-tune',
        bytes: Buffer.byteLength(whole),
        mime_type: 'text/jsonl',
      });
      // Sent out of order, as parallel uploads arrive.
      const third = await client.uploads.parts.create(created.id, { data: await fileOf(pieces[2]!, 'p3') });
      const first = await client.uploads.parts.create(created.id, { data: await fileOf(pieces[0]!, 'p1') });
      const second = await client.uploads.parts.create(created.id, { data: await fileOf(pieces[1]!, 'p2') });

      // Act
      const completed = await client.uploads.complete(created.id, {
        part_ids: [first.id, second.id, third.id],
      });

      // Assess
      expect(created).toEqual({
        id: expect.stringMatching(/^upload_[0-9A-Za-z]{24}$/),
        object: 'upload',
        bytes: Buffer.byteLength(whole),
        created_at: START_MS / 1000,
        expires_at: START_MS / 1000 + 3600,
        filename: 'big.jsonl',
        purpose: 'fine-tune',
        status: 'pending',
        file: null,
      });
      expect(first).toEqual({
        id: expect.stringMatching(/^part_[0-9A-Za-z]{24}$/),
        object: 'upload.part',
        created_at: START_MS / 1000,
        upload_id: created.id,
      });
      expect(completed).toEqual({
        ...created,
        status: 'completed',
        file: expect.objectContaining({
          object: 'file',
          bytes: Buffer.byteLength(whole),
          filename: 'big.jsonl',
        }),
      });
      const fileId = completed.file!.id;
      expect(await (await client.files.content(fileId)).text()).toBe(whole);
      expect(await client.files.retrieve(fileId)).toEqual(completed.file);
    });

    it('refuses a wrong total, a foreign part, and parts after completion or cancellation (400)', async () => {
      // Prepare
      const open = () =>
        client.uploads.create({
          filename: 'f.jsonl',
          purpose: 'fine-tune',
          bytes: 4,
          mime_type: 'text/jsonl',
        });
      const mine = await open();
      const other = await open();
      const short = await client.uploads.parts.create(mine.id, { data: await fileOf('abc', 'p') });
      const foreign = await client.uploads.parts.create(other.id, { data: await fileOf('d', 'p') });
      const rest = await client.uploads.parts.create(mine.id, { data: await fileOf('d', 'p') });

      // Act
      const wrongTotal = await rejectionOf(client.uploads.complete(mine.id, { part_ids: [short.id] }));
      const foreignPart = await rejectionOf(
        client.uploads.complete(mine.id, { part_ids: [short.id, foreign.id] }),
      );
      const badMd5 = await rejectionOf(
        client.uploads.complete(mine.id, { part_ids: [short.id, rest.id], md5: 'x' }),
      );
      await client.uploads.complete(mine.id, { part_ids: [short.id, rest.id] });
      const afterCompletion = await rejectionOf(
        client.uploads.parts.create(mine.id, { data: await fileOf('e', 'p') }),
      );
      const cancelled = await client.uploads.cancel(other.id);
      const afterCancel = await rejectionOf(
        client.uploads.parts.create(other.id, { data: await fileOf('e', 'p') }),
      );

      // Assess
      for (const error of [wrongTotal, foreignPart, badMd5, afterCompletion, afterCancel]) {
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      }
      const bodyOf = (error: unknown) => (error as InstanceType<typeof OpenAI.BadRequestError>).error;
      expect(bodyOf(wrongTotal)).toEqual(
        openAiError('The parts add up to 3 bytes, but the upload was created with bytes: 4.', 'bytes').error,
      );
      expect(bodyOf(foreignPart)).toEqual(
        openAiError(`Part ${foreign.id} is not a part of upload ${mine.id}.`, 'part_ids').error,
      );
      expect(bodyOf(badMd5)).toEqual(expect.objectContaining({ param: 'md5' }));
      expect(bodyOf(afterCompletion)).toEqual(
        openAiError(`Upload ${mine.id} is completed; only a pending upload accepts this.`, 'upload_id').error,
      );
      expect(cancelled).toEqual(expect.objectContaining({ id: other.id, status: 'cancelled', file: null }));
      expect(bodyOf(afterCancel)).toEqual(
        expect.objectContaining({ message: expect.stringContaining('is cancelled') }),
      );
    });
  });

  describe('fine-tuning jobs', () => {
    it('advances validating_files → queued → running → succeeded with the clock', async () => {
      // Prepare
      const training = await upload(TRAINING);

      // Act
      const created = await client.fineTuning.jobs.create({
        model: 'gpt-4o-mini',
        training_file: training.id,
        suffix: 'support',
        hyperparameters: { n_epochs: 3 },
      });
      const statuses = [created.status];
      for (let step = 1; step <= 3; step++) {
        now = START_MS + step * STEP_MS;
        statuses.push((await client.fineTuning.jobs.retrieve(created.id)).status);
      }
      const finished = await client.fineTuning.jobs.retrieve(created.id);

      // Assess
      expect(created).toEqual({
        id: expect.stringMatching(/^ftjob-[0-9A-Za-z]{24}$/),
        object: 'fine_tuning.job',
        model: 'gpt-4o-mini',
        created_at: START_MS / 1000,
        finished_at: null,
        fine_tuned_model: null,
        organization_id: 'org-fake',
        result_files: [],
        status: 'validating_files',
        validation_file: null,
        training_file: training.id,
        hyperparameters: { n_epochs: 3, batch_size: 'auto', learning_rate_multiplier: 'auto' },
        trained_tokens: null,
        error: null,
        seed: 42,
        estimated_finish: null,
        integrations: [],
        metadata: null,
        method: { type: 'supervised' },
        user_provided_suffix: 'support',
      });
      expect(statuses).toEqual(['validating_files', 'queued', 'running', 'succeeded']);
      expect(finished).toEqual({
        ...created,
        status: 'succeeded',
        finished_at: START_MS / 1000 + 3,
        fine_tuned_model: `ft:gpt-4o-mini:org-fake:support:${created.id.slice(6, 14)}`,
        trained_tokens: 777,
        result_files: [expect.stringMatching(/^file-/)],
      });
      const resultFile = await client.files.retrieve(finished.result_files[0]!);
      expect(resultFile).toEqual(
        expect.objectContaining({ purpose: 'fine-tune-results', created_at: START_MS / 1000 + 3 }),
      );
      expect(platform.jobs.get(created.id)?.view().status).toBe('succeeded');
    });

    it('lists one event per status reached, newest first, and a checkpoint once succeeded', async () => {
      // Prepare
      const training = await upload(TRAINING);
      const job = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: training.id });
      now = START_MS + STEP_MS;

      // Act
      const early = await client.fineTuning.jobs.listEvents(job.id);
      const noCheckpoints = await client.fineTuning.jobs.checkpoints.list(job.id);
      now = START_MS + 3 * STEP_MS;
      const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 2 });
      const older = await events.getNextPage();
      const checkpoints = await client.fineTuning.jobs.checkpoints.list(job.id);
      const fineTuned = (await client.fineTuning.jobs.retrieve(job.id)).fine_tuned_model!;

      // Assess
      expect(early.data.map((e) => e.message)).toEqual([
        'Files validated, moving job to queued state',
        `Validating training file: ${training.id}`,
      ]);
      expect(noCheckpoints.data).toEqual([]);
      expect(noCheckpoints.has_more).toBe(false);
      expect(events.has_more).toBe(true);
      expect(events.data[0]).toEqual({
        object: 'fine_tuning.job.event',
        id: expect.stringMatching(/^ftevent-/),
        created_at: START_MS / 1000 + 3,
        level: 'info',
        message: `New fine-tuned model created: ${fineTuned}. The job has successfully completed`,
        data: {},
        type: 'message',
      });
      expect([...events.data, ...older.data].map((e) => e.created_at)).toEqual(
        [3, 2, 1, 0].map((s) => START_MS / 1000 + s),
      );
      expect(older.has_more).toBe(false);
      expect(checkpoints.data).toEqual([
        {
          object: 'fine_tuning.job.checkpoint',
          id: expect.stringMatching(/^ftckpt_/),
          created_at: START_MS / 1000 + 3,
          fine_tuned_model_checkpoint: `${fineTuned}:ckpt-step-100`,
          step_number: 100,
          metrics: { step: 100, train_loss: 0.25 },
          fine_tuning_job_id: job.id,
        },
      ]);
    });

    it('fails a training file containing FAIL at the running step', async () => {
      // Prepare
      const training = await upload('{"messages":"FAIL"}\n');
      const job = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: training.id });

      // Act
      now = START_MS + 2 * STEP_MS;
      const running = await client.fineTuning.jobs.retrieve(job.id);
      now = START_MS + 10 * STEP_MS;
      const failed = await client.fineTuning.jobs.retrieve(job.id);
      const events = await client.fineTuning.jobs.listEvents(job.id);

      // Assess
      expect(running.status).toBe('running');
      expect(failed).toEqual(
        expect.objectContaining({
          status: 'failed',
          fine_tuned_model: null,
          trained_tokens: null,
          result_files: [],
          error: {
            code: 'invalid_training_file',
            message: expect.stringContaining('FAIL'),
            param: 'training_file',
          },
        }),
      );
      expect(events.data[0]).toEqual(
        expect.objectContaining({ level: 'error', message: failed.error?.message }),
      );
    });

    it('fails a job on demand with fail(), and it stays failed', async () => {
      // Prepare
      const training = await upload(TRAINING);
      const job = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: training.id });
      now = START_MS + 2 * STEP_MS;

      // Act
      platform.fail(job.id, { code: 'server_error', message: 'The GPU caught fire' });
      now = START_MS + 100 * STEP_MS;
      const failed = await client.fineTuning.jobs.retrieve(job.id);

      // Assess
      expect(failed.status).toBe('failed');
      expect(failed.error).toEqual({ code: 'server_error', message: 'The GPU caught fire', param: null });
      expect(() => platform.fail(job.id, { code: 'x', message: 'y' })).toThrow(
        `fail: job ${job.id} has already failed`,
      );
    });

    it('cancels a job in progress, keeps it cancelled, and refuses to cancel a finished job (400)', async () => {
      // Prepare
      const training = await upload(TRAINING);
      const job = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: training.id });
      now = START_MS + 2 * STEP_MS + 500;

      // Act
      const cancelled = await client.fineTuning.jobs.cancel(job.id);
      now = START_MS + 100 * STEP_MS;
      const later = await client.fineTuning.jobs.retrieve(job.id);
      const again = await rejectionOf(client.fineTuning.jobs.cancel(job.id));
      const events = await client.fineTuning.jobs.listEvents(job.id);

      // Assess
      expect(cancelled.status).toBe('cancelled');
      expect(later).toEqual(cancelled);
      expect(again).toBeInstanceOf(OpenAI.BadRequestError);
      expect((again as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError(`Job ${job.id} has already cancelled; only a job in progress can be cancelled.`).error,
      );
      expect(events.data.map((e) => e.message)[0]).toBe('Fine-tuning job cancelled');
      expect(events.data).toHaveLength(4);
    });

    it('refuses unknown training and validation files with their param (400)', async () => {
      // Prepare
      const training = await upload(TRAINING);

      // Act
      const noTraining = await rejectionOf(
        client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: 'file-missing' }),
      );
      const noValidation = await rejectionOf(
        client.fineTuning.jobs.create({
          model: 'gpt-4o-mini',
          training_file: training.id,
          validation_file: 'file-gone',
        }),
      );

      // Assess
      expect((noTraining as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError('invalid training_file: file-missing', 'training_file').error,
      );
      expect((noValidation as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError('invalid validation_file: file-gone', 'validation_file').error,
      );
    });

    it('lists jobs newest first with after/limit, and filters by metadata', async () => {
      // Prepare
      const training = await upload(TRAINING);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        now += 1000;
        const job = await client.fineTuning.jobs.create({
          model: 'gpt-4o-mini',
          training_file: training.id,
          metadata: { batch: 'listing', index: String(i) },
        });
        ids.push(job.id);
      }

      // Act
      const firstPage = await client.fineTuning.jobs.list({ limit: 2 });
      const secondPage = await client.fineTuning.jobs.list({ limit: 2, after: ids[1] });
      const tagged = await client.fineTuning.jobs.list({ metadata: { batch: 'listing', index: '1' } });

      // Assess
      expect(firstPage.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
      expect(firstPage.has_more).toBe(true);
      expect(secondPage.data[0]?.id).toBe(ids[0]);
      expect(tagged.data.map((j) => j.id)).toEqual([ids[1]]);
    });
  });

  describe('batches', () => {
    const CHAT = '/v1/chat/completions';
    const START_S = START_MS / 1000;
    const ZERO_USAGE = {
      input_tokens: 0,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 0,
    };

    const chatLine = (customId: string, model = 'gpt-4o-mini') => ({
      custom_id: customId,
      method: 'POST',
      url: CHAT,
      body: { model, messages: [{ role: 'user', content: `hi from ${customId}` }] },
    });

    /** A batch input file: each line as JSON, or as it is when it is a string. */
    const uploadBatchInput = async (lines: readonly unknown[], onClient = client) =>
      onClient.files.create({
        file: await fileOf(
          lines.map((line) => `${typeof line === 'string' ? line : JSON.stringify(line)}\n`).join(''),
          'batch.jsonl',
        ),
        purpose: 'batch',
      });

    const createBatch = async (
      lines: readonly unknown[],
      endpoint: BatchCreateParams['endpoint'] = CHAT,
      more: Partial<BatchCreateParams> = {},
    ) =>
      client.batches.create({
        input_file_id: (await uploadBatchInput(lines)).id,
        endpoint,
        completion_window: '24h',
        ...more,
      });

    const resultsOf = async (fileId: string | null | undefined, onClient = client) => {
      if (!fileId) throw new Error('expected a file id');
      const text = await (await onClient.files.content(fileId)).text();
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as PlatformBatchResult);
    };

    const chatBody = (result: PlatformBatchResult) => result.response.body as ChatCompletion;

    const resultLine = (customId: string, statusCode: number, body: unknown) => ({
      id: expect.stringMatching(/^batch_req_[0-9a-f]{32}$/),
      custom_id: customId,
      response: { status_code: statusCode, request_id: expect.stringMatching(/^req_[0-9a-f]{32}$/), body },
      error: null,
    });

    it('runs validating → in_progress → finalizing → completed with the clock, and stores the output file', async () => {
      // Prepare
      const lines = [chatLine('req-1'), chatLine('req-2'), chatLine('req-3')];
      const input = await uploadBatchInput(lines);

      // Act
      const created = await client.batches.create({
        input_file_id: input.id,
        endpoint: CHAT,
        completion_window: '24h',
        metadata: { run: 'nightly' },
      });
      const seen: unknown[] = [];
      for (const ms of [STEP_MS, STEP_MS + 500, 2 * STEP_MS, 3 * STEP_MS]) {
        now = START_MS + ms;
        const batch = await client.batches.retrieve(created.id);
        seen.push([batch.status, batch.request_counts, batch.output_file_id]);
      }
      const completed = await client.batches.retrieve(created.id);
      const outputFile = await client.files.retrieve(completed.output_file_id!);
      const results = await resultsOf(completed.output_file_id);

      // Assess
      expect(created).toEqual({
        id: expect.stringMatching(/^batch_[0-9a-f]{32}$/),
        object: 'batch',
        endpoint: CHAT,
        model: null,
        errors: null,
        input_file_id: input.id,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: START_S,
        in_progress_at: null,
        expires_at: START_S + 24 * 3600,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
        usage: ZERO_USAGE,
        metadata: { run: 'nightly' },
      });
      expect(seen).toEqual([
        ['in_progress', { total: 3, completed: 0, failed: 0 }, null],
        ['in_progress', { total: 3, completed: 1, failed: 0 }, null],
        ['finalizing', { total: 3, completed: 3, failed: 0 }, null],
        ['completed', { total: 3, completed: 3, failed: 0 }, expect.stringMatching(/^file-/)],
      ]);
      expect(completed).toEqual({
        ...created,
        model: 'gpt-4o-mini',
        status: 'completed',
        output_file_id: expect.stringMatching(/^file-/),
        in_progress_at: START_S + 1,
        finalizing_at: START_S + 2,
        completed_at: START_S + 3,
        request_counts: { total: 3, completed: 3, failed: 0 },
        usage: {
          input_tokens: 30,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 9,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 39,
        },
      });
      expect(outputFile).toEqual({
        id: completed.output_file_id,
        object: 'file',
        bytes: expect.any(Number),
        created_at: START_S + 3,
        filename: `batch_${created.id.slice('batch_'.length)}_output.jsonl`,
        purpose: 'batch_output',
        status: 'processed',
        expires_at: null,
        status_details: null,
      });
      expect(results).toEqual(
        ['req-1', 'req-2', 'req-3'].map((customId) =>
          resultLine(customId, 200, {
            id: expect.stringMatching(/^chatcmpl-/),
            object: 'chat.completion',
            created: expect.any(Number),
            model: 'gpt-4o-mini',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: platformAnswer('gpt-4o-mini'), refusal: null },
                finish_reason: 'stop',
                logprobs: null,
              },
            ],
            usage: platformChatUsage,
          }),
        ),
      );
      const usages = results.map((result) => chatBody(result).usage!);
      expect(completed.usage?.input_tokens).toBe(usages.reduce((sum, u) => sum + u.prompt_tokens, 0));
      expect(completed.usage?.output_tokens).toBe(usages.reduce((sum, u) => sum + u.completion_tokens, 0));
      expect(completed.usage?.total_tokens).toBe(usages.reduce((sum, u) => sum + u.total_tokens, 0));
      const fake = platform.batches.get(created.id)!;
      expect(fake.inputLines).toEqual(lines);
      expect(fake.request).toEqual({
        input_file_id: input.id,
        endpoint: CHAT,
        completion_window: '24h',
        metadata: { run: 'nightly' },
      });
      expect(fake.createdAtMs).toBe(START_MS);
      expect(fake.view()).toEqual(completed);
      expect((await resultsOf(completed.output_file_id)).map((result) => result.id)).toEqual(
        results.map((result) => result.id),
      );
    });

    it.each([
      [
        '/v1/responses',
        'o4-mini',
        [{ input: 'hi' }, { input: [{ role: 'user', content: 'hello' }], instructions: 'Be brief.' }],
        (model: string) =>
          expect.objectContaining({
            object: 'response',
            status: 'completed',
            model,
            output: [
              expect.objectContaining({ type: 'reasoning' }),
              expect.objectContaining({
                type: 'message',
                content: [expect.objectContaining({ text: platformAnswer(model) })],
              }),
            ],
            usage: platformResponseUsage,
          }),
        { input: 20, output: 6 },
      ],
      [
        '/v1/embeddings',
        'text-embedding-3-small',
        [{ input: ['one', 'two'] }, { input: 'three' }],
        (model: string, index: number) => ({
          object: 'list',
          data: Array.from({ length: index === 0 ? 2 : 1 }, (_, at) => ({
            object: 'embedding',
            index: at,
            embedding: platformEmbedding,
          })),
          model,
          usage: platformEmbeddingUsage,
        }),
        { input: 16, output: 0 },
      ],
      [
        '/v1/completions',
        'gpt-3.5-turbo-instruct',
        [{ prompt: 'Say hi' }, { prompt: 'Say bye' }],
        (model: string) => ({
          id: expect.stringMatching(/^cmpl-/),
          object: 'text_completion',
          created: expect.any(Number),
          model,
          choices: [{ index: 0, text: platformAnswer(model), finish_reason: 'stop', logprobs: null }],
          usage: platformChatUsage,
        }),
        { input: 20, output: 6 },
      ],
    ] as const)(
      'answers %s lines in kind, naming the model of the lines, and sums their usage',
      async (endpoint, model, bodies, expected, tokens) => {
        // Prepare
        const lines = bodies.map((body, index) => ({
          custom_id: `line-${index}`,
          method: 'POST',
          url: endpoint,
          body: { model, ...body },
        }));

        // Act
        const created = await createBatch(lines, endpoint);
        now = START_MS + 3 * STEP_MS;
        const completed = await client.batches.retrieve(created.id);
        const results = await resultsOf(completed.output_file_id);

        // Assess
        expect(completed.status).toBe('completed');
        expect(completed.model).toBe(model);
        expect(results).toEqual(
          lines.map((line, index) => resultLine(line.custom_id, 200, expected(model, index))),
        );
        const totals = results.map(
          (result) => (result.response.body as { usage: { total_tokens: number } }).usage,
        );
        expect(completed.usage).toEqual({
          input_tokens: tokens.input,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: tokens.output,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: totals.reduce((sum, usage) => sum + usage.total_tokens, 0),
        });
        expect(completed.usage?.total_tokens).toBe(tokens.input + tokens.output);
      },
    );

    it('sends the lines whose custom_id starts with fail- to the error file, and counts them as failed', async () => {
      // Prepare
      const lines = [chatLine('ok-1'), chatLine(`${platformBatchFailurePrefix}2`), chatLine('ok-3')];

      // Act
      const created = await createBatch(lines);
      const allFailing = await createBatch([chatLine('fail-a'), chatLine('fail-b')], CHAT, {
        output_expires_after: { anchor: 'created_at', seconds: 7200 },
      });
      now = START_MS + 3 * STEP_MS;
      const completed = await client.batches.retrieve(created.id);
      const onlyErrors = await client.batches.retrieve(allFailing.id);
      const errorFile = await client.files.retrieve(completed.error_file_id!);
      const expiringErrorFile = await client.files.retrieve(onlyErrors.error_file_id!);
      const output = await resultsOf(completed.output_file_id);
      const errors = await resultsOf(completed.error_file_id);

      // Assess
      expect(completed.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
      expect(output.map((result) => result.custom_id)).toEqual(['ok-1', 'ok-3']);
      expect(errors).toEqual([
        resultLine('fail-2', 400, {
          error: {
            message: expect.stringContaining("'fail-2'"),
            type: 'invalid_request_error',
            param: null,
            code: null,
          },
        }),
      ]);
      expect(errorFile).toEqual(
        expect.objectContaining({
          filename: `batch_${created.id.slice('batch_'.length)}_error.jsonl`,
          purpose: 'batch_output',
          created_at: START_S + 3,
        }),
      );
      expect(completed.usage).toEqual(
        expect.objectContaining({ input_tokens: 20, output_tokens: 6, total_tokens: 26 }),
      );
      expect(onlyErrors).toEqual(
        expect.objectContaining({
          status: 'completed',
          output_file_id: null,
          error_file_id: expect.stringMatching(/^file-/),
          request_counts: { total: 2, completed: 0, failed: 2 },
          usage: ZERO_USAGE,
        }),
      );
      expect(errorFile.expires_at).toBeNull();
      expect(expiringErrorFile.expires_at).toBe(START_S + 3 + 7200);
      expect(platform.batches.get(allFailing.id)?.request.output_expires_after).toEqual({
        anchor: 'created_at',
        seconds: 7200,
      });
      expect((await resultsOf(onlyErrors.error_file_id)).map((result) => result.custom_id)).toEqual([
        'fail-a',
        'fail-b',
      ]);
    });

    it('leaves usage out of batch objects with batchUsage: false, so the output file is where it is', async () => {
      // Prepare
      const bare = await startFakePlatform({ now: () => now, stepMs: STEP_MS, batchUsage: false });
      const bareClient = new OpenAI({ baseURL: bare.baseUrl, apiKey: 'sk-test', maxRetries: 0 });

      try {
        // Act
        const input = await uploadBatchInput([chatLine('a'), chatLine('b')], bareClient);
        const created = await bareClient.batches.create({
          input_file_id: input.id,
          endpoint: CHAT,
          completion_window: '24h',
        });
        now = START_MS + 3 * STEP_MS;
        const completed = await bareClient.batches.retrieve(created.id);
        const raw = await (await fetch(`${bare.baseUrl}/batches/${created.id}`)).json();
        const listed = await bareClient.batches.list();
        const results = await resultsOf(completed.output_file_id, bareClient);

        // Assess
        expect(created.status).toBe('validating');
        expect('usage' in created).toBe(false);
        expect(completed.status).toBe('completed');
        expect(completed.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
        expect('usage' in completed).toBe(false);
        expect(Object.keys(raw)).not.toContain('usage');
        expect(raw.model).toBe('gpt-4o-mini');
        expect(listed.data.map((batch) => 'usage' in batch)).toEqual([false]);
        expect(results.map((result) => chatBody(result).usage)).toEqual([
          platformChatUsage,
          platformChatUsage,
        ]);
      } finally {
        await bare.close();
      }
    });

    it('cancels a running batch: cancelling, then cancelled with the results of the lines done before', async () => {
      // Prepare
      const lines = ['c-1', 'c-2', 'fail-3', 'c-4'].map((customId) => chatLine(customId));
      const created = await createBatch(lines);
      now = START_MS + STEP_MS + 600;

      // Act
      const cancelling = await client.batches.cancel(created.id);
      now = START_MS + 2 * STEP_MS + 500;
      const stillCancelling = await client.batches.retrieve(created.id);
      const again = await client.batches.cancel(created.id);
      now = START_MS + 10 * STEP_MS;
      const cancelled = await client.batches.retrieve(created.id);
      const output = await resultsOf(cancelled.output_file_id);
      const refused = await rejectionOf(client.batches.cancel(created.id));

      // Assess
      expect(cancelling).toEqual(
        expect.objectContaining({
          status: 'cancelling',
          cancelling_at: START_S + 1,
          cancelled_at: null,
          in_progress_at: START_S + 1,
          request_counts: { total: 4, completed: 2, failed: 0 },
          output_file_id: null,
          usage: ZERO_USAGE,
        }),
      );
      expect(stillCancelling.status).toBe('cancelling');
      expect(stillCancelling.finalizing_at).toBeNull();
      expect(stillCancelling.request_counts).toEqual({ total: 4, completed: 2, failed: 0 });
      expect(again.status).toBe('cancelling');
      expect(cancelled).toEqual({
        ...cancelling,
        status: 'cancelled',
        cancelled_at: START_S + 2,
        output_file_id: expect.stringMatching(/^file-/),
        usage: expect.objectContaining({ input_tokens: 20, output_tokens: 6, total_tokens: 26 }),
      });
      expect(cancelled.completed_at).toBeNull();
      expect(cancelled.error_file_id).toBeNull();
      expect(output.map((result) => result.custom_id)).toEqual(['c-1', 'c-2']);
      expect(refused).toBeInstanceOf(OpenAI.ConflictError);
      expect((refused as InstanceType<typeof OpenAI.ConflictError>).error).toEqual(
        openAiError("Cannot cancel a batch with status 'cancelled'.").error,
      );
    });

    it('cancels a batch still validating: cancelled without ever running, and without files', async () => {
      // Prepare
      const created = await createBatch([chatLine('v-1')]);
      now = START_MS + 400;

      // Act
      const cancelling = await client.batches.cancel(created.id);
      now = START_MS + 5 * STEP_MS;
      const cancelled = await client.batches.retrieve(created.id);

      // Assess
      expect(cancelling.status).toBe('cancelling');
      expect(cancelled).toEqual({
        ...created,
        status: 'cancelled',
        cancelling_at: START_S,
        cancelled_at: START_S + 1,
      });
    });

    it('expires a running batch with expire(), keeping the results of the lines done by then', async () => {
      // Prepare
      const lines = ['e-1', 'e-2', 'e-3', 'e-4'].map((customId) => chatLine(customId));
      const created = await createBatch(lines);
      now = START_MS + STEP_MS + 750;

      // Act
      platform.expire(created.id);
      const expired = await client.batches.retrieve(created.id);
      now = START_MS + 10 * STEP_MS;
      const later = await client.batches.retrieve(created.id);
      const output = await resultsOf(expired.output_file_id);

      // Assess
      expect(expired).toEqual(
        expect.objectContaining({
          status: 'expired',
          expired_at: START_S + 1,
          in_progress_at: START_S + 1,
          finalizing_at: null,
          completed_at: null,
          request_counts: { total: 4, completed: 3, failed: 0 },
          output_file_id: expect.stringMatching(/^file-/),
          error_file_id: null,
          usage: expect.objectContaining({ input_tokens: 30, output_tokens: 9, total_tokens: 39 }),
        }),
      );
      expect(later).toEqual(expired);
      expect(output.map((result) => result.custom_id)).toEqual(['e-1', 'e-2', 'e-3']);
      expect(() => platform.expire(created.id)).toThrow(`expire: batch ${created.id} has already expired`);
      expect(() => platform.expire('batch_nope')).toThrow('expire: no such batch: batch_nope');
    });

    it('expires by itself at expires_at, 24 hours after creation', async () => {
      // Prepare: validation takes 20 hours and each of the 5 lines 4 more, so one is done at the 24th hour.
      const hour = 3600 * 1000;
      const slow = await startFakePlatform({ now: () => now, stepMs: 20 * hour });
      const slowClient = new OpenAI({ baseURL: slow.baseUrl, apiKey: 'sk-test', maxRetries: 0 });

      try {
        const input = await uploadBatchInput(
          ['s-1', 's-2', 's-3', 's-4', 's-5'].map((customId) => chatLine(customId)),
          slowClient,
        );
        const created = await slowClient.batches.create({
          input_file_id: input.id,
          endpoint: CHAT,
          completion_window: '24h',
        });

        // Act
        now = START_MS + 23 * hour;
        const running = await slowClient.batches.retrieve(created.id);
        now = START_MS + 30 * hour;
        const expired = await slowClient.batches.retrieve(created.id);
        const output = await resultsOf(expired.output_file_id, slowClient);

        // Assess
        expect(running.status).toBe('in_progress');
        expect(running.request_counts).toEqual({ total: 5, completed: 0, failed: 0 });
        expect(expired).toEqual(
          expect.objectContaining({
            status: 'expired',
            expires_at: START_S + 24 * 3600,
            expired_at: START_S + 24 * 3600,
            in_progress_at: START_S + 20 * 3600,
            request_counts: { total: 5, completed: 1, failed: 0 },
          }),
        );
        expect(output.map((result) => result.custom_id)).toEqual(['s-1']);
      } finally {
        await slow.close();
      }
    });

    it('fails validation with an error naming each bad line, and runs none of them', async () => {
      // Prepare
      const lines = [
        chatLine('a'),
        { ...chatLine('b'), url: '/v1/embeddings' },
        'this is not JSON',
        chatLine('a'),
        chatLine('c', 'gpt-4o'),
        chatLine('d', 'ft:gpt-4o-mini:org-fake::nope'),
        { ...chatLine('e'), method: 'GET' },
        { custom_id: 'f', method: 'POST', url: CHAT, body: { messages: [] } },
      ];
      const created = await createBatch(lines);
      const empty = await client.batches.create({
        input_file_id: (
          await client.files.create({ file: await fileOf('', 'empty.jsonl'), purpose: 'batch' })
        ).id,
        endpoint: CHAT,
        completion_window: '24h',
      });

      // Act
      const validating = await client.batches.retrieve(created.id);
      now = START_MS + STEP_MS;
      const failed = await client.batches.retrieve(created.id);
      const failedEmpty = await client.batches.retrieve(empty.id);
      now = START_MS + 10 * STEP_MS;
      const later = await client.batches.retrieve(created.id);

      // Assess
      expect(validating.status).toBe('validating');
      expect(validating.errors).toBeNull();
      expect(failed).toEqual({
        ...created,
        status: 'failed',
        failed_at: START_S + 1,
        errors: {
          object: 'list',
          data: [
            {
              code: 'url_mismatch',
              message: expect.stringContaining("'/v1/chat/completions'"),
              param: 'url',
              line: 2,
            },
            {
              code: 'invalid_json_line',
              message: 'This line is not parseable as valid JSON.',
              param: null,
              line: 3,
            },
            {
              code: 'duplicate_custom_id',
              message: expect.stringMatching(/^The custom_id for this request is a duplicate/),
              param: 'custom_id',
              line: 4,
            },
            {
              code: 'model_mismatch',
              message: expect.stringContaining("'gpt-4o'"),
              param: 'body.model',
              line: 5,
            },
            {
              code: 'model_not_found',
              message:
                'The model `ft:gpt-4o-mini:org-fake::nope` does not exist or you do not have access to it.',
              param: 'body.model',
              line: 6,
            },
            { code: 'invalid_value', message: expect.stringContaining('"GET"'), param: 'method', line: 7 },
            {
              code: 'missing_required_parameter',
              message: "Missing required parameter: 'body.model'.",
              param: 'body.model',
              line: 8,
            },
          ],
        },
        request_counts: { total: 8, completed: 0, failed: 0 },
      });
      expect(later).toEqual(failed);
      expect(platform.batches.get(created.id)?.inputLines[2]).toBe('this is not JSON');
      expect(failedEmpty.status).toBe('failed');
      expect(failedEmpty.errors?.data).toEqual([
        { code: 'empty_file', message: 'The batch input file is empty.', param: null, line: null },
      ]);
      expect(failedEmpty.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    });

    it('lists batches newest first with after/limit/has_more, first_id and last_id', async () => {
      // Prepare
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        now = START_MS + 100_000 + i * 1000;
        ids.push((await createBatch([chatLine(`list-${i}`)])).id);
      }

      // Act
      const first = await client.batches.list({ limit: 2 });
      const next = await first.getNextPage();
      const afterOldest = await client.batches.list({ after: ids[0]!, limit: 100 });
      // The SDK's page drops first_id and last_id.
      const raw = await (await fetch(`${platform.baseUrl}/batches?limit=2`)).json();
      const tooMany = await fetch(`${platform.baseUrl}/batches?limit=101`);

      // Assess
      expect(first.data.map((batch) => batch.id)).toEqual([ids[2], ids[1]]);
      expect(first.has_more).toBe(true);
      expect(first.data.map((batch) => batch.status)).toEqual(['validating', 'in_progress']);
      expect(next.data[0]?.id).toBe(ids[0]);
      expect(raw).toEqual(
        expect.objectContaining({ object: 'list', has_more: true, first_id: ids[2], last_id: ids[1] }),
      );
      expect(afterOldest.data.map((batch) => batch.id)).not.toContain(ids[0]);
      expect(afterOldest.data).toHaveLength(platform.batches.size - 3);
      expect(tooMany.status).toBe(400);
      expect(await tooMany.json()).toEqual(
        openAiError(
          "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead.",
          'limit',
          'integer_above_max_value',
        ),
      );
    });

    it.each([
      [
        'an unknown input file',
        { input_file_id: 'file-nope' },
        404,
        'No such File object: file-nope',
        'input_file_id',
        null,
      ],
      [
        'an input file not uploaded for batch',
        { input_file_id: 'FINE_TUNE_FILE' },
        400,
        /^The input file file-\S+ has purpose 'fine-tune', but a batch input file must be uploaded with purpose 'batch'\.$/,
        'input_file_id',
        null,
      ],
      [
        'an unsupported endpoint',
        { endpoint: '/v1/moderations' },
        400,
        "Invalid value: '/v1/moderations'. Supported values are: '/v1/responses', '/v1/chat/completions', '/v1/embeddings', and '/v1/completions'.",
        'endpoint',
        'invalid_value',
      ],
      [
        'a completion window other than 24h',
        { completion_window: '48h' },
        400,
        "Invalid value: '48h'. Supported values are: '24h'.",
        'completion_window',
        'invalid_value',
      ],
      [
        'no endpoint',
        { endpoint: undefined },
        400,
        "Missing required parameter: 'endpoint'.",
        'endpoint',
        'missing_required_parameter',
      ],
    ] as const)(
      'refuses to create a batch with %s',
      async (_case, overrides, status, message, param, code) => {
        // Prepare
        const input = await uploadBatchInput([chatLine('x')]);
        const fineTune = await upload(TRAINING);
        const body: Record<string, unknown> = {
          input_file_id: input.id,
          endpoint: CHAT,
          completion_window: '24h',
          ...overrides,
        };
        if (body.input_file_id === 'FINE_TUNE_FILE') body.input_file_id = fineTune.id;
        const before = platform.batches.size;

        // Act
        const response = await fetch(`${platform.baseUrl}/batches`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });

        // Assess
        expect(response.status).toBe(status);
        expect(await response.json()).toEqual(openAiError(message, param, code));
        expect(platform.batches.size).toBe(before);
      },
    );

    it('answers 404 for an unknown batch, and refuses to cancel a completed batch (409)', async () => {
      // Prepare
      const created = await createBatch([chatLine('done')]);
      now = START_MS + 3 * STEP_MS;

      // Act
      const unknown = await rejectionOf(client.batches.retrieve('batch_nope'));
      const unknownCancel = await rejectionOf(client.batches.cancel('batch_nope'));
      const refused = await rejectionOf(client.batches.cancel(created.id));
      const after = await client.batches.retrieve(created.id);

      // Assess
      expect(notFoundBody(unknown)).toEqual(openAiError("No batch found with id 'batch_nope'.").error);
      expect(notFoundBody(unknownCancel)).toEqual(openAiError("No batch found with id 'batch_nope'.").error);
      expect(refused).toBeInstanceOf(OpenAI.ConflictError);
      expect((refused as InstanceType<typeof OpenAI.ConflictError>).status).toBe(409);
      expect((refused as InstanceType<typeof OpenAI.ConflictError>).error).toEqual(
        openAiError("Cannot cancel a batch with status 'completed'.").error,
      );
      expect(after.status).toBe('completed');
      expect(after.cancelling_at).toBeNull();
    });
  });

  describe('chat completions', () => {
    it('answers naming the model asked for, including a fine-tuned model once it exists', async () => {
      // Prepare
      const training = await upload(TRAINING);
      const job = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: training.id });
      const messages = [{ role: 'user' as const, content: 'hi' }];
      const model = `ft:gpt-4o-mini:org-fake::${job.id.slice(6, 14)}`;

      // Act
      const early = await rejectionOf(client.chat.completions.create({ model, messages }));
      now = START_MS + 3 * STEP_MS;
      const completion = await client.chat.completions.create({ model, messages });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      let streamed = '';
      let streamedUsage: unknown;
      for await (const chunk of stream) {
        streamed += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) streamedUsage = chunk.usage;
      }

      // Assess
      expect(early).toBeInstanceOf(OpenAI.NotFoundError);
      expect((early as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual(
        openAiError(
          `The model \`${model}\` does not exist or you do not have access to it.`,
          null,
          'model_not_found',
        ).error,
      );
      expect(completion.object).toBe('chat.completion');
      expect(completion.model).toBe(model);
      expect(completion.choices[0]?.message.content).toBe(platformAnswer(model));
      expect(completion.usage).toEqual(platformChatUsage);
      expect(streamed).toBe('answer from gpt-4o-mini');
      expect(streamedUsage).toEqual(platformChatUsage);
    });
  });

  describe('responses', () => {
    it('answers with a message naming the model, and stores the response with its input items', async () => {
      // Act
      const response = await client.responses.create({
        model: 'gpt-4o-mini',
        input: 'hi',
        instructions: 'Be brief.',
        metadata: { tenant: 'a' },
        max_output_tokens: 100,
      });

      // Assess
      expect(response).toEqual({
        id: expect.stringMatching(/^resp_[0-9A-Za-z]{24}$/),
        object: 'response',
        created_at: START_MS / 1000,
        status: 'completed',
        completed_at: START_MS / 1000,
        background: false,
        model: 'gpt-4o-mini',
        instructions: 'Be brief.',
        metadata: { tenant: 'a' },
        previous_response_id: null,
        conversation: null,
        store: true,
        output: [
          {
            id: expect.stringMatching(/^msg_[0-9A-Za-z]{24}$/),
            type: 'message',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'answer from gpt-4o-mini', annotations: [] }],
          },
        ],
        // Added by the SDK, not sent by the platform.
        output_text: 'answer from gpt-4o-mini',
        usage: platformResponseUsage,
        access_programs: null,
        error: null,
        incomplete_details: null,
        max_output_tokens: 100,
        max_tool_calls: null,
        parallel_tool_calls: true,
        reasoning: { effort: null, summary: null },
        service_tier: 'default',
        temperature: 1,
        text: { format: { type: 'text' }, verbosity: 'medium' },
        tool_choice: 'auto',
        tools: [],
        top_logprobs: 0,
        top_p: 1,
        truncation: 'disabled',
      });
      const stored = platform.responses.get(response.id)!;
      expect(stored.inputItems).toEqual([
        {
          id: expect.stringMatching(/^msg_[0-9A-Za-z]{24}$/),
          type: 'message',
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: 'hi' }],
        },
      ]);
      expect(stored.request).toEqual(platform.requests.at(-1)?.json);
      expect(platform.requests.at(-1)).toEqual(
        expect.objectContaining({ method: 'POST', path: '/v1/responses' }),
      );
      expect(platform.items.get(idOf(response.output[0]))).toEqual(response.output[0]);
      expect(platform.items.get(stored.inputItems[0]!.id)).toEqual(stored.inputItems[0]);
    });

    it('reasons first for an o-series model, and calls the function tool it is given', async () => {
      // Act
      const plain = await client.responses.create({ model: 'o4-mini', input: 'hi' });
      const withTool = await client.responses.create({
        model: 'o4-mini',
        input: 'Weather in Paris?',
        tools: [WEATHER_TOOL],
      });

      // Assess
      expect(plain.output).toEqual([
        { id: expect.stringMatching(/^rs_/), type: 'reasoning', summary: [] },
        expect.objectContaining({ type: 'message', role: 'assistant' }),
      ]);
      expect(plain.output_text).toBe('answer from o4-mini');
      expect(plain.reasoning).toEqual({ effort: 'medium', summary: null });
      expect(withTool.output).toEqual([
        { id: expect.stringMatching(/^rs_/), type: 'reasoning', summary: [] },
        {
          id: expect.stringMatching(/^fc_/),
          type: 'function_call',
          status: 'completed',
          call_id: expect.stringMatching(/^call_/),
          name: 'get_weather',
          arguments: platformFunctionArguments,
        },
      ]);
      expect(withTool.output_text).toBe('');
      expect(withTool.tools).toEqual([WEATHER_TOOL]);
    });

    it('streams the events of a response in order, ending with the full response', async () => {
      // Act
      const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true });
      const events: ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      const raw = await fetch(`${platform.baseUrl}/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          input: 'hi',
          stream: true,
          stream_options: { include_obfuscation: false },
        }),
      });
      const rawText = await raw.text();

      // Assess
      expect(events.map((event) => event.type)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
      expect(events.map((event) => event.sequence_number)).toEqual(events.map((_event, index) => index));
      const [created, , added, partAdded] = events;
      const completed = events.at(-1);
      if (created?.type !== 'response.created' || completed?.type !== 'response.completed') {
        throw new Error('expected response.created first and response.completed last');
      }
      expect(created.response).toEqual(
        expect.objectContaining({ status: 'in_progress', output: [], usage: null, completed_at: null }),
      );
      const message = completed.response.output[0]!;
      expect(added).toEqual({
        type: 'response.output_item.added',
        sequence_number: 2,
        output_index: 0,
        item: { ...message, status: 'in_progress', content: [] },
      });
      expect(partAdded).toEqual({
        type: 'response.content_part.added',
        sequence_number: 3,
        item_id: message.id,
        output_index: 0,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [] },
      });
      const deltas = events.flatMap((event) => (event.type === 'response.output_text.delta' ? [event] : []));
      expect(deltas.map((event) => event.delta).join('')).toBe('answer from gpt-4o-mini');
      for (const delta of deltas) {
        expect(delta).toEqual(
          expect.objectContaining({ item_id: message.id, logprobs: [], obfuscation: expect.any(String) }),
        );
      }
      expect(events[7]).toEqual(
        expect.objectContaining({ text: 'answer from gpt-4o-mini', item_id: message.id }),
      );
      expect(completed.response).toEqual(
        expect.objectContaining({
          id: created.response.id,
          status: 'completed',
          usage: platformResponseUsage,
        }),
      );
      const { output_text: _text, ...retrieved } = await client.responses.retrieve(completed.response.id);
      expect(completed.response).toEqual(retrieved);
      expect(raw.headers.get('content-type')).toBe('text/event-stream');
      expect(rawText).toMatch(/^event: response\.created\ndata: \{"type":"response\.created",/);
      expect(rawText).not.toContain('obfuscation');
      expect(rawText).not.toContain('[DONE]');
    });

    it('is consumed by responses.stream, for a message and for a function call', async () => {
      // Act
      const deltas: string[] = [];
      const answer = await client.responses
        .stream({ model: 'o4-mini', input: 'hi' })
        .on('response.output_text.delta', (event) => deltas.push(event.delta))
        .finalResponse();
      const call = await client.responses
        .stream({ model: 'gpt-4o-mini', input: 'Weather?', tools: [WEATHER_TOOL] })
        .finalResponse();

      // Assess
      expect(answer.output_text).toBe('answer from o4-mini');
      expect(answer.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
      expect(deltas.length).toBeGreaterThanOrEqual(2);
      expect(deltas.join('')).toBe('answer from o4-mini');
      expect(answer.usage).toEqual(platformResponseUsage);
      // The helper adds `parsed: null` to each output_text part, so compare what the platform keeps by id.
      expect(
        platform.responses
          .get(answer.id)
          ?.view()
          .output.map((item) => item.id),
      ).toEqual(answer.output.map((item) => item.id));
      expect(call.output).toEqual([
        expect.objectContaining({
          type: 'function_call',
          name: 'get_weather',
          arguments: '{}',
          status: 'completed',
        }),
      ]);
    });

    it('continues with previous_response_id from output items, an item_reference and an input_file', async () => {
      // Prepare
      const first = await client.responses.create({ model: 'o4-mini', input: 'hi' });
      const [reasoning, message] = first.output;
      const firstInput = platform.responses.get(first.id)!.inputItems[0]!;
      const file = await client.files.create({
        file: await fileOf('%PDF-1.4 fake', 'doc.pdf'),
        purpose: 'user_data',
      });

      // Act
      const second = await client.responses.create({
        model: 'o4-mini',
        previous_response_id: first.id,
        input: [
          reasoning as ResponseInputItem,
          message as ResponseInputItem,
          { type: 'item_reference', id: firstInput.id },
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'And this file?' },
              { type: 'input_file', file_id: file.id },
            ],
          },
        ],
      });
      const listed = await client.responses.inputItems.list(second.id, { order: 'asc' });

      // Assess
      expect(second.previous_response_id).toBe(first.id);
      expect(second.output_text).toBe('answer from o4-mini');
      expect(listed.data.map((item) => item.id)).toEqual([
        idOf(reasoning),
        idOf(message),
        firstInput.id,
        expect.stringMatching(/^msg_/),
      ]);
      expect(listed.data[0]).toEqual(reasoning);
      expect(listed.data[1]).toEqual(message);
      // The reference is the item it names.
      expect(listed.data[2]).toEqual(firstInput);
      expect(listed.data[3]).toEqual({
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        role: 'user',
        status: 'completed',
        content: [
          { type: 'input_text', text: 'And this file?' },
          { type: 'input_file', file_id: file.id },
        ],
      });
    });

    it('takes a function call output for a call of the previous response, and refuses one for no call (400)', async () => {
      // Prepare
      const asked = await client.responses.create({
        model: 'gpt-4o-mini',
        input: 'Weather?',
        tools: [WEATHER_TOOL],
      });
      const call = asked.output[0]!;
      if (call.type !== 'function_call') throw new Error('expected a function call');

      // Act
      const answered = await client.responses.create({
        model: 'gpt-4o-mini',
        previous_response_id: asked.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temperature":21}' }],
      });
      const stray = await rejectionOf(
        client.responses.create({
          model: 'gpt-4o-mini',
          input: [{ type: 'function_call_output', call_id: call.call_id, output: '{}' }],
        }),
      );

      // Assess
      expect(answered.output_text).toBe('answer from gpt-4o-mini');
      expect(platform.responses.get(answered.id)?.inputItems).toEqual([
        {
          id: expect.stringMatching(/^fco_/),
          type: 'function_call_output',
          call_id: call.call_id,
          output: '{"temperature":21}',
          status: 'completed',
        },
      ]);
      expect(stray).toBeInstanceOf(OpenAI.BadRequestError);
      expect((stray as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError(`No tool call found for function call output with call_id ${call.call_id}.`, 'input')
          .error,
      );
    });

    it('lists input items newest first with limit/after, and oldest first on request', async () => {
      // Prepare
      const response = await client.responses.create({
        model: 'gpt-4o-mini',
        input: [
          { role: 'developer', content: 'one' },
          { role: 'user', content: 'two' },
          { role: 'assistant', content: 'three' },
        ],
      });
      const ids = platform.responses.get(response.id)!.inputItems.map((item) => item.id);

      // Act
      const page = await client.responses.inputItems.list(response.id, { limit: 2 });
      const next = await page.getNextPage();
      const ascending = await client.responses.inputItems.list(response.id, { order: 'asc' });
      const raw = await (
        await fetch(`${platform.baseUrl}/responses/${response.id}/input_items?limit=2`)
      ).json();

      // Assess
      expect(page.data.map((item) => item.id)).toEqual([ids[2], ids[1]]);
      expect(page.has_more).toBe(true);
      expect(next.data.map((item) => item.id)).toEqual([ids[0]]);
      expect(next.has_more).toBe(false);
      expect(ascending.data.map((item) => item.id)).toEqual(ids);
      expect(ascending.data[2]).toEqual(
        expect.objectContaining({
          role: 'assistant',
          content: [{ type: 'output_text', text: 'three', annotations: [] }],
        }),
      );
      expect(raw).toEqual({
        object: 'list',
        data: [expect.objectContaining({ id: ids[2] }), expect.objectContaining({ id: ids[1] })],
        first_id: ids[2],
        last_id: ids[1],
        has_more: true,
      });
    });

    it('retrieves and deletes a response; then it, its input items and its output items are 404', async () => {
      // Prepare
      const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      const outputId = idOf(response.output[0]);

      // Act
      const retrieved = await client.responses.retrieve(response.id);
      const deleted: unknown = await client.responses.delete(response.id);
      const afterRetrieve = await rejectionOf(client.responses.retrieve(response.id));
      const afterList = await rejectionOf(client.responses.inputItems.list(response.id));
      const afterContinue = await rejectionOf(
        client.responses.create({ model: 'gpt-4o-mini', previous_response_id: response.id, input: 'more' }),
      );
      const afterReference = await rejectionOf(
        client.responses.create({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: outputId }] }),
      );

      // Assess
      expect(retrieved).toEqual(response);
      // The SDK types the result as void; the API sends this.
      expect(deleted).toEqual({ id: response.id, object: 'response.deleted', deleted: true });
      expect(notFoundBody(afterRetrieve)).toEqual(
        openAiError(`Response with id '${response.id}' not found.`).error,
      );
      expect(notFoundBody(afterList)).toEqual(
        openAiError(`Response with id '${response.id}' not found.`).error,
      );
      expect(notFoundBody(afterContinue)).toEqual(
        openAiError(
          `Previous response with id '${response.id}' not found.`,
          'previous_response_id',
          'previous_response_not_found',
        ).error,
      );
      expect(notFoundBody(afterReference)).toEqual(openAiError(NOT_STORED(outputId), 'input').error);
      expect(platform.responses.has(response.id)).toBe(false);
      expect(platform.items.has(outputId)).toBe(false);
    });

    it('keeps nothing of a response made with store: false', async () => {
      // Prepare
      const sent = platform.requests.length;

      // Act
      const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', store: false });
      const retrieve = await rejectionOf(client.responses.retrieve(response.id));
      const passedBack = await rejectionOf(
        client.responses.create({ model: 'gpt-4o-mini', input: response.output as ResponseInputItem[] }),
      );

      // Assess
      expect(response).toEqual(expect.objectContaining({ store: false, status: 'completed' }));
      expect(notFoundBody(retrieve)).toEqual(
        openAiError(`Response with id '${response.id}' not found.`).error,
      );
      expect(notFoundBody(passedBack)).toEqual(
        openAiError(NOT_STORED(idOf(response.output[0])), 'input').error,
      );
      expect(platform.responses.has(response.id)).toBe(false);
      expect(platform.requests[sent]?.json).toEqual({ model: 'gpt-4o-mini', input: 'hi', store: false });
      expect(platform.items.has(idOf(response.output[0]))).toBe(false);
    });

    it('runs a background response queued → in_progress → completed with the clock', async () => {
      // Act
      const queued = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', background: true });
      now = START_MS + STEP_MS;
      const running = await client.responses.retrieve(queued.id);
      const early = platform.items.size;
      now = START_MS + 2 * STEP_MS;
      const completed = await client.responses.retrieve(queued.id);

      // Assess
      expect(queued).toEqual(
        expect.objectContaining({
          status: 'queued',
          background: true,
          output: [],
          usage: null,
          completed_at: null,
        }),
      );
      expect(running.status).toBe('in_progress');
      expect(completed).toEqual(
        expect.objectContaining({
          status: 'completed',
          completed_at: START_MS / 1000 + 2,
          usage: platformResponseUsage,
          output_text: 'answer from gpt-4o-mini',
        }),
      );
      expect(platform.items.size).toBe(early + 1);
      expect(platform.items.get(idOf(completed.output[0]))).toEqual(completed.output[0]);
    });

    it('cancels a background response for good, and refuses to cancel a foreground one (400)', async () => {
      // Prepare
      const queued = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', background: true });
      const foreground = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      now = START_MS + 500;

      // Act
      const cancelled = await client.responses.cancel(queued.id);
      now = START_MS + 10 * STEP_MS;
      const later = await client.responses.retrieve(queued.id);
      const again = await client.responses.cancel(queued.id);
      const refused = await rejectionOf(client.responses.cancel(foreground.id));
      const unstored = await rejectionOf(
        client.responses.create({ model: 'gpt-4o-mini', input: 'hi', background: true, store: false }),
      );

      // Assess
      expect(cancelled).toEqual(
        expect.objectContaining({ id: queued.id, status: 'cancelled', output: [], usage: null }),
      );
      expect(later.status).toBe('cancelled');
      expect(later.output).toEqual([]);
      expect(again).toEqual(cancelled);
      expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
      expect((refused as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError('Only responses created with background=true can be cancelled.').error,
      );
      expect((unstored as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError('Background mode requires `store` to be true.', 'background').error,
      );
    });

    it('refuses previous_response_id together with conversation (400)', async () => {
      // Prepare
      const previous = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      const conversation = await client.conversations.create();

      // Act
      const error = await rejectionOf(
        client.responses.create({
          model: 'gpt-4o-mini',
          input: 'hi',
          previous_response_id: previous.id,
          conversation: conversation.id,
        }),
      );

      // Assess
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
        openAiError(
          "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
          'conversation',
          'mutually_exclusive_parameters',
        ).error,
      );
    });
  });

  describe('conversations', () => {
    it('creates a conversation with items, adds items, lists them, retrieves and deletes one', async () => {
      // Prepare
      const conversation = await client.conversations.create({
        items: [{ type: 'message', role: 'user', content: 'hello' }],
        metadata: { tenant: 'a' },
      });
      const initial = platform.conversations.get(conversation.id)!.items[0]!;

      // Act
      const added = await client.conversations.items.create(conversation.id, {
        items: [
          { type: 'message', role: 'assistant', content: 'hi there' },
          { role: 'user', content: 'how are you?' },
        ],
      });
      const [reply, question] = added.data;
      const listed = await client.conversations.items.list(conversation.id);
      const firstPage = await client.conversations.items.list(conversation.id, { limit: 2, order: 'asc' });
      const secondPage = await firstPage.getNextPage();
      const retrieved = await client.conversations.items.retrieve(idOf(reply), {
        conversation_id: conversation.id,
      });
      const afterDelete = await client.conversations.items.delete(idOf(reply), {
        conversation_id: conversation.id,
      });
      const remaining = await client.conversations.items.list(conversation.id, { order: 'asc' });
      const gone = await rejectionOf(
        client.conversations.items.retrieve(idOf(reply), { conversation_id: conversation.id }),
      );

      // Assess
      expect(conversation).toEqual({
        id: expect.stringMatching(/^conv_[0-9A-Za-z]{24}$/),
        object: 'conversation',
        created_at: START_MS / 1000,
        metadata: { tenant: 'a' },
      });
      expect(initial).toEqual({
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        role: 'user',
        status: 'completed',
        content: [{ type: 'input_text', text: 'hello' }],
      });
      expect(added).toEqual({
        object: 'list',
        data: [
          {
            id: expect.stringMatching(/^msg_/),
            type: 'message',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'hi there', annotations: [] }],
          },
          {
            id: expect.stringMatching(/^msg_/),
            type: 'message',
            role: 'user',
            status: 'completed',
            content: [{ type: 'input_text', text: 'how are you?' }],
          },
        ],
        first_id: idOf(reply),
        last_id: idOf(question),
        has_more: false,
      });
      expect(listed.data.map((item) => item.id)).toEqual([idOf(question), idOf(reply), initial.id]);
      expect(firstPage.data.map((item) => item.id)).toEqual([initial.id, idOf(reply)]);
      expect(firstPage.has_more).toBe(true);
      expect(secondPage.data.map((item) => item.id)).toEqual([idOf(question)]);
      expect(retrieved).toEqual(reply);
      expect(afterDelete).toEqual(conversation);
      expect(remaining.data.map((item) => item.id)).toEqual([initial.id, idOf(question)]);
      expect(notFoundBody(gone)).toEqual(openAiError(`Item with id '${idOf(reply)}' not found.`).error);
      expect(platform.items.has(idOf(reply))).toBe(false);
      expect(platform.items.get(idOf(question))).toEqual(question);
    });

    it('grows with the input and output of each response made in it', async () => {
      // Prepare
      const conversation = await client.conversations.create({
        items: [{ role: 'developer', content: 'Be kind.' }],
      });

      // Act
      const first = await client.responses.create({
        model: 'gpt-4o-mini',
        conversation: conversation.id,
        input: 'hi',
      });
      const second = await client.responses.create({
        model: 'o4-mini',
        conversation: { id: conversation.id },
        input: 'again',
      });
      const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
      const firstInput = platform.responses.get(first.id)!.inputItems[0]!;
      const secondInput = platform.responses.get(second.id)!.inputItems[0]!;

      // Assess
      expect(first.conversation).toEqual({ id: conversation.id });
      expect(second.conversation).toEqual({ id: conversation.id });
      expect(items.data.map((item) => item.id)).toEqual([
        platform.conversations.get(conversation.id)!.items[0]!.id,
        firstInput.id,
        idOf(first.output[0]),
        secondInput.id,
        idOf(second.output[0]),
        idOf(second.output[1]),
      ]);
      expect(items.data.map((item) => item.type)).toEqual([
        'message',
        'message',
        'message',
        'message',
        'reasoning',
        'message',
      ]);
      expect(items.data[2]).toEqual(first.output[0]);
      expect(items.data[3]).toEqual(
        expect.objectContaining({ role: 'user', content: [{ type: 'input_text', text: 'again' }] }),
      );
    });

    it('adds the output of a background response to its conversation once it completes', async () => {
      // Prepare
      const conversation = await client.conversations.create();

      // Act
      const queued = await client.responses.create({
        model: 'gpt-4o-mini',
        conversation: conversation.id,
        input: 'hi',
        background: true,
      });
      const whileQueued = await client.conversations.items.list(conversation.id);
      now = START_MS + 2 * STEP_MS;
      const done = await client.conversations.items.list(conversation.id);
      const completed = await client.responses.retrieve(queued.id);

      // Assess
      expect(whileQueued.data).toHaveLength(1);
      expect(done.data.map((item) => item.id)).toEqual([idOf(completed.output[0]), whileQueued.data[0]!.id]);
    });

    it('updates metadata and deletes a conversation; then it is a 404, but its items stay usable', async () => {
      // Prepare
      const conversation = await client.conversations.create({
        items: [{ role: 'user', content: 'keep me' }],
      });
      const kept = platform.conversations.get(conversation.id)!.items[0]!;

      // Act
      const updated = await client.conversations.update(conversation.id, { metadata: { stage: 'two' } });
      const retrieved = await client.conversations.retrieve(conversation.id);
      const deleted = await client.conversations.delete(conversation.id);
      const afterRetrieve = await rejectionOf(client.conversations.retrieve(conversation.id));
      const afterRespond = await rejectionOf(
        client.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: 'hi' }),
      );
      const referring = await client.responses.create({
        model: 'gpt-4o-mini',
        input: [{ type: 'item_reference', id: kept.id }],
      });

      // Assess
      expect(updated).toEqual({ ...conversation, metadata: { stage: 'two' } });
      expect(retrieved).toEqual(updated);
      expect(deleted).toEqual({ id: conversation.id, object: 'conversation.deleted', deleted: true });
      expect(notFoundBody(afterRetrieve)).toEqual(
        openAiError(`Conversation with id '${conversation.id}' not found.`).error,
      );
      expect(notFoundBody(afterRespond)).toEqual(
        openAiError(`Conversation with id '${conversation.id}' not found.`, 'conversation').error,
      );
      expect(platform.conversations.has(conversation.id)).toBe(false);
      expect(platform.responses.get(referring.id)?.inputItems).toEqual([kept]);
    });

    it('does not show an item of one conversation through another (404)', async () => {
      // Prepare
      const mine = await client.conversations.create({ items: [{ role: 'user', content: 'mine' }] });
      const other = await client.conversations.create();
      const item = platform.conversations.get(mine.id)!.items[0]!;

      // Act
      const retrieve = await rejectionOf(
        client.conversations.items.retrieve(item.id, { conversation_id: other.id }),
      );
      const remove = await rejectionOf(
        client.conversations.items.delete(item.id, { conversation_id: other.id }),
      );

      // Assess
      expect(notFoundBody(retrieve)).toEqual(openAiError(`Item with id '${item.id}' not found.`).error);
      expect(notFoundBody(remove)).toEqual(openAiError(`Item with id '${item.id}' not found.`).error);
      expect(platform.conversations.get(mine.id)?.items).toEqual([item]);
    });
  });

  describe('unknown response, conversation, item and file ids', () => {
    const model = 'gpt-4o-mini';
    const conversationError = ["Conversation with id 'conv_nope' not found.", null, null] as const;
    const responseError = ["Response with id 'resp_nope' not found.", null, null] as const;
    it.each([
      ['response', () => client.responses.retrieve('resp_nope'), ...responseError],
      ['response to delete', () => client.responses.delete('resp_nope'), ...responseError],
      ['response to cancel', () => client.responses.cancel('resp_nope'), ...responseError],
      ['response input items', () => client.responses.inputItems.list('resp_nope'), ...responseError],
      [
        'previous response',
        () => client.responses.create({ model, input: 'hi', previous_response_id: 'resp_nope' }),
        "Previous response with id 'resp_nope' not found.",
        'previous_response_id',
        'previous_response_not_found',
      ],
      [
        'conversation of a response',
        () => client.responses.create({ model, input: 'hi', conversation: 'conv_nope' }),
        "Conversation with id 'conv_nope' not found.",
        'conversation',
        null,
      ],
      [
        'message id in input',
        () =>
          client.responses.create({
            model,
            input: [
              {
                id: 'msg_nope',
                type: 'message',
                role: 'assistant',
                status: 'completed',
                content: [{ type: 'output_text', text: 'x', annotations: [] }],
              },
            ],
          }),
        NOT_STORED('msg_nope'),
        'input',
        null,
      ],
      [
        'reasoning id in input',
        () => client.responses.create({ model, input: [{ id: 'rs_nope', type: 'reasoning', summary: [] }] }),
        NOT_STORED('rs_nope'),
        'input',
        null,
      ],
      [
        'function call id in input',
        () =>
          client.responses.create({
            model,
            input: [{ id: 'fc_nope', type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' }],
          }),
        NOT_STORED('fc_nope'),
        'input',
        null,
      ],
      [
        'item_reference',
        () => client.responses.create({ model, input: [{ type: 'item_reference', id: 'msg_nope' }] }),
        NOT_STORED('msg_nope'),
        'input',
        null,
      ],
      [
        'input_file',
        () =>
          client.responses.create({
            model,
            input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-nope' }] }],
          }),
        'No such File object: file-nope',
        'input',
        null,
      ],
      [
        'input_image',
        () =>
          client.responses.create({
            model,
            input: [
              { role: 'user', content: [{ type: 'input_image', detail: 'auto', file_id: 'file-nope' }] },
            ],
          }),
        'No such File object: file-nope',
        'input',
        null,
      ],
      ['conversation', () => client.conversations.retrieve('conv_nope'), ...conversationError],
      [
        'conversation to update',
        () => client.conversations.update('conv_nope', { metadata: {} }),
        ...conversationError,
      ],
      ['conversation to delete', () => client.conversations.delete('conv_nope'), ...conversationError],
      [
        'conversation to add to',
        () => client.conversations.items.create('conv_nope', { items: [{ role: 'user', content: 'x' }] }),
        ...conversationError,
      ],
      ['conversation items', () => client.conversations.items.list('conv_nope'), ...conversationError],
      [
        'conversation item',
        async () =>
          client.conversations.items.retrieve('msg_nope', {
            conversation_id: (await client.conversations.create()).id,
          }),
        "Item with id 'msg_nope' not found.",
        null,
        null,
      ],
      [
        'item in new conversation items',
        () => client.conversations.create({ items: [{ type: 'item_reference', id: 'msg_nope' }] }),
        "Item with id 'msg_nope' not found.",
        'items',
        null,
      ],
    ])(
      'an unknown %s is a 404 NotFoundError in the OpenAI shape',
      async (_kind, call, message, param, code) => {
        // Prepare
        const before = platform.responses.size;

        // Act
        const error = await rejectionOf(call());

        // Assess
        expect(notFoundBody(error)).toEqual(openAiError(message, param, code).error);
        expect(platform.responses.size).toBe(before);
      },
    );
  });

  describe('errors', () => {
    it.each([
      ['file', () => client.files.retrieve('file-nope'), 'No such File object: file-nope'],
      ['file content', () => client.files.content('file-nope'), 'No such File object: file-nope'],
      ['upload', () => client.uploads.cancel('upload_nope'), 'No such Upload object: upload_nope'],
      [
        'job',
        () => client.fineTuning.jobs.retrieve('ftjob-nope'),
        'No such FineTuningJob object: ftjob-nope',
      ],
      [
        'job events',
        () => client.fineTuning.jobs.listEvents('ftjob-nope'),
        'No such FineTuningJob object: ftjob-nope',
      ],
      [
        'job checkpoints',
        () => client.fineTuning.jobs.checkpoints.list('ftjob-nope'),
        'No such FineTuningJob object: ftjob-nope',
      ],
    ])('an unknown %s is a 404 NotFoundError in the OpenAI shape', async (_kind, call, message) => {
      // Act
      const error = await rejectionOf(call());

      // Assess
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual(
        openAiError(message, 'id').error,
      );
    });

    it('answers an unknown route with a 404 in the OpenAI shape', async () => {
      // Act
      const response = await fetch(`${platform.baseUrl}/nothing/here`);

      // Assess
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual(openAiError('Invalid URL (GET /v1/nothing/here)'));
    });

    it('requires the API key when one is set (401)', async () => {
      // Prepare
      const guarded = await startFakePlatform({ apiKey: 'sk-right' });
      const wrong = new OpenAI({ baseURL: guarded.baseUrl, apiKey: 'sk-wrong', maxRetries: 0 });
      const right = new OpenAI({ baseURL: guarded.baseUrl, apiKey: 'sk-right', maxRetries: 0 });

      try {
        // Act
        const error = await rejectionOf(wrong.files.list());
        const page = await right.files.list();

        // Assess
        expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
        expect((error as InstanceType<typeof OpenAI.AuthenticationError>).error).toEqual(
          openAiError('Incorrect API key provided.', null, 'invalid_api_key').error,
        );
        expect(page.data).toEqual([]);
        expect(guarded.requests.map((r) => r.headers.authorization)).toEqual([
          'Bearer sk-wrong',
          'Bearer sk-right',
        ]);
      } finally {
        await guarded.close();
      }
    });
  });
});
