// DynamoDB adapters of the key, budget and usage ports, and the tables they share.
export { DynamoBudgetStore, type DynamoBudgetStoreOptions } from './budget-store.ts';
export { DynamoKeyStore } from './key-store.ts';
export { createGatewayTables, type DynamoTables, itemKeys, KeyItemType, TableKey } from './tables.ts';
export { DynamoUsageLedger, type DynamoUsageLedgerOptions } from './usage-ledger.ts';
