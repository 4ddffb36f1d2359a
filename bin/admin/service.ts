// What the admin CLI does, over the ports: tenants, keys, usage and invoices, the same in local mode and on AWS.
import type { GatewayConfig } from '../../lambda/core/config.ts';
import { generateKey, hashKey, isCidr } from '../../lambda/core/keys.ts';
import {
  billingMonthOf,
  budgetResetAt,
  computeInvoice,
  type Invoice,
  isBillingMonth,
} from '../../lambda/core/pricing.ts';
import {
  type BudgetState,
  type BudgetStore,
  type KeyAdminStore,
  type KeyRecord,
  KeyStatus,
  type MonthlyUsage,
  StoreConflictError,
  type TenantRecord,
  TenantStatus,
  type UsageLedger,
  type UsageRecord,
} from '../../lambda/ports.ts';

/** A failure to show the operator as is: what went wrong and what would be right. */
export class AdminError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminError';
  }
}

/** The API Gateway side of a tenant on AWS: an API key in the usage plan of its tier (quotas and throttling). */
export interface UsagePlanProvisioner {
  /** Creates the tenant's API key and attaches it to the tier's usage plan; leaves nothing behind when it fails. */
  createTenantApiKey(
    tenantId: string,
    tier: string,
  ): Promise<{ readonly id: string; readonly value: string }>;
  deleteTenantApiKey(id: string): Promise<void>;
}

export interface AdminDeps {
  readonly keys: KeyAdminStore;
  readonly ledger: UsageLedger;
  readonly budgets: BudgetStore;
  readonly config: GatewayConfig;
  readonly pepper: () => Promise<string>;
  readonly clock: { now(): number };
  /** @default - no API Gateway (local mode) */
  readonly provisioner?: UsagePlanProvisioner | undefined;
}

export interface BudgetView {
  readonly month: string;
  readonly state: BudgetState;
  /** The tenant's override, else its tier's budget; undefined: no budget. */
  readonly limitMicroUsd: number | undefined;
  /** ISO time when the month's budget starts afresh. */
  readonly resetsAt: string;
}

/** What a replay did with each record, in the order given. */
export interface ReplayResult {
  readonly recorded: number;
  /** Already in the ledger (stored after all, or replayed before): counted once, as it must be. */
  readonly duplicates: number;
  readonly failed: ReadonlyArray<{ readonly line: number; readonly reason: string }>;
}

export interface CreatedKey {
  /** The key itself: shown once, never stored. */
  readonly key: string;
  readonly record: KeyRecord;
}

const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const USD = /^(\d+)(?:\.(\d{1,6}))?$/;

/** A USD amount (at most 6 decimals) as integer micro-USD, parsed from its text so no float rounding happens. */
export const parseUsd = (text: string, what: string): number => {
  const match = USD.exec(text.trim());
  if (match === null) {
    throw new AdminError(
      `${what} must be a non-negative amount in USD with at most 6 decimals, got: ${text}`,
    );
  }
  const micro = Number(match[1]) * 1e6 + Number((match[2] ?? '').padEnd(6, '0'));
  if (!Number.isSafeInteger(micro)) throw new AdminError(`${what} is too large, got: ${text}`);
  return micro;
};

/** The stored tenant is the one this create wrote (its API key id alone is unique, on AWS). */
const sameTenant = (stored: TenantRecord, written: TenantRecord): boolean =>
  stored.tenantId === written.tenantId &&
  stored.name === written.name &&
  stored.tier === written.tier &&
  stored.status === written.status &&
  stored.monthlyBudgetMicroUsd === written.monthlyBudgetMicroUsd &&
  stored.usagePlanKeyId === written.usagePlanKeyId &&
  stored.usagePlanKeyValue === written.usagePlanKeyValue &&
  stored.createdAt === written.createdAt;

const checkMonth = (month: string): void => {
  if (!isBillingMonth(month)) throw new AdminError(`The month must be YYYY-MM, got: ${month}`);
};

