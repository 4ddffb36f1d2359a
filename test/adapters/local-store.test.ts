// The local store: one SQLite database shared by processes (npm start and the admin CLI), its maintenance, its
// pepper and the dev key. The adapters' port contracts run in sqlite-contracts.test.ts.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryOwnershipStore,
  MemorySecretSource,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import {
  DEV_TENANT_ID,
  ensureDevTenantKey,
  openLocalStore,
} from '../../lambda/adapters/sqlite/local-store.ts';
import type { TierConfig } from '../../lambda/core/config.ts';
import { createKeyVerifier, generateKey, hashKey, keyIdOf } from '../../lambda/core/keys.ts';
import { EMPTY_ROLLUP } from '../../lambda/core/pricing.ts';
import {
  KeyStatus,
  StoreConflictError,
  type TenantRecord,
  TenantStatus,
  type UsageRecord,
} from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { aRecord } from '../fixtures/usage-records.ts';
import { anOwned, aTracking } from './contracts/ownership-store.contract.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const KEY_FORMAT = /^sk-gw-[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/;

const tenant = (tenantId: string): TenantRecord => ({
  tenantId,
  name: tenantId,
  tier: 'default',
  status: TenantStatus.active,
  createdAt: 1,
});

const usageRecord = (requestId: string, costMicroUsd = 10): UsageRecord =>
  aRecord({
    requestId,
    tier: 'default',
    usage: { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5, reasoningTokens: 0 },
    costMicroUsd,
    month: '2025-05',
    startedAt: Date.UTC(2025, 4, 2),
  });

/** The one tier a key verifier needs here. */
const TIERS: Record<string, TierConfig> = {
  default: {
    monthlyBudgetMicroUsd: undefined,
    models: undefined,
    volumeDiscounts: [],
    commitmentMicroUsd: 0,
    cache: 'deterministic',
    billCacheHits: false,
  },
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'local-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const hold = (requestId: string, amountMicroUsd = 40) => ({
  tenantId: 'acme',
  month: '2025-05',
  requestId,
  amountMicroUsd,
  limitMicroUsd: 1_000,
});

