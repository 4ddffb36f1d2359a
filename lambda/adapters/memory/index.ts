// In-process twins of the ports, used by local mode and tests.
import { addToRollup, EMPTY_ROLLUP } from '../../core/pricing.ts';
import {
  type BudgetHold,
  type BudgetState,
  type BudgetStore,
  type JobEvents,
  type JobStatusChange,
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  type LogFields,
  type Logger,
  type MetricBatch,
  type Metrics,
  type MonthlyUsage,
  type OwnedKindName,
  type OwnedObject,
  type OwnedPage,
  type OwnershipStore,
  type ResponseCache,
  type SecretSource,
  StoreConflictError,
  type TenantRecord,
  type UsageLedger,
  type UsageRecord,
  type UsageRollup,
} from '../../ports.ts';

/** The state behind the in-memory twins; plain data, so a local store can save and load it as JSON. */
export class MemoryDatabase {
  readonly tenants = new Map<string, TenantRecord>();
  readonly keys = new Map<string, KeyRecord>();
  readonly budgets = new Map<string, BudgetState>();
  readonly holds = new Map<string, BudgetHold>();
  readonly rollups = new Map<string, { total: UsageRollup; byModel: Map<string, UsageRollup> }>();
  /** Records by request id, oldest first. Past `maxRecords` the oldest are dropped (and so is their replay guard). */
  readonly records = new Map<string, UsageRecord>();
  /** Owned files, uploads, jobs and models by `<kind>#<id>`. */
  readonly owned = new Map<string, OwnedObject>();

  /**
   * Request ids in the order their records were kept, from `recordOrderStart`: the oldest is dropped without
   * walking the Map (taking a Map's first key skips every entry deleted before it, ~7 µs a record at 10,000).
   */
  private recordOrder: string[] = [];
  private recordOrderStart = 0;

  constructor(readonly maxRecords = Number.POSITIVE_INFINITY) {}

  /** Keeps a record; past `maxRecords` the oldest one goes. */
  keepRecord(record: UsageRecord): void {
    this.records.set(record.requestId, record);
    if (this.maxRecords === Number.POSITIVE_INFINITY) return;
    this.recordOrder.push(record.requestId);
    if (this.records.size <= this.maxRecords) return;
    const oldest = this.recordOrder[this.recordOrderStart]!;
    this.recordOrderStart += 1;
    this.records.delete(oldest);
    if (this.recordOrderStart >= 4_096 && this.recordOrderStart * 2 >= this.recordOrder.length) {
      this.recordOrder = this.recordOrder.slice(this.recordOrderStart);
      this.recordOrderStart = 0;
    }
  }

  toJSON(): MemoryDatabaseJson {
    return {
      tenants: [...this.tenants.values()],
      keys: [...this.keys.values()],
      budgets: [...this.budgets.entries()],
      holds: [...this.holds.values()],
      rollups: [...this.rollups.entries()].map(([id, r]) => [id, r.total, [...r.byModel.entries()]]),
      records: [...this.records.values()],
      owned: [...this.owned.values()],
    };
  }

  static fromJSON(json: MemoryDatabaseJson, maxRecords?: number): MemoryDatabase {
    const db = new MemoryDatabase(maxRecords);
    for (const tenant of json.tenants) db.tenants.set(tenant.tenantId, tenant);
    for (const key of json.keys) db.keys.set(key.keyId, key);
    for (const [id, budget] of json.budgets) db.budgets.set(id, budget);
    for (const hold of json.holds) db.holds.set(hold.requestId, hold);
    // Rollups saved before a counter existed lack it: it reads as 0.
    const rollupOf = (saved: Partial<UsageRollup>): UsageRollup => ({ ...EMPTY_ROLLUP, ...saved });
    for (const [id, total, byModel] of json.rollups) {
      db.rollups.set(id, {
        total: rollupOf(total),
        byModel: new Map(byModel.map(([model, rollup]) => [model, rollupOf(rollup)])),
      });
    }
    for (const record of json.records) db.keepRecord(record);
    for (const object of json.owned ?? []) db.owned.set(`${object.kind}#${object.id}`, object);
    return db;
  }
}

