// Every way a request can end settles it exactly once: one `request` log line, one Requests metric and, for a
// metered endpoint with a known caller, exactly one usage record write (the ledger dedupes by request id, so the
// writes are counted before it). Each exit path of each stage is driven through the core with a scripted
// in-process upstream, and the response body is read (or dropped) as a client would.
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
import { systemClock } from '../../lambda/adapters/system/clock.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { compileContentFilters } from '../../lambda/core/content-rules.ts';
import {
  type GatewayRequest,
  type GatewayResponse,
  headersOf,
  isBodySource,
} from '../../lambda/core/exchange.ts';
import { createGateway } from '../../lambda/core/gateway.ts';
import {
  type BudgetStore,
  RequestOutcome,
  type RequestOutcomeKind,
  type Upstream,
  UpstreamError,
  UpstreamFailure,
  type UpstreamResponse,
  type UsageLedger,
} from '../../lambda/ports.ts';
import { engine } from '../fixtures/content-rules.ts';
import { testTokenCounter } from '../fixtures/gateway-harness.ts';
import { PEPPER_SECRET, seedKey, TEST_PEPPER, testKey } from '../fixtures/tenants.ts';

const encoder = new TextEncoder();

// --- A scripted upstream: the last message's text (`case:<name>`) says how it answers -------------------------

const sseChunk = (text: string) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text } }] })}\n\n`;
const SSE_USAGE = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } })}\n\n`;
const chatJson = (text: string) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-test',
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  });

/** A body from parts; `then` says how it goes on after them: ends, fails, or hangs until cancelled. */
const bodyOf = (parts: readonly string[], then: 'end' | 'fail' | 'hang' = 'end') =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      if (then === 'end') controller.close();
      if (then === 'fail') controller.error(new Error('upstream connection reset'));
    },
  });

const answer = (
  status: number,
  contentType: string,
  body: ReadableStream<Uint8Array>,
  headers = {},
): UpstreamResponse => ({
  status,
  headers: { 'content-type': contentType, ...headers },
  body,
});

const SCRIPT: Record<string, (signal: AbortSignal) => Promise<UpstreamResponse>> = {
  'ok-json': async () => answer(200, 'application/json', bodyOf([chatJson('hello')])),
  'ok-sse': async () =>
    answer(
      200,
      'text/event-stream',
      bodyOf([sseChunk('hel'), sseChunk('lo'), SSE_USAGE, 'data: [DONE]\n\n']),
    ),
  'sse-cut': async () => answer(200, 'text/event-stream', bodyOf([sseChunk('hel')], 'fail')),
  'sse-no-done': async () => answer(200, 'text/event-stream', bodyOf([sseChunk('hel')])),
  'sse-hang': async () => answer(200, 'text/event-stream', bodyOf([sseChunk('hel')], 'hang')),
  'json-cut': async () => answer(200, 'application/json', bodyOf(['{"id":"chatcmpl-1","choi'], 'fail')),
  'leak-json': async () => answer(200, 'application/json', bodyOf([chatJson('the leaked-secret is here')])),
  'leak-sse': async () =>
    answer(
      200,
      'text/event-stream',
      bodyOf([sseChunk('the leaked-secret'), sseChunk(' is here'), 'data: [DONE]\n\n']),
    ),
  'refuse-400': async () =>
    answer(
      400,
      'application/json',
      bodyOf(['{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}']),
    ),
  'refuse-402': async () => answer(402, 'application/json', bodyOf(['{}'])),
  'fail-500': async () => answer(500, 'application/json', bodyOf(['{}'])),
  'rate-429': async () => answer(429, 'application/json', bodyOf(['{}']), { 'retry-after': '60' }),
  'connect-fail': async () => {
    throw new UpstreamError(UpstreamFailure.connect, 'ECONNREFUSED');
  },
  hang: (signal) =>
    new Promise((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(new UpstreamError(UpstreamFailure.aborted, 'aborted'))),
    ),
};

const upstream: Upstream = {
  async send(request) {
    const body = JSON.parse(new TextDecoder().decode(request.body)) as Record<string, unknown>;
    const messages = (body.messages ?? [{ content: body.input }]) as Array<{ content: unknown }>;
    const text = String(messages.at(-1)?.content ?? '');
    const script = SCRIPT[text.replace(/^case:/, '')] ?? SCRIPT['ok-json']!;
    return script(request.signal);
  },
};

// --- The gateway: three tenants (open, budgeted, with a broken budget store), content rules, a cache ----------

