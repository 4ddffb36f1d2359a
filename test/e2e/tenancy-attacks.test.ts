// The attacks of the tenancy, budget and input review, replayed against the real local gateway: tenants A and B
// (and a poor and an unbudgeted one) share a fake OpenAI platform that records every request that reaches it.
// Each attack must fail closed: the answer is an OpenAI error, and the foreign id (or the unpriced model, or
// the bad input) never reaches the platform.
import fc from 'fast-check';
import OpenAI, { toFile } from 'openai';
import { MemoryKeyStore } from '../../lambda/adapters/memory/index.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { UNKNOWN_MODEL } from '../../lambda/core/gateway.ts';
import { createJobObserver, trackJobs } from '../../lambda/core/jobs.ts';
import { createTargetClient } from '../../lambda/core/upstream/client.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { type FakePlatform, platformAnswer, startFakePlatform } from '../fixtures/fake-platform.ts';
import {
  type FakeUpstream,
  replyChat,
  replyJson,
  sleep,
  startFakeUpstream,
} from '../fixtures/fake-upstream.ts';
import { type GatewayHarness, startGateway, TEST_KEY } from '../fixtures/gateway-harness.ts';
import { seedKey, testKey } from '../fixtures/tenants.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
const KEY_A = TEST_KEY;
const KEY_B = testKey('tenant-b-key-0001');
const KEY_POOR = testKey('tenant-poor-key-01');
const KEY_UNBUDGETED = testKey('tenant-free-key-01');
const BASE_MODEL = 'gpt-4o-mini-2024-07-18';
/** $0.01: a small prompt fits, a whole document does not. */
const POOR_BUDGET = 10_000;
const TRAINING = `${JSON.stringify({
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'hello' },
  ],
})}\n`;

const clock = new FakeClock(Date.UTC(2026, 11, 6, 12));
let platform: FakePlatform;
let gateway: GatewayHarness;
let a: OpenAI;
let b: OpenAI;

const configInput = (baseUrl: string) => ({
  routes: [
    {
      model: 'gpt-',
      match: 'prefix' as const,
      targets: [{ id: 'openai', provider: 'openai' as const, baseUrl, secretName: 'openai-api-key' }],
    },
    {
      model: 'free-model',
      targets: [{ id: 'openai-free', provider: 'openai' as const, baseUrl, secretName: 'openai-api-key' }],
    },
  ],
  prices: {
    'gpt-4o-mini': { input: 0.15, output: 0.6, training: 3 },
    'gpt-4o': { input: 2.5, output: 10, fineTunedMultiplier: 1.5 },
    'free-model': { free: true as const },
  },
  fineTuning: { pollIntervalMs: 1_000, maxPollIntervalMs: 8_000 },
});