export interface MemoryDatabaseJson {
  /** Absent in state files written before files and fine-tuning. */
  readonly owned?: OwnedObject[];
  readonly tenants: TenantRecord[];
  readonly keys: KeyRecord[];
  readonly budgets: Array<[string, BudgetState]>;
  readonly holds: BudgetHold[];
  /** Counters added since a state file was written are absent from it. */
  readonly rollups: Array<[string, Partial<UsageRollup>, Array<[string, Partial<UsageRollup>]>]>;
  readonly records: UsageRecord[];
}

const monthKey = (tenantId: string, month: string) => `${tenantId}#${month}`;
// The twins hand out and keep copies, so a caller that changes an object cannot change what is "stored".
// Shallow spreads of these flat records (structuredClone cost ~5 µs per call on the request path).
const copyTenant = (tenant: TenantRecord): TenantRecord => ({ ...tenant });
const copyKey = (key: KeyRecord): KeyRecord => ({
  ...key,
  ...(key.models === undefined ? {} : { models: [...key.models] }),
  ...(key.cidrs === undefined ? {} : { cidrs: [...key.cidrs] }),
});
const copyRecord = (record: UsageRecord): UsageRecord => ({ ...record, usage: { ...record.usage } });

export class MemoryKeyStore implements KeyAdminStore {
  constructor(readonly db = new MemoryDatabase()) {}

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const key = this.db.keys.get(keyId);
    return key === undefined ? undefined : copyKey(key);
  }

  async getTenant(tenantId: string): Promise<TenantRecord | undefined> {
    const tenant = this.db.tenants.get(tenantId);
    return tenant === undefined ? undefined : copyTenant(tenant);
  }

  async createTenant(tenant: TenantRecord): Promise<void> {
    if (this.db.tenants.has(tenant.tenantId))
      throw new StoreConflictError(`tenant ${tenant.tenantId} already exists`);
    this.db.tenants.set(tenant.tenantId, copyTenant(tenant));
  }

  async updateTenant(tenant: TenantRecord): Promise<void> {
    if (!this.db.tenants.has(tenant.tenantId))
      throw new StoreConflictError(`tenant ${tenant.tenantId} does not exist`);
    this.db.tenants.set(tenant.tenantId, copyTenant(tenant));
  }

  async deleteTenant(tenantId: string): Promise<void> {
    this.db.tenants.delete(tenantId);
  }

  async listTenants(): Promise<TenantRecord[]> {
    return [...this.db.tenants.values()].map(copyTenant).sort((a, b) => a.tenantId.localeCompare(b.tenantId));
  }

  async createKey(key: KeyRecord): Promise<void> {
    if (this.db.keys.has(key.keyId)) throw new StoreConflictError(`key ${key.keyId} already exists`);
    this.db.keys.set(key.keyId, copyKey(key));
  }

  async listKeys(tenantId: string): Promise<KeyRecord[]> {
    return [...this.db.keys.values()]
      .filter((key) => key.tenantId === tenantId)
      .map(copyKey)
      .sort((a, b) => a.createdAt - b.createdAt || a.keyId.localeCompare(b.keyId));
  }

  async rotateKey(
    keyId: string,
    change: { expectedSecretHash: string; secretHash: string; previousValidUntil: number; rotatedAt: number },
  ): Promise<KeyRecord> {
    const key = this.db.keys.get(keyId);
    if (key === undefined) throw new StoreConflictError(`key ${keyId} does not exist`);
    if (key.status !== KeyStatus.active) throw new StoreConflictError(`key ${keyId} is ${key.status}`);
    if (key.secretHash !== change.expectedSecretHash)
      throw new StoreConflictError(`key ${keyId} was changed by someone else meanwhile`);
    const rotated: KeyRecord = {
      ...key,
      secretHash: change.secretHash,
      previousSecretHash: key.secretHash,
      previousValidUntil: change.previousValidUntil,
      rotatedAt: change.rotatedAt,
    };
    this.db.keys.set(keyId, rotated);
    return copyKey(rotated);
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<KeyRecord> {
    const key = this.db.keys.get(keyId);
    if (key === undefined) throw new StoreConflictError(`key ${keyId} does not exist`);
    if (key.status === KeyStatus.revoked) return copyKey(key);
    const revoked: KeyRecord = { ...key, status: KeyStatus.revoked, revokedAt };
    this.db.keys.set(keyId, revoked);
    return copyKey(revoked);
  }
}