const KEY = testKey('settle-open');
const BUDGETED = testKey('settle-budget');
const BROKE = testKey('settle-broke');
const LIMITED = testKey('settle-limited');
const db = new MemoryDatabase();
seedKey(db, KEY, { tenantId: 'open' });
seedKey(db, BUDGETED, { tenantId: 'budgeted', monthlyBudgetMicroUsd: 10 });
seedKey(db, BROKE, { tenantId: 'broke', monthlyBudgetMicroUsd: 1_000_000_000 });
seedKey(db, LIMITED, { tenantId: 'limited', key: { models: ['gpt-test'] } });

const config = parseGatewayConfig({
  routes: [
    {
      model: 'gpt-test',
      targets: [{ id: 'main', provider: 'openai-compatible', baseUrl: 'http://main.test/v1' }],
    },
    {
      model: 'gpt-idle',
      targets: [
        {
          id: 'idle',
          provider: 'openai-compatible',
          baseUrl: 'http://idle.test/v1',
          timeouts: { idleMs: 40 },
        },
      ],
    },
    // Rate limited for a minute by its first answer: its own target, so that the other cases are not held back.
    {
      model: 'gpt-limited',
      targets: [{ id: 'limited', provider: 'openai-compatible', baseUrl: 'http://limited.test/v1' }],
    },
    {
      model: 'unpriced-model',
      targets: [{ id: 'main2', provider: 'openai-compatible', baseUrl: 'http://main.test/v1' }],
    },
    {
      model: 'text-embedding-test',
      targets: [{ id: 'emb', provider: 'openai-compatible', baseUrl: 'http://main.test/v1' }],
    },
  ],
  prices: {
    'gpt-test': { input: 1, output: 2 },
    'gpt-idle': { input: 1, output: 2 },
    'gpt-limited': { input: 1, output: 2 },
    'text-embedding-test': { input: 0.1, output: 0 },
  },
  limits: { maxBodyBytes: 16_384 },
  // Failing cases must not open the circuit for the ones after them.
  breaker: { failureThreshold: 1_000 },
  streaming: { heartbeatMs: 1_000 },
  filters: {
    rules: [
      { name: 'no-forbidden', keywords: ['forbidden-word'], action: 'block', scope: 'request' },
      { name: 'no-leak', keywords: ['leaked-secret'], action: 'block', scope: 'response' },
    ],
  },
});

const ledger = new MemoryUsageLedger(db);
const recordWrites: string[] = [];
const countingLedger: UsageLedger = {
  record: (record) => {
    recordWrites.push(record.requestId);
    return ledger.record(record);
  },
  monthlyUsage: (tenantId, month) => ledger.monthlyUsage(tenantId, month),
};
const budgets = new MemoryBudgetStore(db);
const brokenForOneTenant: BudgetStore = {
  reserve: async (hold) => {
    if (hold.tenantId === 'broke') throw new Error('budgets table unavailable');
    return budgets.reserve(hold);
  },
  budget: (tenantId, month) => budgets.budget(tenantId, month),
};
const logger = new MemoryLogger();
const metrics = new MemoryMetrics();
let issued = 0;
let lastRequestId = '';
const gateway = createGateway({
  config,
  keys: new MemoryKeyStore(db),
  budgets: brokenForOneTenant,
  tokens: testTokenCounter(),
  cache: new MemoryResponseCache(),
  filters: compileContentFilters(config.filters, engine),
  ownership: new MemoryOwnershipStore(db),
  secrets: new MemorySecretSource(new Map([[PEPPER_SECRET, TEST_PEPPER]])),
  upstream,
  ledger: countingLedger,
  metrics,
  logger,
  clock: systemClock,
  newRequestId: () => {
    issued += 1;
    lastRequestId = `req-${issued}`;
    return lastRequestId;
  },
});

// --- Driving one request as a client would --------------------------------------------------------------------

interface Call {
  readonly method?: string;
  readonly path?: string;
  readonly key?: string | null;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
  /** A JSON body (serialised), or the raw text. */
  readonly body?: unknown;
  /** What the client does with the body: read it all (default), or leave after the first chunk. */
  readonly client?: 'reads' | 'leaves-mid-body' | 'leaves-before-answer';
}

const chat = (model: string, text: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: text }],
  ...extra,
});

const drive = async (call: Call): Promise<{ requestId: string; response: GatewayResponse }> => {
  const abort = new AbortController();
  const headers: Record<string, string> = {
    'content-type': call.contentType ?? 'application/json',
    ...call.headers,
  };
  if (call.key !== null) headers.authorization = `Bearer ${call.key ?? KEY}`;
  const body =
    call.body === undefined
      ? undefined
      : encoder.encode(typeof call.body === 'string' ? call.body : JSON.stringify(call.body));
  const request: GatewayRequest = {
    method: call.method ?? 'POST',
    path: call.path ?? '/v1/chat/completions',
    query: '',
    headers: headersOf(headers),
    body,
    signal: abort.signal,
  };
  const serving = gateway.serve(request);
  if (call.client === 'leaves-before-answer') setTimeout(() => abort.abort(), 20);
  const response = await serving;
  const requestId = lastRequestId;
  if (isBodySource(response.body)) {
    if (call.client === 'leaves-mid-body') {
      await response.body.read();
      abort.abort();
      await response.body.cancel();
    } else {
      for (;;) {
        const chunk = await response.body.read().catch(() => ({ done: true as const }));
        if (chunk.done) break;
      }
    }
  }
  await gateway.drain();
  return { requestId, response };
};