/** A request as a tenant sends it, through the local server. */
const call = async (key: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${gateway.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: { error?: { message: string; param: string | null; code: string | null; type: string } } & Record<
    string,
    unknown
  >;
  try {
    json = JSON.parse(text);
  } catch {
    json = {};
  }
  return { status: response.status, json, text };
};

/** Whether anything that reached the platform since request number `since` names `text` (in its path or body). */
const reachedPlatform = (text: string, since = 0): boolean =>
  platform.requests
    .slice(since)
    .some((request) => request.path.includes(text) || request.body.includes(text));

/** B's objects, which A attacks. */
const theirs = {
  file: '',
  response: '',
  item: '',
  conversation: '',
  fineTuned: '',
};
/** A's own, for the requests that must still work. */
const mine = { file: '', response: '', item: '' };

beforeAll(async () => {
  platform = await startFakePlatform({ now: () => clock.now(), apiKey: UPSTREAM_KEY, stepMs: 1_000 });
  gateway = await startGateway(configInput(platform.baseUrl), {
    secrets: { 'openai-api-key': UPSTREAM_KEY },
    clock,
  });
  seedKey(gateway.db, KEY_A, { tenantId: 'tenant-a', monthlyBudgetMicroUsd: 100_000_000 });
  seedKey(gateway.db, KEY_B, { tenantId: 'tenant-b', monthlyBudgetMicroUsd: 100_000_000 });
  seedKey(gateway.db, KEY_POOR, { tenantId: 'tenant-poor', monthlyBudgetMicroUsd: POOR_BUDGET });
  seedKey(gateway.db, KEY_UNBUDGETED, { tenantId: 'tenant-unbudgeted' });
  a = new OpenAI({ apiKey: KEY_A, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });
  b = new OpenAI({ apiKey: KEY_B, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });

  // B: a file, a stored response with its output item, a conversation, and a fine-tuned model.
  theirs.file = (
    await b.files.create({
      file: await toFile(Buffer.from('B secret notes'), 'notes.txt'),
      purpose: 'user_data',
    })
  ).id;
  const responseB = await b.responses.create({ model: BASE_MODEL, input: 'B private question' });
  theirs.response = responseB.id;
  theirs.item = responseB.output[0]!.id!;
  theirs.conversation = (await b.conversations.create({ items: [{ role: 'user', content: 'B thread' }] })).id;
  const training = await b.files.create({
    file: await toFile(Buffer.from(TRAINING), 'train.jsonl'),
    purpose: 'fine-tune',
  });
  await b.fineTuning.jobs.create({ model: BASE_MODEL, training_file: training.id });
  const config = parseGatewayConfig(configInput(platform.baseUrl));
  const observer = createJobObserver({
    config,
    ownership: gateway.ownership,
    ledger: gateway.ledger,
    events: gateway.jobEvents,
    keys: new MemoryKeyStore(gateway.db),
    clock,
    logger: gateway.logger,
  });
  const upstream = createNodeHttpUpstream();
  const targets = createTargetClient({ config, secrets: gateway.secrets, upstream });
  for (let step = 0; step < 5; step += 1) {
    clock.advance(1_000);
    await trackJobs({
      ownership: gateway.ownership,
      observer,
      targets,
      clock,
      logger: gateway.logger,
      metrics: gateway.metrics,
    });
  }
  upstream.close();
  const [job] = [...platform.jobs.values()];
  theirs.fineTuned = job!.view().fine_tuned_model!;

  // A: its own file and response.
  mine.file = (
    await a.files.create({ file: await toFile(Buffer.from('A notes'), 'mine.txt'), purpose: 'user_data' })
  ).id;
  const responseA = await a.responses.create({ model: BASE_MODEL, input: 'A question' });
  mine.response = responseA.id;
  mine.item = responseA.output[0]!.id!;
});

afterAll(async () => {
  await gateway.close();
  await platform.close();
});

describe('1. a fine-tuning job may not start from another tenant’s fine-tuned model', () => {
  it('answers 404 as for an unknown model, and the job never reaches the platform', async () => {
    // Prepare
    const training = await a.files.create({
      file: await toFile(Buffer.from(TRAINING), 'a.jsonl'),
      purpose: 'fine-tune',
    });
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/fine_tuning/jobs', {
      model: theirs.fineTuned,
      training_file: training.id,
    });

    // Assess
    expect(attack.status).toBe(404);
    expect(attack.json.error).toEqual({
      message: `The model '${theirs.fineTuned}' does not exist or you do not have access to it.`,
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    });
    expect(reachedPlatform(theirs.fineTuned, since)).toBe(false);
  });

  it('lets B start a job from its own fine-tuned model (priced from its base model)', async () => {
    // Prepare
    const training = await b.files.create({
      file: await toFile(Buffer.from(TRAINING), 'b2.jsonl'),
      purpose: 'fine-tune',
    });

    // Act
    const job = await b.fineTuning.jobs.create({ model: theirs.fineTuned, training_file: training.id });

    // Assess
    expect(job.model).toBe(theirs.fineTuned);
  });
});

