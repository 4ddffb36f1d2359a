// The local store: the in-memory twins over `<dir>/state.json`, shared by the processes of local mode
// (`npm start` and the admin CLI). Every write takes a lock file, reloads what another process wrote and saves atomically.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { displayPrefixOf, generateKey, hashKey, keyIdOf } from '../../core/keys.ts';
import {
  type BudgetHold,
  type BudgetStore,
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  type OwnershipStore,
  StoreConflictError,
  type TenantRecord,
  TenantStatus,
  type UsageLedger,
  type UsageRecord,
} from '../../ports.ts';
import {
  MemoryBudgetStore,
  MemoryDatabase,
  type MemoryDatabaseJson,
  MemoryKeyStore,
  MemoryOwnershipStore,
  MemoryUsageLedger,
} from '../memory/index.ts';

export interface LocalStore {
  readonly keys: KeyAdminStore;
  readonly budgets: BudgetStore;
  readonly ledger: UsageLedger;
  /** Files, uploads, fine-tuning jobs and fine-tuned models of the tenants. */
  readonly ownership: OwnershipStore;
  /** The pepper of the key hashes. */
  pepper(): string;
}

export interface LocalStoreOptions {
  /** The pepper (env GATEWAY_KEY_PEPPER). @default - `<dir>/pepper`, created with 32 random bytes on first use */
  readonly pepper?: string | undefined;
  /** Usage records kept in the file (rollups and budgets are kept whole). @default 10_000 */
  readonly maxRecords?: number;
}

