// Budgets, holds, usage records and monthly rollups in the local database. A hold is one transaction, and so is a
// record with everything it settles (its rollups, the budget's spend, the release of its hold), with the same
// conditions and idempotency as the DynamoDB adapters and the in-memory twins.
import { hostname } from 'node:os';
import { addToRollup, EMPTY_ROLLUP } from '../../core/pricing.ts';
import type {
  BudgetHold,
  BudgetState,
  BudgetStore,
  MonthlyUsage,
  UsageLedger,
  UsageRecord,
  UsageRollup,
} from '../../ports.ts';
import { type Database, ROLLUP_COLUMNS } from './database.ts';

interface HoldRow {
  readonly request_id: string;
  readonly tenant_id: string;
  readonly month: string;
  readonly amount: number;
  readonly owner: string;
  readonly placed_at: number;
}

/** `host:pid:nonce` of this process: the owner of the holds it places. */
export const processOwner = (nonce: string): string => `${hostname()}:${process.pid}:${nonce}`;

const MONTH_KEY = 'tenant_id, month, scope, model';
/** Adds a record to its month: spend and commitment with the total counters (scope 0), or a model's (scope 1). */
const ADD_TO_MONTH = `INSERT INTO months (${MONTH_KEY}, spent, committed, ${ROLLUP_COLUMNS.join(', ')})
  VALUES (?, ?, ?, ?, ?, ?, ${ROLLUP_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT DO UPDATE SET spent = spent + excluded.spent, committed = committed + excluded.committed, ${ROLLUP_COLUMNS.map((name) => `${name} = ${name} + excluded.${name}`).join(', ')}`;
/** Adds to a month's spend and commitment only, creating its row when it is the month's first. */
const ADD_TO_BUDGET = `INSERT INTO months (${MONTH_KEY}, spent, committed) VALUES (?, ?, 0, '', ?, ?)
  ON CONFLICT DO UPDATE SET spent = spent + excluded.spent, committed = committed + excluded.committed`;
const BUDGET_OF =
  "SELECT spent, committed FROM months WHERE tenant_id = ? AND month = ? AND scope = 0 AND model = ''";

const rollupOf = (row: Record<string, unknown> | undefined): UsageRollup => {
  if (row === undefined) return EMPTY_ROLLUP;
  const rollup: Record<string, number> = {};
  for (const name of ROLLUP_COLUMNS) rollup[name] = Number(row[name] ?? 0);
  return rollup as unknown as UsageRollup;
};

export class SqliteBudgetStore implements BudgetStore {
  constructor(
    private readonly db: Database,
    /** Who places the holds (processOwner): the next start releases the holds of an owner that died. */
    private readonly owner: string,
    private readonly now: () => number = Date.now,
  ) {}

  async reserve(hold: BudgetHold) {
    return this.db.transaction(() => {
      if (this.db.statement('SELECT 1 FROM holds WHERE request_id = ?').get(hold.requestId) !== undefined)
        return { admitted: true as const };
      const budget = this.db.statement(BUDGET_OF).get(hold.tenantId, hold.month) as
        | { committed: number }
        | undefined;
      const committed = budget?.committed ?? 0;
      if (committed + hold.amountMicroUsd > hold.limitMicroUsd)
        return { admitted: false as const, committedMicroUsd: committed };
      this.db.statement(ADD_TO_BUDGET).run(hold.tenantId, hold.month, 0, hold.amountMicroUsd);
      this.db
        .statement(
          'INSERT INTO holds (request_id, tenant_id, month, amount, owner, placed_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(
          hold.requestId,
          hold.tenantId,
          hold.month,
          hold.amountMicroUsd,
          hold.lasting === true ? LASTING_OWNER : this.owner,
          this.now(),
        );
      return { admitted: true as const };
    });
  }

  async budget(tenantId: string, month: string): Promise<BudgetState> {
    const row = this.db.statement(BUDGET_OF).get(tenantId, month) as
      | { spent: number; committed: number }
      | undefined;
    return { spentMicroUsd: row?.spent ?? 0, committedMicroUsd: row?.committed ?? 0 };
  }
}

export class SqliteUsageLedger implements UsageLedger {
  constructor(private readonly db: Database) {}

  async record(record: UsageRecord): Promise<'recorded' | 'duplicate'> {
    return this.recordNow(record);
  }

