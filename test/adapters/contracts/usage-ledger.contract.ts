// What every UsageLedger must do, with the BudgetStore it settles: run by memory- and dynamodb-contracts.test.ts.

import { MemoryLogger, MemoryMetrics } from '../../../lambda/adapters/memory/index.ts';
import { createUsageWriter } from '../../../lambda/core/ledger-writer.ts';
import { EMPTY_ROLLUP } from '../../../lambda/core/pricing.ts';
import type { BudgetStore, UsageLedger, UsageRecord, UsageRollup } from '../../../lambda/ports.ts';
import { FakeClock } from '../../fixtures/fake-clock.ts';
import { aRecord } from '../../fixtures/usage-records.ts';
import { aHold } from './budget-store.contract.ts';

export interface UsageLedgerFixture {
  readonly ledger: UsageLedger;
  /** A budget store over the same data as the ledger. */
  readonly budgets: BudgetStore;
  readonly teardown?: () => Promise<void>;
}

export { aRecord };

const rollup = (counts: Partial<UsageRollup>): UsageRollup => ({ ...EMPTY_ROLLUP, ...counts });

export function describeUsageLedgerContract(name: string, setup: () => Promise<UsageLedgerFixture>): void {
  describe(`UsageLedger contract: ${name}`, () => {
    let fixture: UsageLedgerFixture;
    let ledger: UsageLedger;
    let budgets: BudgetStore;

    beforeEach(async () => {
      fixture = await setup();
      ({ ledger, budgets } = fixture);
    });

    afterEach(async () => {
      await fixture.teardown?.();
    });

    it('answers empty usage for a month without records', async () => {
      expect(await ledger.monthlyUsage('acme', '2025-03')).toStrictEqual({
        total: rollup({}),
        byModel: new Map(),
      });
    });

    it("adds each record to the tenant's total and to its model's rollup", async () => {
      // Prepare
      const records = [
        aRecord({ requestId: 'r1' }),
        aRecord({
          requestId: 'r2',
          usage: { inputTokens: 300, cachedInputTokens: 0, outputTokens: 10, reasoningTokens: 0 },
          cacheHit: true,
          costMicroUsd: 700,
        }),
        aRecord({
          requestId: 'r3',
          model: 'o3',
          usage: { inputTokens: 1_000, cachedInputTokens: 500, outputTokens: 2_000, reasoningTokens: 1_500 },
          exact: false,
          costMicroUsd: 45_000,
        }),
      ];

      // Act
      const results = [];
      for (const record of records) results.push(await ledger.record(record));

      // Assess
      expect(results).toStrictEqual(['recorded', 'recorded', 'recorded']);
      const mini = rollup({
        requests: 2,
        inputTokens: 400,
        cachedInputTokens: 20,
        outputTokens: 60,
        costMicroUsd: 1_900,
        cacheHits: 1,
      });
      const o3 = rollup({
        requests: 1,
        inputTokens: 1_000,
        cachedInputTokens: 500,
        outputTokens: 2_000,
        reasoningTokens: 1_500,
        costMicroUsd: 45_000,
        estimatedRequests: 1,
      });
      expect(await ledger.monthlyUsage('acme', '2025-03')).toStrictEqual({
        total: rollup({
          requests: 3,
          inputTokens: 1_400,
          cachedInputTokens: 520,
          outputTokens: 2_060,
          reasoningTokens: 1_500,
          costMicroUsd: 46_900,
          cacheHits: 1,
          estimatedRequests: 1,
        }),
        byModel: new Map([
          ['gpt-4o-mini', mini],
          ['o3', o3],
        ]),
      });
    });

    it.each([
      ['an exact miss', { exact: true, cacheHit: false }, { estimatedRequests: 0, cacheHits: 0 }],
      ['an estimate', { exact: false, cacheHit: false }, { estimatedRequests: 1, cacheHits: 0 }],
      ['a cache hit', { exact: true, cacheHit: true }, { estimatedRequests: 0, cacheHits: 1 }],
    ])('counts %s in estimatedRequests and cacheHits', async (_case, flags, counts) => {
      // Act
      await ledger.record(aRecord(flags));

      // Assess
      const { total } = await ledger.monthlyUsage('acme', '2025-03');
      expect({ estimatedRequests: total.estimatedRequests, cacheHits: total.cacheHits }).toStrictEqual(
        counts,
      );
    });

    it('moves the cost into spend and releases only its own hold', async () => {
      // Prepare
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      await budgets.reserve(aHold({ requestId: 'r2', amountMicroUsd: 3_000 }));

      // Act
      await ledger.record(aRecord({ requestId: 'r1', costMicroUsd: 1_200, reservedMicroUsd: 5_000 }));

      // Assess
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 1_200,
        committedMicroUsd: 1_200 + 3_000,
      });
    });

    it('releases the hold a record names as its holdId (a batch), once, and not a hold of its own id', async () => {
      // Prepare: a batch's hold is placed before the upstream names the batch
      await budgets.reserve(aHold({ requestId: 'batch-hold#r1', amountMicroUsd: 5_000, lasting: true }));
      await budgets.reserve(aHold({ requestId: 'batch#b1', amountMicroUsd: 700 }));
      const record = aRecord({
        requestId: 'batch#b1',
        holdId: 'batch-hold#r1',
        costMicroUsd: 1_200,
        reservedMicroUsd: 5_000,
      });

      // Act
      const first = await ledger.record(record);
      const replay = await ledger.record(record);

      // Assess
      expect([first, replay]).toEqual(['recorded', 'duplicate']);
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 1_200,
        committedMicroUsd: 1_200 + 700,
      });
    });

    it('adds the cost of a record that had no reservation to both spend and committed', async () => {
      // Act
      await ledger.record(aRecord({ costMicroUsd: 900, reservedMicroUsd: 0 }));

      // Assess
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 900,
        committedMicroUsd: 900,
      });
    });

    it.each([
      ['0 (its reservation failed ambiguously: the write landed, the call threw)', 0],
      ['more than the hold', 9_000],
    ])('releases the amount the hold holds when the record claims %s', async (_case, claimed) => {
      // Prepare
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      await budgets.reserve(aHold({ requestId: 'r2', amountMicroUsd: 3_000 }));

      // Act
      await ledger.record(aRecord({ requestId: 'r1', costMicroUsd: 0, reservedMicroUsd: claimed }));

      // Assess
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 3_000,
      });
      // The hold is gone: a new reservation of the same request id holds again.
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 1_000 }));
      expect((await budgets.budget('acme', '2025-03')).committedMicroUsd).toBe(4_000);
    });

    it('changes no committed amount for a request without a hold, whatever it claims, and still counts it', async () => {
      // Prepare: another request's hold is in flight.
      await budgets.reserve(aHold({ requestId: 'r2', amountMicroUsd: 3_000 }));

      // Act
      await ledger.record(aRecord({ requestId: 'r1', costMicroUsd: 0, reservedMicroUsd: 5_000 }));

      // Assess
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 3_000,
      });
      expect((await ledger.monthlyUsage('acme', '2025-03')).total.requests).toBe(1);
    });

    it('counts a request refused before any spend (no cost, no hold) in the rollups, and no money anywhere', async () => {
      // Act
      const result = await ledger.record(
        aRecord({
          status: 429,
          outcome: 'rejected',
          usage: { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
          costMicroUsd: 0,
          reservedMicroUsd: 0,
        }),
      );

      // Assess
      expect(result).toBe('recorded');
      expect(await ledger.monthlyUsage('acme', '2025-03')).toStrictEqual({
        total: rollup({ requests: 1, refusedRequests: 1 }),
        byModel: new Map([['gpt-4o-mini', rollup({ requests: 1, refusedRequests: 1 })]]),
      });
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 0,
      });
    });

    it.each([
      ['complete', 200, {}],
      ['content_filtered', 200, {}],
      ['rejected', 404, { refusedRequests: 1 }],
      ['upstream_error', 502, { failedRequests: 1 }],
      ['timeout', 504, { failedRequests: 1 }],
      ['client_abort', 499, { abortedRequests: 1 }],
    ] as const)(
      'counts a request of outcome %s once in the outcome counters of both rollups, replayed or not',
      async (outcome, status, counts) => {
        // Prepare
        const record = aRecord({ status, outcome, costMicroUsd: 0 });
        const other = aRecord({ requestId: 'r-o3', model: 'o3', status, outcome, costMicroUsd: 0 });

        // Act
        const results = [
          await ledger.record(record),
          await ledger.record(other),
          await ledger.record(record),
        ];

        // Assess
        const expected = (requests: number) =>
          rollup({
            requests,
            inputTokens: 100 * requests,
            cachedInputTokens: 20 * requests,
            outputTokens: 50 * requests,
            ...Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, count * requests])),
          });
        expect(results).toStrictEqual(['recorded', 'recorded', 'duplicate']);
        expect(await ledger.monthlyUsage('acme', '2025-03')).toStrictEqual({
          total: expected(2),
          byModel: new Map([
            ['gpt-4o-mini', expected(1)],
            ['o3', expected(1)],
          ]),
        });
      },
    );

    it('releases a hold once when a record that claimed no reservation is replayed', async () => {
      // Prepare
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      await budgets.reserve(aHold({ requestId: 'r2', amountMicroUsd: 3_000 }));
      const record = aRecord({ requestId: 'r1', costMicroUsd: 1_200, reservedMicroUsd: 0 });

      // Act
      const results = [await ledger.record(record), await ledger.record(record), await ledger.record(record)];

      // Assess
      expect(results).toStrictEqual(['recorded', 'duplicate', 'duplicate']);
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 1_200,
        committedMicroUsd: 1_200 + 3_000,
      });
    });

    it('counts a request once and releases its hold once when the settle that never happened is replayed from its log line', async () => {
      // Prepare: the hold is placed, then the process "crashes" at the settle: every write of the record fails
      // before it reaches the store, and the writer logs the record after its retries.
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      await budgets.reserve(aHold({ requestId: 'r2', amountMicroUsd: 3_000 }));
      const logger = new MemoryLogger();
      const crashing: UsageLedger = {
        record: async () => {
          throw new Error('socket hang up');
        },
        monthlyUsage: (tenantId, month) => ledger.monthlyUsage(tenantId, month),
      };
      const writer = createUsageWriter({
        ledger: crashing,
        logger,
        metrics: new MemoryMetrics(),
        clock: new FakeClock(),
      });
      const record = aRecord({ requestId: 'r1', costMicroUsd: 1_200, reservedMicroUsd: 5_000 });
      writer.write(Promise.resolve(record), record.model);
      await writer.drain();
      const budgetAfterCrash = await budgets.budget('acme', '2025-03');
      const line = logger.lines.find((entry) => entry.message === 'usage record not stored');
      // The line as it would be read back from the log: JSON.
      const logged = JSON.parse(JSON.stringify(line?.fields.usageRecord)) as UsageRecord;

      // Act: the operator replays it, and by mistake replays it again.
      const results = [await ledger.record(logged), await ledger.record(logged)];

      // Assess
      expect(budgetAfterCrash).toStrictEqual({ spentMicroUsd: 0, committedMicroUsd: 8_000 });
      expect(results).toStrictEqual(['recorded', 'duplicate']);
      expect((await ledger.monthlyUsage('acme', '2025-03')).total).toStrictEqual(
        rollup({
          requests: 1,
          inputTokens: 100,
          cachedInputTokens: 20,
          outputTokens: 50,
          costMicroUsd: 1_200,
        }),
      );
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 1_200,
        committedMicroUsd: 1_200 + 3_000,
      });
    });

    it('answers a replay with duplicate and changes no counter', async () => {
      // Prepare
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      await ledger.record(aRecord({ requestId: 'r1', reservedMicroUsd: 5_000 }));
      const usageBefore = await ledger.monthlyUsage('acme', '2025-03');
      const budgetBefore = await budgets.budget('acme', '2025-03');

      // Act
      const replay = await ledger.record(
        aRecord({ requestId: 'r1', reservedMicroUsd: 5_000, costMicroUsd: 9_999 }),
      );

      // Assess
      expect(replay).toBe('duplicate');
      expect(await ledger.monthlyUsage('acme', '2025-03')).toStrictEqual(usageBefore);
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual(budgetBefore);
    });

    it('counts a request once when its record is written again after a lost acknowledgement', async () => {
      // Prepare
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      const record = aRecord({ requestId: 'r1', costMicroUsd: 1_200, reservedMicroUsd: 5_000 });

      // Act
      const first = await ledger.record(record);
      const retry = await ledger.record(record);

      // Assess
      expect([first, retry]).toStrictEqual(['recorded', 'duplicate']);
      expect((await ledger.monthlyUsage('acme', '2025-03')).total.requests).toBe(1);
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 1_200,
        committedMicroUsd: 1_200,
      });
    });

    it('records a request once when two writers race with the same record', async () => {
      // Prepare
      await budgets.reserve(aHold({ requestId: 'r1', amountMicroUsd: 5_000 }));
      const record = aRecord({ requestId: 'r1', costMicroUsd: 1_200, reservedMicroUsd: 5_000 });

      // Act
      const results = await Promise.all([ledger.record(record), ledger.record(record)]);

      // Assess
      expect(results.sort()).toStrictEqual(['duplicate', 'recorded']);
      expect((await ledger.monthlyUsage('acme', '2025-03')).total.costMicroUsd).toBe(1_200);
      expect(await budgets.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 1_200,
        committedMicroUsd: 1_200,
      });
    });

    it('keeps tenants and months apart', async () => {
      // Act
      await ledger.record(aRecord({ requestId: 'r1', costMicroUsd: 100 }));
      await ledger.record(aRecord({ requestId: 'r2', month: '2025-04', costMicroUsd: 200 }));
      await ledger.record(aRecord({ requestId: 'r3', tenantId: 'globex', costMicroUsd: 400 }));

      // Assess
      const cost = async (tenantId: string, month: string) =>
        (await ledger.monthlyUsage(tenantId, month)).total.costMicroUsd;
      expect([
        await cost('acme', '2025-03'),
        await cost('acme', '2025-04'),
        await cost('globex', '2025-03'),
      ]).toEqual([100, 200, 400]);
      expect((await budgets.budget('acme', '2025-04')).spentMicroUsd).toBe(200);
      expect((await budgets.budget('globex', '2025-04')).spentMicroUsd).toBe(0);
    });
  });
}