/** A's requests that name one of B's ids, where the OpenAI API allows an id. */
const attacks: Array<[string, string, () => Record<string, unknown>, string, () => string]> = [
  [
    'a chat file content part',
    '/v1/chat/completions',
    () => ({
      model: BASE_MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'read this' },
            { type: 'file', file: { file_id: theirs.file } },
          ],
        },
      ],
    }),
    'messages[0].content[1].file.file_id',
    () => theirs.file,
  ],
  [
    'a Responses input_file',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: [{ role: 'user', content: [{ type: 'input_file', file_id: theirs.file }] }],
    }),
    'input[0].content[0].file_id',
    () => theirs.file,
  ],
  [
    'an input_image by file id',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: [{ role: 'user', content: [{ type: 'input_image', file_id: theirs.file }] }],
    }),
    'input[0].content[0].file_id',
    () => theirs.file,
  ],
  [
    'previous_response_id',
    '/v1/responses',
    () => ({ model: BASE_MODEL, input: 'go on', previous_response_id: theirs.response }),
    'previous_response_id',
    () => theirs.response,
  ],
  [
    'an output item passed back as input',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: [
        {
          type: 'message',
          role: 'assistant',
          id: theirs.item,
          content: [{ type: 'output_text', text: 'x', annotations: [] }],
        },
      ],
    }),
    'input[0].id',
    () => theirs.item,
  ],
  [
    'an item_reference',
    '/v1/responses',
    () => ({ model: BASE_MODEL, input: [{ type: 'item_reference', id: theirs.item }] }),
    'input[0].id',
    () => theirs.item,
  ],
  [
    'a bare { id } item (an item reference without its type)',
    '/v1/responses',
    () => ({ model: BASE_MODEL, input: [{ id: theirs.item }] }),
    'input[0].id',
    () => theirs.item,
  ],
  [
    'a conversation',
    '/v1/responses',
    () => ({ model: BASE_MODEL, input: 'hi', conversation: theirs.conversation }),
    'conversation',
    () => theirs.conversation,
  ],
  [
    'a conversation object',
    '/v1/responses',
    () => ({ model: BASE_MODEL, input: 'hi', conversation: { id: theirs.conversation } }),
    'conversation.id',
    () => theirs.conversation,
  ],
  [
    'a code interpreter container’s files',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: 'hi',
      tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [mine.file, theirs.file] } }],
    }),
    'tools[0].container.file_ids[1]',
    () => theirs.file,
  ],
  [
    'an image generation mask',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: 'hi',
      tools: [{ type: 'image_generation', input_image_mask: { file_id: theirs.file } }],
    }),
    'tools[0].input_image_mask.file_id',
    () => theirs.file,
  ],
  [
    'a function call output’s file',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: [
        {
          type: 'function_call_output',
          call_id: 'call_1',
          output: [{ type: 'input_file', file_id: theirs.file }],
        },
      ],
    }),
    'input[0].output[0].file_id',
    () => theirs.file,
  ],
  [
    'a prompt-cache comparison response',
    '/v1/responses',
    () => ({
      model: BASE_MODEL,
      input: 'hi',
      prompt_cache_options: { comparison_response_id: theirs.response },
    }),
    'prompt_cache_options.comparison_response_id',
    () => theirs.response,
  ],
];