  /** `record`, done before it returns: the caller knows the record is committed. */
  recordNow(record: UsageRecord): 'recorded' | 'duplicate' {
    const { db } = this;
    return db.transaction(() => {
      const { changes } = db
        .statement(
          'INSERT INTO usage_records (request_id, started_at, record) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        )
        .run(record.requestId, record.startedAt, JSON.stringify(record));
      if (changes === 0) return 'duplicate';
      const delta = addToRollup(EMPTY_ROLLUP, record);
      const counts = ROLLUP_COLUMNS.map((name) => delta[name]);
      // What the hold itself holds is released, not the record's `reservedMicroUsd`; a hold of another tenant or
      // month is not this request's (as in DynamoDB, where the hold is an item of the tenant's month).
      const hold = db
        .statement('SELECT tenant_id, month, amount FROM holds WHERE request_id = ?')
        .get(record.holdId ?? record.requestId) as
        | Pick<HoldRow, 'tenant_id' | 'month' | 'amount'>
        | undefined;
      const own = hold !== undefined && hold.tenant_id === record.tenantId && hold.month === record.month;
      if (own) db.statement('DELETE FROM holds WHERE request_id = ?').run(record.holdId ?? record.requestId);
      const cost = record.costMicroUsd;
      db.statement(ADD_TO_MONTH).run(
        record.tenantId,
        record.month,
        0,
        '',
        cost,
        cost - (own ? hold.amount : 0),
        ...counts,
      );
      db.statement(ADD_TO_MONTH).run(record.tenantId, record.month, 1, record.model, 0, 0, ...counts);
      return 'recorded';
    });
  }

  async monthlyUsage(tenantId: string, month: string): Promise<MonthlyUsage> {
    const total = this.db
      .statement("SELECT * FROM months WHERE tenant_id = ? AND month = ? AND scope = 0 AND model = ''")
      .get(tenantId, month) as Record<string, unknown> | undefined;
    const models = this.db
      .statement('SELECT * FROM months WHERE tenant_id = ? AND month = ? AND scope = 1 ORDER BY model')
      .all(tenantId, month) as Array<Record<string, unknown>>;
    return {
      total: rollupOf(total),
      byModel: new Map(models.map((row) => [String(row.model), rollupOf(row)])),
    };
  }

  /** Every record stored, oldest first (admin and tests). */
  records(): UsageRecord[] {
    return (
      this.db.statement('SELECT record FROM usage_records ORDER BY rowid').all() as Array<{
        record: string;
      }>
    ).map((row) => JSON.parse(row.record));
  }

  count(): number {
    return Number((this.db.statement('SELECT count(*) AS n FROM usage_records').get() as { n: number }).n);
  }
}

/** The owner of lasting holds (a batch's): no process placed them for itself, so none is released as stale. */
const LASTING_OWNER = 'lasting';

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Whether the process that placed a hold is gone: on this host, no process with its pid. */
const ownerIsGone = (owner: string, self: string): boolean => {
  if (owner === self || owner === LASTING_OWNER) return false;
  const [host, pid] = owner.split(':');
  const number = Number(pid);
  return host === hostname() && Number.isInteger(number) && number > 0 && !isAlive(number);
};

/**
 * Releases the holds no request will settle: those of processes that are gone (killed mid-request), and any older
 * than `maxAgeMs` (a process whose pid was reused by another). Their amounts leave the budgets' commitments.
 * Returns how many were released.
 */
export const releaseStaleHolds = (
  db: Database,
  options: { readonly self: string; readonly now: number; readonly maxAgeMs: number },
): number => {
  const owners = (db.statement('SELECT DISTINCT owner FROM holds').all() as Array<{ owner: string }>)
    .map((row) => row.owner)
    .filter((owner) => ownerIsGone(owner, options.self));
  return db.transaction(() => {
    const stale = [
      ...owners.flatMap(
        (owner) => db.statement('SELECT * FROM holds WHERE owner = ?').all(owner) as unknown as HoldRow[],
      ),
      ...(db
        .statement('SELECT * FROM holds WHERE placed_at < ? AND owner != ?')
        .all(options.now - options.maxAgeMs, LASTING_OWNER) as unknown as HoldRow[]),
    ];
    let released = 0;
    for (const hold of stale) {
      // Listed twice (gone and old) or settled meanwhile: only a hold still there is released.
      if (db.statement('DELETE FROM holds WHERE request_id = ?').run(hold.request_id).changes === 0) continue;
      db.statement(ADD_TO_BUDGET).run(hold.tenant_id, hold.month, 0, -hold.amount);
      released += 1;
    }
    return released;
  });
};

/**
 * Deletes usage records that started before `before` (ms), oldest written first, in batches; rollups and budgets
 * keep their counts. Records are written as requests end, so the walk stops at the first one that started since.
 */
export const deleteRecordsBefore = (db: Database, before: number): number => {
  let deleted = 0;
  for (;;) {
    const rows = db
      .statement('SELECT rowid AS id, started_at FROM usage_records ORDER BY rowid LIMIT 5000')
      .all() as Array<{ id: number; started_at: number }>;
    const old = rows.findIndex((row) => row.started_at >= before);
    const last = old === -1 ? rows.at(-1) : rows[old - 1];
    if (last === undefined) return deleted;
    deleted += Number(db.statement('DELETE FROM usage_records WHERE rowid <= ?').run(last.id).changes);
    if (old !== -1 || rows.length < 5000) return deleted;
  }
};
