// The fake OpenAI platform driven straight by the official SDK (no gateway): shapes, pagination, job clock, errors,
// and the Responses and Conversations APIs refusing every id they do not hold.
import OpenAI, { toFile } from 'openai';
import type { ResponseInputItem, ResponseStreamEvent } from 'openai/resources/responses/responses';
import {
  type FakePlatform,
  platformAnswer,
  platformChatUsage,
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