describe('2. ids inside proxied bodies are the tenant’s own', () => {
  it.each(attacks)(
    'refuses %s naming another tenant’s id with 404, and the id never leaves',
    async (_name, path, body, param, foreign) => {
      // Prepare
      const since = platform.requests.length;

      // Act
      const attack = await call(KEY_A, 'POST', path, body());

      // Assess
      expect(attack.status).toBe(404);
      expect(attack.json.error?.param).toBe(param);
      expect(attack.json.error?.type).toBe('invalid_request_error');
      expect(platform.requests.length).toBe(since);
      expect(reachedPlatform(foreign(), since)).toBe(false);
    },
  );

  it.each([
    [
      'a vector store',
      { tools: [{ type: 'file_search', vector_store_ids: ['vs_abc123'] }] },
      'tools[0].vector_store_ids[0]',
      "Vector store with id 'vs_abc123' not found: this gateway does not serve vector stores.",
    ],
    [
      'a prompt template',
      { prompt: { id: 'pmpt_abc123' } },
      'prompt.id',
      "Prompt with id 'pmpt_abc123' not found: this gateway does not serve prompt templates.",
    ],
    [
      'a skill',
      {
        tools: [
          {
            type: 'shell',
            environment: {
              type: 'container_auto',
              skills: [{ type: 'skill_reference', skill_id: 'skill_1' }],
            },
          },
        ],
      },
      'tools[0].environment.skills[0].skill_id',
      "Skill with id 'skill_1' not found: this gateway does not serve skills.",
    ],
  ])('refuses %s, which the gateway never creates for a tenant', async (_name, fields, param, message) => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/responses', { model: BASE_MODEL, input: 'hi', ...fields });

    // Assess
    expect(attack.status).toBe(404);
    expect(attack.json.error).toMatchObject({ param, message });
    expect(platform.requests.length).toBe(since);
  });

  it('refuses a field named like an id that it cannot check (400), rather than pass it on', async () => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/responses', {
      model: BASE_MODEL,
      input: 'hi',
      tools: [{ type: 'future_tool', dataset_id: 'ds_1' }],
    });

    // Assess
    expect(attack.status).toBe(400);
    expect(attack.json.error).toMatchObject({ code: 'unsupported_id_field', param: 'tools[0].dataset_id' });
    expect(platform.requests.length).toBe(since);
  });

  it.each([
    ['GET', () => `/v1/responses/${theirs.response}`],
    ['DELETE', () => `/v1/responses/${theirs.response}`],
    ['GET', () => `/v1/responses/${theirs.response}/input_items`],
    ['POST', () => `/v1/responses/${theirs.response}/cancel`],
    ['GET', () => `/v1/conversations/${theirs.conversation}`],
    ['POST', () => `/v1/conversations/${theirs.conversation}`],
    ['DELETE', () => `/v1/conversations/${theirs.conversation}`],
    ['GET', () => `/v1/conversations/${theirs.conversation}/items`],
    ['POST', () => `/v1/conversations/${theirs.conversation}/items`],
    ['GET', () => `/v1/conversations/${theirs.conversation}/items/${theirs.item}`],
  ])(
    'answers %s %s of another tenant’s object with 404, without asking the platform',
    async (method, path) => {
      // Prepare
      const since = platform.requests.length;
      const body = method === 'POST' ? { metadata: { a: 'b' }, items: [] } : undefined;

      // Act
      const attack = await call(KEY_A, method, path(), body);

      // Assess
      expect(attack.status).toBe(404);
      expect(platform.requests.length).toBe(since);
    },
  );

  it('refuses a conversation created with another tenant’s item in it', async () => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/conversations', {
      items: [{ type: 'item_reference', id: theirs.item }],
    });

    // Assess
    expect(attack.status).toBe(404);
    expect(attack.json.error?.param).toBe('items[0].id');
    expect(platform.requests.length).toBe(since);
  });

  it('records the tenant’s own responses and items, so that it can continue them and pass them back', async () => {
    // Act
    const next = await a.responses.create({
      model: BASE_MODEL,
      input: 'go on',
      previous_response_id: mine.response,
    });
    const passedBack = await a.responses.create({
      model: BASE_MODEL,
      input: [
        { type: 'item_reference', id: mine.item },
        { role: 'user', content: 'and?' },
      ],
    });
    const withFile = await a.responses.create({
      model: BASE_MODEL,
      input: [{ role: 'user', content: [{ type: 'input_file', file_id: mine.file }] }],
    });
    const fetched = await a.responses.retrieve(next.id);
    const inputItems = await a.responses.inputItems.list(next.id);

    // Assess
    expect(next.output_text).toBe(platformAnswer(BASE_MODEL));
    expect(passedBack.status).toBe('completed');
    expect(withFile.status).toBe('completed');
    expect(fetched.id).toBe(next.id);
    expect(inputItems.data.length).toBeGreaterThan(0);
  });

  it('records a streamed response before its last event, so that a continuation sent at once finds it', async () => {
    // Act
    const stream = await a.responses.create({ model: BASE_MODEL, input: 'stream it', stream: true });
    let id: string | undefined;
    for await (const event of stream) if (event.type === 'response.completed') id = event.response.id;
    const next = await a.responses.create({
      model: BASE_MODEL,
      input: 'and then',
      previous_response_id: id!,
    });

    // Assess
    expect(next.previous_response_id).toBe(id);
  });

  it('lets a tenant use its own conversation, and not another’s items in it', async () => {
    // Prepare
    const conversation = await a.conversations.create({});
    const since = platform.requests.length;

    // Act
    const used = await a.responses.create({
      model: BASE_MODEL,
      input: 'hello',
      conversation: conversation.id,
    });
    const items = await a.conversations.items.list(conversation.id);
    const smuggled = await call(KEY_A, 'POST', `/v1/conversations/${conversation.id}/items`, {
      items: [{ type: 'item_reference', id: theirs.item }],
    });

    // Assess
    expect(used.status).toBe('completed');
    expect(items.data.length).toBe(2);
    expect(smuggled.status).toBe(404);
    expect(reachedPlatform(theirs.item, since)).toBe(false);
  });

  it('refuses a background response (its usage would never be metered) with a 400 naming the parameter', async () => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/responses', {
      model: BASE_MODEL,
      input: 'hi',
      background: true,
    });

    // Assess
    expect(attack.status).toBe(400);
    expect(attack.json.error).toMatchObject({ param: 'background', code: 'unsupported_parameter' });
    expect(platform.requests.length).toBe(since);
  });
});

