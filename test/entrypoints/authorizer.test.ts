// The REQUEST authorizer over the in-memory key store: what API Gateway gets back for each kind of key.
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { MemoryKeyStore, MemoryLogger, MemorySecretSource } from '../../lambda/adapters/memory/index.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createKeyVerifier, generateKey, hashKey } from '../../lambda/core/keys.ts';
import {
  createAuthorizer,
  gatewayKeyOf,
  stageWildcardOf,
} from '../../lambda/entrypoints/authorizer/authorize.ts';
import {
  type KeyRecord,
  KeyStatus,
  type KeyStore,
  type TenantRecord,
  TenantStatus,
} from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { restEvent } from '../fixtures/lambda-events.ts';

const PEPPER = 'test-pepper-0123456789';
const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/POST/v1/chat/completions';
const STAGE_WILDCARD = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*/*';
const CLIENT_IP = '203.0.113.7';
const UNAUTHORIZED = /^Unauthorized$/;
/** Any message but 'Unauthorized' makes API Gateway answer 500. */
const AUTHORIZER_FAILED = /^Authorizer failed; see its log$/;

const config = parseGatewayConfig({
  routes: [
    { model: 'gpt-4o', targets: [{ id: 'openai', provider: 'openai', baseUrl: 'https://api.test/v1' }] },
  ],
  tiers: { pro: { monthlyBudgetUsd: 25 }, free: {} },
});

const tenant = (overrides: Partial<TenantRecord> = {}): TenantRecord => ({
  tenantId: 'acme',
  name: 'Acme',
  tier: 'pro',
  status: TenantStatus.active,
  usagePlanKeyValue: 'usage-plan-key-acme',
  createdAt: 0,
  ...overrides,
});

interface EventInput {
  readonly headers?: Record<string, string>;
  readonly sourceIp?: string;
  readonly methodArn?: string;
}

/** An event shaped like the one API Gateway sends a REST REQUEST authorizer. */
const authorizerEvent = (input: EventInput = {}): APIGatewayRequestAuthorizerEvent => {
  const rest = restEvent({ path: '/v1/chat/completions', headers: input.headers ?? {} });
  return {
    type: 'REQUEST',
    methodArn: input.methodArn ?? METHOD_ARN,
    resource: rest.resource,
    path: rest.path,
    httpMethod: rest.httpMethod,
    headers: rest.headers,
    multiValueHeaders: rest.multiValueHeaders,
    pathParameters: rest.pathParameters,
    queryStringParameters: rest.queryStringParameters,
    multiValueQueryStringParameters: rest.multiValueQueryStringParameters,
    stageVariables: rest.stageVariables,
    requestContext: {
      ...rest.requestContext,
      authorizer: undefined,
      identity: { ...rest.requestContext.identity, sourceIp: input.sourceIp ?? CLIENT_IP },
    },
  };
};
const bearer = (key: string, sourceIp?: string) =>
  authorizerEvent({ headers: { Authorization: `Bearer ${key}` }, ...(sourceIp ? { sourceIp } : {}) });

const setup = (options: { tenants?: TenantRecord[]; store?: KeyStore; pepper?: string | null } = {}) => {
  const clock = new FakeClock(1_700_000_000_000);
  const keys = new MemoryKeyStore();
  for (const record of options.tenants ?? [tenant()]) keys.db.tenants.set(record.tenantId, record);
  const secrets = new MemorySecretSource();
  if (options.pepper !== null) secrets.set('gateway-key-pepper', options.pepper ?? PEPPER);
  const logger = new MemoryLogger();
  const verifier = createKeyVerifier({
    store: options.store ?? keys,
    secrets,
    pepperSecretName: config.keys.pepperSecretName,
    tiers: config.tiers,
    clock,
    cacheTtlMs: 30_000,
  });
  const authorize = createAuthorizer({ verify: verifier.verify, logger });
  /** Stores a new key for a tenant and returns it with its record. */
  const issue = async (overrides: Partial<KeyRecord> = {}) => {
    const { keyId, key, displayPrefix } = generateKey();
    const record: KeyRecord = {
      keyId,
      tenantId: 'acme',
      displayPrefix,
      secretHash: hashKey(PEPPER, key),
      status: KeyStatus.active,
      createdAt: clock.now(),
      ...overrides,
    };
    await keys.createKey(record);
    return { key, record };
  };
  return { clock, keys, logger, authorize, issue };
};