const STALE_LOCK_MS = 10_000;
const LOCK_TIMEOUT_MS = 30_000;
/** Each save writes a fresh id first in the file: cheaper to read than the file, and exact where mtimes are coarse. */
const WRITE_ID = /^\{"writeId":"([0-9a-f]{24})"/;

interface Twins {
  readonly db: MemoryDatabase;
  readonly keys: MemoryKeyStore;
  readonly budgets: MemoryBudgetStore;
  readonly ledger: MemoryUsageLedger;
  readonly ownership: MemoryOwnershipStore;
}

const errorCode = (error: unknown): unknown => (error as NodeJS.ErrnoException | undefined)?.code;

class StateFile {
  private readonly file: string;
  private readonly lock: string;
  private twins: Twins;
  private loadedWriteId: string | undefined;
  /** Operations of this process run one at a time, so none sees another's half-done state. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    dir: string,
    private readonly maxRecords: number,
  ) {
    this.file = join(dir, 'state.json');
    this.lock = join(dir, 'state.lock');
    this.twins = this.twinsOf(new MemoryDatabase(maxRecords));
  }

  /** Runs a read on the latest state. */
  read<T>(operation: (twins: Twins) => Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      this.refresh();
      return operation(this.twins);
    });
  }

  /** Runs a write under the lock; saves when `changed` says the operation changed something. */
  write<T>(
    operation: (twins: Twins) => Promise<T>,
    changed: (result: T) => boolean = () => true,
  ): Promise<T> {
    return this.enqueue(async () => {
      await this.acquireLock();
      try {
        this.refresh();
        const result = await operation(this.twins);
        if (changed(result)) this.save();
        return result;
      } finally {
        this.releaseLock();
      }
    });
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private twinsOf(db: MemoryDatabase): Twins {
    return {
      db,
      keys: new MemoryKeyStore(db),
      budgets: new MemoryBudgetStore(db),
      ledger: new MemoryUsageLedger(db),
      ownership: new MemoryOwnershipStore(db),
    };
  }

  private currentWriteId(): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const head = Buffer.alloc(40);
      const length = readSync(fd, head, 0, head.length, 0);
      return WRITE_ID.exec(head.toString('utf8', 0, length))?.[1] ?? 'unknown';
    } finally {
      closeSync(fd);
    }
  }

  /** Reloads the file when another process (or nobody yet) wrote it since this one last loaded or saved it. */
  private refresh(): void {
    const writeId = this.currentWriteId();
    if (writeId !== undefined && writeId === this.loadedWriteId) return;
    if (writeId === undefined) {
      if (this.loadedWriteId !== undefined) this.twins = this.twinsOf(new MemoryDatabase(this.maxRecords));
      this.loadedWriteId = undefined;
      return;
    }
    let json: MemoryDatabaseJson & { writeId?: string };
    try {
      json = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') {
        this.refresh(); // replaced meanwhile by a rename: read the new one
        return;
      }
      throw new Error(`The local state ${this.file} is not readable: ${String(error)}`);
    }
    this.twins = this.twinsOf(MemoryDatabase.fromJSON(json, this.maxRecords));
    this.loadedWriteId = json.writeId;
  }

  private save(): void {
    const writeId = randomBytes(12).toString('hex');
    const temp = `${this.file}.${process.pid}.${writeId}.tmp`;
    try {
      writeFileSync(temp, JSON.stringify({ writeId, ...this.twins.db.toJSON() }), { mode: 0o600 });
      renameSync(temp, this.file);
      this.loadedWriteId = writeId;
    } catch (error) {
      // The memory now differs from the file: load the file again next time.
      this.loadedWriteId = undefined;
      this.twins = this.twinsOf(new MemoryDatabase(this.maxRecords));
      try {
        unlinkSync(temp);
      } catch {}
      throw error;
    }
  }

  private async acquireLock(): Promise<void> {
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (;;) {
      try {
        closeSync(openSync(this.lock, 'wx', 0o600));
        return;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error;
      }
      this.breakStaleLock();
      if (Date.now() > deadline) {
        throw new Error(
          `Timed out waiting for the lock ${this.lock}; remove it if no gateway process is running.`,
        );
      }
      await delay(1 + Math.random() * 4);
    }
  }

  /** A lock older than STALE_LOCK_MS was left by a process that died while holding it. */
  private breakStaleLock(): void {
    try {
      if (Date.now() - statSync(this.lock).mtimeMs > STALE_LOCK_MS) unlinkSync(this.lock);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }

  private releaseLock(): void {
    try {
      unlinkSync(this.lock);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }
}

const readOrCreatePepper = (dir: string): string => {
  const file = join(dir, 'pepper');
  try {
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  }
  const pepper = readFileSync(file, 'utf8').trim();
  if (pepper === '')
    throw new Error(`The pepper file ${file} is empty: delete it (every key is then invalid).`);
  return pepper;
};

/** Opens (creating it with mode 0700 when missing) the local store in `dir`. */
export const openLocalStore = (dir: string, options: LocalStoreOptions = {}): LocalStore => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state = new StateFile(dir, options.maxRecords ?? 10_000);
  let pepper = options.pepper === '' ? undefined : options.pepper;

  const keys: KeyAdminStore = {
    getKey: (keyId) => state.read((t) => t.keys.getKey(keyId)),
    getTenant: (tenantId) => state.read((t) => t.keys.getTenant(tenantId)),
    listTenants: () => state.read((t) => t.keys.listTenants()),
    listKeys: (tenantId) => state.read((t) => t.keys.listKeys(tenantId)),
    createTenant: (tenant: TenantRecord) => state.write((t) => t.keys.createTenant(tenant)),
    updateTenant: (tenant: TenantRecord) => state.write((t) => t.keys.updateTenant(tenant)),
    deleteTenant: (tenantId) =>
      state
        .write(
          async (t) => {
            const existed = t.db.tenants.has(tenantId);
            await t.keys.deleteTenant(tenantId);
            return existed;
          },
          (existed) => existed,
        )
        .then(() => undefined),
    createKey: (key: KeyRecord) => state.write((t) => t.keys.createKey(key)),
    rotateKey: (keyId, change) => state.write((t) => t.keys.rotateKey(keyId, change)),
    revokeKey: (keyId, revokedAt) => state.write((t) => t.keys.revokeKey(keyId, revokedAt)),
  };
  const budgets: BudgetStore = {
    reserve: (hold: BudgetHold) =>
      state.write(
        (t) => t.budgets.reserve(hold),
        (result) => result.admitted,
      ),
    budget: (tenantId, month) => state.read((t) => t.budgets.budget(tenantId, month)),
  };
  const ledger: UsageLedger = {
    record: (record: UsageRecord) =>
      state.write(
        (t) => t.ledger.record(record),
        (result) => result === 'recorded',
      ),
    monthlyUsage: (tenantId, month) => state.read((t) => t.ledger.monthlyUsage(tenantId, month)),
  };
  const ownership: OwnershipStore = {
    create: (object) => state.write((t) => t.ownership.create(object)),
    get: (kind, id) => state.read((t) => t.ownership.get(kind, id)),
    list: (tenantId, kind, page) => state.read((t) => t.ownership.list(tenantId, kind, page)),
    update: (object) =>
      state.write(
        (t) => t.ownership.update(object),
        (updated) => updated,
      ),
    remove: (kind, id) => state.write((t) => t.ownership.remove(kind, id)),
    dueJobs: (now, limit) => state.read((t) => t.ownership.dueJobs(now, limit)),
  };
  return {
    keys,
    budgets,
    ledger,
    ownership,
    pepper: () => {
      pepper ??= readOrCreatePepper(dir);
      return pepper;
    },
  };
};