export class MemoryBudgetStore implements BudgetStore {
  constructor(readonly db = new MemoryDatabase()) {}

  async reserve(hold: BudgetHold) {
    if (this.db.holds.has(hold.requestId)) return { admitted: true as const };
    const id = monthKey(hold.tenantId, hold.month);
    const budget = this.db.budgets.get(id) ?? { spentMicroUsd: 0, committedMicroUsd: 0 };
    if (budget.committedMicroUsd + hold.amountMicroUsd > hold.limitMicroUsd) {
      return { admitted: false as const, committedMicroUsd: budget.committedMicroUsd };
    }
    this.db.budgets.set(id, { ...budget, committedMicroUsd: budget.committedMicroUsd + hold.amountMicroUsd });
    this.db.holds.set(hold.requestId, { ...hold });
    return { admitted: true as const };
  }

  async budget(tenantId: string, month: string): Promise<BudgetState> {
    return this.db.budgets.get(monthKey(tenantId, month)) ?? { spentMicroUsd: 0, committedMicroUsd: 0 };
  }
}

export class MemoryUsageLedger implements UsageLedger {
  private readonly waiters: Array<() => void> = [];

  constructor(readonly db = new MemoryDatabase()) {}

  /** The records kept, oldest first. */
  get records(): UsageRecord[] {
    return [...this.db.records.values()];
  }

  async record(record: UsageRecord): Promise<'recorded' | 'duplicate'> {
    const { db } = this;
    if (db.records.has(record.requestId)) return 'duplicate';
    db.keepRecord(copyRecord(record));
    const id = monthKey(record.tenantId, record.month);
    const rollup = db.rollups.get(id) ?? { total: EMPTY_ROLLUP, byModel: new Map<string, UsageRollup>() };
    rollup.total = addToRollup(rollup.total, record);
    rollup.byModel.set(record.model, addToRollup(rollup.byModel.get(record.model) ?? EMPTY_ROLLUP, record));
    db.rollups.set(id, rollup);
    // What the hold itself holds is released, not the record's `reservedMicroUsd` (as in DynamoDB, where the
    // hold is an item of the tenant's month: a hold of another tenant or month is not this request's).
    const holdId = record.holdId ?? record.requestId;
    const hold = db.holds.get(holdId);
    const own = hold !== undefined && hold.tenantId === record.tenantId && hold.month === record.month;
    if (own) db.holds.delete(holdId);
    if (own || record.costMicroUsd !== 0) {
      const budget = db.budgets.get(id) ?? { spentMicroUsd: 0, committedMicroUsd: 0 };
      db.budgets.set(id, {
        spentMicroUsd: budget.spentMicroUsd + record.costMicroUsd,
        committedMicroUsd: budget.committedMicroUsd + record.costMicroUsd - (own ? hold.amountMicroUsd : 0),
      });
    }
    for (const wake of this.waiters.splice(0)) wake();
    return 'recorded';
  }

  async monthlyUsage(tenantId: string, month: string): Promise<MonthlyUsage> {
    const rollup = this.db.rollups.get(monthKey(tenantId, month));
    return { total: rollup?.total ?? EMPTY_ROLLUP, byModel: new Map(rollup?.byModel ?? []) };
  }