const allowed = (keyId: string, context: Record<string, string | number>, usageIdentifierKey: string) => ({
  principalId: keyId,
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: STAGE_WILDCARD }],
  },
  context,
  usageIdentifierKey,
});

const denied = (principalId: string, code: string) => ({
  principalId,
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: STAGE_WILDCARD }],
  },
  context: { code, message: expect.any(String) },
});

describe('authorizer: allowed keys', () => {
  it('allows a valid key for every method and path of the stage, with its context and usage-plan key', async () => {
    // Prepare
    const { authorize, issue } = setup();
    const { key, record } = await issue({ models: ['gpt-4o', 'gpt-4o-mini*'] });

    // Act
    const result = await authorize(bearer(key));

    // Assess
    expect(result).toEqual(
      allowed(
        record.keyId,
        {
          tenantId: 'acme',
          keyId: record.keyId,
          tier: 'pro',
          models: '["gpt-4o","gpt-4o-mini*"]',
          monthlyBudgetMicroUsd: 25_000_000,
        },
        'usage-plan-key-acme',
      ),
    );
  });

  it('sends an empty models list and no budget for an unrestricted key on a tier without budget', async () => {
    // Prepare
    const { authorize, issue } = setup({ tenants: [tenant({ tier: 'free' })] });
    const { key, record } = await issue();

    // Act
    const result = await authorize(bearer(key));

    // Assess
    expect(result).toEqual(
      allowed(
        record.keyId,
        { tenantId: 'acme', keyId: record.keyId, tier: 'free', models: '' },
        'usage-plan-key-acme',
      ),
    );
  });

  it.each([
    ['lower-case header name', 'authorization', 'Bearer'],
    ['upper-case header name', 'AUTHORIZATION', 'Bearer'],
    ['lower-case scheme', 'Authorization', 'bearer'],
  ])('accepts the key with a %s', async (_case, header, scheme) => {
    // Prepare
    const { authorize, issue } = setup();
    const { key, record } = await issue();

    // Act
    const result = await authorize(authorizerEvent({ headers: { [header]: `${scheme} ${key}` } }));

    // Assess
    expect(result.principalId).toBe(record.keyId);
    expect(result.policyDocument.Statement).toEqual([
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: STAGE_WILDCARD },
    ]);
  });
});

