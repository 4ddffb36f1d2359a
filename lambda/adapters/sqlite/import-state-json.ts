// The one-time import of `<dir>/state.json`, the JSON file earlier versions kept the local state in: on the first
// open of a database that has nothing yet, in one transaction. The file is left where it was, as a backup.
import { readFileSync } from 'node:fs';
import type { UsageRollup } from '../../ports.ts';
import { MemoryDatabase, type MemoryDatabaseJson } from '../memory/index.ts';
import { type Database, ROLLUP_COLUMNS } from './database.ts';
import { SqliteOwnershipStore } from './ownership-store.ts';

/** What an import brought in. */
export interface StateImport {
  readonly file: string;
  readonly tenants: number;
  readonly keys: number;
  readonly usageRecords: number;
  readonly ownedObjects: number;
}

const IMPORTED = 'imported state.json';

/** Sets a month row's counters (scope 0: the total, 1: a model), keeping the budget a row may already have. */
const setRollup = (db: Database, key: readonly [string, string, 0 | 1, string], rollup: UsageRollup) =>
  db
    .statement(
      `INSERT INTO months (tenant_id, month, scope, model, ${ROLLUP_COLUMNS.join(', ')})
       VALUES (?, ?, ?, ?, ${ROLLUP_COLUMNS.map(() => '?').join(', ')})
       ON CONFLICT DO UPDATE SET ${ROLLUP_COLUMNS.map((name) => `${name} = excluded.${name}`).join(', ')}`,
    )
    .run(...key, ...ROLLUP_COLUMNS.map((name) => rollup[name]));

/**
 * Imports `file` when it exists and this database has never imported one and holds nothing yet. Holds are not
 * imported: the process that placed them is gone, so each month's commitment is its spend.
 */
export const importStateJson = (db: Database, file: string): StateImport | undefined => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (db.meta(IMPORTED) !== undefined) return undefined;
  let state: MemoryDatabase;
  try {
    state = MemoryDatabase.fromJSON(JSON.parse(text) as MemoryDatabaseJson);
  } catch (error) {
    throw new Error(
      `The local state ${file} of an earlier version is not readable, so it cannot be imported: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  return db.transaction(() => {
    // Another process imported it meanwhile, or this database was in use before the file appeared.
    if (db.meta(IMPORTED) !== undefined) return undefined;
    const used = ['tenants', 'keys', 'usage_records', 'owned'].some(
      (table) => db.statement(`SELECT 1 FROM ${table} LIMIT 1`).get() !== undefined,
    );
    if (used) {
      db.setMeta(IMPORTED, JSON.stringify({ skipped: 'the database already had data', at: Date.now() }));
      return undefined;
    }
    for (const tenant of state.tenants.values())
      db.statement('INSERT INTO tenants (tenant_id, record) VALUES (?, ?)').run(
        tenant.tenantId,
        JSON.stringify(tenant),
      );
    for (const key of state.keys.values())
      db.statement('INSERT INTO keys (key_id, tenant_id, created_at, record) VALUES (?, ?, ?, ?)').run(
        key.keyId,
        key.tenantId,
        key.createdAt,
        JSON.stringify(key),
      );
    for (const [id, budget] of state.budgets) {
      const cut = id.lastIndexOf('#');
      db.statement(
        `INSERT INTO months (tenant_id, month, scope, model, spent, committed) VALUES (?, ?, 0, '', ?, ?)
         ON CONFLICT DO UPDATE SET spent = excluded.spent, committed = excluded.committed`,
      ).run(id.slice(0, cut), id.slice(cut + 1), budget.spentMicroUsd, budget.spentMicroUsd);
    }
    for (const [id, rollup] of state.rollups) {
      const cut = id.lastIndexOf('#');
      const [tenantId, month] = [id.slice(0, cut), id.slice(cut + 1)];
      setRollup(db, [tenantId, month, 0, ''], rollup.total);
      for (const [model, byModel] of rollup.byModel) setRollup(db, [tenantId, month, 1, model], byModel);
    }
    for (const record of state.records.values())
      db.statement('INSERT INTO usage_records (request_id, started_at, record) VALUES (?, ?, ?)').run(
        record.requestId,
        record.startedAt,
        JSON.stringify(record),
      );
    const owned = new SqliteOwnershipStore(db);
    for (const object of state.owned.values()) owned.insert(object);
    const result: StateImport = {
      file,
      tenants: state.tenants.size,
      keys: state.keys.size,
      usageRecords: state.records.size,
      ownedObjects: state.owned.size,
    };
    db.setMeta(IMPORTED, JSON.stringify({ ...result, at: Date.now() }));
    return result;
  });
};
