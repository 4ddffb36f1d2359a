// What every BudgetStore must do: run by memory-contracts.test.ts and dynamodb-contracts.test.ts.
import type { BudgetHold, BudgetStore } from '../../../lambda/ports.ts';

export interface BudgetStoreFixture {
  readonly store: BudgetStore;
  readonly teardown?: () => Promise<void>;
}

export const aHold = (overrides: Partial<BudgetHold> = {}): BudgetHold => ({
  tenantId: 'acme',
  month: '2025-03',
  requestId: 'req-1',
  amountMicroUsd: 1_000,
  limitMicroUsd: 10_000,
  ...overrides,
});

export function describeBudgetStoreContract(name: string, setup: () => Promise<BudgetStoreFixture>): void {
  describe(`BudgetStore contract: ${name}`, () => {
    let fixture: BudgetStoreFixture;
    let store: BudgetStore;

    beforeEach(async () => {
      fixture = await setup();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.teardown?.();
    });

    it('answers zeros for a month without a budget', async () => {
      expect(await store.budget('acme', '2025-03')).toStrictEqual({ spentMicroUsd: 0, committedMicroUsd: 0 });
    });

    it('admits reservations within the limit and adds them to committed', async () => {
      // Act
      const first = await store.reserve(aHold({ requestId: 'r1', amountMicroUsd: 3_000 }));
      const second = await store.reserve(aHold({ requestId: 'r2', amountMicroUsd: 4_000 }));

      // Assess
      expect([first, second]).toStrictEqual([{ admitted: true }, { admitted: true }]);
      expect(await store.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 7_000,
      });
    });

    it.each([
      ['exactly reaching the limit', 4_000, { admitted: true }, 10_000],
      ['one micro-dollar over the limit', 4_001, { admitted: false, committedMicroUsd: 6_000 }, 6_000],
    ])(
      'with 6,000 committed of 10,000, a hold of %s (%i) → %o',
      async (_case, amount, expected, committed) => {
        // Prepare
        await store.reserve(aHold({ requestId: 'r1', amountMicroUsd: 6_000 }));

        // Act
        const result = await store.reserve(aHold({ requestId: 'r2', amountMicroUsd: amount }));

        // Assess
        expect(result).toStrictEqual(expected);
        expect((await store.budget('acme', '2025-03')).committedMicroUsd).toBe(committed);
      },
    );

    it('leaves no hold behind when it refuses: the same request id is later admitted as new', async () => {
      // Prepare
      await store.reserve(aHold({ requestId: 'r1', amountMicroUsd: 9_000 }));
      const refused = await store.reserve(aHold({ requestId: 'r2', amountMicroUsd: 2_000 }));

      // Act
      const retried = await store.reserve(aHold({ requestId: 'r2', amountMicroUsd: 500 }));

      // Assess
      expect(refused).toStrictEqual({ admitted: false, committedMicroUsd: 9_000 });
      expect(retried).toStrictEqual({ admitted: true });
      expect((await store.budget('acme', '2025-03')).committedMicroUsd).toBe(9_500);
    });

    it('admits a replay of the same request id without holding twice', async () => {
      // Prepare
      await store.reserve(aHold({ amountMicroUsd: 2_500 }));

      // Act
      const replay = await store.reserve(aHold({ amountMicroUsd: 2_500 }));

      // Assess
      expect(replay).toStrictEqual({ admitted: true });
      expect(await store.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 2_500,
      });
    });

    it.each([
      ['with nothing committed', 0],
      ['with some committed', 1_500],
    ])('refuses a hold larger than the whole limit %s', async (_case, committed) => {
      // Prepare
      if (committed > 0) await store.reserve(aHold({ requestId: 'r0', amountMicroUsd: committed }));

      // Act
      const result = await store.reserve(aHold({ amountMicroUsd: 10_001 }));

      // Assess
      expect(result).toStrictEqual({ admitted: false, committedMicroUsd: committed });
      expect((await store.budget('acme', '2025-03')).committedMicroUsd).toBe(committed);
    });

    it('keeps tenants and months apart', async () => {
      // Prepare
      await store.reserve(aHold({ requestId: 'r1', amountMicroUsd: 10_000 }));

      // Act
      const otherMonth = await store.reserve(
        aHold({ requestId: 'r2', month: '2025-04', amountMicroUsd: 7_000 }),
      );
      const otherTenant = await store.reserve(
        aHold({ requestId: 'r3', tenantId: 'globex', amountMicroUsd: 8_000 }),
      );

      // Assess
      expect([otherMonth, otherTenant]).toStrictEqual([{ admitted: true }, { admitted: true }]);
      expect((await store.budget('acme', '2025-03')).committedMicroUsd).toBe(10_000);
      expect((await store.budget('acme', '2025-04')).committedMicroUsd).toBe(7_000);
      expect((await store.budget('globex', '2025-03')).committedMicroUsd).toBe(8_000);
    });

    it('admits exactly what fits when 200 requests reserve at once', async () => {
      // Prepare
      const holds = Array.from({ length: 200 }, (_, i) =>
        aHold({ requestId: `burst-${i}`, amountMicroUsd: 1_000, limitMicroUsd: 50_000 }),
      );

      // Act
      const results = await Promise.all(holds.map((hold) => store.reserve(hold)));

      // Assess
      expect(results.filter((result) => result.admitted)).toHaveLength(50);
      expect(await store.budget('acme', '2025-03')).toStrictEqual({
        spentMicroUsd: 0,
        committedMicroUsd: 50_000,
      });
      // Holds are 1,000 each: a refusal can only have seen the full 50,000.
      const refusedAt = results.flatMap((result) => (result.admitted ? [] : [result.committedMicroUsd]));
      expect(refusedAt).toStrictEqual(Array(150).fill(50_000));
    });
  });
}