describe('openLocalStore', () => {
  it('shows each instance what the other wrote, as two processes on one directory, in files only their owner reads', async () => {
    // Prepare
    const a = openLocalStore(join(dir, 'state'));
    const b = openLocalStore(join(dir, 'state'));

    // Act
    await a.keys.createTenant(tenant('acme'));
    const seenByB = await b.keys.getTenant('acme');
    await b.keys.updateTenant({ ...tenant('acme'), name: 'Acme Inc' });
    const seenByA = await a.keys.getTenant('acme');
    await b.budgets.reserve(hold('r1'));
    const budgetSeenByA = await a.budgets.budget('acme', '2025-05');

    // Assess
    expect(seenByB?.name).toBe('acme');
    expect(seenByA?.name).toBe('Acme Inc');
    expect(budgetSeenByA).toEqual({ spentMicroUsd: 0, committedMicroUsd: 40 });
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    for (const file of ['gateway.db', 'gateway.db-wal'])
      expect(statSync(join(dir, 'state', file)).mode & 0o777).toBe(0o600);
  });

  it('loses no update when two instances write at the same time', async () => {
    // Prepare
    const a = openLocalStore(dir);
    const b = openLocalStore(dir);

    // Act
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).ledger.record(usageRecord(`r${i}`))),
    );
    const usage = await a.ledger.monthlyUsage('acme', '2025-05');

    // Assess
    expect(results.every((result) => result === 'recorded')).toBe(true);
    expect(usage.total.requests).toBe(100);
    expect(usage.total.costMicroUsd).toBe(1_000);
    expect(await b.budgets.budget('acme', '2025-05')).toEqual({
      spentMicroUsd: 1_000,
      committedMicroUsd: 1_000,
    });
    expect(b.ledger.count()).toBe(100);
  });

  it('loses no update when two processes write at the same time', async () => {
    // Prepare: each child process records 200 usage records into the same directory.
    const script = join(dir, 'writer.mjs');
    writeFileSync(
      script,
      `const { openLocalStore } = await import(${JSON.stringify(join(repoRoot, 'lambda/adapters/sqlite/local-store.ts'))});
const [dir, prefix] = process.argv.slice(2);
const store = openLocalStore(dir);
await Promise.all(Array.from({ length: 200 }, (_, i) => store.ledger.record({ ...JSON.parse(process.env.RECORD), requestId: prefix + i })));
`,
    );
    const child = (prefix: string) =>
      run(process.execPath, ['--import', 'tsx', script, join(dir, 'shared'), prefix], {
        cwd: repoRoot,
        env: { ...process.env, RECORD: JSON.stringify(usageRecord('x')) },
      });

    // Act
    await Promise.all([child('a'), child('b')]);
    const store = openLocalStore(join(dir, 'shared'));

    // Assess
    expect((await store.ledger.monthlyUsage('acme', '2025-05')).total.requests).toBe(400);
    expect(store.ledger.count()).toBe(400);
  });

  it('counts a replayed request once, whichever instance sees the replay', async () => {
    // Prepare
    const a = openLocalStore(dir);
    const b = openLocalStore(dir);
    await a.ledger.record(usageRecord('r1'));

    // Act
    const replay = await b.ledger.record(usageRecord('r1'));

    // Assess
    expect(replay).toBe('duplicate');
    expect((await a.ledger.monthlyUsage('acme', '2025-05')).total.requests).toBe(1);
    expect(a.ledger.count()).toBe(1);
  });

  it('keeps every usage record by default, and deletes those past the retention (rollups keep their counts)', async () => {
    // Prepare: records of 40, 20 and 1 days ago
    const now = Date.UTC(2025, 5, 1);
    const kept = openLocalStore(dir, { now: () => now });
    const store = openLocalStore(dir, { usageRetentionDays: 30, now: () => now });
    for (const days of [40, 20, 1])
      await store.ledger.record({ ...usageRecord(`r${days}`), startedAt: now - days * 86_400_000 });

    // Act
    const byDefault = kept.maintain();
    const withRetention = store.maintain();

    // Assess
    expect(byDefault.recordsDeleted).toBe(0);
    expect(withRetention.recordsDeleted).toBe(1);
    expect(store.ledger.records().map((record) => record.requestId)).toEqual(['r20', 'r1']);
    expect((await store.ledger.monthlyUsage('acme', '2025-05')).total.requests).toBe(3);
    expect(() => openLocalStore(dir, { usageRetentionDays: 0 })).toThrow(
      'The usage retention must be a number of days above 0, not 0.',
    );
  });

  /** Places `held` from a child process on the store in `dir`, which then exits (a process that is gone). */
  const reserveInChild = async (held: ReturnType<typeof hold> & { lasting?: boolean }) => {
    const script = join(dir, 'holder.mjs');
    writeFileSync(
      script,
      `const { openLocalStore } = await import(${JSON.stringify(join(repoRoot, 'lambda/adapters/sqlite/local-store.ts'))});
await openLocalStore(process.argv[2]).budgets.reserve(JSON.parse(process.env.HOLD));
`,
    );
    await run(process.execPath, ['--import', 'tsx', script, dir], {
      cwd: repoRoot,
      env: { ...process.env, HOLD: JSON.stringify(held) },
    });
  };

  it('releases the holds of a process that is gone and of none that runs, and any hold past the hold lifetime', async () => {
    // Prepare: a hold placed by a child process that then exited, one of this process, and an old one
    await reserveInChild(hold('of-a-dead-process', 100));
    let now = Date.UTC(2025, 4, 2);
    const other = openLocalStore(dir, { now: () => now });
    await other.budgets.reserve(hold('in-flight', 200));
    const store = openLocalStore(dir, { now: () => now, holdLifetimeMs: 60_000 });
    const before = await store.budgets.budget('acme', '2025-05');

    // Act
    const first = store.maintain();
    now += 60_001;
    const second = store.maintain();

    // Assess
    expect(before.committedMicroUsd).toBe(300);
    expect(first.holdsReleased).toBe(1);
    expect(second.holdsReleased).toBe(1);
    expect(await store.budgets.budget('acme', '2025-05')).toEqual({ spentMicroUsd: 0, committedMicroUsd: 0 });
    // A record of a released hold still counts its cost once, and releases nothing twice.
    await store.ledger.record({ ...usageRecord('in-flight', 150), month: '2025-05' });
    expect(await store.budgets.budget('acme', '2025-05')).toEqual({
      spentMicroUsd: 150,
      committedMicroUsd: 150,
    });
  });

  it("keeps a lasting hold (a batch's) past the hold lifetime and when the process that placed it is gone", async () => {
    // Prepare: a lasting hold placed by a child process that then exited
    await reserveInChild({ ...hold('batch-hold#r1', 400), lasting: true });
    let now = Date.UTC(2025, 4, 2);
    const store = openLocalStore(dir, { now: () => now, holdLifetimeMs: 60_000 });

    // Act
    const first = store.maintain();
    now += 7 * 24 * 3_600_000;
    const second = store.maintain();

    // Assess: still held, until the batch's record releases it
    expect([first.holdsReleased, second.holdsReleased]).toEqual([0, 0]);
    expect(await store.budgets.budget('acme', '2025-05')).toEqual({
      spentMicroUsd: 0,
      committedMicroUsd: 400,
    });
    await store.ledger.record({ ...usageRecord('batch#b1', 90), holdId: 'batch-hold#r1', month: '2025-05' });
    expect(await store.budgets.budget('acme', '2025-05')).toEqual({
      spentMicroUsd: 90,
      committedMicroUsd: 90,
    });
  });

  it('keeps working after a refused write', async () => {
    // Prepare
    const store = openLocalStore(dir);
    await store.keys.createTenant(tenant('acme'));

    // Act
    const refused = store.keys.createTenant(tenant('acme'));

    // Assess
    await expect(refused).rejects.toThrow(StoreConflictError);
    await store.keys.createTenant(tenant('other'));
    expect((await openLocalStore(dir).keys.listTenants()).map((t) => t.tenantId)).toEqual(['acme', 'other']);
  });

  it('creates the pepper file once, readable by its owner only', () => {
    // Prepare
    const a = openLocalStore(dir);
    const b = openLocalStore(dir);

    // Act
    const first = a.pepper();
    const second = b.pepper();

    // Assess
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(second).toBe(first);
    expect(readFileSync(join(dir, 'pepper'), 'utf8')).toBe(first);
    expect(statSync(join(dir, 'pepper')).mode & 0o777).toBe(0o600);
  });

  it('uses a pepper given to it (GATEWAY_KEY_PEPPER) and writes no pepper file', () => {
    // Act
    const pepper = openLocalStore(dir, { pepper: 'from-the-env' }).pepper();

    // Assess
    expect(pepper).toBe('from-the-env');
    expect(() => statSync(join(dir, 'pepper'))).toThrow(/ENOENT/);
  });
});