const settlementOf = (requestId: string) => ({
  logLines: logger.lines.filter((line) => line.message === 'request' && line.fields.requestId === requestId),
  writes: recordWrites.filter((id) => id === requestId).length,
  record: ledger.records.find((record) => record.requestId === requestId),
});

const metered: Array<[string, Call, number, RequestOutcomeKind]> = [
  // read-request
  ['a body of the wrong media type', { contentType: 'text/plain', body: 'hi' }, 415, RequestOutcome.rejected],
  [
    'a body over the size limit',
    { body: chat('gpt-test', 'x'.repeat(20_000)) },
    413,
    RequestOutcome.rejected,
  ],
  ['a body that is not JSON', { body: '{"model":' }, 400, RequestOutcome.rejected],
  ['a body without a model', { body: { messages: [] } }, 400, RequestOutcome.rejected],
  [
    'a field of the wrong type',
    { body: chat('gpt-test', 'hi', { stream: 'yes' }) },
    400,
    RequestOutcome.rejected,
  ],
  // resolve-model
  ['a model no route serves', { body: chat('gpt-nope', 'hi') }, 404, RequestOutcome.rejected],
  [
    'a model the key may not use',
    { key: LIMITED, body: chat('gpt-idle', 'hi') },
    403,
    RequestOutcome.rejected,
  ],
  [
    'an id the tenant does not own',
    { path: '/v1/responses', body: { model: 'gpt-test', input: 'hi', previous_response_id: 'resp_other' } },
    404,
    RequestOutcome.rejected,
  ],
  [
    'a background response',
    { path: '/v1/responses', body: { model: 'gpt-test', input: 'hi', background: true } },
    400,
    RequestOutcome.rejected,
  ],
  [
    'an unpriced model for a budgeted tenant',
    { key: BUDGETED, body: chat('unpriced-model', 'hi') },
    400,
    RequestOutcome.rejected,
  ],
  [
    'a request a content rule blocks',
    { body: chat('gpt-test', 'say the forbidden-word') },
    400,
    RequestOutcome.rejected,
  ],
  // budget
  [
    'a request over the budget',
    { key: BUDGETED, body: chat('gpt-test', 'hi') },
    429,
    RequestOutcome.rejected,
  ],
  [
    'a budget store that is down',
    { key: BROKE, body: chat('gpt-test', 'hi') },
    503,
    RequestOutcome.upstreamError,
  ],
  // the upstream call
  [
    'every attempt failing with a 5xx',
    { body: chat('gpt-test', 'case:fail-500') },
    502,
    RequestOutcome.upstreamError,
  ],
  [
    'an unreachable upstream',
    { body: chat('gpt-test', 'case:connect-fail') },
    502,
    RequestOutcome.upstreamError,
  ],
  [
    'an upstream rate limit past the budget',
    { body: chat('gpt-limited', 'case:rate-429') },
    429,
    RequestOutcome.rejected,
  ],
  [
    'an upstream refusal of the request',
    { body: chat('gpt-test', 'case:refuse-400') },
    400,
    RequestOutcome.rejected,
  ],
  [
    'an upstream refusal that is not about the request',
    { body: chat('gpt-test', 'case:refuse-402') },
    502,
    RequestOutcome.upstreamError,
  ],
  [
    'a client that leaves before the answer',
    { body: chat('gpt-test', 'case:hang'), client: 'leaves-before-answer' },
    499,
    RequestOutcome.clientAbort,
  ],
  // the answer
  [
    'a JSON answer read whole (response rules)',
    { body: chat('gpt-test', 'case:ok-json') },
    200,
    RequestOutcome.complete,
  ],
  [
    'a JSON answer relayed as it comes',
    { path: '/v1/embeddings', body: { model: 'text-embedding-test', input: 'case:ok-json' } },
    200,
    RequestOutcome.complete,
  ],
  [
    'a streamed answer',
    { body: chat('gpt-test', 'case:ok-sse', { stream: true }) },
    200,
    RequestOutcome.complete,
  ],
  [
    'a JSON answer a response rule blocks',
    { body: chat('gpt-test', 'case:leak-json') },
    400,
    RequestOutcome.contentFiltered,
  ],
  [
    'a stream a response rule blocks',
    { body: chat('gpt-test', 'case:leak-sse', { stream: true }) },
    200,
    RequestOutcome.contentFiltered,
  ],
  ['a JSON answer cut short', { body: chat('gpt-test', 'case:json-cut') }, 502, RequestOutcome.upstreamError],
  [
    'a stream cut short',
    { body: chat('gpt-test', 'case:sse-cut', { stream: true }) },
    200,
    RequestOutcome.upstreamError,
  ],
  [
    'a stream that ends without [DONE]',
    { body: chat('gpt-test', 'case:sse-no-done', { stream: true }) },
    200,
    RequestOutcome.upstreamError,
  ],
  [
    'a stream that goes silent',
    { body: chat('gpt-idle', 'case:sse-hang', { stream: true }) },
    200,
    RequestOutcome.timeout,
  ],
  [
    'a client that leaves mid-stream',
    { body: chat('gpt-test', 'case:sse-hang', { stream: true }), client: 'leaves-mid-body' },
    200,
    RequestOutcome.clientAbort,
  ],
];

