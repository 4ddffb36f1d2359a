// Metering end to end: exact usage from the upstream, estimates for streams cut short, and records never lost.
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryLogger,
  MemoryMetrics,
  MemorySecretSource,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import { systemClock } from '../../lambda/adapters/system/clock.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createGateway } from '../../lambda/core/gateway.ts';
import { billingMonthOf } from '../../lambda/core/pricing.ts';
import type { UsageLedger, UsageRecord } from '../../lambda/ports.ts';
import { type FakeUpstream, startFakeUpstream, streamChat } from '../fixtures/fake-upstream.ts';
import {
  type GatewayHarness,
  listenLocally,
  startGateway,
  TEST_KEY,
  testTokenCounter,
} from '../fixtures/gateway-harness.ts';
import { PEPPER_SECRET, seedKey, TEST_PEPPER } from '../fixtures/tenants.ts';

const PIECES = [' alpha', ' beta', ' gamma', ' delta', ' epsilon', ' zeta'];
const MESSAGES = [{ role: 'user', content: 'Count in Greek letters, please.' }];
const tokens = testTokenCounter();
/** 4 per message + 3 for the reply, as the gateway counts a chat prompt. */
const promptEstimate = () => tokens.count(MESSAGES[0]!.content) + 4 + 3;

let upstream: FakeUpstream;
let gateway: GatewayHarness;

const configInput = (baseUrl: string) => ({
  routes: [
    {
      model: 'gpt-test',
      targets: [{ id: 'only', provider: 'openai-compatible' as const, baseUrl }],
    },
  ],
  tiers: { default: { monthlyBudgetUsd: 100 } },
  prices: { 'gpt-test': { input: 1, cachedInput: 0.5, output: 2, reasoning: 3 } },
});

beforeAll(async () => {
  await tokens.ready();
  upstream = await startFakeUpstream();
  gateway = await startGateway(configInput(upstream.baseUrl));
});
afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

const streamRequest = (signal?: AbortSignal) =>
  gateway.post(
    '/v1/chat/completions',
    { model: 'gpt-test', messages: MESSAGES, stream: true },
    signal ? { signal } : {},
  );

/** The request's usage record, once written (a disconnect is noticed by the server a moment after the client left). */
const recordOf = async (requestId: string | null): Promise<UsageRecord> => {
  for (let count = 1; ; count++) {
    const records = await gateway.ledger.waitFor(count);
    const record = records.find((candidate) => candidate.requestId === requestId);
    if (record !== undefined) return record;
  }
};

describe('stream metering', () => {
  it('is exact when the usage chunk arrives (asked for by the gateway on the client’s behalf)', async () => {
    // Prepare
    upstream.setBehaviour(streamChat({ pieces: PIECES }));

    // Act
    const response = await streamRequest();
    const text = await response.text();

    // Assess: the client did not ask for usage, so it sees none, but the record has it
    expect(text).not.toContain('"usage"');
    const record = await recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({
      outcome: 'complete',
      exact: true,
      usage: { inputTokens: 5, cachedInputTokens: 0, outputTokens: 3, reasoningTokens: 0 },
      costMicroUsd: 5 * 1 + 3 * 2,
      month: billingMonthOf(record.startedAt),
    });
    expect(record.reservedMicroUsd).toBeGreaterThan(record.costMicroUsd);
  });

  it('is estimated with the tokenizer, and marked so, when the client disconnects mid-stream', async () => {
    // Prepare
    upstream.setBehaviour(streamChat({ pieces: PIECES, gapMs: 40 }));
    const abort = new AbortController();

    // Act: read two content events, then go away
    const response = await streamRequest(abort.signal);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    while ((seen.match(/"content"/g) ?? []).length < 2) {
      const { value } = await reader.read();
      seen += decoder.decode(value, { stream: true });
    }
    abort.abort();

    // Assess: the prompt and the pieces relayed so far (two, or three if one more was in flight)
    const record = await recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({ outcome: 'client_abort', exact: false });
    expect(record.usage.inputTokens).toBe(promptEstimate());
    const atLeast = tokens.count(PIECES.slice(0, 2).join(''));
    const atMost = tokens.count(PIECES.slice(0, 3).join(''));
    expect(record.usage.outputTokens).toBeGreaterThanOrEqual(atLeast);
    expect(record.usage.outputTokens).toBeLessThanOrEqual(atMost);
    expect(record.costMicroUsd).toBe(record.usage.inputTokens * 1 + record.usage.outputTokens * 2);
  });

  it('is estimated, and marked so, when the upstream fails mid-stream', async () => {
    // Prepare: the upstream resets the connection after three pieces
    upstream.setBehaviour(streamChat({ pieces: PIECES, resetAfter: 3, gapMs: 5 }));

    // Act
    const response = await streamRequest();
    const text = await response.text();

    // Assess
    expect(text).toContain('event: error');
    const record = await recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({
      outcome: 'upstream_error',
      exact: false,
      usage: {
        inputTokens: promptEstimate(),
        cachedInputTokens: 0,
        outputTokens: tokens.count(PIECES.slice(0, 3).join('')),
        reasoningTokens: 0,
      },
    });
  });

  it('prices cached input and reasoning tokens at their own rates', async () => {
    // Prepare: the fake upstream's JSON reply reports 11 input (3 cached) and 7 output (2 reasoning) tokens
    upstream.setBehaviour((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'c',
          object: 'chat.completion',
          choices: [],
          usage: {
            prompt_tokens: 11,
            completion_tokens: 7,
            prompt_tokens_details: { cached_tokens: 3 },
            completion_tokens_details: { reasoning_tokens: 2 },
          },
        }),
      );
    });

    // Act
    const response = await gateway.post('/v1/chat/completions', { model: 'gpt-test', messages: MESSAGES });
    await response.text();

    // Assess: 8 × 1 + 3 × 0.5 + 5 × 2 + 2 × 3 = 25.5 µUSD, rounded up
    expect((await recordOf(response.headers.get('x-request-id'))).costMicroUsd).toBe(26);
  });
});

