// Cache policy: canonical keys, request directives, and which requests the cache may answer.
import { cacheKey, canonicalJson, parseCacheControl, planCache } from '../../lambda/core/cache-policy.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { PROXIED_ENDPOINTS } from '../../lambda/core/endpoints/catalogue.ts';
import { headersOf } from '../../lambda/core/exchange.ts';

const config = parseGatewayConfig({
  routes: [
    { model: 'gpt-test', targets: [{ id: 't', provider: 'openai', baseUrl: 'https://api.openai.com/v1' }] },
  ],
  tiers: { default: {}, always: { cache: 'always' }, off: { cache: 'off' } },
});
const route = config.routes[0]!;
const chat = PROXIED_ENDPOINTS.get('/v1/chat/completions')!;
const plan = (body: Record<string, unknown>, headers: Record<string, string> = {}, tier = 'default') =>
  planCache({
    tenantId: 'acme',
    endpointPath: '/v1/chat/completions',
    endpoint: chat,
    route,
    tier: config.tiers[tier],
    body,
    headers: headersOf(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))),
    config: config.cache,
  });
const seeded = { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], seed: 1 };

describe('canonicalJson', () => {
  it.each([
    [{ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } }, '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}'],
    [{ a: undefined, b: 'x' }, '{"b":"x"}'],
    [[1, 'two', true], '[1,"two",true]'],
  ])('writes %j as %s', (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });
});

