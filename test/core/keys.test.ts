// Gateway keys: format, hash, allowlists, and the verifier's cache, rotation recheck and principal.
import { createHmac, webcrypto } from 'node:crypto';
import { MemoryDatabase, MemoryKeyStore, MemorySecretSource } from '../../lambda/adapters/memory/index.ts';
import type { TierConfig } from '../../lambda/core/config.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import {
  createKeyVerifier,
  displayPrefixOf,
  generateKey,
  hashKey,
  ipAllowed,
  isCidr,
  isGatewayKey,
  keyIdOf,
  modelAllowed,
} from '../../lambda/core/keys.ts';
import {
  type KeyRecord,
  KeyStatus,
  type KeyStore,
  type TenantRecord,
  TenantStatus,
} from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';

const KEY_FORMAT = /^sk-gw-[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/;

/** A random source that hands out the given byte runs in order, one per call. */
const scriptedRandom = (...runs: number[][]) => {
  const calls: number[] = [];
  const random = (size: number): Uint8Array => {
    calls.push(size);
    const run = runs.shift();
    if (run === undefined) throw new Error('the scripted random source ran out of bytes');
    return Uint8Array.from(run);
  };
  return { random, calls };
};
const filled = (byte: number) => (size: number) => new Uint8Array(size).fill(byte);
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** Deterministic keys: id `aaaaaaaaaaaaaaaa`, secret 32 × 0x00 (the issued key) or 32 × 0x01 (a wrong one). */
const ISSUED_KEY = `sk-gw-aaaaaaaaaaaaaaaa_${'A'.repeat(43)}`;
const WRONG_SECRET_KEY = 'sk-gw-aaaaaaaaaaaaaaaa_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE';

describe('generateKey', () => {
  it('makes a key of the documented format with 256 random bits of secret', () => {
    // Prepare
    const keys = Array.from({ length: 200 }, () => generateKey());

    // Act
    const secrets = keys.map((key) => Buffer.from(key.key.slice('sk-gw-'.length + 17), 'base64url'));

    // Assess
    for (const key of keys) expect(key.key).toMatch(KEY_FORMAT);
    for (const secret of secrets) expect(secret.byteLength).toBe(32);
    expect(new Set(keys.map((key) => key.keyId)).size).toBe(200);
    expect(new Set(keys.map((key) => key.key)).size).toBe(200);
  });

  it('draws the id by rejection sampling: bytes 252..255 are skipped, others map to [a-z0-9] modulo 36', () => {
    // Prepare: a run of only rejected bytes, then the id bytes (0 → a, 35 → 9, 36 → a, 251 → 9), then the secret.
    const { random, calls } = scriptedRandom(
      [252, 253, 254, 255],
      [255, 0, 35, 36, 251, ...range(1, 12)],
      new Array<number>(32).fill(255),
    );

    // Act
    const key = generateKey(undefined, random);

    // Assess
    expect(key).toEqual({
      keyId: 'a9a9bcdefghijklm',
      key: `sk-gw-a9a9bcdefghijklm_${'_'.repeat(42)}8`,
      displayPrefix: 'sk-gw-a9a9bcde…',
    });
    expect(calls).toEqual([32, 32, 32]);
  });

  it('keeps the key id on rotation and draws only a new secret', () => {
    // Prepare
    const { random, calls } = scriptedRandom(new Array<number>(32).fill(1));

    // Act
    const rotated = generateKey('aaaaaaaaaaaaaaaa', random);

    // Assess
    expect(rotated).toEqual({
      keyId: 'aaaaaaaaaaaaaaaa',
      key: WRONG_SECRET_KEY,
      displayPrefix: 'sk-gw-aaaaaaaa…',
    });
    expect(calls).toEqual([32]);
  });
});

describe('keyIdOf and isGatewayKey', () => {
  it.each([
    ['a generated key', ISSUED_KEY, 'aaaaaaaaaaaaaaaa'],
    ['a key whose secret uses - and _', `sk-gw-0123456789abcdef_${'-_'.repeat(21)}x`, '0123456789abcdef'],
    ['another prefix', `sk-xx-aaaaaaaaaaaaaaaa_${'A'.repeat(43)}`, undefined],
    ['an upper-case id', `sk-gw-AAAAAAAAAAAAAAAA_${'A'.repeat(43)}`, undefined],
    ['a 15-character id', `sk-gw-aaaaaaaaaaaaaaa_${'A'.repeat(43)}`, undefined],
    ['a 42-character secret', `sk-gw-aaaaaaaaaaaaaaaa_${'A'.repeat(42)}`, undefined],
    ['a 44-character secret', `sk-gw-aaaaaaaaaaaaaaaa_${'A'.repeat(44)}`, undefined],
    ['a secret with +', `sk-gw-aaaaaaaaaaaaaaaa_${'A'.repeat(42)}+`, undefined],
    ['a trailing newline', `${ISSUED_KEY}\n`, undefined],
    ['a leading space', ` ${ISSUED_KEY}`, undefined],
    ['an OpenAI key', 'sk-proj-abc123', undefined],
    ['the empty string', '', undefined],
  ])('%s → %p', (_name, presented, expectedId) => {
    // Act
    const id = keyIdOf(presented);
    const isKey = isGatewayKey(presented);

    // Assess
    expect(id).toBe(expectedId);
    expect(isKey).toBe(expectedId !== undefined);
  });
});

describe('displayPrefixOf', () => {
  it.each([
    [ISSUED_KEY, 'sk-gw-aaaaaaaa…'],
    [`sk-gw-0123456789abcdef_${'A'.repeat(43)}`, 'sk-gw-01234567…'],
  ])('%s shows as %s', (key, shown) => {
    // Act
    const prefix = displayPrefixOf(key);

    // Assess
    expect(prefix).toBe(shown);
  });
});

describe('hashKey', () => {
  it('is HMAC-SHA256 as hex: RFC 4231 test case 2', () => {
    // Act
    const hash = hashKey('Jefe', 'what do ya want for nothing?');

    // Assess
    expect(hash).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it.each([
    ['a generated key', 'pepper-1', ISSUED_KEY],
    ['a non-ASCII pepper', 'pfeffer-ß-🌶', WRONG_SECRET_KEY],
    ['a pepper longer than the SHA-256 block', 'p'.repeat(100), ISSUED_KEY],
  ])('matches Web Crypto HMAC-SHA256 for %s', async (_name, pepper, key) => {
    // Prepare
    const encoder = new TextEncoder();
    const cryptoKey = await webcrypto.subtle.importKey(
      'raw',
      encoder.encode(pepper),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const expected = Buffer.from(
      await webcrypto.subtle.sign('HMAC', cryptoKey, encoder.encode(key)),
    ).toString('hex');

    // Act
    const hash = hashKey(pepper, key);

    // Assess
    expect(hash).toBe(expected);
    expect(hash).toBe(createHmac('sha256', pepper).update(key).digest('hex'));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs when the pepper differs', () => {
    // Act
    const [a, b] = [hashKey('pepper-a', ISSUED_KEY), hashKey('pepper-b', ISSUED_KEY)];

    // Assess
    expect(a).not.toBe(b);
  });
});

describe('ipAllowed', () => {
  it.each<[string, string | undefined, string[], boolean]>([
    ['IPv4 inside a /8', '10.1.2.3', ['10.0.0.0/8'], true],
    ['IPv4 outside a /8', '11.1.2.3', ['10.0.0.0/8'], false],
    ['IPv4 on the last address of a /24', '192.168.1.255', ['192.168.1.0/24'], true],
    ['IPv4 just past a /24', '192.168.2.0', ['192.168.1.0/24'], false],
    ['IPv4 in the second of two ranges', '172.16.5.5', ['10.0.0.0/8', '172.16.0.0/12'], true],
    ['IPv4 equal to a single address', '203.0.113.7', ['203.0.113.7'], true],
    ['IPv4 next to a single address', '203.0.113.8', ['203.0.113.7'], false],
    ['IPv4 against /0', '8.8.8.8', ['0.0.0.0/0'], true],
    ['IPv6 inside a /32', '2001:db8::1', ['2001:db8::/32'], true],
    ['IPv6 outside a /32', '2001:db9::1', ['2001:db8::/32'], false],
    ['IPv6 equal to a single address', '2001:db8::7', ['2001:db8::7'], true],
    ['IPv6 next to a single address', '2001:db8::8', ['2001:db8::7'], false],
    ['IPv6 against an IPv4 range', '2001:db8::1', ['10.0.0.0/8'], false],
    ['IPv4-mapped IPv6 inside an IPv4 range', '::ffff:10.1.2.3', ['10.0.0.0/8'], true],
    ['IPv4-mapped IPv6 outside an IPv4 range', '::ffff:11.1.2.3', ['10.0.0.0/8'], false],
    ['IPv4-mapped IPv6 equal to a single IPv4', '::ffff:203.0.113.7', ['203.0.113.7'], true],
    ['no address', undefined, ['0.0.0.0/0'], false],
    ['an empty address', '', ['0.0.0.0/0'], false],
    ['a host name', 'localhost', ['0.0.0.0/0'], false],
    ['an address with a port', '10.1.2.3:443', ['10.0.0.0/8'], false],
    ['a CIDR given as the address', '10.0.0.0/8', ['10.0.0.0/8'], false],
    ['a truncated IPv4', '10.1.2', ['10.0.0.0/8'], false],
    ['an IPv4 octet above 255', '10.1.2.256', ['10.0.0.0/8'], false],
    ['::ffff: followed by garbage', '::ffff:garbage', ['0.0.0.0/0'], false],
    ['an empty allowlist', '10.1.2.3', [], false],
  ])('%s: %p in %j → %p', (_name, ip, cidrs, allowed) => {
    // Act
    const result = ipAllowed(ip, cidrs);

    // Assess
    expect(result).toBe(allowed);
  });
});

describe('isCidr', () => {
  it.each([
    ['10.0.0.0/8', true],
    ['10.0.0.0/0', true],
    ['10.0.0.0/32', true],
    ['203.0.113.7', true],
    ['2001:db8::/32', true],
    ['::1/128', true],
    ['::1', true],
    ['::ffff:10.0.0.0/104', true],
    ['10.0.0.0/33', false],
    ['1.2.3/8', false],
    ['::1/129', false],
    ['a/b/c', false],
    ['10.0.0.0/8/8', false],
    ['', false],
    ['/8', false],
    ['10.0.0.0/', false],
    ['10.0.0.0/-1', false],
    ['10.0.0.0/8.5', false],
    ['10.0.0.0/ 8', false],
    ['10.0.0.0/1000', false],
    ['example.com/8', false],
    ['256.0.0.0/8', false],
  ])('%p → %p', (text, valid) => {
    // Act
    const result = isCidr(text);

    // Assess
    expect(result).toBe(valid);
  });
});

describe('modelAllowed', () => {
  it.each<[string, string, string[] | undefined, boolean]>([
    ['no allowlist allows every model', 'gpt-4o', undefined, true],
    ['an empty allowlist allows none', 'gpt-4o', [], false],
    ['an exact entry', 'gpt-4o', ['gpt-4o'], true],
    ['an exact entry is not a prefix', 'gpt-4o-mini', ['gpt-4o'], false],
    ['an exact entry is case-sensitive', 'GPT-4o', ['gpt-4o'], false],
    ['a prefix entry', 'gpt-4o-mini', ['gpt-4o*'], true],
    ['a prefix entry matches the prefix itself', 'gpt-4o', ['gpt-4o*'], true],
    ['a prefix entry does not match another family', 'gpt-4.1', ['gpt-4o*'], false],
    ['a bare * matches everything', 'anything', ['*'], true],
    ['the second of two entries', 'o3-mini', ['gpt-4o', 'o3*'], true],
    ['* in the middle is literal', 'gpt-4o', ['gpt-*o'], false],
  ])('%s: %s in %j → %p', (_name, model, allowed, expected) => {
    // Act
    const result = modelAllowed(model, allowed);

    // Assess
    expect(result).toBe(expected);
  });
});

const PEPPER_NAME = 'gateway-key-pepper';
const PEPPER = 'keys-test-pepper';
const tier = (monthlyBudgetMicroUsd: number | undefined): TierConfig => ({
  monthlyBudgetMicroUsd,
  models: undefined,
  volumeDiscounts: [],
  commitmentMicroUsd: 0,
  cache: 'deterministic',
  billCacheHits: false,
});
const TIERS = { default: tier(undefined), pro: tier(50_000_000) };
const TTL_MS = 30_000;

interface VerifierSetup {
  readonly tenant?: Partial<TenantRecord>;
  readonly key?: Partial<KeyRecord>;
  readonly cacheTtlMs?: number;
  readonly withTenant?: boolean;
}

/** A verifier over the in-memory key store holding ISSUED_KEY for tenant `acme`; counts the store's reads. */
const prepareVerifier = async ({
  tenant = {},
  key = {},
  cacheTtlMs = TTL_MS,
  withTenant = true,
}: VerifierSetup = {}) => {
  const store = new MemoryKeyStore(new MemoryDatabase());
  const clock = new FakeClock();
  if (withTenant) {
    await store.createTenant({
      tenantId: 'acme',
      name: 'Acme',
      tier: 'default',
      status: TenantStatus.active,
      createdAt: 0,
      ...tenant,
    });
  }
  await store.createKey({
    keyId: 'aaaaaaaaaaaaaaaa',
    tenantId: 'acme',
    displayPrefix: displayPrefixOf(ISSUED_KEY),
    secretHash: hashKey(PEPPER, ISSUED_KEY),
    status: KeyStatus.active,
    createdAt: 0,
    ...key,
  });
  const reads = { keys: 0, tenants: 0 };
  const counting: KeyStore = {
    getKey: (keyId) => {
      reads.keys += 1;
      return store.getKey(keyId);
    },
    getTenant: (tenantId) => {
      reads.tenants += 1;
      return store.getTenant(tenantId);
    },
  };
  const verifier = createKeyVerifier({
    store: counting,
    secrets: new MemorySecretSource(new Map([[PEPPER_NAME, PEPPER]])),
    pepperSecretName: PEPPER_NAME,
    tiers: TIERS,
    clock,
    cacheTtlMs,
  });
  return { store, clock, reads, verifier };
};

/** The error a promise rejects with, or a failure when it resolves. */
const rejectionOf = async (promise: Promise<unknown>): Promise<GatewayError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError, but the promise resolved');
};
const errorFields = (error: GatewayError) => ({
  status: error.status,
  type: error.type,
  code: error.code,
  message: error.message,
});

describe('createKeyVerifier: caching', () => {
  it.each([
    ['at once', 0, { keys: 1, tenants: 1 }],
    ['within a second', 999, { keys: 1, tenants: 1 }],
    ['a second later: the key record is read again', 1_000, { keys: 2, tenants: 1 }],
    ['just before the TTL ends', TTL_MS - 1, { keys: 2, tenants: 1 }],
    ['when the TTL ends: the tenant too', TTL_MS, { keys: 2, tenants: 2 }],
  ])(
    'a second verify %s (%i ms later) reads the store %j in all',
    async (_name, elapsedMs, expectedReads) => {
      // Prepare
      const { clock, reads, verifier } = await prepareVerifier();
      await verifier.verify(ISSUED_KEY, undefined);

      // Act
      clock.advance(elapsedMs);
      const second = await verifier.verify(ISSUED_KEY, undefined);

      // Assess
      expect(second.principal.keyId).toBe('aaaaaaaaaaaaaaaa');
      expect(reads).toEqual(expectedReads);
    },
  );

  it('with cacheTtlMs 0 reads the store on every verify', async () => {
    // Prepare
    const { reads, verifier } = await prepareVerifier({ cacheTtlMs: 0 });

    // Act
    for (let i = 0; i < 3; i += 1) await verifier.verify(ISSUED_KEY, undefined);

    // Assess
    expect(reads).toEqual({ keys: 3, tenants: 3 });
  });

  it('sees a revocation within a second, though the tenant record stays cached', async () => {
    // Prepare
    const { store, clock, verifier } = await prepareVerifier();
    await verifier.verify(ISSUED_KEY, undefined);
    await store.revokeKey('aaaaaaaaaaaaaaaa', clock.now());

    // Act
    clock.advance(999);
    const whileCached = await verifier.verify(ISSUED_KEY, undefined);
    clock.advance(1);
    const afterASecond = await rejectionOf(verifier.verify(ISSUED_KEY, undefined));

    // Assess
    expect(whileCached.key.status).toBe(KeyStatus.active);
    expect(errorFields(afterASecond)).toEqual({
      status: 401,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      message: 'The API key sk-gw-aaaaaaaa… has been revoked.',
    });
  });

  it('sees a tenant suspension once the cached tenant record has expired', async () => {
    // Prepare
    const { store, clock, verifier } = await prepareVerifier();
    await verifier.verify(ISSUED_KEY, undefined);
    const tenant = await store.getTenant('acme');
    if (tenant === undefined) throw new Error('no tenant');
    await store.updateTenant({ ...tenant, status: TenantStatus.suspended });

    // Act
    clock.advance(TTL_MS - 1);
    const whileCached = await verifier.verify(ISSUED_KEY, undefined);
    clock.advance(1);
    const afterTtl = await rejectionOf(verifier.verify(ISSUED_KEY, undefined));

    // Assess
    expect(whileCached.tenant.status).toBe(TenantStatus.active);
    expect(afterTtl.code).toBe('tenant_suspended');
  });

  it.each([
    ['an unknown key id', 'sk-gw-bbbbbbbbbbbbbbbb_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE'],
    ['a known key id with a wrong secret', WRONG_SECRET_KEY],
  ])('refuses %s after the same reads (one key lookup, no tenant)', async (_name, presented) => {
    // Prepare
    const { reads, verifier } = await prepareVerifier();

    // Act
    const error = await rejectionOf(verifier.verify(presented, undefined));

    // Assess
    expect(error.message).toBe(
      `Incorrect API key provided: ${presented.slice(0, 6)}****${presented.slice(-4)}.`,
    );
    expect(reads).toEqual({ keys: 1, tenants: 0 });
  });
});

describe('createKeyVerifier: verifyCached, the answer without waiting', () => {
  it('answers a key verified moments ago with no store read, as verify would', async () => {
    // Prepare
    const { reads, verifier } = await prepareVerifier();
    const first = await verifier.verify(ISSUED_KEY, undefined);

    // Act
    const cached = verifier.verifyCached(ISSUED_KEY, undefined);

    // Assess
    expect(cached?.principal).toEqual(first.principal);
    expect(reads).toEqual({ keys: 1, tenants: 1 });
  });

  it('knows nothing of a key never verified, nor of a wrong secret for a verified key id', async () => {
    // Prepare
    const { verifier } = await prepareVerifier();
    expect(verifier.verifyCached(ISSUED_KEY, undefined)).toBeUndefined();
    await verifier.verify(ISSUED_KEY, undefined);

    // Act + Assess: a wrong secret of the same key id goes the whole way (and is refused there)
    expect(verifier.verifyCached(WRONG_SECRET_KEY, undefined)).toBeUndefined();
    await expect(verifier.verify(WRONG_SECRET_KEY, undefined)).rejects.toMatchObject({ status: 401 });
  });

  it('hands over to verify once the key record is a second old, so a revocation is seen as before', async () => {
    // Prepare
    const { store, clock, verifier } = await prepareVerifier();
    await verifier.verify(ISSUED_KEY, undefined);
    await store.revokeKey('aaaaaaaaaaaaaaaa', clock.now());

    // Act
    clock.advance(999);
    const whileFresh = verifier.verifyCached(ISSUED_KEY, undefined);
    clock.advance(1);
    const afterASecond = verifier.verifyCached(ISSUED_KEY, undefined);

    // Assess
    expect(whileFresh?.key.status).toBe(KeyStatus.active);
    expect(afterASecond).toBeUndefined();
    await expect(verifier.verify(ISSUED_KEY, undefined)).rejects.toMatchObject({
      message: 'The API key sk-gw-aaaaaaaa… has been revoked.',
    });
  });

  it('checks the source address on every call, cached or not', async () => {
    // Prepare
    const { verifier } = await prepareVerifier({ key: { cidrs: ['10.0.0.0/8'] } });
    await verifier.verify(ISSUED_KEY, '10.1.2.3');

    // Act
    const refused = (() => {
      try {
        verifier.verifyCached(ISSUED_KEY, '192.0.2.1');
        return undefined;
      } catch (error) {
        return error;
      }
    })();

    // Assess
    expect(verifier.verifyCached(ISSUED_KEY, '10.9.9.9')?.principal.tenantId).toBe('acme');
    expect(refused).toMatchObject({ status: 403, code: 'ip_not_allowed' });
  });
});

describe('createKeyVerifier: rotation while the old record is cached', () => {
  it.each([
    ['at once', 'refused', 0, 1],
    ['999 ms later', 'refused', 999, 1],
    ['1 s later', 'accepted', 1_000, 2],
    ['5 s later (still within the TTL)', 'accepted', 5_000, 2],
  ])('the new secret presented %s is %s', async (_name, expected, elapsedMs, expectedReads) => {
    // Prepare: the old record is cached, then the key is rotated in the store.
    const { store, clock, reads, verifier } = await prepareVerifier();
    await verifier.verify(ISSUED_KEY, undefined);
    const rotated = generateKey('aaaaaaaaaaaaaaaa', filled(1));
    await store.rotateKey('aaaaaaaaaaaaaaaa', {
      expectedSecretHash: hashKey(PEPPER, ISSUED_KEY),
      secretHash: hashKey(PEPPER, rotated.key),
      previousValidUntil: clock.now() + 86_400_000,
      rotatedAt: clock.now(),
    });
    clock.advance(elapsedMs);

    // Act
    const outcome = await verifier.verify(rotated.key, undefined).then(
      (verified) => (verified.principal.keyId === 'aaaaaaaaaaaaaaaa' ? 'accepted' : 'wrong principal'),
      (error: unknown) =>
        error instanceof GatewayError && error.status === 401 && error.code === 'invalid_api_key'
          ? 'refused'
          : `unexpected: ${String(error)}`,
    );

    // Assess
    expect(outcome).toBe(expected);
    expect(reads.keys).toBe(expectedReads);
  });

  it('does not reread the store more than once a second for a wrong secret', async () => {
    // Prepare
    const { clock, reads, verifier } = await prepareVerifier();
    await verifier.verify(ISSUED_KEY, undefined);
    clock.advance(1_000);

    // Act: the first wrong attempt rereads; the next ones within a second use that fresh read.
    const outcomes: number[] = [];
    for (const step of [0, 500, 499, 1]) {
      clock.advance(step);
      outcomes.push((await rejectionOf(verifier.verify(WRONG_SECRET_KEY, undefined))).status);
    }

    // Assess
    expect(outcomes).toEqual([401, 401, 401, 401]);
    expect(reads.keys).toBe(3);
  });

  it.each([
    ['0 (a leaked key)', 0, 999, 1_000],
    ['10 s', 10_000, 9_999, 10_000],
  ])(
    'with a grace of %s, stops the previous secret at the end of grace (or 1 s after the rotation), though its pre-rotation record was cached',
    async (_name, graceMs, lastAcceptedMs, firstRefusedMs) => {
      // Prepare: the pre-rotation record is cached (and kept fresh by use) when the key is rotated.
      const { store, clock, verifier } = await prepareVerifier();
      await verifier.verify(ISSUED_KEY, undefined);
      const rotatedAt = clock.now();
      const rotated = generateKey('aaaaaaaaaaaaaaaa', filled(1));
      await store.rotateKey('aaaaaaaaaaaaaaaa', {
        expectedSecretHash: hashKey(PEPPER, ISSUED_KEY),
        secretHash: hashKey(PEPPER, rotated.key),
        previousValidUntil: rotatedAt + graceMs,
        rotatedAt,
      });

      // Act
      clock.advance(lastAcceptedMs);
      const lastAccepted = await verifier.verify(ISSUED_KEY, undefined);
      clock.advance(firstRefusedMs - lastAcceptedMs);
      const firstRefused = await rejectionOf(verifier.verify(ISSUED_KEY, undefined));

      // Assess
      expect(lastAccepted.principal.keyId).toBe('aaaaaaaaaaaaaaaa');
      expect(errorFields(firstRefused)).toEqual({
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'Incorrect API key provided: sk-gw-****AAAA.',
      });
    },
  );

  it('stops both earlier secrets within a second of a second rotation, though the first rotation was cached', async () => {
    // Prepare: rotated once (the first secret in its day of grace) and cached, then rotated again with grace 0.
    const { store, clock, verifier } = await prepareVerifier();
    const second = generateKey('aaaaaaaaaaaaaaaa', filled(1));
    const third = generateKey('aaaaaaaaaaaaaaaa', filled(2));
    await store.rotateKey('aaaaaaaaaaaaaaaa', {
      expectedSecretHash: hashKey(PEPPER, ISSUED_KEY),
      secretHash: hashKey(PEPPER, second.key),
      previousValidUntil: clock.now() + 86_400_000,
      rotatedAt: clock.now(),
    });
    await verifier.verify(ISSUED_KEY, undefined);
    await store.rotateKey('aaaaaaaaaaaaaaaa', {
      expectedSecretHash: hashKey(PEPPER, second.key),
      secretHash: hashKey(PEPPER, third.key),
      previousValidUntil: clock.now(),
      rotatedAt: clock.now(),
    });

    // Act
    clock.advance(1_000);
    const outcomes = [];
    for (const key of [ISSUED_KEY, second.key, third.key]) {
      outcomes.push(
        await verifier.verify(key, undefined).then(
          () => 'accepted',
          (error: unknown) => (error instanceof GatewayError ? error.status : String(error)),
        ),
      );
    }

    // Assess
    expect(outcomes).toEqual([401, 401, 'accepted']);
  });

  it('keeps accepting the previous secret during the grace period, and not after', async () => {
    // Prepare
    const { store, clock, verifier } = await prepareVerifier({ cacheTtlMs: 0 });
    const rotated = generateKey('aaaaaaaaaaaaaaaa', filled(1));
    await store.rotateKey('aaaaaaaaaaaaaaaa', {
      expectedSecretHash: hashKey(PEPPER, ISSUED_KEY),
      secretHash: hashKey(PEPPER, rotated.key),
      previousValidUntil: clock.now() + 60_000,
      rotatedAt: clock.now(),
    });

    // Act
    clock.advance(59_999);
    const inGrace = await verifier.verify(ISSUED_KEY, undefined);
    clock.advance(1);
    const afterGrace = await rejectionOf(verifier.verify(ISSUED_KEY, undefined));
    const newKey = await verifier.verify(rotated.key, undefined);

    // Assess
    expect(inGrace.principal.keyId).toBe('aaaaaaaaaaaaaaaa');
    expect(afterGrace.status).toBe(401);
    expect(newKey.principal.keyId).toBe('aaaaaaaaaaaaaaaa');
  });
});

describe('createKeyVerifier: refusals', () => {
  it.each<[string, string, VerifierSetup, string | undefined, ReturnType<typeof errorFields>]>([
    [
      'a string that is not a gateway key',
      'sk-abc',
      {},
      undefined,
      {
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'Incorrect API key provided: ****.',
      },
    ],
    [
      'a wrong secret for a known id',
      WRONG_SECRET_KEY,
      {},
      undefined,
      {
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'Incorrect API key provided: sk-gw-****BAQE.',
      },
    ],
    [
      'an unknown key id',
      `sk-gw-bbbbbbbbbbbbbbbb_${'A'.repeat(43)}`,
      {},
      undefined,
      {
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'Incorrect API key provided: sk-gw-****AAAA.',
      },
    ],
    [
      'a revoked key',
      ISSUED_KEY,
      { key: { status: KeyStatus.revoked, revokedAt: 5 } },
      undefined,
      {
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'The API key sk-gw-aaaaaaaa… has been revoked.',
      },
    ],
    [
      'a key that expires now',
      ISSUED_KEY,
      { key: { expiresAt: 1_000_000 } },
      undefined,
      {
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'The API key sk-gw-aaaaaaaa… expired at 1970-01-01T00:16:40.000Z.',
      },
    ],
    [
      'a key without its tenant',
      ISSUED_KEY,
      { withTenant: false },
      undefined,
      {
        status: 401,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'The API key sk-gw-aaaaaaaa… belongs to no tenant.',
      },
    ],
    [
      'a suspended tenant',
      ISSUED_KEY,
      { tenant: { status: TenantStatus.suspended } },
      undefined,
      {
        status: 403,
        type: 'permission_error',
        code: 'tenant_suspended',
        message: "The tenant 'acme' is suspended.",
      },
    ],
    [
      'an address outside the allowlist',
      ISSUED_KEY,
      { key: { cidrs: ['10.0.0.0/8'] } },
      '198.51.100.1',
      {
        status: 403,
        type: 'permission_error',
        code: 'ip_not_allowed',
        message: 'The API key sk-gw-aaaaaaaa… may not be used from 198.51.100.1.',
      },
    ],
    [
      'an unknown address with an allowlist',
      ISSUED_KEY,
      { key: { cidrs: ['10.0.0.0/8'] } },
      undefined,
      {
        status: 403,
        type: 'permission_error',
        code: 'ip_not_allowed',
        message: 'The API key sk-gw-aaaaaaaa… may not be used from an unknown address.',
      },
    ],
    [
      'a tenant whose tier is not in the config',
      ISSUED_KEY,
      { tenant: { tier: 'enterprise' } },
      undefined,
      {
        status: 500,
        type: 'server_error',
        code: 'tier_not_configured',
        message: 'The gateway is not configured for this tenant.',
      },
    ],
  ])('refuses %s', async (_name, presented, setup, clientIp, expected) => {
    // Prepare
    const { verifier } = await prepareVerifier(setup);

    // Act
    const error = await rejectionOf(verifier.verify(presented, clientIp));

    // Assess
    expect(errorFields(error)).toEqual(expected);
  });
});

describe('createKeyVerifier: the principal', () => {
  it.each<[string, VerifierSetup, string | undefined, object]>([
    [
      'a tier without a budget',
      {},
      undefined,
      {
        tenantId: 'acme',
        keyId: 'aaaaaaaaaaaaaaaa',
        tier: 'default',
        models: undefined,
        monthlyBudgetMicroUsd: undefined,
      },
    ],
    [
      "the tier's budget when the tenant has none",
      { tenant: { tier: 'pro' } },
      undefined,
      {
        tenantId: 'acme',
        keyId: 'aaaaaaaaaaaaaaaa',
        tier: 'pro',
        models: undefined,
        monthlyBudgetMicroUsd: 50_000_000,
      },
    ],
    [
      "the tenant's own budget over the tier's",
      { tenant: { tier: 'pro', monthlyBudgetMicroUsd: 7_000_000 } },
      undefined,
      {
        tenantId: 'acme',
        keyId: 'aaaaaaaaaaaaaaaa',
        tier: 'pro',
        models: undefined,
        monthlyBudgetMicroUsd: 7_000_000,
      },
    ],
    [
      "a tenant budget of 0 over the tier's",
      { tenant: { tier: 'pro', monthlyBudgetMicroUsd: 0 } },
      undefined,
      {
        tenantId: 'acme',
        keyId: 'aaaaaaaaaaaaaaaa',
        tier: 'pro',
        models: undefined,
        monthlyBudgetMicroUsd: 0,
      },
    ],
    [
      "the key's model allowlist",
      { key: { models: ['gpt-4o-mini', 'o3*'] } },
      undefined,
      {
        tenantId: 'acme',
        keyId: 'aaaaaaaaaaaaaaaa',
        tier: 'default',
        models: ['gpt-4o-mini', 'o3*'],
        monthlyBudgetMicroUsd: undefined,
      },
    ],
    [
      'a caller inside the allowlist, as an IPv4-mapped IPv6 address',
      { key: { cidrs: ['10.0.0.0/8'] } },
      '::ffff:10.1.2.3',
      {
        tenantId: 'acme',
        keyId: 'aaaaaaaaaaaaaaaa',
        tier: 'default',
        models: undefined,
        monthlyBudgetMicroUsd: undefined,
      },
    ],
  ])('carries %s', async (_name, setup, clientIp, expected) => {
    // Prepare
    const { verifier } = await prepareVerifier(setup);

    // Act
    const verified = await verifier.verify(ISSUED_KEY, clientIp);

    // Assess
    expect(verified.principal).toStrictEqual(expected);
    expect(verified.tenant.tenantId).toBe('acme');
    expect(verified.key.keyId).toBe('aaaaaaaaaaaaaaaa');
  });
});