describe('requests no upstream accepted', () => {
  it.each([
    ['refused by the upstream as a bad request', 400],
    ['failed upstream (every attempt a 500)', 500],
  ])('cost nothing when %s, and release their budget hold', async (_case, status) => {
    // Prepare
    upstream.setBehaviour((_request, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: 'no', type: 'invalid_request_error', param: null, code: null } }),
      );
    });

    // Act
    const response = await gateway.post('/v1/chat/completions', { model: 'gpt-test', messages: MESSAGES });
    await response.text();

    // Assess
    const record = await recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({
      exact: true,
      costMicroUsd: 0,
      usage: { inputTokens: 0, outputTokens: 0 },
    });
    expect(record.reservedMicroUsd).toBeGreaterThan(0);
    const budget = gateway.db.budgets.get(`tenant-a#${record.month}`);
    expect(budget?.committedMicroUsd).toBe(budget?.spentMicroUsd);
    expect(gateway.db.holds.has(record.requestId)).toBe(false);
  });
});

describe('usage records are never lost', () => {
  const serveWith = async (makeLedger: (db: MemoryDatabase) => UsageLedger) => {
    const db = new MemoryDatabase();
    const ledger = makeLedger(db);
    seedKey(db, TEST_KEY, { tenantId: 'tenant-a' });
    const logger = new MemoryLogger();
    const metrics = new MemoryMetrics();
    const nodeUpstream = createNodeHttpUpstream();
    const core = createGateway({
      config: parseGatewayConfig(configInput(upstream.baseUrl)),
      keys: new MemoryKeyStore(db),
      budgets: new MemoryBudgetStore(db),
      ledger,
      tokens,
      secrets: new MemorySecretSource(new Map([[PEPPER_SECRET, TEST_PEPPER]])),
      upstream: nodeUpstream,
      metrics,
      logger,
      clock: systemClock,
    });
    const { server, origin } = await listenLocally(core);
    const call = async () => {
      const response = await fetch(`${origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-test', messages: MESSAGES, stream: true }),
      });
      return { response, text: await response.text() };
    };
    const close = () => {
      server.closeAllConnections();
      server.close();
      nodeUpstream.close();
    };
    return { core, logger, metrics, call, close };
  };

  it('counts a record once when a write succeeded but its acknowledgement was lost (crash between steps)', async () => {
    // Prepare: the first write is stored, then fails as if the connection dropped before the answer
    upstream.setBehaviour(streamChat({ pieces: PIECES }));
    let inner = new MemoryUsageLedger();
    const results: string[] = [];
    let calls = 0;
    const flaky = (db: MemoryDatabase): UsageLedger => {
      inner = new MemoryUsageLedger(db);
      return {
        record: async (record) => {
          const result = await inner.record(record);
          results.push(result);
          calls += 1;
          if (calls === 1) throw new Error('connection reset after the write');
          return result;
        },
        monthlyUsage: (tenantId, month) => inner.monthlyUsage(tenantId, month),
      };
    };
    const served = await serveWith(flaky);

    try {
      // Act
      const { response } = await served.call();
      await served.core.drain();

      // Assess: the retry found the record already there; the rollup and the budget counted it once
      expect(response.status).toBe(200);
      expect(results).toEqual(['recorded', 'duplicate']);
      const month = billingMonthOf(Date.now());
      const usage = await inner.monthlyUsage('tenant-a', month);
      expect(usage.total.requests).toBe(1);
      expect(usage.total.costMicroUsd).toBe(5 * 1 + 3 * 2);
      expect(inner.db.budgets.get(`tenant-a#${month}`)).toEqual({ spentMicroUsd: 11, committedMicroUsd: 11 });
    } finally {
      served.close();
    }
  });

  it('logs the whole record and counts it in a metric when the ledger keeps refusing, and the response is not failed', async () => {
    // Prepare
    upstream.setBehaviour(streamChat({ pieces: PIECES }));
    const refusing: UsageLedger = {
      record: async () => {
        throw new Error('ProvisionedThroughputExceededException');
      },
      monthlyUsage: async () => {
        throw new Error('unused');
      },
    };
    const served = await serveWith(() => refusing);

    try {
      // Act
      const { response, text } = await served.call();
      await served.core.drain();

      // Assess
      expect(response.status).toBe(200);
      expect(text).toContain('data: [DONE]');
      const lost = served.logger.lines.filter((line) => line.message === 'usage record not stored');
      expect(lost).toHaveLength(1);
      expect(lost[0]?.level).toBe('error');
      expect(lost[0]?.fields.usageRecord).toMatchObject({
        requestId: response.headers.get('x-request-id'),
        tenantId: 'tenant-a',
        usage: { inputTokens: 5, outputTokens: 3 },
        costMicroUsd: 11,
        exact: true,
      });
      expect(served.metrics.sum('UsageRecordsNotStored')).toBe(1);
    } finally {
      served.close();
    }
  });
});
