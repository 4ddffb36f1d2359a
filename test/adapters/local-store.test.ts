// The local store: one state file shared by processes (npm start and the admin CLI), its pepper and the dev key.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEV_TENANT_ID, ensureDevTenantKey, openLocalStore } from '../../lambda/adapters/file/local-store.ts';
import { MemorySecretSource } from '../../lambda/adapters/memory/index.ts';
import type { TierConfig } from '../../lambda/core/config.ts';
import { createKeyVerifier, generateKey, hashKey, keyIdOf } from '../../lambda/core/keys.ts';
import { EMPTY_ROLLUP } from '../../lambda/core/pricing.ts';
import {
  KeyStatus,
  RequestOutcome,
  StoreConflictError,
  type TenantRecord,
  TenantStatus,
  type UsageRecord,
} from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { aRecord } from '../fixtures/usage-records.ts';
import { describeBudgetStoreContract } from './contracts/budget-store.contract.ts';
import { describeKeyStoreContract } from './contracts/key-store.contract.ts';
import { describeUsageLedgerContract } from './contracts/usage-ledger.contract.ts';

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

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'local-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const stateOf = (): { tenants: TenantRecord[]; records: UsageRecord[]; writeId: string } =>
  JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));

describe('openLocalStore', () => {
  it('shows each instance what the other wrote, as two processes on one directory', async () => {
    // Prepare
    const a = openLocalStore(join(dir, 'state'));
    const b = openLocalStore(join(dir, 'state'));

    // Act
    await a.keys.createTenant(tenant('acme'));
    const seenByB = await b.keys.getTenant('acme');
    await b.keys.updateTenant({ ...tenant('acme'), name: 'Acme Inc' });
    const seenByA = await a.keys.getTenant('acme');
    await b.budgets.reserve({
      tenantId: 'acme',
      month: '2025-05',
      requestId: 'r1',
      amountMicroUsd: 40,
      limitMicroUsd: 100,
    });
    const budgetSeenByA = await a.budgets.budget('acme', '2025-05');

    // Assess
    expect(seenByB?.name).toBe('acme');
    expect(seenByA?.name).toBe('Acme Inc');
    expect(budgetSeenByA).toEqual({ spentMicroUsd: 0, committedMicroUsd: 40 });
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
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
    expect(stateOf().records).toHaveLength(100);
  });

  it('loses no update when two processes write at the same time', async () => {
    // Prepare: each child process records 50 usage records into the same directory.
    const script = join(dir, 'writer.mjs');
    writeFileSync(
      script,
      `const { openLocalStore } = await import(${JSON.stringify(join(repoRoot, 'lambda/adapters/file/local-store.ts'))});
const [dir, prefix] = process.argv.slice(2);
const store = openLocalStore(dir);
await Promise.all(Array.from({ length: 50 }, (_, i) => store.ledger.record({ ...JSON.parse(process.env.RECORD), requestId: prefix + i })));
`,
    );
    const child = (prefix: string) =>
      run(process.execPath, ['--import', 'tsx', script, join(dir, 'shared'), prefix], {
        cwd: repoRoot,
        env: { ...process.env, RECORD: JSON.stringify(usageRecord('x')) },
      });

    // Act
    await Promise.all([child('a'), child('b')]);
    const usage = await openLocalStore(join(dir, 'shared')).ledger.monthlyUsage('acme', '2025-05');

    // Assess
    expect(usage.total.requests).toBe(100);
  });

  it('counts a replayed request once, whichever instance sees the replay', async () => {
    // Prepare
    const a = openLocalStore(dir);
    const b = openLocalStore(dir);
    await a.ledger.record(usageRecord('r1'));
    const writeId = stateOf().writeId;

    // Act
    const replay = await b.ledger.record(usageRecord('r1'));

    // Assess
    expect(replay).toBe('duplicate');
    expect((await a.ledger.monthlyUsage('acme', '2025-05')).total.requests).toBe(1);
    expect(stateOf().writeId).toBe(writeId); // nothing changed, nothing saved
  });

  it('reads the outcome counters a state file written before them lacks as 0, and counts from there', async () => {
    // Prepare: a file whose rollups have no refusedRequests, failedRequests nor abortedRequests.
    await openLocalStore(dir).ledger.record(usageRecord('r1'));
    const NEW_COUNTERS = ['refusedRequests', 'failedRequests', 'abortedRequests'];
    const withoutNew = (rollup: Record<string, number>) =>
      Object.fromEntries(Object.entries(rollup).filter(([name]) => !NEW_COUNTERS.includes(name)));
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    state.writeId = 'a'.repeat(24);
    state.rollups = state.rollups.map(
      ([id, total, byModel]: [string, Record<string, number>, Array<[string, Record<string, number>]>]) => [
        id,
        withoutNew(total),
        byModel.map(([model, rollup]) => [model, withoutNew(rollup)]),
      ],
    );
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
    const store = openLocalStore(dir);

    // Act
    const old = await store.ledger.monthlyUsage('acme', '2025-05');
    await store.ledger.record(
      aRecord({
        ...usageRecord('r2', 0),
        status: 429,
        outcome: RequestOutcome.rejected,
        usage: { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
      }),
    );
    const now = await store.ledger.monthlyUsage('acme', '2025-05');

    // Assess
    const r1 = { ...EMPTY_ROLLUP, requests: 1, inputTokens: 10, outputTokens: 5, costMicroUsd: 10 };
    expect(old).toStrictEqual({ total: r1, byModel: new Map([['gpt-4o-mini', r1]]) });
    const both = { ...r1, requests: 2, refusedRequests: 1 };
    expect(now).toStrictEqual({ total: both, byModel: new Map([['gpt-4o-mini', both]]) });
    expect(stateOf().writeId).not.toBe(state.writeId);
  });

  it('keeps at most maxRecords usage records in the file, and every rollup', async () => {
    // Prepare
    const store = openLocalStore(dir, { maxRecords: 3 });

    // Act
    for (let i = 0; i < 5; i += 1) await store.ledger.record(usageRecord(`r${i}`));

    // Assess
    expect(stateOf().records.map((record) => record.requestId)).toEqual(['r2', 'r3', 'r4']);
    expect((await openLocalStore(dir).ledger.monthlyUsage('acme', '2025-05')).total.requests).toBe(5);
  });

  it('keeps working after a refused write, and releases its lock', async () => {
    // Prepare
    const store = openLocalStore(dir);
    await store.keys.createTenant(tenant('acme'));

    // Act
    const refused = store.keys.createTenant(tenant('acme'));

    // Assess
    await expect(refused).rejects.toThrow(StoreConflictError);
    await store.keys.createTenant(tenant('other'));
    expect((await openLocalStore(dir).keys.listTenants()).map((t) => t.tenantId)).toEqual(['acme', 'other']);
    expect(() => statSync(join(dir, 'state.lock'))).toThrow(/ENOENT/);
  });

  it('breaks a lock left behind by a process that died holding it', async () => {
    // Prepare
    const lock = join(dir, 'state.lock');
    writeFileSync(lock, '');
    const longAgo = (Date.now() - 60_000) / 1000;
    utimesSync(lock, longAgo, longAgo);
    const store = openLocalStore(dir);

    // Act
    await store.keys.createTenant(tenant('acme'));

    // Assess
    expect((await store.keys.getTenant('acme'))?.tenantId).toBe('acme');
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

describe('ensureDevTenantKey', () => {
  const tiers: Record<string, TierConfig> = {
    default: {
      monthlyBudgetMicroUsd: undefined,
      models: undefined,
      volumeDiscounts: [],
      commitmentMicroUsd: 0,
      cache: 'deterministic',
      billCacheHits: false,
    },
  };
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
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).not.toContain(key);
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
    rmSync(join(dir, 'state.json'));

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

/** The same cases as the memory twins and the DynamoDB adapters, each on a fresh directory. */
const freshStore = async () => {
  const storeDir = mkdtempSync(join(tmpdir(), 'local-store-contract-'));
  return {
    store: openLocalStore(storeDir),
    teardown: async () => rmSync(storeDir, { recursive: true, force: true }),
  };
};
describeKeyStoreContract('local store', async () => {
  const { store, teardown } = await freshStore();
  return { store: store.keys, teardown };
});
describeBudgetStoreContract('local store', async () => {
  const { store, teardown } = await freshStore();
  return { store: store.budgets, teardown };
});
describeUsageLedgerContract('local store', async () => {
  const { store, teardown } = await freshStore();
  return { ledger: store.ledger, budgets: store.budgets, teardown };
});