  /** Resolves once `count` records exist (records are written when a response body ends). */
  async waitFor(count: number, timeoutMs = 5_000): Promise<readonly UsageRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.db.records.size < count) {
      if (Date.now() > deadline)
        throw new Error(`expected ${count} usage records, have ${this.db.records.size}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.records;
  }
}

/** Totals per metric name (bounded however long it runs). */
export class MemoryMetrics implements Metrics {
  private readonly totals = new Map<string, number>();
  /** Every value each dimension has had (bounded by what the code emits: never a client's string). */
  readonly dimensionValues = new Map<string, Set<string>>();

  emit(batch: MetricBatch): void {
    for (const value of batch.values)
      this.totals.set(value.name, (this.totals.get(value.name) ?? 0) + value.value);
    for (const [name, value] of Object.entries(batch.dimensions)) {
      let values = this.dimensionValues.get(name);
      if (values === undefined) {
        values = new Set();
        this.dimensionValues.set(name, values);
      }
      if (values.size < 10_000) values.add(value);
    }
  }

  sum(name: string): number {
    return this.totals.get(name) ?? 0;
  }
}

/** Secrets from a map; `fresh` reads count, so tests can see a forced re-read. */
export class MemorySecretSource implements SecretSource {
  freshReads = 0;

  constructor(private readonly values: Map<string, string> = new Map()) {}

  set(name: string, value: string): void {
    this.values.set(name, value);
  }

  async get(name: string, options?: { readonly fresh?: boolean }): Promise<string> {
    if (options?.fresh) this.freshReads += 1;
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`secret ${name} is not set`);
    return value;
  }
}

/** An in-process ResponseCache with TTLs from the injected clock; bounded to `maxEntries` (oldest first out). */
export class MemoryResponseCache implements ResponseCache {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly now: () => number = () => Date.now(),
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Keeps log lines in memory (tests) instead of printing them. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; fields: LogFields }> = [];
  info(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'error', message, fields });
  }
}

/** Newest first: createdAt, then id (both descending), as the DynamoDB adapter's sort key orders them. */
const newestFirst = (a: OwnedObject, b: OwnedObject): number =>
  b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export class MemoryOwnershipStore implements OwnershipStore {
  constructor(readonly db = new MemoryDatabase()) {}

  async create(object: OwnedObject): Promise<void> {
    const id = `${object.kind}#${object.id}`;
    if (this.db.owned.has(id))
      throw new StoreConflictError(`${object.kind} ${object.id} is already recorded`);
    this.db.owned.set(id, structuredClone(object));
  }

  async get(kind: OwnedKindName, id: string): Promise<OwnedObject | undefined> {
    const object = this.db.owned.get(`${kind}#${id}`);
    return object === undefined ? undefined : structuredClone(object);
  }

  async list(
    tenantId: string,
    kind: OwnedKindName,
    page: { readonly after?: string | undefined; readonly limit: number },
  ): Promise<OwnedPage> {
    const mine = [...this.db.owned.values()]
      .filter((object) => object.tenantId === tenantId && object.kind === kind)
      .sort(newestFirst);
    let start = 0;
    if (page.after !== undefined) {
      const cursor = mine.findIndex((object) => object.id === page.after);
      if (cursor === -1) return { items: [], hasMore: false };
      start = cursor + 1;
    }
    const items = mine.slice(start, start + page.limit).map((object) => structuredClone(object));
    return { items, hasMore: start + page.limit < mine.length };
  }

  async update(object: OwnedObject): Promise<boolean> {
    const id = `${object.kind}#${object.id}`;
    const stored = this.db.owned.get(id);
    if (stored === undefined || stored.version !== object.version - 1) return false;
    this.db.owned.set(id, {
      ...structuredClone(object),
      tenantId: stored.tenantId,
      createdAt: stored.createdAt,
      keyId: stored.keyId,
      targetId: stored.targetId,
    });
    return true;
  }

  async remove(kind: OwnedKindName, id: string): Promise<void> {
    this.db.owned.delete(`${kind}#${id}`);
  }

  async dueJobs(now: number, limit: number): Promise<OwnedObject[]> {
    return [...this.db.owned.values()]
      .filter(
        (object) =>
          object.tracking !== undefined && !object.tracking.done && object.tracking.nextPollAt <= now,
      )
      .sort((a, b) => (a.tracking?.nextPollAt ?? 0) - (b.tracking?.nextPollAt ?? 0))
      .slice(0, limit)
      .map((object) => structuredClone(object));
  }
}

/** Keeps every published status change, in order; `failNext` makes the next publishes reject. */
export class MemoryJobEvents implements JobEvents {
  readonly published: JobStatusChange[] = [];
  failNext = 0;

  async publish(change: JobStatusChange): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('event bus unavailable');
    }
    this.published.push(change);
  }
}