export const DEV_TENANT_ID = 'dev';

export interface DevKeyOptions {
  /** A gateway key to use as the dev key (env GATEWAY_DEV_KEY). @default - the key in `<dir>/dev-key`, or a new one */
  readonly devKey?: string | undefined;
  readonly dir: string;
  /** The dev tenant's tier, when it has to be created. */
  readonly tier: string;
  /** @default Date.now */
  readonly now?: () => number;
}

const isUsableDevKey = (record: KeyRecord | undefined, hash: string): boolean =>
  record !== undefined &&
  record.tenantId === DEV_TENANT_ID &&
  record.status === KeyStatus.active &&
  record.secretHash === hash;

/**
 * Makes sure tenant `dev` exists and returns a key of it that works. `<dir>/dev-key` keeps the key between runs:
 * a local convenience only (mode 0600, never used in AWS), so that `npm start` prints the same key every time.
 */
export const ensureDevTenantKey = async (
  stores: Pick<LocalStore, 'keys' | 'pepper'>,
  options: DevKeyOptions,
): Promise<string> => {
  const { keys } = stores;
  const now = Math.floor((options.now ?? Date.now)());
  if ((await keys.getTenant(DEV_TENANT_ID)) === undefined) {
    try {
      await keys.createTenant({
        tenantId: DEV_TENANT_ID,
        name: 'Local development',
        tier: options.tier,
        status: TenantStatus.active,
        createdAt: now,
      });
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error; // another process created it meanwhile
    }
  }
  const pepper = stores.pepper();
  const newRecord = (keyId: string, key: string, displayPrefix: string): KeyRecord => ({
    keyId,
    tenantId: DEV_TENANT_ID,
    displayPrefix,
    name: 'dev key',
    secretHash: hashKey(pepper, key),
    status: KeyStatus.active,
    createdAt: now,
  });

  if (options.devKey !== undefined && options.devKey !== '') {
    const key = options.devKey;
    const keyId = keyIdOf(key);
    if (keyId === undefined) {
      throw new Error(
        'GATEWAY_DEV_KEY is not a gateway key: it must look like sk-gw-<16 × [a-z0-9]>_<43 × [A-Za-z0-9_-]>; leave it unset to get one.',
      );
    }
    const hash = hashKey(pepper, key);
    const existing = await keys.getKey(keyId);
    if (isUsableDevKey(existing, hash)) return key;
    if (existing === undefined) {
      await keys.createKey(newRecord(keyId, key, displayPrefixOf(key)));
    } else if (existing.tenantId !== DEV_TENANT_ID || existing.status !== KeyStatus.active) {
      throw new Error(
        `GATEWAY_DEV_KEY has the key id ${keyId}, which is ${existing.status === KeyStatus.active ? `a key of tenant '${existing.tenantId}'` : existing.status}; choose another key.`,
      );
    } else {
      // Same id, another secret (or another pepper): the dev key given now replaces the stored one at once.
      await keys.rotateKey(keyId, {
        expectedSecretHash: existing.secretHash,
        secretHash: hash,
        previousValidUntil: now,
        rotatedAt: now,
      });
    }
    return key;
  }

  const file = join(options.dir, 'dev-key');
  let saved: string | undefined;
  try {
    saved = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  const savedId = saved === undefined ? undefined : keyIdOf(saved);
  if (saved !== undefined && savedId !== undefined) {
    const existing = await keys.getKey(savedId);
    if (isUsableDevKey(existing, hashKey(pepper, saved))) return saved;
    if (existing === undefined) {
      // The state was wiped but the key file kept: keep handing out the same key.
      await keys.createKey(newRecord(savedId, saved, displayPrefixOf(saved)));
      return saved;
    }
  }
  const created = generateKey();
  await keys.createKey(newRecord(created.keyId, created.key, created.displayPrefix));
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${created.key}\n`, { mode: 0o600 });
  renameSync(temp, file);
  return created.key;
};
