// The in-memory twins against the port contracts (the DynamoDB adapters run the same cases).
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryOwnershipStore,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
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
