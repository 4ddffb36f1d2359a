// What every KeyAdminStore must do: run by memory-contracts.test.ts and dynamodb-contracts.test.ts.
import {
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  StoreConflictError,
  type TenantRecord,
  TenantStatus,
} from '../../../lambda/ports.ts';

export interface KeyStoreFixture {
  readonly store: KeyAdminStore;
  readonly teardown?: () => Promise<void>;
}

export const aTenant = (overrides: Partial<TenantRecord> = {}): TenantRecord => ({
  tenantId: 'acme',
  name: 'Acme Corp',
  tier: 'pro',
  status: TenantStatus.active,
  createdAt: 1_700_000_000_000,
  ...overrides,
});

export const aKey = (overrides: Partial<KeyRecord> = {}): KeyRecord => ({
  keyId: 'k1',
  tenantId: 'acme',
  displayPrefix: 'sk-gw-k1…',
  secretHash: 'hash-1',
  status: KeyStatus.active,
  createdAt: 1_700_000_000_000,
  ...overrides,
});

/** Resolves to the StoreConflictError the promise rejects with (fails when it resolves or rejects otherwise). */
export async function conflictOf(promise: Promise<unknown>): Promise<StoreConflictError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(StoreConflictError);
  return error as StoreConflictError;
}

export function describeKeyStoreContract(name: string, setup: () => Promise<KeyStoreFixture>): void {
  describe(`KeyAdminStore contract: ${name}`, () => {
    let fixture: KeyStoreFixture;
    let store: KeyAdminStore;

    beforeEach(async () => {
      fixture = await setup();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.teardown?.();
    });

    describe('tenants', () => {
      it.each([
        ['without optional fields', aTenant()],
        [
          'with every optional field',
          aTenant({
            monthlyBudgetMicroUsd: 25_000_000,
            usagePlanKeyId: 'apikey-123',
            usagePlanKeyValue: 'value-abc',
          }),
        ],
      ])('creates and reads back a tenant %s', async (_case, tenant) => {
        // Act
        await store.createTenant(tenant);

        // Assess
        expect(await store.getTenant(tenant.tenantId)).toStrictEqual(tenant);
      });

      it('refuses to create a tenant twice and keeps the first', async () => {
        // Prepare
        await store.createTenant(aTenant({ name: 'first' }));

        // Act
        const conflict = await conflictOf(store.createTenant(aTenant({ name: 'second' })));

        // Assess
        expect(conflict.message).toBe('tenant acme already exists');
        expect((await store.getTenant('acme'))?.name).toBe('first');
      });

      it('replaces a tenant on update, dropping optional fields left out', async () => {
        // Prepare
        await store.createTenant(aTenant({ monthlyBudgetMicroUsd: 5_000_000 }));
        const updated = aTenant({ tier: 'enterprise', status: TenantStatus.suspended });

        // Act
        await store.updateTenant(updated);

        // Assess
        expect(await store.getTenant('acme')).toStrictEqual(updated);
      });

      it('refuses to update a tenant that does not exist and creates nothing', async () => {
        // Act
        const conflict = await conflictOf(store.updateTenant(aTenant({ tenantId: 'ghost' })));

        // Assess
        expect(conflict.message).toBe('tenant ghost does not exist');
        expect(await store.getTenant('ghost')).toBeUndefined();
      });

      it('deletes a tenant, and deleting a missing one is no error', async () => {
        // Prepare
        await store.createTenant(aTenant());

        // Act
        await store.deleteTenant('acme');
        await store.deleteTenant('never-existed');

        // Assess
        expect(await store.getTenant('acme')).toBeUndefined();
        expect(await store.listTenants()).toStrictEqual([]);
      });

      it('lists tenants sorted by id, and no keys', async () => {
        // Prepare
        for (const tenantId of ['delta', 'alpha', 'charlie', 'bravo'])
          await store.createTenant(aTenant({ tenantId }));
        await store.createKey(aKey({ tenantId: 'alpha' }));

        // Act
        const tenants = await store.listTenants();

        // Assess
        expect(tenants.map((tenant) => tenant.tenantId)).toStrictEqual([
          'alpha',
          'bravo',
          'charlie',
          'delta',
        ]);
        expect(tenants[0]).toStrictEqual(aTenant({ tenantId: 'alpha' }));
      });

      it('answers undefined for an unknown tenant', async () => {
        expect(await store.getTenant('nobody')).toBeUndefined();
      });
    });

    describe('keys', () => {
      it.each([
        ['without optional fields', aKey()],
        [
          'with every optional field',
          aKey({
            name: 'ci pipeline',
            expiresAt: 1_800_000_000_000,
            models: ['gpt-4o-mini', 'claude-*'],
            cidrs: ['10.0.0.0/8', '192.168.1.7/32'],
          }),
        ],
        ['with empty allowlists', aKey({ models: [], cidrs: [] })],
      ])('creates and reads back a key %s', async (_case, key) => {
        // Act
        await store.createKey(key);

        // Assess
        expect(await store.getKey(key.keyId)).toStrictEqual(key);
      });

      it('refuses a duplicate key id and keeps the first', async () => {
        // Prepare
        await store.createKey(aKey({ secretHash: 'first' }));

        // Act
        const conflict = await conflictOf(store.createKey(aKey({ secretHash: 'second' })));

        // Assess
        expect(conflict.message).toBe('key k1 already exists');
        expect((await store.getKey('k1'))?.secretHash).toBe('first');
      });

      it("lists only the tenant's keys, oldest first", async () => {
        // Prepare
        await store.createTenant(aTenant());
        await store.createKey(aKey({ keyId: 'k-late', createdAt: 3_000 }));
        await store.createKey(aKey({ keyId: 'k-other', tenantId: 'globex', createdAt: 1_000 }));
        await store.createKey(aKey({ keyId: 'k-b', createdAt: 2_000 }));
        await store.createKey(aKey({ keyId: 'k-a', createdAt: 2_000 }));

        // Act
        const keys = await store.listKeys('acme');

        // Assess
        expect(keys.map((key) => key.keyId)).toStrictEqual(['k-a', 'k-b', 'k-late']);
        expect(await store.listKeys('nobody')).toStrictEqual([]);
      });

      it('answers undefined for an unknown key', async () => {
        expect(await store.getKey('unknown')).toBeUndefined();
      });
    });

    describe('rotateKey', () => {
      const change = {
        expectedSecretHash: 'hash-1',
        secretHash: 'hash-2',
        previousValidUntil: 9_000,
        rotatedAt: 5_000,
      };

      it('replaces the secret and keeps the previous one until previousValidUntil', async () => {
        // Prepare
        await store.createKey(aKey({ models: ['gpt-4o'] }));

        // Act
        const rotated = await store.rotateKey('k1', change);

        // Assess
        const expected = aKey({
          models: ['gpt-4o'],
          secretHash: 'hash-2',
          previousSecretHash: 'hash-1',
          previousValidUntil: 9_000,
          rotatedAt: 5_000,
        });
        expect(rotated).toStrictEqual(expected);
        expect(await store.getKey('k1')).toStrictEqual(expected);
      });

      it('refuses when the current secret is not the expected one, and changes nothing', async () => {
        // Prepare
        await store.createKey(aKey());

        // Act
        const conflict = await conflictOf(store.rotateKey('k1', { ...change, expectedSecretHash: 'stale' }));

        // Assess
        expect(conflict.message).toBe('key k1 was changed by someone else meanwhile');
        expect(await store.getKey('k1')).toStrictEqual(aKey());
      });

      it('refuses to rotate a revoked key', async () => {
        // Prepare
        await store.createKey(aKey());
        const revoked = await store.revokeKey('k1', 4_000);

        // Act
        const conflict = await conflictOf(store.rotateKey('k1', change));

        // Assess
        expect(conflict.message).toBe('key k1 is revoked');
        expect(await store.getKey('k1')).toStrictEqual(revoked);
      });

      it('refuses to rotate a missing key and creates nothing', async () => {
        // Act
        const conflict = await conflictOf(store.rotateKey('ghost', change));

        // Assess
        expect(conflict.message).toBe('key ghost does not exist');
        expect(await store.getKey('ghost')).toBeUndefined();
      });
    });

    describe('revokeKey', () => {
      it('marks the key revoked at the given time', async () => {
        // Prepare
        await store.createKey(aKey());

        // Act
        const revoked = await store.revokeKey('k1', 4_000);

        // Assess
        const expected = aKey({ status: KeyStatus.revoked, revokedAt: 4_000 });
        expect(revoked).toStrictEqual(expected);
        expect(await store.getKey('k1')).toStrictEqual(expected);
      });

      it('is idempotent: revoking again returns the record unchanged', async () => {
        // Prepare
        await store.createKey(aKey());
        const first = await store.revokeKey('k1', 4_000);

        // Act
        const second = await store.revokeKey('k1', 8_000);

        // Assess
        expect(second).toStrictEqual(first);
        expect(await store.getKey('k1')).toStrictEqual(first);
      });

      it('refuses to revoke a missing key and creates nothing', async () => {
        // Act
        const conflict = await conflictOf(store.revokeKey('ghost', 4_000));

        // Assess
        expect(conflict.message).toBe('key ghost does not exist');
        expect(await store.getKey('ghost')).toBeUndefined();
      });
    });
  });
}
