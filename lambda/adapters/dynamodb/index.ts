// DynamoDB adapters of the key, budget, usage and ownership ports, and the tables they share.
export { DynamoBudgetStore, type DynamoBudgetStoreOptions } from './budget-store.ts';
export { DynamoKeyStore } from './key-store.ts';
export { DynamoOwnershipStore } from './ownership-store.ts';
export {
  createGatewayTables,
  type DynamoTables,
  type GatewayTableNames,
  itemKeys,
  KeyItemType,
  TableKey,
} from './tables.ts';
export { DynamoUsageLedger, type DynamoUsageLedgerOptions } from './usage-ledger.ts';