const unmetered: Array<[string, Call, number]> = [
  ['a health check', { method: 'GET', path: '/health', key: null }, 200],
  ['a health check by HEAD', { method: 'HEAD', path: '/v1/health', key: null }, 200],
  ['the model list', { method: 'GET', path: '/v1/models' }, 200],
  ['a model that does not exist', { method: 'GET', path: '/v1/models/nope' }, 404],
  ['an unknown path', { method: 'GET', path: '/v1/nope' }, 404],
  ['a wrong method', { method: 'GET', path: '/v1/chat/completions' }, 405],
  ['a file list (an owned route)', { method: 'GET', path: '/v1/files' }, 200],
  ['a file the tenant does not own', { method: 'GET', path: '/v1/files/file-x' }, 404],
  ['a path the gateway does not serve', { method: 'POST', path: '/v1/responses/compact', body: {} }, 404],
];

describe('every request settles exactly once', () => {
  it.each(metered)('%s: one log line, one usage record', async (_name, call, status, outcome) => {
    // Act
    const { requestId, response } = await drive(call);

    // Assess
    expect(response.status).toBe(status);
    const { logLines, writes, record } = settlementOf(requestId);
    expect(logLines).toHaveLength(1);
    expect(logLines[0]!.fields).toMatchObject({ status, outcome });
    expect(writes).toBe(1);
    expect(record).toMatchObject({ requestId, status, outcome });
  });

  it.each(unmetered)('%s: one log line and no usage record', async (_name, call, status) => {
    // Act
    const { requestId, response } = await drive(call);

    // Assess
    expect(response.status).toBe(status);
    const { logLines, writes } = settlementOf(requestId);
    expect(logLines).toHaveLength(1);
    expect(logLines[0]!.fields).toMatchObject({ status });
    expect(writes).toBe(0);
  });

  it('settles a caller without a valid key once, with no usage record (no tenant to charge)', async () => {
    // Act
    const { requestId, response } = await drive({ key: 'sk-gw-wrong', body: chat('gpt-test', 'hi') });

    // Assess
    expect(response.status).toBe(401);
    expect(settlementOf(requestId).logLines).toHaveLength(1);
    expect(settlementOf(requestId).writes).toBe(0);
  });

  it('settles a cache miss and the hit that follows it once each; the hit is billed as a hit', async () => {
    // Prepare
    const cached = chat('gpt-test', 'case:ok-json', { temperature: 0 });

    // Act
    const miss = await drive({ body: cached, headers: { 'x-gateway-cache': 'on' } });
    const hit = await drive({ body: cached, headers: { 'x-gateway-cache': 'on' } });
    const replay = await drive({ body: { ...cached, stream: true }, headers: { 'x-gateway-cache': 'on' } });

    // Assess
    expect(miss.response.headers['x-gateway-cache']).toBe('miss');
    expect(hit.response.headers['x-gateway-cache']).toBe('hit');
    expect(replay.response.headers['x-gateway-cache']).toBe('hit');
    for (const { requestId } of [miss, hit, replay]) {
      expect(settlementOf(requestId).logLines).toHaveLength(1);
      expect(settlementOf(requestId).writes).toBe(1);
    }
    expect(settlementOf(hit.requestId).record).toMatchObject({
      cacheHit: true,
      outcome: RequestOutcome.complete,
    });
  });

  it('has as many log lines and Requests as requests served, and a record write per metered one', () => {
    const served = logger.lines.filter((line) => line.message === 'request');
    expect(served).toHaveLength(issued);
    expect(metrics.sum('Requests')).toBe(issued);
    expect(new Set(recordWrites).size).toBe(recordWrites.length);
  });
});
