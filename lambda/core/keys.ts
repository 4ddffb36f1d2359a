// Gateway keys: their format, their stored hash, and verification (shared by the authorizer and the gateway).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import {
  type Clock,
  type KeyRecord,
  KeyStatus,
  type KeyStore,
  type Principal,
  type SecretSource,
  type TenantRecord,
  TenantStatus,
} from '../ports.ts';
import type { TierConfig } from './config.ts';
import { forbidden, tierNotConfigured, unauthorized } from './errors.ts';

export const KEY_PREFIX = 'sk-gw-';
const KEY_ID_LENGTH = 16;
const KEY_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** `sk-gw-<key id: 16 × [a-z0-9]>_<secret: 32 random bytes, base64url>`: the id finds the record, the secret proves the key. */
const KEY_FORMAT = /^sk-gw-([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewKey {
  readonly keyId: string;
  /** The key to hand to the user, once. Never stored. */
  readonly key: string;
  readonly displayPrefix: string;
}

/** Random [a-z0-9] string by rejection sampling (no modulo bias). */
const randomId = (length: number, random: (size: number) => Uint8Array): string => {
  let id = '';
  while (id.length < length) {
    for (const byte of random(length * 2)) {
      if (byte < 252 && id.length < length) id += KEY_ID_ALPHABET[byte % 36];
    }
  }
  return id;
};

/** A new key with a fresh id; `keyId` set: a new secret for that id (rotation). 256 bits of secret. */
export const generateKey = (
  keyId?: string,
  random: (size: number) => Uint8Array = (size) => randomBytes(size),
): NewKey => {
  const id = keyId ?? randomId(KEY_ID_LENGTH, random);
  const key = `${KEY_PREFIX}${id}_${Buffer.from(random(32)).toString('base64url')}`;
  return { keyId: id, key, displayPrefix: displayPrefixOf(key) };
};

/** The key id inside a presented key, or undefined when the string is not a gateway key. */
export const keyIdOf = (presented: string): string | undefined => KEY_FORMAT.exec(presented)?.[1];

export const isGatewayKey = (presented: string): boolean => KEY_FORMAT.test(presented);

export const displayPrefixOf = (key: string): string => `${key.slice(0, KEY_PREFIX.length + 8)}…`;

/** HMAC-SHA256(pepper, key) as hex: what the key store holds. */
export const hashKey = (pepper: string, key: string): string =>
  createHmac('sha256', pepper).update(key).digest('hex');

const ZERO_HASH = Buffer.alloc(32);
const sameHash = (expectedHex: string | undefined, actual: Buffer): boolean => {
  const expected = expectedHex === undefined ? ZERO_HASH : Buffer.from(expectedHex, 'hex');
  // Compare even when lengths differ or nothing is stored, so the time taken says nothing about the record.
  return (
    timingSafeEqual(expected.length === actual.length ? expected : ZERO_HASH, actual) &&
    expectedHex !== undefined
  );
};

/** The presented secret is the key's current one, or its previous one within the grace period. */
const secretMatches = (key: KeyRecord | undefined, actual: Buffer, now: number): boolean => {
  const current = sameHash(key?.secretHash, actual);
  const previous = sameHash(key?.previousSecretHash, actual);
  return current || (previous && (key?.previousValidUntil ?? Number.NEGATIVE_INFINITY) > now);
};

/** Whether `ip` is inside any of `cidrs` (IPv4 and IPv6; an IPv4-mapped IPv6 address counts as IPv4). */
export const ipAllowed = (ip: string | undefined, cidrs: readonly string[]): boolean => {
  if (ip === undefined) return false;
  const address = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return false;
  return blockListOf(cidrs).check(address, family);
};

const blockLists = new Map<string, BlockList>();
const blockListOf = (cidrs: readonly string[]): BlockList => {
  const cacheKey = cidrs.join(',');
  let list = blockLists.get(cacheKey);
  if (list === undefined) {
    list = new BlockList();
    // An entry that is not a CIDR (a hand-edited record) matches nothing rather than failing the request.
    for (const cidr of cidrs.filter(isCidr)) {
      const [network = '', bits] = cidr.split('/');
      const family = isIPv4(network) ? 'ipv4' : 'ipv6';
      const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
      list.addSubnet(network, prefix, family);
    }
    if (blockLists.size > 1000) blockLists.clear();
    blockLists.set(cacheKey, list);
  }
  return list;
};

/** A CIDR (`10.0.0.0/8`, `2001:db8::/32`, or a single address) as written in a key's allowlist. */
export const isCidr = (text: string): boolean => {
  const [network = '', bits, extra] = text.split('/');
  if (extra !== undefined || network.includes('%')) return false;
  const max = isIPv4(network) ? 32 : isIPv6(network) ? 128 : -1;
  if (max < 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return false;
  // An IPv4-mapped network shorter than /96 would cover every IPv4 address (Node matches IPv4 against mapped ranges).
  return !(network.toLowerCase().startsWith('::ffff:') && Number(bits) < 96);
};

/** Whether `model` is in an allowlist whose entries are exact names or prefixes ending in `*`. */
export const modelAllowed = (model: string, allowed: readonly string[] | undefined): boolean =>
  allowed === undefined ||
  allowed.some((entry) => (entry.endsWith('*') ? model.startsWith(entry.slice(0, -1)) : entry === model));

const invalidKey = unauthorized;

export const redactKey = (key: string): string =>
  key.length <= 10 ? '****' : `${key.slice(0, 6)}****${key.slice(-4)}`;

export interface VerifiedKey {
  readonly principal: Principal;
  readonly key: KeyRecord;
  readonly tenant: TenantRecord;
}

export interface KeyVerifierOptions {
  readonly store: KeyStore;
  readonly secrets: SecretSource;
  readonly pepperSecretName: string;
  readonly tiers: Readonly<Record<string, TierConfig>>;
  readonly clock: Clock;
  /**
   * How long a looked-up tenant is reused; a key record is reused for at most this and KEY_RECORD_MAX_AGE_MS.
   * 0 reads the store every time.
   */
  readonly cacheTtlMs: number;
  readonly cacheMaxEntries?: number;
}

interface Cached<T> {
  readonly record: T | undefined;
  readonly readAt: number;
}

/**
 * The oldest copy of a key record that may vouch for a secret. Only the store knows of a rotation or a
 * revocation: a copy read before one would accept a secret the store no longer does (a grace-0 rotation of a
 * leaked key) for as long as it is reused. So a copy older than this is read again before it is used, which
 * bounds that at 1 s and holds reads to one a second per key id, whatever the caller sends.
 */
export const KEY_RECORD_MAX_AGE_MS = 1_000;

/**
 * Verifies presented keys. A key record is reused for at most `min(cacheTtlMs, KEY_RECORD_MAX_AGE_MS)`, its
 * tenant's record for `cacheTtlMs`; the secret, status, expiry, grace period and source address are checked
 * on every call.
 */
export const createKeyVerifier = (options: KeyVerifierOptions) => {
  const { store, clock } = options;
  const maxEntries = options.cacheMaxEntries ?? 10_000;
  const keyMaxAgeMs = Math.min(options.cacheTtlMs, KEY_RECORD_MAX_AGE_MS);
  const keys = new Map<string, Cached<KeyRecord>>();
  const tenants = new Map<string, Cached<TenantRecord>>();

  const remember = <T>(cache: Map<string, Cached<T>>, id: string, entry: Cached<T>): void => {
    if (options.cacheTtlMs <= 0) return;
    cache.delete(id);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(id, entry);
  };

  const lookup = async <T>(
    cache: Map<string, Cached<T>>,
    id: string,
    maxAgeMs: number,
    read: (id: string) => Promise<T | undefined>,
  ): Promise<T | undefined> => {
    const now = clock.now();
    const cached = cache.get(id);
    if (cached !== undefined && now - cached.readAt < maxAgeMs) return cached.record;
    const record = await read(id);
    remember(cache, id, { record, readAt: now });
    return record;
  };

  /** A cache entry still fresh enough to use, without reading the store. */
  const fresh = <T>(
    cache: Map<string, Cached<T>>,
    id: string,
    maxAgeMs: number,
    now: number,
  ): Cached<T> | undefined => {
    const cached = cache.get(id);
    return cached !== undefined && now - cached.readAt < maxAgeMs ? cached : undefined;
  };

  const keyOf = (keyId: string) => lookup(keys, keyId, keyMaxAgeMs, (id) => store.getKey(id));

  /**
   * Secrets that matched a key record, by the secret: the same secret against the same copy of the record
   * (re-read at least every KEY_RECORD_MAX_AGE_MS) needs no second HMAC. Only a secret that matched gets here,
   * so a caller without one gains nothing from it; a match on the previous secret lasts its grace period only.
   */
  const verified = new Map<string, { readonly key: KeyRecord; readonly validUntil: number }>();
  const rememberMatch = (presented: string, key: KeyRecord, actual: Buffer) => {
    if (options.cacheTtlMs <= 0) return;
    const current = sameHash(key.secretHash, actual);
    const validUntil = current
      ? Number.POSITIVE_INFINITY
      : (key.previousValidUntil ?? Number.NEGATIVE_INFINITY);
    if (verified.size >= maxEntries) verified.delete(verified.keys().next().value as string);
    verified.set(presented, { key, validUntil });
  };
  const tenantOf = (tenantId: string) =>
    lookup(tenants, tenantId, options.cacheTtlMs, (id) => store.getTenant(id));

  /** What every verification checks once the secret matched: status, expiry, tenant, source address, tier. */
  const admit = (
    key: KeyRecord,
    tenant: TenantRecord | undefined,
    now: number,
    clientIp: string | undefined,
  ): VerifiedKey => {
    if (key.status === KeyStatus.revoked)
      throw invalidKey(`The API key ${key.displayPrefix} has been revoked.`);
    if (key.expiresAt !== undefined && key.expiresAt <= now) {
      throw invalidKey(
        `The API key ${key.displayPrefix} expired at ${new Date(key.expiresAt).toISOString()}.`,
      );
    }
    if (tenant === undefined) throw invalidKey(`The API key ${key.displayPrefix} belongs to no tenant.`);
    if (tenant.status !== TenantStatus.active) {
      throw forbidden(`The tenant '${tenant.tenantId}' is suspended.`, 'tenant_suspended');
    }
    if (key.cidrs !== undefined && key.cidrs.length > 0 && !ipAllowed(clientIp, key.cidrs)) {
      throw forbidden(
        `The API key ${key.displayPrefix} may not be used from ${clientIp ?? 'an unknown address'}.`,
        'ip_not_allowed',
      );
    }
    const tier = options.tiers[tenant.tier];
    if (tier === undefined) {
      // Operator error: the tenant's tier is missing from the deployed config.
      throw tierNotConfigured();
    }
    return {
      key,
      tenant,
      principal: {
        tenantId: tenant.tenantId,
        keyId: key.keyId,
        tier: tenant.tier,
        models: key.models,
        monthlyBudgetMicroUsd: tenant.monthlyBudgetMicroUsd ?? tier.monthlyBudgetMicroUsd,
      },
    };
  };

  /** The caller behind a presented key, or a GatewayError (401 / 403) saying why not. */
  const verify = async (presented: string, clientIp: string | undefined): Promise<VerifiedKey> => {
    const keyId = keyIdOf(presented);
    if (keyId === undefined) throw invalidKey(`Incorrect API key provided: ${redactKey(presented)}.`);
    const now = clock.now();
    const key = await keyOf(keyId);
    const matched = key === undefined ? undefined : verified.get(presented);
    if (matched === undefined || matched.key !== key || matched.validUntil <= now) {
      const pepper = await options.secrets.get(options.pepperSecretName);
      const actual = createHmac('sha256', pepper).update(presented).digest();
      // The tenant is read only once the secret matched: a wrong key costs the same whether its id exists or not.
      if (key === undefined || !secretMatches(key, actual, now)) {
        throw invalidKey(`Incorrect API key provided: ${redactKey(presented)}.`);
      }
      rememberMatch(presented, key, actual);
    }
    if (key.status === KeyStatus.revoked || (key.expiresAt !== undefined && key.expiresAt <= now)) {
      return admit(key, undefined, now, clientIp);
    }
    return admit(key, await tenantOf(key.tenantId), now, clientIp);
  };

  /**
   * `verify` without waiting, when everything it needs is at hand: a secret that matched this copy of its key
   * record, and that record and its tenant's still fresh in the caches. Undefined: call `verify`.
   */
  const verifyCached = (presented: string, clientIp: string | undefined): VerifiedKey | undefined => {
    const matched = verified.get(presented);
    if (matched === undefined) return undefined;
    const now = clock.now();
    const key = fresh(keys, matched.key.keyId, keyMaxAgeMs, now);
    if (key === undefined || key.record !== matched.key || matched.validUntil <= now) return undefined;
    const tenant = fresh(tenants, matched.key.tenantId, options.cacheTtlMs, now);
    if (tenant === undefined) return undefined;
    return admit(matched.key, tenant.record, now, clientIp);
  };

  return { verify, verifyCached, forget: (keyId: string) => keys.delete(keyId) };
};
export type KeyVerifier = ReturnType<typeof createKeyVerifier>;