describe('authorizer: the key in x-api-key (Anthropic clients)', () => {
  it.each([
    ['x-api-key', 'lower-case'],
    ['X-Api-Key', 'mixed-case'],
    ['X-API-KEY', 'upper-case'],
  ])('allows a valid key sent as %s (%s header name), like one sent as a Bearer token', async (header) => {
    // Prepare
    const { authorize, issue } = setup();
    const { key, record } = await issue();

    // Act
    const fromApiKey = await authorize(authorizerEvent({ headers: { [header]: key } }));
    const fromBearer = await authorize(bearer(key));

    // Assess
    expect(fromApiKey).toEqual(fromBearer);
    expect(fromApiKey.principalId).toBe(record.keyId);
    expect(fromApiKey.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(fromApiKey.usageIdentifierKey).toBe('usage-plan-key-acme');
  });

  it('verifies the Bearer key when both headers are present', async () => {
    // Prepare: two tenants, so the verified key shows which header was read.
    const { authorize, issue } = setup({
      tenants: [tenant(), tenant({ tenantId: 'globex', name: 'Globex' })],
    });
    const acme = await issue();
    const globex = await issue({ tenantId: 'globex' });

    // Act
    const result = await authorize(
      authorizerEvent({ headers: { Authorization: `Bearer ${acme.key}`, 'x-api-key': globex.key } }),
    );

    // Assess
    expect(result.principalId).toBe(acme.record.keyId);
    expect(result.context).toMatchObject({ tenantId: 'acme' });
  });
});

describe('gatewayKeyOf', () => {
  it.each<[string, Record<string, string> | null, string | undefined]>([
    ['a Bearer token', { Authorization: 'Bearer sk-gw-a' }, 'sk-gw-a'],
    ['x-api-key', { 'x-api-key': 'sk-gw-b' }, 'sk-gw-b'],
    ['both: the Bearer token wins', { authorization: 'Bearer sk-gw-a', 'X-Api-Key': 'sk-gw-b' }, 'sk-gw-a'],
    ['neither', { 'content-type': 'application/json' }, undefined],
    ['no headers at all', null, undefined],
    [
      'a Bearer token with spaces and tabs around it',
      { Authorization: ' \tBearer \t sk-gw-a \t' },
      'sk-gw-a',
    ],
    ['x-api-key with spaces and tabs around it', { 'x-api-key': ' \tsk-gw-b\t ' }, 'sk-gw-b'],
    ['x-api-key with a space inside', { 'x-api-key': 'sk-gw b' }, undefined],
    ['an empty x-api-key', { 'x-api-key': '' }, undefined],
    [
      'an empty Authorization header, and x-api-key',
      { Authorization: ' ', 'x-api-key': 'sk-gw-b' },
      'sk-gw-b',
    ],
    ['a Bearer token with two words', { Authorization: 'Bearer sk-gw-a extra' }, undefined],
    ['another scheme, and x-api-key', { Authorization: 'Basic abc', 'x-api-key': 'sk-gw-b' }, undefined],
    [
      'a Bearer without a token, and x-api-key',
      { Authorization: 'Bearer', 'x-api-key': 'sk-gw-b' },
      undefined,
    ],
  ])('reads %s', (_case, headers, expected) => {
    // Act
    const key = gatewayKeyOf(headers);

    // Assess
    expect(key).toBe(expected);
  });
});

describe('authorizer: refused keys answer 401', () => {
  it.each<[string, (issued: { key: string; record: KeyRecord }) => Record<string, string>]>([
    [
      'a wrong secret for a known key id',
      ({ record }) => ({ Authorization: `Bearer ${generateKey(record.keyId).key}` }),
    ],
    ['an unknown key id', () => ({ Authorization: `Bearer ${generateKey().key}` })],
    ['a malformed key', () => ({ Authorization: 'Bearer sk-gw-not-a-real-key' })],
    ['no Authorization header', () => ({})],
    ['another scheme', ({ key }) => ({ Authorization: `Basic ${key}` })],
    ['a bearer without a key', () => ({ Authorization: 'Bearer ' })],
    ['an empty x-api-key', () => ({ 'x-api-key': '  ' })],
    ['a wrong key in x-api-key', () => ({ 'x-api-key': generateKey().key })],
    // x-api-key counts only without an Authorization header: the cached authorizer's key is that header and the IP.
    [
      'another scheme, with the key in x-api-key',
      ({ key }) => ({ Authorization: 'Basic abc', 'x-api-key': key }),
    ],
    [
      'a wrong Bearer key, with the key in x-api-key',
      ({ key, record }) => ({
        Authorization: `Bearer ${generateKey(record.keyId).key}`,
        'x-api-key': key,
      }),
    ],
  ])('throws Unauthorized for %s', async (_case, headersFor) => {
    // Prepare
    const { authorize, issue, logger } = setup();
    const issued = await issue();

    // Act
    const result = authorize(authorizerEvent({ headers: headersFor(issued) }));

    // Assess
    await expect(result).rejects.toThrow(UNAUTHORIZED);
    expect(JSON.stringify(logger.lines)).not.toContain(issued.key.slice(-20));
  });

  it.each<[string, (now: number) => Partial<KeyRecord>]>([
    ['a revoked', (now) => ({ status: KeyStatus.revoked, revokedAt: now - 1 })],
    ['an expired', (now) => ({ expiresAt: now - 1 })],
  ])('throws Unauthorized for %s key', async (_case, overridesAt) => {
    // Prepare
    const { authorize, issue, clock } = setup();
    const { key } = await issue(overridesAt(clock.now()));

    // Act
    const result = authorize(bearer(key));

    // Assess
    await expect(result).rejects.toThrow(UNAUTHORIZED);
  });

  it('accepts the previous secret of a rotated key within the grace period only', async () => {
    // Prepare
    const { authorize, issue, keys, clock } = setup();
    const { key: oldKey, record } = await issue();
    await authorize(bearer(oldKey)); // the verifier now holds the record from before the rotation
    const { key: newKey } = generateKey(record.keyId);
    const graceMs = 60_000;
    await keys.rotateKey(record.keyId, {
      expectedSecretHash: record.secretHash,
      secretHash: hashKey(PEPPER, newKey),
      previousValidUntil: clock.now() + graceMs,
      rotatedAt: clock.now(),
    });
    clock.advance(2_000);

    // Act
    const newWithinGrace = await authorize(bearer(newKey));
    const oldWithinGrace = await authorize(bearer(oldKey));
    clock.advance(graceMs);
    const newAfterGrace = await authorize(bearer(newKey));
    const oldAfterGrace = authorize(bearer(oldKey));

    // Assess
    expect(newWithinGrace.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(oldWithinGrace.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(newAfterGrace.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    await expect(oldAfterGrace).rejects.toThrow(UNAUTHORIZED);
  });
});

describe('authorizer: forbidden callers get a Deny (403)', () => {
  it.each([
    ['an IPv4 address outside the allowlist', 'Deny', ['10.0.0.0/8'], '203.0.113.7'],
    ['an IPv4 address inside the allowlist', 'Allow', ['10.0.0.0/8'], '10.1.2.3'],
    ['an IPv6 address outside the allowlist', 'Deny', ['2001:db8::/32'], '2001:db9::1'],
    ['an IPv6 address inside the allowlist', 'Allow', ['2001:db8::/32'], '2001:db8::5'],
  ])('gives %s: %s', async (_case, effect, cidrs, sourceIp) => {
    // Prepare
    const { authorize, issue } = setup();
    const { key, record } = await issue({ cidrs });

    // Act
    const result = await authorize(bearer(key, sourceIp));

    // Assess
    expect(result.principalId).toBe(record.keyId);
    expect(result.policyDocument.Statement).toEqual([
      { Action: 'execute-api:Invoke', Effect: effect, Resource: STAGE_WILDCARD },
    ]);
    if (effect === 'Deny') expect(result).toEqual(denied(record.keyId, 'ip_not_allowed'));
  });

  it('denies a key of a suspended tenant', async () => {
    // Prepare
    const { authorize, issue } = setup({ tenants: [tenant({ status: TenantStatus.suspended })] });
    const { key, record } = await issue();

    // Act
    const result = await authorize(bearer(key));

    // Assess
    expect(result).toEqual(denied(record.keyId, 'tenant_suspended'));
  });

  it('denies, and logs an error, when the tenant has no usage-plan API key', async () => {
    // Prepare
    const { authorize, issue, logger } = setup({ tenants: [tenant({ usagePlanKeyValue: undefined })] });
    const { key, record } = await issue();

    // Act
    const result = await authorize(bearer(key));

    // Assess
    expect(result).toEqual(denied(record.keyId, 'usage_plan_key_missing'));
    expect(result.usageIdentifierKey).toBeUndefined();
    expect(logger.lines).toContainEqual({
      level: 'error',
      message: 'tenant has no usage-plan API key',
      fields: { tenantId: 'acme', keyId: record.keyId },
    });
  });
});

describe('authorizer: failures answer 500', () => {
  const failingStore: KeyStore = {
    getKey: async () => {
      throw new Error('DynamoDB is unavailable');
    },
    getTenant: async () => undefined,
  };

  it.each<[string, Parameters<typeof setup>[0], string]>([
    ['the key store fails', { store: failingStore }, 'DynamoDB is unavailable'],
    ['the tenant tier is not configured', { tenants: [tenant({ tier: 'gold' })] }, 'not configured'],
    ['the pepper secret is missing', { pepper: null }, 'secret gateway-key-pepper is not set'],
  ])('throws an error other than Unauthorized, and logs it, when %s', async (_case, options, logged) => {
    // Prepare
    const { authorize, issue, logger } = setup(options);
    const { key } = await issue();

    // Act
    const result = authorize(bearer(key));

    // Assess
    await expect(result).rejects.toThrow(AUTHORIZER_FAILED);
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'authorizer failed',
        fields: expect.objectContaining({
          error: expect.objectContaining({ message: expect.stringContaining(logged) }),
        }),
      },
    ]);
  });

  it('throws an error other than Unauthorized for a methodArn that is not an execute-api ARN', async () => {
    // Prepare
    const { authorize, issue } = setup();
    const { key } = await issue();

    // Act
    const result = authorize(
      authorizerEvent({ headers: { Authorization: `Bearer ${key}` }, methodArn: 'nope' }),
    );

    // Assess
    await expect(result).rejects.toThrow(AUTHORIZER_FAILED);
  });
});

describe('stageWildcardOf', () => {
  it.each([
    [METHOD_ARN, STAGE_WILDCARD],
    [
      'arn:aws-cn:execute-api:cn-north-1:123456789012:xyz789/prod/GET/',
      'arn:aws-cn:execute-api:cn-north-1:123456789012:xyz789/prod/*/*',
    ],
  ])('turns %s into %s', (methodArn, wildcard) => {
    // Act
    const result = stageWildcardOf(methodArn);

    // Assess
    expect(result).toBe(wildcard);
  });
});
