// Each stage of a proxied request on its own, over the gateway context with in-memory ports: what it reads, what
// it writes into the request's state, and how it refuses. (The whole request is tested end to end elsewhere.)
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryLogger,
  MemoryMetrics,
  MemoryOwnershipStore,
  MemoryResponseCache,
  MemorySecretSource,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import { type GatewayConfigInput, parseGatewayConfig } from '../../lambda/core/config.ts';
import { compileContentFilters } from '../../lambda/core/content-rules.ts';
import { createContext, type GatewayDeps } from '../../lambda/core/context.ts';
import { PROXIED_ENDPOINTS } from '../../lambda/core/endpoints/catalogue.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import { type GatewayRequest, headersOf } from '../../lambda/core/exchange.ts';
import { authenticate } from '../../lambda/core/stages/authenticate.ts';
import { reserveBudget } from '../../lambda/core/stages/budget.ts';
import { answerFromCache, planFor, storeAnswer } from '../../lambda/core/stages/cache.ts';
import { readMultipartRequest, readRequest } from '../../lambda/core/stages/read-request.ts';
import { resolveModel } from '../../lambda/core/stages/resolve-model.ts';
import { respond } from '../../lambda/core/stages/respond.ts';
import { newRequestState } from '../../lambda/core/state.ts';
import { OwnedKind, type Principal, type Upstream, type UpstreamRequest } from '../../lambda/ports.ts';
import { engine } from '../fixtures/content-rules.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { testTokenCounter } from '../fixtures/gateway-harness.ts';
import { PEPPER_SECRET, seedKey, TEST_PEPPER, testKey } from '../fixtures/tenants.ts';

const encoder = new TextEncoder();
const CHAT = PROXIED_ENDPOINTS.get('/v1/chat/completions')!;
const RESPONSES = PROXIED_ENDPOINTS.get('/v1/responses')!;
const OPEN: Principal = { tenantId: 'open', keyId: 'k-open', tier: 'default' };
const BUDGETED: Principal = {
  tenantId: 'budgeted',
  keyId: 'k-b',
  tier: 'default',
  monthlyBudgetMicroUsd: 1_000_000,
};

const BASE_CONFIG: GatewayConfigInput = {
  routes: [
    { model: 'gpt-test', targets: [{ id: 'a', provider: 'openai-compatible', baseUrl: 'http://a.test/v1' }] },
    {
      model: 'gpt-',
      match: 'prefix',
      targets: [
        { id: 'b', provider: 'openai', baseUrl: 'http://b.test/v1' },
        { id: 'c', provider: 'openai', baseUrl: 'http://c.test/v1', priority: 1 },
      ],
    },
  ],
  prices: { 'gpt-test': { input: 1, output: 2 }, 'gpt-*': { input: 1, output: 2 } },
  tiers: { default: {}, big: { maxBodyBytes: 4_096, maxOutputTokens: 50 } },
  limits: { maxBodyBytes: 1_024 },
  filters: { rules: [{ name: 'no-names', keywords: ['Alice'], action: 'redact', scope: 'request' }] },
};

const context = (input: Partial<GatewayConfigInput> = {}, deps: Partial<GatewayDeps> = {}) => {
  const config = parseGatewayConfig({ ...BASE_CONFIG, ...input });
  const db = new MemoryDatabase();
  const sent: UpstreamRequest[] = [];
  const upstream: Upstream = {
    async send(request) {
      sent.push(request);
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: new Response('{"id":"x","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}')
          .body!,
      };
    },
  };
  const clock = new FakeClock(Date.parse('2026-12-06T10:00:00Z'));
  const g = createContext({
    config,
    keys: new MemoryKeyStore(db),
    budgets: new MemoryBudgetStore(db),
    tokens: testTokenCounter(),
    filters: compileContentFilters(config.filters, engine),
    ownership: new MemoryOwnershipStore(db),
    secrets: new MemorySecretSource(new Map([[PEPPER_SECRET, TEST_PEPPER]])),
    upstream,
    ledger: new MemoryUsageLedger(db),
    metrics: new MemoryMetrics(),
    logger: new MemoryLogger(),
    clock,
    ...deps,
  });
  return { g, db, sent, clock, state: newRequestState('req-1', clock.now(), 'POST', '/v1/chat/completions') };
};

const request = (body: unknown, headers: Record<string, string> = {}): GatewayRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  query: '',
  headers: headersOf({ 'content-type': 'application/json', ...headers }),
  body: typeof body === 'string' ? encoder.encode(body) : encoder.encode(JSON.stringify(body)),
});

