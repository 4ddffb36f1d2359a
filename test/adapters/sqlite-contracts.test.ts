// The SQLite adapters of the local store against the port contracts (the memory twins and DynamoDB run the same
// cases), each case on a fresh database file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../lambda/adapters/sqlite/database.ts';
import { SqliteKeyStore } from '../../lambda/adapters/sqlite/key-store.ts';
import { processOwner, SqliteBudgetStore, SqliteUsageLedger } from '../../lambda/adapters/sqlite/ledger.ts';
import { SqliteOwnershipStore } from '../../lambda/adapters/sqlite/ownership-store.ts';
import { describeBudgetStoreContract } from './contracts/budget-store.contract.ts';
import { describeKeyStoreContract } from './contracts/key-store.contract.ts';
import { describeOwnershipStoreContract } from './contracts/ownership-store.contract.ts';
import { describeUsageLedgerContract } from './contracts/usage-ledger.contract.ts';

const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-contract-'));
  const db = new Database(join(dir, 'gateway.db'));
  return {
    db,
    teardown: async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

describeKeyStoreContract('sqlite', async () => {
  const { db, teardown } = fresh();
  return { store: new SqliteKeyStore(db), teardown };
});

describeBudgetStoreContract('sqlite', async () => {
  const { db, teardown } = fresh();
  return { store: new SqliteBudgetStore(db, processOwner('contract')), teardown };
});

describeUsageLedgerContract('sqlite', async () => {
  const { db, teardown } = fresh();
  return {
    ledger: new SqliteUsageLedger(db),
    budgets: new SqliteBudgetStore(db, processOwner('contract')),
    teardown,
  };
});

describeOwnershipStoreContract('sqlite', async () => {
  const { db, teardown } = fresh();
  return { store: new SqliteOwnershipStore(db), teardown };
});
