// The in-memory twins against the port contracts (the DynamoDB adapters run the same cases).
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryOwnershipStore,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import { aRecord } from '../fixtures/usage-records.ts';
import { describeBudgetStoreContract } from './contracts/budget-store.contract.ts';
import { describeKeyStoreContract } from './contracts/key-store.contract.ts';
import { describeOwnershipStoreContract } from './contracts/ownership-store.contract.ts';
import { describeUsageLedgerContract } from './contracts/usage-ledger.contract.ts';

describeKeyStoreContract('memory', async () => ({ store: new MemoryKeyStore() }));

describeBudgetStoreContract('memory', async () => ({ store: new MemoryBudgetStore() }));

describeUsageLedgerContract('memory', async () => {
  const db = new MemoryDatabase();
  return { ledger: new MemoryUsageLedger(db), budgets: new MemoryBudgetStore(db) };
});

describeOwnershipStoreContract('memory', async () => ({ store: new MemoryOwnershipStore() }));

describe('memory usage ledger past maxRecords', () => {
  it('drops the oldest records first, keeps the rollups whole, and survives a save and load', async () => {
    // Prepare: room for 3 records, 5,000 written (enough to compact the eviction queue's start, at 4,096)
    const db = new MemoryDatabase(3);
    const ledger = new MemoryUsageLedger(db);

    // Act
    for (let i = 1; i <= 5_000; i += 1)
      await ledger.record(aRecord({ requestId: `req-${i}`, costMicroUsd: 1 }));
    const reloaded = MemoryDatabase.fromJSON(JSON.parse(JSON.stringify(db)), 3);
    await new MemoryUsageLedger(reloaded).record(aRecord({ requestId: 'req-5001', costMicroUsd: 1 }));

    // Assess
    expect(ledger.records.map((record) => record.requestId)).toEqual(['req-4998', 'req-4999', 'req-5000']);
    expect((await ledger.monthlyUsage('acme', aRecord().month)).total).toMatchObject({
      requests: 5_000,
      costMicroUsd: 5_000,
    });
    expect([...reloaded.records.keys()]).toEqual(['req-4999', 'req-5000', 'req-5001']);
    // A dropped record's replay guard is gone with it; a kept one still refuses a replay.
    await expect(ledger.record(aRecord({ requestId: 'req-5000' }))).resolves.toBe('duplicate');
    await expect(ledger.record(aRecord({ requestId: 'req-1' }))).resolves.toBe('recorded');
  });
});