export const createAdmin = (deps: AdminDeps) => {
  const { keys, config } = deps;
  const now = () => Math.floor(deps.clock.now());

  const checkTier = (tier: string): void => {
    if (config.tiers[tier] === undefined) {
      throw new AdminError(
        `Unknown tier '${tier}'. Tiers in the config: ${Object.keys(config.tiers).join(', ')}.`,
      );
    }
  };

  const tenantOf = async (tenantId: string): Promise<TenantRecord> => {
    const tenant = await keys.getTenant(tenantId);
    if (tenant === undefined) throw new AdminError(`Unknown tenant '${tenantId}'.`);
    return tenant;
  };

  const keyOf = async (keyId: string): Promise<KeyRecord> => {
    const key = await keys.getKey(keyId);
    if (key === undefined) throw new AdminError(`Unknown key '${keyId}'.`);
    return key;
  };

  const budgetOf = async (tenant: TenantRecord, month: string): Promise<BudgetView> => ({
    month,
    state: await deps.budgets.budget(tenant.tenantId, month),
    limitMicroUsd: tenant.monthlyBudgetMicroUsd ?? config.tiers[tenant.tier]?.monthlyBudgetMicroUsd,
    resetsAt: budgetResetAt(month).toISOString(),
  });

  /** Store conflicts are races with another admin: say so in the operator's words. */
  const conflictAsAdminError = (error: unknown, message: string): never => {
    if (error instanceof StoreConflictError)
      throw new AdminError(`${message} (${error.message})`, { cause: error });
    throw error;
  };

  return {
    async createTenant(input: {
      readonly tenantId: string;
      readonly name?: string | undefined;
      readonly tier: string;
      readonly monthlyBudgetUsd?: string | undefined;
    }): Promise<TenantRecord> {
      const { tenantId, tier } = input;
      if (!TENANT_ID.test(tenantId)) {
        throw new AdminError(
          `The tenant id must be 1 to 63 lowercase letters, digits and "-", starting with a letter or digit, got: ${tenantId}`,
        );
      }
      checkTier(tier);
      const budget =
        input.monthlyBudgetUsd === undefined ? undefined : parseUsd(input.monthlyBudgetUsd, 'The budget');
      if ((await keys.getTenant(tenantId)) !== undefined) {
        throw new AdminError(`Tenant '${tenantId}' already exists.`);
      }
      const apiKey = await deps.provisioner?.createTenantApiKey(tenantId, tier);
      const tenant: TenantRecord = {
        tenantId,
        name: input.name ?? tenantId,
        tier,
        status: TenantStatus.active,
        monthlyBudgetMicroUsd: budget,
        usagePlanKeyId: apiKey?.id,
        usagePlanKeyValue: apiKey?.value,
        createdAt: now(),
      };
      try {
        await keys.createTenant(tenant);
      } catch (error) {
        // A write can land and still report an error (a timeout; or the SDK's retry of a write that landed,
        // refused as "already exists"): look at what is stored before undoing anything.
        let stored: TenantRecord | undefined;
        try {
          stored = await keys.getTenant(tenantId);
        } catch (lookup) {
          if (apiKey === undefined) throw error;
          throw new AdminError(
            `Creating tenant '${tenantId}' failed (${String(error)}), and reading it back failed too (${String(lookup)}), so its API key ${apiKey.id} was kept: if 'tenants show ${tenantId}' finds no tenant, delete that API key by hand.`,
            { cause: error },
          );
        }
        if (stored !== undefined && sameTenant(stored, tenant)) return tenant; // it did land
        if (apiKey !== undefined) {
          try {
            await deps.provisioner?.deleteTenantApiKey(apiKey.id);
          } catch (cleanup) {
            throw new AdminError(
              `Creating tenant '${tenantId}' failed (${String(error)}), and so did deleting its API key ${apiKey.id} (${String(cleanup)}): delete that API key by hand.`,
              { cause: error },
            );
          }
        }
        return conflictAsAdminError(error, `Tenant '${tenantId}' already exists`);
      }
      return tenant;
    },

    listTenants: (): Promise<TenantRecord[]> => keys.listTenants(),

    async showTenant(
      tenantId: string,
    ): Promise<{ tenant: TenantRecord; keys: KeyRecord[]; budget: BudgetView }> {
      const tenant = await tenantOf(tenantId);
      return {
        tenant,
        keys: await keys.listKeys(tenantId),
        budget: await budgetOf(tenant, billingMonthOf(now())),
      };
    },

    async createKey(input: {
      readonly tenantId: string;
      readonly name?: string | undefined;
      /** Ms since the epoch. */
      readonly expiresAt?: number | undefined;
      readonly models?: readonly string[] | undefined;
      readonly cidrs?: readonly string[] | undefined;
    }): Promise<CreatedKey> {
      await tenantOf(input.tenantId);
      const at = now();
      if (input.expiresAt !== undefined && !(input.expiresAt > at)) {
        throw new AdminError(
          `The expiry must be in the future, got: ${Number.isFinite(input.expiresAt) ? new Date(input.expiresAt).toISOString() : input.expiresAt}`,
        );
      }
      const models = input.models?.map((model) => model.trim());
      if (models !== undefined && (models.length === 0 || models.some((model) => model === ''))) {
        throw new AdminError(
          `The model allowlist must list model names, got: ${JSON.stringify(input.models)}`,
        );
      }
      for (const cidr of input.cidrs ?? []) {
        if (!isCidr(cidr)) {
          throw new AdminError(
            `'${cidr}' is not a CIDR block: write it like 10.0.0.0/8, 203.0.113.7 or 2001:db8::/32.`,
          );
        }
      }
      if (input.cidrs !== undefined && input.cidrs.length === 0) {
        throw new AdminError('The CIDR allowlist must list at least one CIDR block.');
      }
      const created = generateKey();
      const record: KeyRecord = {
        keyId: created.keyId,
        tenantId: input.tenantId,
        displayPrefix: created.displayPrefix,
        name: input.name,
        secretHash: hashKey(await deps.pepper(), created.key),
        status: KeyStatus.active,
        expiresAt: input.expiresAt,
        models,
        cidrs: input.cidrs === undefined ? undefined : [...input.cidrs],
        createdAt: at,
      };
      try {
        await keys.createKey(record);
      } catch (error) {
        conflictAsAdminError(error, `Could not create the key; try again`);
      }
      return { key: created.key, record };
    },

    async listKeys(tenantId: string): Promise<KeyRecord[]> {
      await tenantOf(tenantId);
      return keys.listKeys(tenantId);
    },

    /** A new secret for the key; the previous one keeps working for `graceMs`. */
    async rotateKey(keyId: string, graceMs = config.keys.rotationGraceMs): Promise<CreatedKey> {
      if (!Number.isFinite(graceMs) || graceMs < 0) {
        throw new AdminError(`The grace period must be a non-negative duration, got: ${graceMs} ms`);
      }
      const current = await keyOf(keyId);
      if (current.status !== KeyStatus.active) {
        throw new AdminError(`Key '${keyId}' is ${current.status}: create a new key instead.`);
      }
      const created = generateKey(keyId);
      const at = now();
      try {
        const record = await keys.rotateKey(keyId, {
          expectedSecretHash: current.secretHash,
          secretHash: hashKey(await deps.pepper(), created.key),
          previousValidUntil: at + Math.round(graceMs),
          rotatedAt: at,
        });
        return { key: created.key, record };
      } catch (error) {
        return conflictAsAdminError(error, `Key '${keyId}' was not rotated`);
      }
    },

    async revokeKey(keyId: string): Promise<KeyRecord> {
      await keyOf(keyId);
      try {
        return await keys.revokeKey(keyId, now());
      } catch (error) {
        return conflictAsAdminError(error, `Key '${keyId}' was not revoked`);
      }
    },

    async usage(
      tenantId: string,
      month: string,
    ): Promise<{ tenantId: string; month: string; usage: MonthlyUsage; budget: BudgetView }> {
      checkMonth(month);
      const tenant = await tenantOf(tenantId);
      return {
        tenantId,
        month,
        usage: await deps.ledger.monthlyUsage(tenantId, month),
        budget: await budgetOf(tenant, month),
      };
    },

    /**
     * Writes usage records that the gateway could not store (read back from its log) into the ledger. Safe to
     * run again: the ledger counts a request id once. A record of a tenant this store does not know is not
     * written (the log is probably another deployment's).
     */
    async replayUsage(
      records: ReadonlyArray<{ readonly line: number; readonly record: UsageRecord }>,
    ): Promise<ReplayResult> {
      let recorded = 0;
      let duplicates = 0;
      const failed: Array<{ line: number; reason: string }> = [];
      const known = new Map<string, Promise<boolean>>();
      for (const { line, record } of records) {
        let exists = known.get(record.tenantId);
        if (exists === undefined) {
          exists = keys.getTenant(record.tenantId).then((tenant) => tenant !== undefined);
          known.set(record.tenantId, exists);
        }
        try {
          if (!(await exists)) {
            failed.push({ line, reason: `unknown tenant '${record.tenantId}'` });
            continue;
          }
          if ((await deps.ledger.record(record)) === 'recorded') recorded += 1;
          else duplicates += 1;
        } catch (error) {
          known.delete(record.tenantId);
          failed.push({ line, reason: error instanceof Error ? error.message : String(error) });
        }
      }
      return { recorded, duplicates, failed };
    },

    async invoice(tenantId: string, month: string): Promise<Invoice> {
      checkMonth(month);
      const tenant = await tenantOf(tenantId);
      const tier = config.tiers[tenant.tier];
      if (tier === undefined) {
        throw new AdminError(
          `Tenant '${tenantId}' has the tier '${tenant.tier}', which is not in the config (tiers: ${Object.keys(config.tiers).join(', ')}).`,
        );
      }
      return computeInvoice(
        tenantId,
        month,
        tenant.tier,
        tier,
        await deps.ledger.monthlyUsage(tenantId, month),
      );
    },
  };
};
export type Admin = ReturnType<typeof createAdmin>;
