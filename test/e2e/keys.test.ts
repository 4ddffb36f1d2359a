// Gateway keys end to end: every way a key can be refused gives the right OpenAI-shaped error, through the local server.
import OpenAI from 'openai';
import { generateKey, hashKey } from '../../lambda/core/keys.ts';
import { type FakeUpstream, replyChat, startFakeUpstream } from '../fixtures/fake-upstream.ts';
import { type GatewayHarness, startGateway, TEST_KEY } from '../fixtures/gateway-harness.ts';
import { seedKey, TEST_PEPPER, testKey } from '../fixtures/tenants.ts';

let upstream: FakeUpstream;
let gateway: GatewayHarness;

beforeAll(async () => {
  upstream = await startFakeUpstream(replyChat('hello'));
  gateway = await startGateway({
    routes: [
      {
        model: 'gpt-test',
        targets: [{ id: 'only', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
      },
      {
        model: 'gpt-other',
        targets: [{ id: 'other', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
      },
      {
        model: 'gpt-pro',
        targets: [{ id: 'pro', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
      },
    ],
    tiers: { default: {}, basic: { models: ['gpt-test', 'gpt-other'] } },
    // Re-read key records at once, so that a revocation or rotation shows in the next request.
    keys: { cacheTtlMs: 0 },
  });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

const chatWith = (key: string, model = 'gpt-test') =>
  gateway.post(
    '/v1/chat/completions',
    { model, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { authorization: `Bearer ${key}` } },
  );

const errorOf = async (response: Response) => {
  const body = (await response.json()) as { error: { message: string; type: string; code: string | null } };
  return { status: response.status, ...body.error };
};

const HOUR = 3_600_000;

describe('gateway keys', () => {
  const revoked = testKey('revoked-key');
  const expired = testKey('expired-key');
  const expiresLater = testKey('expires-later');
  const cidrV4 = testKey('cidr-v4');
  const cidrV6 = testKey('cidr-v6');
  const cidrElsewhere = testKey('cidr-elsewhere');
  const onlyOther = testKey('only-other');
  const basicTier = testKey('basic-tier');
  const suspended = testKey('suspended');

  beforeAll(() => {
    const now = Date.now();
    seedKey(gateway.db, revoked, { tenantId: 'tenant-a', key: { status: 'revoked', revokedAt: now } });
    seedKey(gateway.db, expired, { tenantId: 'tenant-a', key: { expiresAt: now - 1_000 } });
    seedKey(gateway.db, expiresLater, { tenantId: 'tenant-a', key: { expiresAt: now + HOUR } });
    seedKey(gateway.db, cidrV4, { tenantId: 'tenant-a', key: { cidrs: ['10.0.0.0/8', '127.0.0.0/8'] } });
    seedKey(gateway.db, cidrV6, { tenantId: 'tenant-a', key: { cidrs: ['::1/128'] } });
    seedKey(gateway.db, cidrElsewhere, {
      tenantId: 'tenant-a',
      key: { cidrs: ['203.0.113.0/24', '2001:db8::/32'] },
    });
    seedKey(gateway.db, onlyOther, { tenantId: 'tenant-a', key: { models: ['gpt-other'] } });
    seedKey(gateway.db, basicTier, { tenantId: 'tenant-basic', tier: 'basic' });
    seedKey(gateway.db, suspended, { tenantId: 'tenant-off', tenant: { status: 'suspended' } });
  });

  it.each([
    ['no key', '', 401, 'invalid_request_error', 'invalid_api_key', /^You didn't provide an API key/],
    [
      'not a gateway key',
      'sk-proj-abc123456789',
      401,
      'invalid_request_error',
      'invalid_api_key',
      /^Incorrect API key provided: sk-pro\*\*\*\*6789\.$/,
    ],
    [
      'a known key id with a wrong secret',
      `${TEST_KEY.slice(0, 23)}${'B'.repeat(43)}`,
      401,
      'invalid_request_error',
      'invalid_api_key',
      /^Incorrect API key provided: sk-gw-\*\*\*\*BBBB\.$/,
    ],
    [
      'an unknown key id',
      testKey('nobody-has-this'),
      401,
      'invalid_request_error',
      'invalid_api_key',
      /^Incorrect API key provided/,
    ],
    [
      'a revoked key',
      revoked,
      401,
      'invalid_request_error',
      'invalid_api_key',
      /^The API key sk-gw-revokedk… has been revoked\.$/,
    ],
    [
      'an expired key',
      expired,
      401,
      'invalid_request_error',
      'invalid_api_key',
      /^The API key sk-gw-expiredk… expired at \d{4}-\d\d-\d\dT/,
    ],
    [
      'a key used outside its CIDRs',
      cidrElsewhere,
      403,
      'permission_error',
      'ip_not_allowed',
      /^The API key sk-gw-cidrelse… may not be used from (::ffff:)?127\.0\.0\.1\.$/,
    ],
    [
      'a suspended tenant',
      suspended,
      403,
      'permission_error',
      'tenant_suspended',
      /^The tenant 'tenant-off' is suspended\.$/,
    ],
  ])('refuses %s', async (_case, key, status, type, code, message) => {
    // Act
    const response = await gateway.post(
      '/v1/chat/completions',
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
      { headers: key === '' ? { authorization: '' } : { authorization: `Bearer ${key}` } },
    );

    // Assess
    const error = await errorOf(response);
    expect(error).toMatchObject({ status, type, code });
    expect(error.message).toMatch(message);
    if (key.length > 23) expect(error.message).not.toContain(key.slice(23));
  });

  it.each([
    ['a key within its expiry', expiresLater],
    ['an IPv4 key from an allowed network', cidrV4],
  ])('admits %s', async (_case, key) => {
    expect((await chatWith(key)).status).toBe(200);
  });

  it('checks an IPv6 CIDR against the caller address', async () => {
    // The local server listens on 127.0.0.1, so ::1 never matches: the key is refused, and says from where.
    const error = await errorOf(await chatWith(cidrV6));
    expect(error).toMatchObject({ status: 403, code: 'ip_not_allowed' });
  });

  it.each([
    ["a model outside the key's allowlist", onlyOther, 'gpt-test', 403, 'model_not_allowed'],
    ["a model outside the tier's allowlist", basicTier, 'gpt-pro', 403, 'model_not_allowed'],
  ])('refuses %s before anything goes upstream', async (_case, key, model, status, code) => {
    // Prepare
    const before = upstream.requests.length;

    // Act
    const error = await errorOf(await chatWith(key, model));

    // Assess
    expect(error).toMatchObject({ status, code, type: 'permission_error' });
    expect(error.message).toBe(`Your API key is not allowed to use the model '${model}'.`);
    expect(upstream.requests.length).toBe(before);
  });

  it('admits allowed models and lists only those', async () => {
    expect((await chatWith(onlyOther, 'gpt-other')).status).toBe(200);
    const models = await fetch(`${gateway.baseUrl}/v1/models`, {
      headers: { authorization: `Bearer ${basicTier}` },
    });
    const listed = ((await models.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    expect(listed.sort()).toEqual(['gpt-other', 'gpt-test']);
    const hidden = await fetch(`${gateway.baseUrl}/v1/models/gpt-pro`, {
      headers: { authorization: `Bearer ${basicTier}` },
    });
    expect(hidden.status).toBe(404);
  });

  it('keeps a rotated key working during its grace period, not after', async () => {
    // Prepare: a key, then a rotation whose previous secret is valid for one more second.
    const first = generateKey();
    seedKey(gateway.db, first.key, { tenantId: 'tenant-a' });
    const second = generateKey(first.keyId);
    const record = gateway.db.keys.get(first.keyId)!;
    gateway.db.keys.set(first.keyId, {
      ...record,
      secretHash: hashKey(TEST_PEPPER, second.key),
      previousSecretHash: record.secretHash,
      previousValidUntil: Date.now() + 1_000,
    });

    // Act + Assess: both secrets work within the grace period
    expect((await chatWith(first.key)).status).toBe(200);
    expect((await chatWith(second.key)).status).toBe(200);

    // after it, only the new one
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const error = await errorOf(await chatWith(first.key));
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect((await chatWith(second.key)).status).toBe(200);
  });

  it('gives the official SDK errors it understands', async () => {
    // Prepare
    const client = new OpenAI({ apiKey: revoked, baseURL: `${gateway.baseUrl}/v1`, maxRetries: 0 });

    // Act
    const error = await client.chat.completions
      .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
  });
});