describe('2. property: an id the tenant does not own, anywhere an id may be, is a 404 and no upstream call', () => {
  /** Positions an id may take in a chat or Responses body, each with the param it is reported as. */
  const positions: ReadonlyArray<
    (
      id: string,
      kind: 'file' | 'response' | 'item' | 'conversation',
    ) => [string, Record<string, unknown>, string] | undefined
  > = [
    (id, kind) =>
      kind === 'file'
        ? [
            '/v1/chat/completions',
            { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: id } }] }] },
            'messages[0].content[0].file.file_id',
          ]
        : undefined,
    (id, kind) =>
      kind === 'file'
        ? [
            '/v1/responses',
            { input: [{ role: 'user', content: [{ type: 'input_file', file_id: id }] }] },
            'input[0].content[0].file_id',
          ]
        : undefined,
    (id, kind) =>
      kind === 'response'
        ? ['/v1/responses', { input: 'x', previous_response_id: id }, 'previous_response_id']
        : undefined,
    (id, kind) =>
      kind === 'item'
        ? ['/v1/responses', { input: [{ type: 'item_reference', id }] }, 'input[0].id']
        : undefined,
    (id, kind) =>
      kind === 'item'
        ? ['/v1/responses', { input: [{ type: 'reasoning', id, summary: [] }] }, 'input[0].id']
        : undefined,
    (id, kind) =>
      kind === 'conversation'
        ? ['/v1/responses', { input: 'x', conversation: id }, 'conversation']
        : undefined,
    (id, kind) =>
      kind === 'file'
        ? [
            '/v1/responses',
            {
              input: 'x',
              tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [id] } }],
            },
            'tools[0].container.file_ids[0]',
          ]
        : undefined,
  ];
  const kinds = ['file', 'response', 'item', 'conversation'] as const;
  /** Benign text before the id: more messages, or input items, that name nothing. */
  const filler = fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 });

  it('holds for every position, kind and surrounding content', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...kinds),
        fc.nat(positions.length - 1),
        filler,
        fc.boolean(),
        async (kind, start, texts, streamed) => {
          // Prepare: the first position that takes this kind, from a random start.
          let built: ReturnType<(typeof positions)[number]>;
          for (let i = 0; i < positions.length && built === undefined; i += 1)
            built = positions[(start + i) % positions.length]!(theirs[kind], kind);
          const [path, fields, param] = built!;
          const body: Record<string, unknown> = { model: BASE_MODEL, stream: streamed, ...fields };
          const shift = texts.length;
          if (Array.isArray(body.messages))
            body.messages = [...texts.map((text) => ({ role: 'user', content: text })), ...body.messages];
          else if (Array.isArray(body.input))
            body.input = [...texts.map((text) => ({ role: 'user', content: text })), ...body.input];
          const expectedParam = param.replace(/^(messages|input)\[0\]/, `$1[${shift}]`);
          const since = platform.requests.length;

          // Act
          const attack = await call(KEY_A, 'POST', path, body);

          // Assess
          expect(attack.status).toBe(404);
          expect(attack.json.error?.param).toBe(expectedParam);
          expect(platform.requests.length).toBe(since);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('lets the same positions through with the tenant’s own ids', async () => {
    for (const [kind, id] of [
      ['file', mine.file],
      ['response', mine.response],
      ['item', mine.item],
    ] as const) {
      for (const position of positions) {
        const built = position(id, kind);
        if (built === undefined) continue;
        const [path, fields] = built;
        const since = platform.requests.length;
        const answer = await call(KEY_A, 'POST', path, { model: BASE_MODEL, ...fields });
        // The gateway sent it on: the platform answers (it may refuse a shape, never the ownership).
        expect(reachedPlatform(id, since)).toBe(true);
        expect(answer.json.error?.code ?? null).not.toBe('unsupported_id_field');
      }
    }
  });
});

