// Tenants and gateway keys in the local database: each record as JSON, keyed and indexed by its ids.
import {
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  StoreConflictError,
  type TenantRecord,
} from '../../ports.ts';
import type { Database } from './database.ts';

const parseRows = <T>(rows: unknown[]): T[] =>
  rows.map((row) => JSON.parse((row as { record: string }).record));

export class SqliteKeyStore implements KeyAdminStore {
  constructor(private readonly db: Database) {}

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    return this.key(keyId);
  }

  async getTenant(tenantId: string): Promise<TenantRecord | undefined> {
    const row = this.db.statement('SELECT record FROM tenants WHERE tenant_id = ?').get(tenantId) as
      | { record: string }
      | undefined;
    return row === undefined ? undefined : JSON.parse(row.record);
  }

  async createTenant(tenant: TenantRecord): Promise<void> {
    const { changes } = this.db
      .statement('INSERT INTO tenants (tenant_id, record) VALUES (?, ?) ON CONFLICT DO NOTHING')
      .run(tenant.tenantId, JSON.stringify(tenant));
    if (changes === 0) throw new StoreConflictError(`tenant ${tenant.tenantId} already exists`);
  }

  async updateTenant(tenant: TenantRecord): Promise<void> {
    const { changes } = this.db
      .statement('UPDATE tenants SET record = ? WHERE tenant_id = ?')
      .run(JSON.stringify(tenant), tenant.tenantId);
    if (changes === 0) throw new StoreConflictError(`tenant ${tenant.tenantId} does not exist`);
  }

  async deleteTenant(tenantId: string): Promise<void> {
    this.db.statement('DELETE FROM tenants WHERE tenant_id = ?').run(tenantId);
  }

  async listTenants(): Promise<TenantRecord[]> {
    return parseRows<TenantRecord>(this.db.statement('SELECT record FROM tenants').all()).sort((a, b) =>
      a.tenantId.localeCompare(b.tenantId),
    );
  }

  async createKey(key: KeyRecord): Promise<void> {
    const { changes } = this.db
      .statement(
        'INSERT INTO keys (key_id, tenant_id, created_at, record) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(key.keyId, key.tenantId, key.createdAt, JSON.stringify(key));
    if (changes === 0) throw new StoreConflictError(`key ${key.keyId} already exists`);
  }

  async listKeys(tenantId: string): Promise<KeyRecord[]> {
    return parseRows<KeyRecord>(
      this.db.statement('SELECT record FROM keys WHERE tenant_id = ?').all(tenantId),
    ).sort((a, b) => a.createdAt - b.createdAt || a.keyId.localeCompare(b.keyId));
  }

  async rotateKey(
    keyId: string,
    change: { expectedSecretHash: string; secretHash: string; previousValidUntil: number; rotatedAt: number },
  ): Promise<KeyRecord> {
    return this.db.transaction(() => {
      const key = this.key(keyId);
      if (key === undefined) throw new StoreConflictError(`key ${keyId} does not exist`);
      if (key.status !== KeyStatus.active) throw new StoreConflictError(`key ${keyId} is ${key.status}`);
      if (key.secretHash !== change.expectedSecretHash)
        throw new StoreConflictError(`key ${keyId} was changed by someone else meanwhile`);
      return this.replace({
        ...key,
        secretHash: change.secretHash,
        previousSecretHash: key.secretHash,
        previousValidUntil: change.previousValidUntil,
        rotatedAt: change.rotatedAt,
      });
    });
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<KeyRecord> {
    return this.db.transaction(() => {
      const key = this.key(keyId);
      if (key === undefined) throw new StoreConflictError(`key ${keyId} does not exist`);
      if (key.status === KeyStatus.revoked) return key;
      return this.replace({ ...key, status: KeyStatus.revoked, revokedAt });
    });
  }

  private key(keyId: string): KeyRecord | undefined {
    const row = this.db.statement('SELECT record FROM keys WHERE key_id = ?').get(keyId) as
      | { record: string }
      | undefined;
    return row === undefined ? undefined : JSON.parse(row.record);
  }

  private replace(key: KeyRecord): KeyRecord {
    this.db.statement('UPDATE keys SET record = ? WHERE key_id = ?').run(JSON.stringify(key), key.keyId);
    return key;
  }
}