const refusal = async (promise: Promise<unknown>) => {
  const thrown = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(GatewayError);
  return thrown as GatewayError;
};

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

describe('stage: authenticate', () => {
  it('takes a caller the entry point verified as it is, without reading a key', async () => {
    const { g } = context();
    await expect(authenticate(g, { ...request({}), principal: OPEN })).resolves.toBe(OPEN);
  });

  it('verifies the key from Authorization or x-api-key, and refuses a request with none', async () => {
    // Prepare
    const { g, db } = context();
    const key = testKey('stage-key');
    seedKey(db, key, { tenantId: 'acme' });

    // Act + Assess
    await expect(authenticate(g, request({}, { authorization: `Bearer ${key}` }))).resolves.toMatchObject({
      tenantId: 'acme',
    });
    await expect(authenticate(g, request({}, { 'x-api-key': key }))).resolves.toMatchObject({
      tenantId: 'acme',
    });
    const none = await refusal(authenticate(g, request({})));
    expect(none).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(none.message).toMatch(/^You didn't provide an API key/);
    expect(
      await refusal(authenticate(g, request({}, { authorization: `Bearer ${testKey('other')}` }))),
    ).toMatchObject({
      status: 401,
    });
  });
});

describe('stage: read the request', () => {
  /** The stage as a promise, so that a refusal can be awaited like the others'. */
  const readLater = async (...args: Parameters<typeof readRequest>) => readRequest(...args);

  it('reads the model and the JSON object, and keeps the bytes as sent', async () => {
    const { g } = context();
    const sent = request(chat('gpt-test'));
    const read = await readRequest(g, sent, CHAT, OPEN);
    expect(read).toMatchObject({ model: 'gpt-test', json: chat('gpt-test') });
    expect(read.raw).toBe(sent.body);
  });

  it.each([
    ['another media type', request('hi', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
    [
      'a charset other than UTF-8',
      request(chat('gpt-test'), { 'content-type': 'application/json; charset=latin1' }),
      415,
      'unsupported_media_type',
    ],
    [
      'a body over the limit',
      request(chat('gpt-test', { pad: 'x'.repeat(2_000) })),
      413,
      'request_too_large',
    ],
    ['a declared length over the limit', request({}, { 'content-length': '5000' }), 413, 'request_too_large'],
    ['an array', request([]), 400, null],
    ['a model that is not a string', request({ model: 4 }), 400, null],
    ['a model name with spaces', request({ model: 'gpt test' }), 400, 'invalid_value'],
    [
      'a stream flag that is not a boolean',
      request(chat('gpt-test', { stream: 'true' })),
      400,
      'invalid_type',
    ],
  ])('refuses %s', async (_name, sent, status, code) => {
    const { g } = context();
    expect(await refusal(readLater(g, sent, CHAT, OPEN))).toMatchObject({ status, code });
  });

  it('keeps the parser’s error as the cause of a JSON body it could not read', async () => {
    const { g } = context();
    const error = await refusal(readLater(g, request('{"model":'), CHAT, OPEN));
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it('takes a larger body from a tier that allows it', async () => {
    const { g } = context();
    const big = request(chat('gpt-test', { pad: 'x'.repeat(2_000) }));
    await expect(readLater(g, big, CHAT, { ...OPEN, tier: 'big' })).resolves.toMatchObject({
      model: 'gpt-test',
    });
  });

  it('reads the model of a multipart form, and refuses a field sent twice', async () => {
    // Prepare
    const { g } = context();
    const formRequest = async (form: FormData): Promise<GatewayRequest> => {
      const encoded = new Response(form);
      return {
        ...request(''),
        headers: headersOf({ 'content-type': encoded.headers.get('content-type')! }),
        body: new Uint8Array(await encoded.arrayBuffer()),
      };
    };
    const once = new FormData();
    once.append('model', 'gpt-test');
    once.append('file', new Blob([new Uint8Array(4)]), 'a.wav');
    const twice = new FormData();
    twice.append('model', 'gpt-test');
    twice.append('model', 'gpt-other');

    // Act + Assess
    await expect(readMultipartRequest(g, await formRequest(once), OPEN)).resolves.toMatchObject({
      model: 'gpt-test',
      json: undefined,
    });
    expect(await refusal(readMultipartRequest(g, await formRequest(twice), OPEN))).toMatchObject({
      code: 'duplicate_parameter',
      param: 'model',
    });
  });
});

describe('stage: resolve the model', () => {
  const resolve = async (
    g: ReturnType<typeof context>['g'],
    state: ReturnType<typeof context>['state'],
    body: Record<string, unknown>,
    principal = OPEN,
    endpoint = CHAT,
  ) =>
    resolveModel(g, state, endpoint, principal, {
      raw: encoder.encode(JSON.stringify(body)),
      model: String(body.model),
      json: body,
    });

  it('names the request for metrics by its route, never by the client’s string', async () => {
    const { g, state } = context();
    const { route } = await resolve(g, state, chat('gpt-anything'));
    expect(route.model).toBe('gpt-');
    expect(state).toMatchObject({ model: 'gpt-anything', metricModel: 'gpt-*', price: { input: 1_000_000 } });
  });

  it('refuses a model no route serves, one the key may not use, and an unpriced one for a budgeted tenant', async () => {
    const { g, state } = context({ prices: {} });
    expect(await refusal(resolve(g, state, chat('llama')))).toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    expect(
      await refusal(resolve(g, state, chat('gpt-test'), { ...OPEN, models: ['gpt-other'] })),
    ).toMatchObject({
      status: 403,
      code: 'model_not_allowed',
    });
    expect(await refusal(resolve(g, state, chat('gpt-test'), BUDGETED))).toMatchObject({
      status: 400,
      code: 'model_not_priced',
    });
  });

  it('routes a fine-tuned model only for the tenant that owns it, to the target that trained it', async () => {
    // Prepare
    const { g, db, state } = context();
    const name = 'ft:gpt-test:acme::x1';
    await new MemoryOwnershipStore(db).create({
      kind: OwnedKind.model,
      id: name,
      tenantId: 'open',
      keyId: 'k-open',
      targetId: 'c',
      createdAt: 0,
      version: 1,
      object: { id: name, object: 'model', base_model: 'gpt-test' },
    });

    // Act
    const { serving } = await resolve(g, state, chat(name), { ...OPEN, models: ['gpt-test'] });

    // Assess: allowed by its base model; metrics name every fine-tuned model alike
    expect(serving.targets.map((target) => target.id)).toEqual(['c']);
    expect(state.metricModel).toBe('ft:*');
    const other = context();
    await new MemoryOwnershipStore(other.db).create({
      ...(await new MemoryOwnershipStore(db).get(OwnedKind.model, name))!,
      tenantId: 'someone-else',
    });
    expect(await refusal(resolve(other.g, other.state, chat(name)))).toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });

  it('sends a request naming a stored object only to targets on that object’s account', async () => {
    // Prepare: a response stored by target c
    const { g, db, state } = context();
    await new MemoryOwnershipStore(db).create({
      kind: OwnedKind.response,
      id: 'resp_1',
      tenantId: 'open',
      keyId: 'k-open',
      targetId: 'c',
      createdAt: 0,
      version: 1,
      object: { id: 'resp_1' },
    });

    // Act
    const { serving } = await resolve(
      g,
      state,
      { model: 'gpt-x', input: 'hi', previous_response_id: 'resp_1' },
      OPEN,
      RESPONSES,
    );

    // Assess
    expect(serving.targets.map((target) => target.id)).toEqual(['c']);
    expect(state.records.size).toBe(1);
    const stranger = { ...OPEN, tenantId: 'stranger' };
    const refused = await refusal(
      resolve(
        g,
        newRequestState('r2', 0, 'POST', '/v1/responses'),
        { model: 'gpt-x', input: 'hi', previous_response_id: 'resp_1' },
        stranger,
        RESPONSES,
      ),
    );
    expect(refused).toMatchObject({ status: 404, param: 'previous_response_id' });
  });

  it('marks the body rewritten when a tier cap or a request rule changed it', async () => {
    // Prepare
    const { g, state } = context();
    const capped = chat('gpt-test');
    const named = { model: 'gpt-test', messages: [{ role: 'user', content: 'ask Alice' }] };

    // Act
    await resolve(g, state, capped, { ...OPEN, tier: 'big' });
    const second = newRequestState('r2', 0, 'POST', '/v1/chat/completions');
    await resolve(g, second, named);

    // Assess
    expect(capped).toMatchObject({ max_completion_tokens: 50 });
    expect(state.bodyRewritten).toBe(true);
    expect(named.messages[0]!.content).toBe('ask [REDACTED]');
    expect(second.bodyRewritten).toBe(true);
  });
});

describe('stage: budget hold', () => {
  const prepare = (principal: Principal, body: Record<string, unknown>) => {
    const t = context();
    t.state.price = t.g.config.prices['gpt-test'];
    t.state.json = body;
    t.state.tokenShape = 'chat';
    t.state.model = 'gpt-test';
    t.state.principal = principal;
    return t;
  };

  it('holds the worst case (input with margin, output at its cap) against the tenant’s month', async () => {
    // Prepare
    const t = prepare(BUDGETED, chat('gpt-test', { max_tokens: 100 }));

    // Act
    await reserveBudget(t.g, t.state, BUDGETED, encoder.encode('{}'));

    // Assess: 100 output tokens at 2 USD/1M is 200 micro-USD, plus the prompt
    expect(t.state.reservedMicroUsd).toBeGreaterThan(200);
    expect(t.state.reservedMicroUsd).toBeLessThan(300);
    expect((await t.g.deps.budgets.budget('budgeted', '2026-12')).committedMicroUsd).toBe(
      t.state.reservedMicroUsd,
    );
  });

  it('holds nothing for a tenant without a budget', async () => {
    const t = prepare(OPEN, chat('gpt-test', { max_tokens: 100 }));
    await reserveBudget(t.g, t.state, OPEN, encoder.encode('{}'));
    expect(t.state.reservedMicroUsd).toBe(0);
  });

  it('refuses a request its budget cannot hold, and holds nothing of it', async () => {
    // Prepare
    const poor = { ...BUDGETED, monthlyBudgetMicroUsd: 100 };
    const t = prepare(poor, chat('gpt-test', { max_tokens: 100 }));

    // Act
    const error = await refusal(reserveBudget(t.g, t.state, poor, encoder.encode('{}')));

    // Assess
    expect(error).toMatchObject({ status: 429, code: 'insufficient_quota', type: 'insufficient_quota' });
    expect(error.message).toMatch(/resets at 2027-01-01T00:00:00.000Z/);
    expect(t.state.reservedMicroUsd).toBe(0);
    expect((await t.g.deps.budgets.budget('budgeted', '2026-12')).committedMicroUsd).toBe(0);
  });

  it('fails closed when the budget store cannot be reached, keeping its error as the cause', async () => {
    // Prepare
    const down = new Error('table unavailable');
    const t = context(
      {},
      { budgets: { reserve: async () => Promise.reject(down), budget: async () => Promise.reject(down) } },
    );
    t.state.price = t.g.config.prices['gpt-test'];
    t.state.json = chat('gpt-test');
    t.state.tokenShape = 'chat';

    // Act
    const error = await refusal(reserveBudget(t.g, t.state, BUDGETED, encoder.encode('{}')));

    // Assess
    expect(error).toMatchObject({ status: 503, code: 'budget_unavailable' });
    expect(error.cause).toBe(down);
  });
});

describe('stage: response cache', () => {
  const cached = chat('gpt-test', { temperature: 0, seed: 1 });
  const answer = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-test',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  };

  const prepare = (cache = new MemoryResponseCache()) => {
    const t = context({}, { cache });
    t.state.json = cached;
    t.state.principal = OPEN;
    t.state.price = t.g.config.prices['gpt-test'];
    const route = t.g.routes.resolve('gpt-test')!;
    const plan = planFor(t.g, t.state, request(cached), CHAT, OPEN, { route, serving: route })!;
    return { ...t, plan, cache };
  };

  it('plans a seeded greedy request, misses, then serves what was stored', async () => {
    // Prepare
    const t = prepare();

    // Act
    const miss = await answerFromCache(t.g, t.state, OPEN, t.plan, CHAT);
    storeAnswer(t.g, t.state, t.plan, CHAT, { json: JSON.stringify(answer) });
    await t.g.cacheWrites.drain();
    const hitState = newRequestState('req-2', t.clock.now(), 'POST', '/v1/chat/completions');
    hitState.json = cached;
    const hit = await answerFromCache(t.g, hitState, OPEN, t.plan, CHAT);

    // Assess
    expect(t.state.cacheStatus).toBe('miss');
    expect(miss).toBeUndefined();
    expect(hit).toMatchObject({
      status: 200,
      headers: { 'x-gateway-cache': 'hit', 'content-type': 'application/json' },
    });
    expect(JSON.parse(new TextDecoder().decode(hit!.body as Uint8Array))).toMatchObject({
      choices: answer.choices,
    });
    expect(hitState).toMatchObject({ cacheStatus: 'hit', cacheHit: { costMicroUsd: 0 }, settled: true });
    expect((t.g.metrics as MemoryMetrics).sum('CacheHits')).toBe(1);
    expect((t.g.metrics as MemoryMetrics).sum('CacheMisses')).toBe(1);
  });

  it('goes on as a miss when the cache fails, and counts the failure', async () => {
    // Prepare
    const broken = new MemoryResponseCache();
    broken.get = async () => Promise.reject(new Error('cache down'));
    const t = prepare(broken);

    // Act + Assess
    await expect(answerFromCache(t.g, t.state, OPEN, t.plan, CHAT)).resolves.toBeUndefined();
    expect((t.g.metrics as MemoryMetrics).sum('CacheErrors')).toBe(1);
  });

  it('does not store what could never be served (an unfinished answer)', async () => {
    const t = prepare();
    storeAnswer(t.g, t.state, t.plan, CHAT, { json: JSON.stringify({ ...answer, choices: [] }) });
    await t.g.cacheWrites.drain();
    expect(t.cache.size).toBe(0);
  });
});

describe('stage: respond', () => {
  const prepared = async (
    body: Record<string, unknown>,
    deps: Partial<GatewayDeps> = {},
    signal?: AbortSignal,
  ) => {
    const t = context({ filters: { rules: [] } }, deps);
    const incoming: GatewayRequest = {
      ...request(body, {
        authorization: 'Bearer sk-gw-secret',
        'openai-beta': 'assistants=v2',
        cookie: 'c=1',
      }),
      signal,
    };
    t.state.principal = OPEN;
    const read = await readRequest(t.g, incoming, CHAT, OPEN);
    const resolved = await resolveModel(t.g, t.state, CHAT, OPEN, read);
    return { ...t, incoming, read, resolved };
  };

  it('sends the client’s bytes untouched, with only the headers the upstream should see', async () => {
    // Prepare
    const t = await prepared(chat('gpt-test'));

    // Act
    const response = await respond(t.g, t.state, t.incoming, CHAT, t.read, t.resolved, undefined);

    // Assess
    expect(response.status).toBe(200);
    expect(t.sent[0]!.body).toBe(t.incoming.body);
    expect(t.sent[0]!.headers).toEqual({
      'user-agent': 'llm-gateway',
      'content-type': 'application/json',
      'openai-beta': 'assistants=v2',
    });
    expect(t.state).toMatchObject({
      upstreamAccepted: true,
      targetId: 'a',
      attempts: 1,
      relaying: true,
      settled: false,
    });
  });

  it('asks a stream for its usage when the client did not, so that it can be metered', async () => {
    // Prepare
    const t = await prepared(chat('gpt-test', { stream: true }));

    // Act
    await respond(t.g, t.state, t.incoming, CHAT, t.read, t.resolved, undefined);

    // Assess
    expect(JSON.parse(new TextDecoder().decode(t.sent[0]!.body))).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('answers 499 and settles as a client abort when the client left before anything was sent', async () => {
    // Prepare
    const gone = new AbortController();
    gone.abort();
    const t = await prepared(chat('gpt-test'), {}, gone.signal);

    // Act
    const response = await respond(t.g, t.state, t.incoming, CHAT, t.read, t.resolved, undefined);

    // Assess
    expect(response.status).toBe(499);
    expect(t.sent).toHaveLength(0);
    expect(t.state).toMatchObject({
      settled: true,
      outcome: 'client_abort',
      status: 499,
      abortedInFlight: false,
    });
  });

  it('passes on an upstream’s refusal of the request with the gateway’s account redacted, billed as nothing', async () => {
    // Prepare
    const refusing: Upstream = {
      send: async () => ({
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: new Response(
          '{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789","type":"invalid_request_error","param":null,"code":null}}',
        ).body!,
      }),
    };
    const t = await prepared(chat('gpt-test'), { upstream: refusing });

    // Act
    const response = await respond(t.g, t.state, t.incoming, CHAT, t.read, t.resolved, undefined);

    // Assess
    expect(response.status).toBe(400);
    const text = new TextDecoder().decode(response.body as Uint8Array);
    expect(text).not.toContain('abcdefghijklmnopqrstuvwxyz');
    expect(JSON.parse(text)).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(t.state).toMatchObject({ settled: true, outcome: 'rejected', upstreamAccepted: false });
  });
});