describe('the state.json of earlier versions', () => {
  /** A state.json as the earlier versions saved it: the in-memory twins' JSON, with a write id first. */
  const writeStateJson = async () => {
    const db = new MemoryDatabase();
    const keys = new MemoryKeyStore(db);
    await keys.createTenant(tenant('acme'));
    const pepper = 'old-pepper';
    const key = generateKey();
    await keys.createKey({
      keyId: key.keyId,
      tenantId: 'acme',
      displayPrefix: key.displayPrefix,
      secretHash: hashKey(pepper, key.key),
      status: KeyStatus.active,
      createdAt: 1,
    });
    const budgets = new MemoryBudgetStore(db);
    const ledger = new MemoryUsageLedger(db);
    await budgets.reserve(hold('r1', 500));
    await ledger.record(usageRecord('r1', 30));
    await ledger.record(usageRecord('r2', 12));
    await budgets.reserve(hold('in-flight-when-it-stopped', 400));
    const ownership = new MemoryOwnershipStore(db);
    await ownership.create(anOwned());
    await ownership.create(anOwned({ kind: 'job', id: 'ftjob-1', tracking: aTracking({ nextPollAt: 5 }) }));
    const json = { writeId: 'a'.repeat(24), ...db.toJSON() } as Record<string, unknown>;
    // Written before the outcome counters existed: the rollups lack them.
    json.rollups = (
      json.rollups as Array<[string, Record<string, number>, Array<[string, Record<string, number>]>]>
    ).map(([id, total, byModel]) => {
      const { refusedRequests, failedRequests, abortedRequests, ...older } = total;
      return [
        id,
        older,
        byModel.map(([model, { refusedRequests: _, failedRequests: __, abortedRequests: ___, ...rest }]) => [
          model,
          rest,
        ]),
      ];
    });
    const text = JSON.stringify(json);
    writeFileSync(join(dir, 'state.json'), text);
    return { text, key: key.key, pepper };
  };

  it('is imported once on first open, whole, and left as it was as a backup', async () => {
    // Prepare
    const { text, key, pepper } = await writeStateJson();

    // Act
    const store = openLocalStore(dir, { pepper });
    const again = openLocalStore(dir, { pepper });

    // Assess
    expect(store.imported).toEqual({
      file: join(dir, 'state.json'),
      tenants: 1,
      keys: 1,
      usageRecords: 2,
      ownedObjects: 2,
    });
    expect(again.imported).toBeUndefined();
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(text);
    expect((await store.keys.listTenants()).map((t) => t.tenantId)).toEqual(['acme']);
    await expect(
      createKeyVerifier({
        store: store.keys,
        secrets: new MemorySecretSource(new Map([['pepper', pepper]])),
        pepperSecretName: 'pepper',
        tiers: TIERS,
        clock: new FakeClock(Date.now()),
        cacheTtlMs: 0,
      }).verify(key, '127.0.0.1'),
    ).resolves.toMatchObject({ principal: { tenantId: 'acme' } });
    const usage = await store.ledger.monthlyUsage('acme', '2025-05');
    const rollup = { ...EMPTY_ROLLUP, requests: 2, inputTokens: 20, outputTokens: 10, costMicroUsd: 42 };
    expect(usage).toStrictEqual({ total: rollup, byModel: new Map([['gpt-4o-mini', rollup]]) });
    expect(store.ledger.records().map((record) => record.requestId)).toEqual(['r1', 'r2']);
    // The hold of a request in flight when the old gateway stopped is not carried over.
    expect(await store.budgets.budget('acme', '2025-05')).toEqual({
      spentMicroUsd: 42,
      committedMicroUsd: 42,
    });
    expect(await store.ownership.get('file', 'file-1')).toStrictEqual(anOwned());
    expect((await store.ownership.dueJobs(10, 10)).map((job) => job.id)).toEqual(['ftjob-1']);
    // Replays of imported records are still refused.
    await expect(store.ledger.record(usageRecord('r2', 12))).resolves.toBe('duplicate');
  });

  it('is not imported into a database that is already in use', async () => {
    // Prepare
    await openLocalStore(dir).keys.createTenant(tenant('newer'));
    await writeStateJson();

    // Act
    const store = openLocalStore(dir);

    // Assess
    expect(store.imported).toBeUndefined();
    expect((await store.keys.listTenants()).map((t) => t.tenantId)).toEqual(['newer']);
  });

  it('that is not readable stops the open with a message that names it', () => {
    // Prepare
    writeFileSync(join(dir, 'state.json'), '{"writeId":"x", "tenants": [');

    // Act and assess
    expect(() => openLocalStore(dir)).toThrow(
      `The local state ${join(dir, 'state.json')} of an earlier version is not readable, so it cannot be imported`,
    );
  });
});

