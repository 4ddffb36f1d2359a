// The fake OpenAI platform driven straight by the official SDK (no gateway): shapes, pagination, job clock, errors.
import OpenAI, { toFile } from 'openai';
import {
  type FakePlatform,
  platformAnswer,
  platformChatUsage,
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
