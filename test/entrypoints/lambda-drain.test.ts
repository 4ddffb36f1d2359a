// The Lambda handler ends an invocation only after the usage record of its streamed response is stored.
import type { Writable } from 'node:stream';
import {
  MemoryBudgetStore,
  MemoryKeyStore,
  MemoryLogger,
  MemoryMetrics,
  MemorySecretSource,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import { systemClock } from '../../lambda/adapters/system/clock.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createGateway } from '../../lambda/core/gateway.ts';
import type { GatewayEvent } from '../../lambda/entrypoints/lambda/events.ts';
import { createLambdaHandler } from '../../lambda/entrypoints/lambda/handler.ts';
import type { UsageLedger } from '../../lambda/ports.ts';
import { testTokenCounter } from '../fixtures/gateway-harness.ts';
import { ControlledUpstream, chatChunk, DONE, usageChunk } from '../fixtures/lambda-controlled-upstream.ts';
import { functionUrlEvent, restEvent } from '../fixtures/lambda-events.ts';
import { EventLog, installAwsLambdaStub, RecordingResponseStream } from '../fixtures/lambda-runtime-stub.ts';
import { PEPPER_SECRET, seedKey, TEST_PEPPER, testKey } from '../fixtures/tenants.ts';

const GATEWAY_KEY = testKey('lambda-drain');
const CHAT_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  stream: true,
  messages: [{ role: 'user', content: 'Hi' }],
});

/** The handler as the Lambda runtime calls it once `streamifyResponse` has wrapped it. */
type StreamingInvoke = (event: GatewayEvent, responseStream: Writable, context: object) => Promise<void>;

/** A ledger whose writes wait for the test: `reached` once a write arrives, `release` lets it through. */
const heldLedger = () => {
  const memory = new MemoryUsageLedger();
  let reachedResolve: () => void = () => {};
  const reached = new Promise<void>((resolve) => {
    reachedResolve = resolve;
  });
  let releaseResolve: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    releaseResolve = resolve;
  });
  const ledger: UsageLedger = {
    record: async (record) => {
      reachedResolve();
      await released;
      return memory.record(record);
    },
    monthlyUsage: (tenantId, month) => memory.monthlyUsage(tenantId, month),
  };
  return { ledger, memory, reached, release: releaseResolve };
};

/** The core gateway over in-memory twins, with the ledger under test, behind the Lambda handler. */
const startLambda = (ledger: UsageLedger, memory: MemoryUsageLedger) => {
  const log = new EventLog();
  const upstream = new ControlledUpstream({
    log,
    onSend: (body) => {
      body.send(chatChunk('Hello')).send(usageChunk(9, 2)).send(DONE).end();
    },
  });
  seedKey(memory.db, GATEWAY_KEY, { tenantId: 'tenant-d' });
  let requests = 0;
  const gateway = createGateway({
    config: parseGatewayConfig({
      routes: [
        {
          model: 'gpt-4o-mini',
          targets: [{ id: 'primary', provider: 'openai-compatible', baseUrl: 'https://upstream.test/v1' }],
        },
      ],
      retry: { maxAttempts: 1 },
    }),
    keys: new MemoryKeyStore(memory.db),
    budgets: new MemoryBudgetStore(memory.db),
    tokens: testTokenCounter(),
    secrets: new MemorySecretSource(new Map([[PEPPER_SECRET, TEST_PEPPER]])),
    upstream,
    ledger,
    metrics: new MemoryMetrics(),
    logger: new MemoryLogger(),
    clock: systemClock,
    newRequestId: () => `req-${++requests}`,
  });
  const handler = createLambdaHandler(gateway, {
    flushPaddingBytes: 0,
    flushPaddingAfterIdleMs: 100,
    now: systemClock.now,
  });
  const stream = new RecordingResponseStream(log);
  return {
    stream,
    invoke: (event: GatewayEvent) => (handler as unknown as StreamingInvoke)(event, stream, {}),
  };
};

const headers = { authorization: `Bearer ${GATEWAY_KEY}`, 'content-type': 'application/json' };
const events: Array<[string, GatewayEvent]> = [
  ['a REST API (v1) event', restEvent({ path: '/chat/completions', headers, body: CHAT_BODY })],
  [
    'a Function URL (v2) event',
    functionUrlEvent({ rawPath: '/v1/chat/completions', headers, body: CHAT_BODY }),
  ],
];

let awslambda: { uninstall(): void };
beforeAll(() => {
  awslambda = installAwsLambdaStub();
});
afterAll(() => {
  awslambda.uninstall();
});

describe('Lambda handler: usage records are stored before the invocation ends', () => {
  it.each(events)(
    'for %s, the handler settles only after its record is in the ledger',
    async (_name, event) => {
      // Prepare: the ledger holds the write until the test lets it through.
      const held = heldLedger();
      const lambda = startLambda(held.ledger, held.memory);
      let settled = false;

      // Act
      const invocation = lambda.invoke(event).finally(() => {
        settled = true;
      });
      await held.reached;
      // Give the handler every chance to settle early: one macrotask, so all queued callbacks run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const settledWhileHeld = settled;
      const bodyWhileHeld = lambda.stream.text;
      held.release();
      await invocation;
      const recordsWhenSettled = held.memory.records;

      // Assess: the whole body went out before the write, and the invocation waited for the write.
      expect(bodyWhileHeld).toBe(chatChunk('Hello') + DONE);
      expect(settledWhileHeld).toBe(false);
      expect(recordsWhenSettled).toHaveLength(1);
      expect(recordsWhenSettled[0]).toEqual(
        expect.objectContaining({
          requestId: 'req-1',
          tenantId: 'tenant-d',
          outcome: 'complete',
          exact: true,
          usage: { inputTokens: 9, cachedInputTokens: 0, outputTokens: 2, reasoningTokens: 0 },
        }),
      );
    },
  );

  it.each(events)('for %s, a slow ledger write is done when the handler settles', async (_name, event) => {
    // Prepare: a ledger that takes 30 ms per write, long after the body has ended.
    const memory = new MemoryUsageLedger();
    const slow: UsageLedger = {
      record: async (record) => {
        await new Promise<void>((resolve) => setTimeout(resolve, 30));
        return memory.record(record);
      },
      monthlyUsage: (tenantId, month) => memory.monthlyUsage(tenantId, month),
    };
    const lambda = startLambda(slow, memory);

    // Act
    await lambda.invoke(event);

    // Assess: read at once, without waiting for the ledger.
    expect(memory.records.map((record) => [record.requestId, record.outcome])).toEqual([
      ['req-1', 'complete'],
    ]);
    expect(lambda.stream.writableFinished).toBe(true);
  });
});
