// The usage writer: retries a failing ledger, logs and counts a record it cannot store, and drains on demand.
import { MemoryLogger, MemoryUsageLedger } from '../../lambda/adapters/memory/index.ts';
import { createUsageWriter } from '../../lambda/core/ledger-writer.ts';
import type { Clock, MetricBatch, Metrics, UsageLedger, UsageRecord } from '../../lambda/ports.ts';

const RECORD: UsageRecord = {
  requestId: 'req-1',
  tenantId: 'acme',
  keyId: 'aaaaaaaaaaaaaaaa',
  tier: 'default',
  endpoint: '/v1/chat/completions',
  model: 'gpt-4o-mini',
  targetId: 'primary',
  status: 200,
  outcome: 'complete',
  usage: { inputTokens: 12, cachedInputTokens: 0, outputTokens: 7, reasoningTokens: 0 },
  exact: true,
  cacheHit: false,
  costMicroUsd: 6,
  reservedMicroUsd: 9_832,
  month: '2025-01',
  startedAt: 1_736_000_000_000,
  latencyMs: 420,
  ttfbMs: 180,
};

/** A clock whose sleep resolves at once and remembers how long it was asked to wait. */
const instantClock = () => {
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => 0,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
  return { clock, sleeps };
};

class RecordingMetrics implements Metrics {
  readonly batches: MetricBatch[] = [];
  emit(batch: MetricBatch): void {
    this.batches.push(batch);
  }
  sum(name: string): number {
    return this.batches
      .flatMap((batch) => batch.values)
      .reduce((total, v) => total + (v.name === name ? v.value : 0), 0);
  }
}

/** A ledger that throws on its first `failures` calls, then stores in memory. */
const flakyLedger = (failures: number) => {
  const memory = new MemoryUsageLedger();
  let attempts = 0;
  const ledger: UsageLedger = {
    record: async (record) => {
      attempts += 1;
      if (attempts <= failures) throw new Error(`ledger down (attempt ${attempts})`);
      return memory.record(record);
    },
    monthlyUsage: (tenantId, month) => memory.monthlyUsage(tenantId, month),
  };
  return { ledger, memory, attempts: () => attempts };
};

const prepareWriter = (ledger: UsageLedger) => {
  const logger = new MemoryLogger();
  const metrics = new RecordingMetrics();
  const { clock, sleeps } = instantClock();
  const writer = createUsageWriter({ ledger, logger, metrics, clock });
  return { writer, logger, metrics, sleeps };
};

describe('createUsageWriter: retries', () => {
  it.each([
    [0, 1, []],
    [1, 2, [50]],
    [2, 3, [50, 250]],
    [3, 4, [50, 250, 1_000]],
  ])(
    'a ledger failing %p time(s) stores the record after %p attempt(s), waiting %j ms',
    async (failures, attempts, waits) => {
      // Prepare
      const flaky = flakyLedger(failures);
      const { writer, logger, metrics, sleeps } = prepareWriter(flaky.ledger);

      // Act
      writer.write(Promise.resolve(RECORD), RECORD.model);
      await writer.drain();

      // Assess
      expect(flaky.memory.records).toEqual([RECORD]);
      expect(flaky.attempts()).toBe(attempts);
      expect(sleeps).toEqual(waits);
      expect(logger.lines).toEqual([]);
      expect(metrics.batches).toEqual([]);
    },
  );

  it('gives up after 4 attempts: one error line with the full record, and UsageRecordsNotStored = 1', async () => {
    // Prepare
    const flaky = flakyLedger(Number.POSITIVE_INFINITY);
    const { writer, logger, metrics, sleeps } = prepareWriter(flaky.ledger);

    // Act: the metric names the route (`gpt-4o-*`), never the model the record names
    writer.write(Promise.resolve(RECORD), 'gpt-4o-*');
    await writer.drain();

    // Assess
    expect(flaky.attempts()).toBe(4);
    expect(sleeps).toEqual([50, 250, 1_000]);
    expect(flaky.memory.records).toEqual([]);
    expect(logger.lines).toEqual([
      {
        level: 'error',
        message: 'usage record not stored',
        fields: { usageRecord: RECORD, error: 'Error: ledger down (attempt 4)' },
      },
    ]);
    expect(metrics.sum('UsageRecordsNotStored')).toBe(1);
    expect(metrics.batches).toEqual([
      {
        dimensions: { model: 'gpt-4o-*' },
        values: [{ name: 'UsageRecordsNotStored', value: 1, unit: 'Count' }],
      },
    ]);
  });

  it('logs a record that could not be built, and writes nothing', async () => {
    // Prepare
    const flaky = flakyLedger(0);
    const { writer, logger, metrics } = prepareWriter(flaky.ledger);

    // Act
    writer.write(Promise.reject(new Error('price lookup failed')), RECORD.model);
    await writer.drain();

    // Assess
    expect(flaky.attempts()).toBe(0);
    expect(logger.lines).toEqual([
      {
        level: 'error',
        message: 'usage record could not be built',
        fields: { error: 'Error: price lookup failed' },
      },
    ]);
    expect(metrics.batches).toEqual([]);
  });
});