describe('ensureDevTenantKey', () => {
  const tiers = TIERS;
  /** Proves a key works the way the gateway checks it. */
  const verify = (store: ReturnType<typeof openLocalStore>, key: string) =>
    createKeyVerifier({
      store: store.keys,
      secrets: new MemorySecretSource(new Map([['gateway-key-pepper', store.pepper()]])),
      pepperSecretName: 'gateway-key-pepper',
      tiers,
      clock: new FakeClock(Date.now()),
      cacheTtlMs: 0,
    }).verify(key, '127.0.0.1');

  it('creates tenant dev and a key, saves the key in <dir>/dev-key, and hands out the same key next time', async () => {
    // Prepare
    const store = openLocalStore(dir);

    // Act
    const key = await ensureDevTenantKey(store, { dir, tier: 'default' });
    const again = await ensureDevTenantKey(openLocalStore(dir), { dir, tier: 'default' });

    // Assess
    expect(key).toMatch(KEY_FORMAT);
    expect(again).toBe(key);
    expect(readFileSync(join(dir, 'dev-key'), 'utf8').trim()).toBe(key);
    expect(statSync(join(dir, 'dev-key')).mode & 0o777).toBe(0o600);
    expect((await store.keys.getTenant(DEV_TENANT_ID))?.tier).toBe('default');
    expect((await verify(store, key)).principal).toMatchObject({ tenantId: DEV_TENANT_ID, tier: 'default' });
    expect(readFileSync(join(dir, 'gateway.db')).includes(key)).toBe(false);
    expect(readFileSync(join(dir, 'gateway.db-wal')).includes(key)).toBe(false);
  });

  it('stores the key given in GATEWAY_DEV_KEY, and replaces it when another secret comes for the same id', async () => {
    // Prepare
    const store = openLocalStore(dir);
    const first = generateKey();
    const second = generateKey(first.keyId);

    // Act
    const used = await ensureDevTenantKey(store, { dir, tier: 'default', devKey: first.key });
    await verify(store, first.key);
    const replaced = await ensureDevTenantKey(store, { dir, tier: 'default', devKey: second.key });

    // Assess
    expect(used).toBe(first.key);
    expect(replaced).toBe(second.key);
    expect((await store.keys.getKey(first.keyId))?.secretHash).toBe(hashKey(store.pepper(), second.key));
    await expect(verify(store, second.key)).resolves.toBeDefined();
    await expect(verify(store, first.key)).rejects.toThrow(/Incorrect API key/);
    expect(() => statSync(join(dir, 'dev-key'))).toThrow(/ENOENT/);
  });

  it('refuses a GATEWAY_DEV_KEY that is not a gateway key', async () => {
    // Act
    const attempt = ensureDevTenantKey(openLocalStore(dir), { dir, tier: 'default', devKey: 'sk-dev-123' });

    // Assess
    await expect(attempt).rejects.toThrow(
      'GATEWAY_DEV_KEY is not a gateway key: it must look like sk-gw-<16 × [a-z0-9]>_<43 × [A-Za-z0-9_-]>; leave it unset to get one.',
    );
  });

  it('keeps the key of <dir>/dev-key when the state was wiped, and makes a new one when it was revoked', async () => {
    // Prepare
    const key = await ensureDevTenantKey(openLocalStore(dir), { dir, tier: 'default' });
    for (const file of ['gateway.db', 'gateway.db-wal', 'gateway.db-shm'])
      rmSync(join(dir, file), { force: true });

    // Act
    const afterWipe = await ensureDevTenantKey(openLocalStore(dir), { dir, tier: 'default' });
    const store = openLocalStore(dir);
    await store.keys.revokeKey(keyIdOf(key) ?? '', Date.now());
    const afterRevoke = await ensureDevTenantKey(store, { dir, tier: 'default' });

    // Assess
    expect(afterWipe).toBe(key);
    expect(afterRevoke).not.toBe(key);
    expect(afterRevoke).toMatch(KEY_FORMAT);
    expect(readFileSync(join(dir, 'dev-key'), 'utf8').trim()).toBe(afterRevoke);
    expect((await store.keys.listKeys(DEV_TENANT_ID)).map((k) => k.status).sort()).toEqual([
      KeyStatus.active,
      KeyStatus.revoked,
    ]);
  });
});