describe('3. a model without a price does not run on a budget for free', () => {
  it('refuses an unpriced model to a tenant with a budget, naming the model and the config field', async () => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_POOR, 'POST', '/v1/chat/completions', {
      model: 'gpt-4.5-preview',
      messages: [{ role: 'user', content: 'hi' }],
    });

    // Assess
    expect(attack.status).toBe(400);
    expect(attack.json.error?.code).toBe('model_not_priced');
    expect(attack.json.error?.param).toBe('model');
    expect(attack.json.error?.message).toContain("'gpt-4.5-preview'");
    expect(attack.json.error?.message).toContain('`prices`');
    expect(reachedPlatform('gpt-4.5-preview', since)).toBe(false);
  });

  it('prices a dated snapshot as its family, and charges it', async () => {
    // Act
    const answer = await call(KEY_POOR, 'POST', '/v1/chat/completions', {
      model: 'gpt-4o-2024-08-06',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });
    await gateway.gateway.drain();

    // Assess: 10 input tokens at $2.50 and 3 output tokens at $10 per 1M.
    expect(answer.status).toBe(200);
    const record = gateway.ledger.records.find(
      (r) => r.tenantId === 'tenant-poor' && r.model === 'gpt-4o-2024-08-06',
    );
    expect(record?.costMicroUsd).toBe(55);
  });

  it('serves an unpriced model to a tenant without a budget, metered at 0 and counted as unpriced', async () => {
    // Prepare
    const before = gateway.metrics.sum('UnpricedRequests');

    // Act
    const answer = await call(KEY_UNBUDGETED, 'POST', '/v1/chat/completions', {
      model: 'gpt-4.5-preview',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await gateway.gateway.drain();

    // Assess
    expect(answer.status).toBe(200);
    expect(gateway.metrics.sum('UnpricedRequests')).toBe(before + 1);
  });

  it('serves a model the config marks free to a tenant with a budget', async () => {
    const answer = await call(KEY_POOR, 'POST', '/v1/chat/completions', {
      model: 'free-model',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(answer.status).toBe(200);
  });

  it('prices a fine-tuned model from its base model times the multiplier', async () => {
    // Act
    const answer = await call(KEY_B, 'POST', '/v1/chat/completions', {
      model: theirs.fineTuned,
      messages: [{ role: 'user', content: 'hi' }],
    });
    await gateway.gateway.drain();

    // Assess: gpt-4o-mini doubled: 10 × $0.30 + 3 × $1.20 per 1M = 6.6 → 7 µ$.
    expect(answer.status).toBe(200);
    const record = gateway.ledger.records.find((r) => r.model === theirs.fineTuned);
    expect(record?.costMicroUsd).toBe(7);
  });

  it.each([
    ['an unpriced model', 'gpt-4.1-nano', 'prices["gpt-4.1-nano"].training'],
    ['a model priced without training', 'gpt-4o', 'prices["gpt-4o"].training'],
  ])('refuses fine-tuning %s to a tenant with a budget', async (_name, model, field) => {
    // Prepare
    const training = await a.files.create({
      file: await toFile(Buffer.from(TRAINING), 't.jsonl'),
      purpose: 'fine-tune',
    });
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/fine_tuning/jobs', { model, training_file: training.id });

    // Assess
    expect(attack.status).toBe(400);
    expect(attack.json.error?.code).toBe('model_not_priced');
    expect(attack.json.error?.message).toContain(field);
    expect(platform.requests.length).toBe(since);
  });
});

describe('4. budget holds count file inputs by their size', () => {
  const HUNDRED_KB = 'x'.repeat(100_000);

  it('holds an owned text file by its stored size: 100 KB does not fit $0.01 of gpt-4o-mini', async () => {
    // Prepare
    const poor = new OpenAI({ apiKey: KEY_POOR, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });
    const file = await poor.files.create({
      file: await toFile(Buffer.from(HUNDRED_KB), 'big.txt'),
      purpose: 'user_data',
    });
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_POOR, 'POST', '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      max_tokens: 5,
      messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: file.id } }] }],
    });

    // Assess: 100,000 tokens held at $0.15 / 1M is at least $0.015.
    expect(attack.status).toBe(429);
    expect(attack.json.error?.code).toBe('insufficient_quota');
    const held = Number(/may cost up to \$([\d.]+)/.exec(attack.json.error!.message)?.[1]);
    expect(held).toBeGreaterThanOrEqual(0.015);
    expect(platform.requests.length).toBe(since);
  });

  it('holds inline file data by its decoded size', async () => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_POOR, 'POST', '/v1/responses', {
      model: 'gpt-4o-mini',
      max_output_tokens: 16,
      input: [
        {
          role: 'user',
          content: [
            {
              type: 'input_file',
              filename: 'big.txt',
              file_data: `data:text/plain;base64,${Buffer.from(HUNDRED_KB).toString('base64')}`,
            },
          ],
        },
      ],
    });

    // Assess
    expect(attack.status).toBe(429);
    expect(platform.requests.length).toBe(since);
  });

  it('holds a PDF, whose pages are also read as images, at the whole context window however small it is', async () => {
    // Prepare: 1 KB either way; as text it fits the budget, as a PDF it does not.
    const kilobyte = Buffer.from('%PDF-1.4 '.padEnd(1_000, ' ')).toString('base64');
    const ask = (filename: string, mediaType: string) =>
      call(KEY_POOR, 'POST', '/v1/chat/completions', {
        model: 'gpt-4o-mini',
        max_tokens: 5,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'file', file: { filename, file_data: `data:${mediaType};base64,${kilobyte}` } },
            ],
          },
        ],
      });

    // Act
    const asPdf = await ask('doc.pdf', 'application/pdf');
    const asText = await ask('doc.txt', 'text/plain');

    // Assess
    expect(asPdf.status).toBe(429);
    expect(asText.status).toBe(200);
  });
});