/** A ledger whose writes wait until the test lets each one through. */
const gatedLedger = () => {
  const memory = new MemoryUsageLedger();
  const signals = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const signal = (name: string) => {
    let entry = signals.get(name);
    if (entry === undefined) {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      entry = { promise, resolve };
      signals.set(name, entry);
    }
    return entry;
  };
  const ledger: UsageLedger = {
    record: async (record) => {
      signal(`reached:${record.requestId}`).resolve();
      await signal(`released:${record.requestId}`).promise;
      return memory.record(record);
    },
    monthlyUsage: (tenantId, month) => memory.monthlyUsage(tenantId, month),
  };
  return {
    ledger,
    memory,
    /** Resolves once the write of `requestId` has reached the ledger. */
    reached: (requestId: string) => signal(`reached:${requestId}`).promise,
    release: (requestId: string) => signal(`released:${requestId}`).resolve(),
  };
};

/** Lets every queued promise callback and I/O callback run once. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('createUsageWriter: drain', () => {
  it('resolves at once when nothing is pending', async () => {
    // Prepare
    const { writer } = prepareWriter(flakyLedger(0).ledger);

    // Act
    let drained = false;
    await writer.drain().then(() => {
      drained = true;
    });

    // Assess
    expect(drained).toBe(true);
  });

  it('resolves only after pending writes finished, including one started while draining', async () => {
    // Prepare
    const gated = gatedLedger();
    const { writer } = prepareWriter(gated.ledger);
    const first = { ...RECORD, requestId: 'req-1' };
    const second = { ...RECORD, requestId: 'req-2' };
    writer.write(Promise.resolve(first), first.model);
    await gated.reached('req-1');

    // Act
    let drained = false;
    const draining = writer.drain().then(() => {
      drained = true;
    });
    await settle();
    const whileFirstHeld = drained;
    writer.write(Promise.resolve(second), second.model);
    await gated.reached('req-2');
    gated.release('req-1');
    await settle();
    const whileSecondHeld = drained;
    const storedWhileSecondHeld = gated.memory.records.map((record) => record.requestId);
    gated.release('req-2');
    await draining;

    // Assess
    expect(whileFirstHeld).toBe(false);
    expect(whileSecondHeld).toBe(false);
    expect(storedWhileSecondHeld).toEqual(['req-1']);
    expect(drained).toBe(true);
    expect(gated.memory.records.map((record) => record.requestId)).toEqual(['req-1', 'req-2']);
  });

  it('waits for a record that is still being built', async () => {
    // Prepare
    const flaky = flakyLedger(0);
    const { writer } = prepareWriter(flaky.ledger);
    let build: (record: UsageRecord) => void = () => {};
    writer.write(
      new Promise<UsageRecord>((resolve) => {
        build = resolve;
      }),
      RECORD.model,
    );

    // Act
    let drained = false;
    const draining = writer.drain().then(() => {
      drained = true;
    });
    await settle();
    const beforeBuilt = drained;
    build(RECORD);
    await draining;

    // Assess
    expect(beforeBuilt).toBe(false);
    expect(flaky.memory.records).toEqual([RECORD]);
  });
});
