// The local store: tenants, keys, budgets, usage and owned objects in one SQLite database, `<dir>/gateway.db`,
// shared by the processes of local mode on one machine (`npm start`, the admin CLI, a second gateway). A state.json
// written by earlier versions is imported into it once, on first open, and left where it was as a backup.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { displayPrefixOf, generateKey, hashKey, keyIdOf } from '../../core/keys.ts';
import {
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  type OwnershipStore,
  StoreConflictError,
  TenantStatus,
} from '../../ports.ts';
import { Database } from './database.ts';
import { importStateJson, type StateImport } from './import-state-json.ts';
import { SqliteKeyStore } from './key-store.ts';
import {
  deleteRecordsBefore,
  processOwner,
  releaseStaleHolds,
  SqliteBudgetStore,
  SqliteUsageLedger,
} from './ledger.ts';
import { SqliteOwnershipStore } from './ownership-store.ts';

export interface LocalStore {
  readonly keys: KeyAdminStore;
  readonly budgets: SqliteBudgetStore;
  readonly ledger: SqliteUsageLedger;
  /** Files, uploads, fine-tuning jobs and fine-tuned models of the tenants. */
  readonly ownership: OwnershipStore;
  /** The database file. */
  readonly file: string;
  /** What the first open imported from a state.json of an earlier version; undefined when nothing was. */
  readonly imported: StateImport | undefined;
  /** The pepper of the key hashes. */
  pepper(): string;
  /**
   * Releases the holds no request will settle (of gateway processes that are gone, or older than the hold lifetime)
   * and deletes usage records past the retention. A gateway runs it when it starts and then every minute.
   */
  maintain(now?: number): { readonly holdsReleased: number; readonly recordsDeleted: number };
  close(): void;
}

export interface LocalStoreOptions {
  /** The pepper (env GATEWAY_KEY_PEPPER). @default - `<dir>/pepper`, created with 32 random bytes on first use */
  readonly pepper?: string | undefined;
  /**
   * Usage records older than this many days are deleted by `maintain` (rollups, budgets and invoices keep their
   * counts). env GATEWAY_USAGE_RETENTION_DAYS. @default - every record is kept
   */
  readonly usageRetentionDays?: number | undefined;
  /**
   * A hold older than this is released by `maintain` whoever placed it: no request runs that long. A hold of a
   * process that is gone is released at once. @default 6 hours
   */
  readonly holdLifetimeMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

const DAY_MS = 86_400_000;
const HOLD_LIFETIME_MS = 6 * 3_600_000;

const errorCode = (error: unknown): unknown => (error as NodeJS.ErrnoException | undefined)?.code;

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
  const retentionDays = options.usageRetentionDays;
  if (retentionDays !== undefined && !(Number.isFinite(retentionDays) && retentionDays > 0))
    throw new Error(`The usage retention must be a number of days above 0, not ${retentionDays}.`);
  const file = join(dir, 'gateway.db');
  // Created first with mode 0600 (an empty file is an empty database): SQLite gives its WAL the same mode.
  writeFileSync(file, '', { mode: 0o600, flag: 'a' });
  const db = new Database(file);
  const now = options.now ?? Date.now;
  const owner = processOwner(randomBytes(6).toString('hex'));
  let pepper = options.pepper === '' ? undefined : options.pepper;
  let imported: StateImport | undefined;
  try {
    imported = importStateJson(db, join(dir, 'state.json'));
  } catch (error) {
    db.close();
    throw error;
  }
  const ledger = new SqliteUsageLedger(db);
  return {
    keys: new SqliteKeyStore(db),
    budgets: new SqliteBudgetStore(db, owner, now),
    ledger,
    ownership: new SqliteOwnershipStore(db),
    file,
    imported,
    pepper: () => {
      pepper ??= readOrCreatePepper(dir);
      return pepper;
    },
    maintain: (at = now()) => ({
      holdsReleased: releaseStaleHolds(db, {
        self: owner,
        now: at,
        maxAgeMs: options.holdLifetimeMs ?? HOLD_LIFETIME_MS,
      }),
      recordsDeleted: retentionDays === undefined ? 0 : deleteRecordsBefore(db, at - retentionDays * DAY_MS),
    }),
    close: () => db.close(),
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