describe('5. the client’s model string reaches no metric, usage row or log before it is valid', () => {
  it.each([
    ['2 KB long', `gpt-${'a'.repeat(2_044)}`],
    ['with ANSI escapes and a newline', 'gpt-4o\u001b[2K\rTOTAL $0.00\n'],
  ])(
    'refuses a model name %s, records the request as (unknown model), and emits no such dimension',
    async (_name, model) => {
      // Prepare
      const since = platform.requests.length;
      const records = gateway.ledger.records.length;

      // Act
      const attack = await call(KEY_A, 'POST', '/v1/chat/completions', {
        model,
        messages: [{ role: 'user', content: 'hi' }],
      });
      await gateway.gateway.drain();

      // Assess
      expect(attack.status).toBe(400);
      expect(attack.json.error).toMatchObject({ param: 'model', code: 'invalid_value' });
      expect(platform.requests.length).toBe(since);
      const recorded = gateway.ledger.records.slice(records);
      expect(recorded.map((record) => record.model)).toEqual([UNKNOWN_MODEL]);
      for (const values of gateway.metrics.dimensionValues.values()) {
        for (const value of values) {
          expect(value.length).toBeLessThanOrEqual(64);
          expect([...value].every((char) => char >= ' ' && char <= '~')).toBe(true);
        }
      }
      const logged = JSON.stringify(gateway.logger.lines);
      expect(logged).not.toContain(model.slice(0, 40));
    },
  );

  it('names metrics by the route: a snapshot of a prefix route is counted as `gpt-*`', async () => {
    // Act
    await call(KEY_A, 'POST', '/v1/chat/completions', {
      model: 'gpt-4o-2024-11-20',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await gateway.gateway.drain();

    // Assess
    const models = gateway.metrics.dimensionValues.get('model')!;
    expect(models.has('gpt-*')).toBe(true);
    expect(models.has('gpt-4o-2024-11-20')).toBe(false);
  });
});

describe('the other findings', () => {
  it('refuses chat whose messages is not an array, and nothing reaches the platform', async () => {
    // Prepare
    const since = platform.requests.length;

    // Act
    const attack = await call(KEY_A, 'POST', '/v1/chat/completions', { model: BASE_MODEL, messages: 'hi' });
    const missing = await call(KEY_A, 'POST', '/v1/chat/completions', { model: BASE_MODEL });

    // Assess
    expect([attack.status, missing.status]).toEqual([400, 400]);
    expect(attack.json.error).toMatchObject({ param: 'messages', code: 'invalid_type' });
    expect(missing.json.error).toMatchObject({ param: 'messages', code: 'missing_required_parameter' });
    expect(platform.requests.length).toBe(since);
  });

  it('refuses max_tokens: 1e300', async () => {
    const attack = await call(
      KEY_A,
      'POST',
      '/v1/chat/completions',
      `{"model":"${BASE_MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":1e300}`,
    );
    expect(attack.status).toBe(400);
    expect(attack.json.error).toMatchObject({ param: 'max_tokens', code: 'integer_above_max_value' });
  });

  it.each([
    ['two model fields in a transcription', '/v1/audio/transcriptions', 'model'],
    ['two purpose fields in a file upload', '/v1/files', 'purpose'],
  ])('refuses %s, which could be authorised on one and acted on by the other', async (_name, path, field) => {
    // Prepare
    const form = new FormData();
    form.append(field, field === 'model' ? 'gpt-4o-mini-transcribe' : 'user_data');
    form.append(field, field === 'model' ? 'gpt-secret-model' : 'batch');
    form.append('file', new Blob([Buffer.from('RIFF....WAVE')]), 'a.wav');
    const since = platform.requests.length;

    // Act
    const response = await fetch(`${gateway.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}` },
      body: form,
    });
    const answer = (await response.json()) as { error: { param: string; code: string } };

    // Assess
    expect(response.status).toBe(400);
    expect(answer.error).toMatchObject({ param: field, code: 'duplicate_parameter' });
    expect(platform.requests.length).toBe(since);
  });
});