describe('cacheKey', () => {
  it('starts with the tenant and the version, and ignores key order and delivery fields', () => {
    const a = cacheKey('acme', 3, '/v1/chat/completions', route, { ...seeded, stream: true, user: 'u1' });
    const b = cacheKey('acme', 3, '/v1/chat/completions', route, {
      seed: 1,
      messages: seeded.messages,
      model: 'gpt-test',
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^acme:v3:[0-9a-f]{64}$/);
    const other = cacheKey('other', 3, '/v1/chat/completions', route, seeded);
    expect(other).not.toBe(a);
    expect(other.startsWith('other:v3:')).toBe(true);
  });

  const keyOf = (body: Record<string, unknown>) => cacheKey('acme', 1, '/v1/chat/completions', route, body);

  it.each<[string, Record<string, unknown>]>([
    ['stream_options', { stream: true, stream_options: { include_usage: true } }],
    ['stream_options without stream', { stream_options: { include_usage: false } }],
    ['metadata', { metadata: { trace: 'x', team: 'search' } }],
    ['a user', { user: 'someone' }],
  ])('ignores %s', (_case, extra) => {
    expect(keyOf({ ...seeded, ...extra })).toBe(keyOf(seeded));
  });

  it.each<[string, Record<string, unknown>]>([
    ['temperature', { temperature: 0.5 }],
    ['seed', { seed: 2 }],
    ['model', { model: 'gpt-other' }],
    ['max_tokens', { max_tokens: 10 }],
  ])('changes with %s (the seed set)', (_case, change) => {
    expect(keyOf({ ...seeded, temperature: 0, ...change })).not.toBe(keyOf({ ...seeded, temperature: 0 }));
  });

  it('changes with the response content rules (their fingerprint), and not without any', () => {
    const plain = cacheKey('acme', 1, '/v1/chat/completions', route, seeded);
    expect(cacheKey('acme', 1, '/v1/chat/completions', route, seeded, '')).toBe(plain);
    const filtered = cacheKey('acme', 1, '/v1/chat/completions', route, seeded, 'f1');
    expect(filtered).not.toBe(plain);
    expect(cacheKey('acme', 1, '/v1/chat/completions', route, seeded, 'f2')).not.toBe(filtered);
    expect(filtered.startsWith('acme:v1:')).toBe(true);
  });
});

describe('parseCacheControl', () => {
  it.each([
    ['no-cache', { noCache: true, noStore: false, maxAge: undefined }],
    ['No-Store', { noCache: false, noStore: true, maxAge: undefined }],
    ['max-age=60, no-cache', { noCache: true, noStore: false, maxAge: 60 }],
    ['max-age=abc', { noCache: false, noStore: false, maxAge: undefined }],
    ['', { noCache: false, noStore: false, maxAge: undefined }],
  ])('reads %j', (header, expected) => {
    expect(parseCacheControl(header)).toEqual(expected);
  });
});

describe('planCache', () => {
  it.each([
    ['a seeded greedy request', seeded, {}, 'default', { read: true, write: true, ttlSeconds: 3_600 }],
    ['temperature 0 with a seed', { ...seeded, temperature: 0 }, {}, 'default', { read: true, write: true }],
    ['no-cache: refresh', seeded, { 'cache-control': 'no-cache' }, 'default', { read: false, write: true }],
    [
      'max-age=0: refresh, stored for the default TTL',
      seeded,
      { 'cache-control': 'max-age=0' },
      'default',
      { read: false, write: true, ttlSeconds: 3_600 },
    ],
    ['max-age=60', seeded, { 'cache-control': 'max-age=60' }, 'default', { read: true, ttlSeconds: 60 }],
    ['a streamed chat request', { ...seeded, stream: true }, {}, 'default', { read: true, write: true }],
    [
      'max-age over the cap',
      seeded,
      { 'cache-control': 'max-age=999999' },
      'default',
      { ttlSeconds: 86_400 },
    ],
    [
      'an opt-in header',
      { ...seeded, temperature: 1 },
      { 'x-gateway-cache': 'on' },
      'default',
      { read: true },
    ],
    ['a tier that caches always', { model: 'gpt-test', messages: [] }, {}, 'always', { read: true }],
  ])('plans %s', (_case, body, headers, tier, expected) => {
    expect(plan(body, headers, tier)).toMatchObject(expected);
  });

  it.each([
    ['an unseeded request', { model: 'gpt-test', messages: [] }, {}, 'default'],
    ['a sampled request', { ...seeded, temperature: 0.5 }, {}, 'default'],
    ['no-store', seeded, { 'cache-control': 'no-store' }, 'default'],
    ['a request with seed: null', { ...seeded, seed: null }, {}, 'default'],
    ['seed: null at temperature 0', { ...seeded, seed: null, temperature: 0 }, {}, 'default'],
    ['an opt-out header', seeded, { 'x-gateway-cache': 'off' }, 'default'],
    ['a tier with the cache off', seeded, {}, 'off'],
  ])('bypasses %s', (_case, body, headers, tier) => {
    expect(plan(body, headers, tier)).toBeUndefined();
  });

  it('bypasses Responses streams and endpoints priced by other units', () => {
    const base = {
      tenantId: 'acme',
      route,
      tier: config.tiers.default,
      headers: headersOf({}),
      config: config.cache,
    };
    const responses = PROXIED_ENDPOINTS.get('/v1/responses')!;
    const speech = PROXIED_ENDPOINTS.get('/v1/audio/speech')!;
    expect(
      planCache({
        ...base,
        endpointPath: '/v1/responses',
        endpoint: responses,
        body: { ...seeded, stream: true },
      }),
    ).toBeUndefined();
    expect(
      planCache({ ...base, endpointPath: '/v1/responses', endpoint: responses, body: seeded }),
    ).toBeDefined();
    expect(
      planCache({ ...base, endpointPath: '/v1/audio/speech', endpoint: speech, body: seeded }),
    ).toBeUndefined();
  });

  const planFor = (path: string, body: Record<string, unknown>) =>
    planCache({
      tenantId: 'acme',
      endpointPath: path,
      endpoint: PROXIED_ENDPOINTS.get(path)!,
      route,
      tier: config.tiers.default,
      body,
      headers: headersOf({}),
      config: config.cache,
    });

  it('plans streamed requests only where an entry can be replayed as SSE: chat and completions', () => {
    const embedding = { model: 'gpt-test', input: 'hello' };
    expect(planFor('/v1/embeddings', { ...embedding, stream: true })).toBeUndefined();
    expect(planFor('/v1/embeddings', embedding)).toBeDefined();
    expect(planFor('/v1/completions', { ...seeded, prompt: 'hi', stream: true })).toBeDefined();
    expect(planFor('/v1/chat/completions', { ...seeded, stream: true })).toBeDefined();
  });

  it('bypasses a background Responses request: its reply is a queued job, not the answer', () => {
    const request = { model: 'gpt-test', input: 'hi', seed: 1 };
    expect(planFor('/v1/responses', { ...request, background: true })).toBeUndefined();
    expect(planFor('/v1/responses', { ...request, background: false })).toBeDefined();
  });
});