describe('the other findings, against an upstream the test scripts', () => {
  let upstream: FakeUpstream;
  let scripted: GatewayHarness;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    scripted = await startGateway({
      routes: [
        {
          model: 'gpt-test',
          targets: [{ id: 'only', provider: 'openai-compatible' as const, baseUrl: upstream.baseUrl }],
        },
      ],
      prices: { 'gpt-test': { input: 1, output: 2 } },
    });
  });

  afterAll(async () => {
    await scripted.close();
    await upstream.close();
  });

  it('passes an upstream 400 on without the keys and account ids it echoes', async () => {
    // Prepare
    upstream.setBehaviour(
      replyJson(400, {
        error: {
          message:
            'Invalid request from organization org-AbCdEf0123456789 in project proj_Zy0123456789abcd with key sk-proj-1234567890abcdefXYZ (Authorization: Bearer sk-live-abcdef0123456789); azure key 0123456789abcdef0123456789abcdef.',
          type: 'invalid_request_error',
          param: 'messages',
          code: 'bad_messages',
        },
      }),
    );

    // Act
    const response = await scripted.post('/v1/chat/completions', {
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const text = await response.text();

    // Assess: still useful (status, param, code, the message's words), never the secrets.
    expect(response.status).toBe(400);
    const error = (JSON.parse(text) as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ param: 'messages', code: 'bad_messages', type: 'invalid_request_error' });
    expect(error.message).toBe(
      'Invalid request from organization org-[redacted] in project proj_[redacted] with key sk-[redacted] (Authorization: Bearer [redacted]); azure key [redacted].',
    );
    for (const secret of [
      'AbCdEf0123456789',
      'Zy0123456789abcd',
      '1234567890abcdef',
      'sk-live',
      '0123456789abcdef0123456789abcdef',
    ])
      expect(text).not.toContain(secret);
  });

  it('meters the prompt, as an estimate, of a client that leaves before the first byte', async () => {
    // Prepare: the upstream has the request (and may bill it) but answers late.
    upstream.setBehaviour(async (_request, response) => {
      await sleep(400);
      if (!response.destroyed) replyChat('late')(_request, response);
    });
    const records = scripted.ledger.records.length;
    const controller = new AbortController();

    // Act
    const pending = scripted
      .post(
        '/v1/chat/completions',
        { model: 'gpt-test', messages: [{ role: 'user', content: 'a prompt the provider may bill' }] },
        { signal: controller.signal },
      )
      .catch((error: unknown) => error);
    await sleep(100);
    controller.abort();
    await pending;
    const [record] = (await scripted.ledger.waitFor(records + 1)).slice(records);

    // Assess
    expect(record).toMatchObject({ outcome: 'client_abort', exact: false, status: 499 });
    expect(record!.usage.inputTokens).toBeGreaterThan(0);
    expect(record!.usage.outputTokens).toBe(0);
    expect(record!.costMicroUsd).toBe(record!.usage.inputTokens);
  });
});
