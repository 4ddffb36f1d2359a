// Budgets under concurrency, through the real local server: against the in-memory twins and a DynamoDB API server.
import OpenAI from 'openai';
import {
  createGatewayTables,
  DynamoBudgetStore,
  DynamoKeyStore,
  DynamoUsageLedger,
} from '../../lambda/adapters/dynamodb/index.ts';
import {
  MemoryBudgetStore,
  MemoryDatabase,
  MemoryKeyStore,
  MemoryLogger,
  MemoryMetrics,
  MemoryOwnershipStore,
  MemorySecretSource,
  MemoryUsageLedger,
} from '../../lambda/adapters/memory/index.ts';
import { systemClock } from '../../lambda/adapters/system/clock.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createGateway } from '../../lambda/core/gateway.ts';
import { displayPrefixOf, hashKey, keyIdOf } from '../../lambda/core/keys.ts';
import { billingMonthOf } from '../../lambda/core/pricing.ts';
import {
  type BudgetStore,
  type KeyAdminStore,
  OwnedKind,
  type OwnershipStore,
  type UsageLedger,
} from '../../lambda/ports.ts';
import { type FakeUpstream, sleep, startFakeUpstream } from '../fixtures/fake-upstream.ts';
import { listenLocally, testTokenCounter } from '../fixtures/gateway-harness.ts';
import { dynamoClientFor, type MotoServer, startMotoServer } from '../fixtures/moto-server.ts';
import { PEPPER_SECRET, TEST_PEPPER, testKey } from '../fixtures/tenants.ts';

// Prices: 1 µUSD per input token, 2 per output token. A request of 'hi' with max_tokens 100 holds
// ceil((1 + 4 + 3) × 1.10) = 9 input tokens + 100 output tokens = 209 µUSD; the upstream then reports
// 8 + 100 tokens = 208 µUSD. A budget of 50 × 209 fits exactly 50 holds, and after n requests settle a
// new hold needs 208 n + 209 ≤ 10,450, so at most 50 are ever admitted.
const HOLD = 209;
const COST = 208;
const BUDGET = 50 * HOLD;
const KEY = testKey('budget-tenant');

interface Stores {
  readonly keys: KeyAdminStore;
  readonly budgets: BudgetStore;
  readonly ledger: UsageLedger;
}

const config = (upstream: FakeUpstream) =>
  parseGatewayConfig({
    routes: [
      {
        model: 'gpt-test',
        targets: [{ id: 'only', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
      },
    ],
    tiers: { default: { monthlyBudgetUsd: BUDGET / 1e6 } },
    prices: { 'gpt-test': { input: 1, output: 2 } },
  });

const serve = async (
  stores: Stores,
  upstream: FakeUpstream,
  tenantId: string,
  ownership?: OwnershipStore,
) => {
  await stores.keys.createTenant({
    tenantId,
    name: tenantId,
    tier: 'default',
    status: 'active',
    createdAt: 0,
  });
  await stores.keys.createKey({
    keyId: `${keyIdOf(KEY)}`,
    tenantId,
    displayPrefix: displayPrefixOf(KEY),
    secretHash: hashKey(TEST_PEPPER, KEY),
    status: 'active',
    createdAt: 0,
  });
  const logger = new MemoryLogger();
  const nodeUpstream = createNodeHttpUpstream();
  const gateway = createGateway({
    config: config(upstream),
    ...stores,
    tokens: testTokenCounter(),
    secrets: new MemorySecretSource(new Map([[PEPPER_SECRET, TEST_PEPPER]])),
    upstream: nodeUpstream,
    metrics: new MemoryMetrics(),
    logger,
    clock: systemClock,
    ownership,
  });
  const { server, origin } = await listenLocally(gateway);
  return {
    origin,
    gateway,
    logger,
    async close() {
      server.closeAllConnections();
      server.close();
      nodeUpstream.close();
    },
  };
};

let upstream: FakeUpstream;
beforeAll(async () => {
  await testTokenCounter().ready();
  upstream = await startFakeUpstream(async (_request, response) => {
    await sleep(20); // long enough for the 200 requests to overlap
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-test',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'length' }],
        usage: { prompt_tokens: 8, completion_tokens: 100, total_tokens: 108 },
      }),
    );
  });
});
afterAll(async () => {
  await upstream.close();
});

let moto: MotoServer | undefined;
afterAll(async () => {
  await moto?.stop();
});

const backends: Array<[string, () => Promise<Stores>]> = [
  [
    'in-memory twins',
    async () => {
      const db = new MemoryDatabase();
      return {
        keys: new MemoryKeyStore(db),
        budgets: new MemoryBudgetStore(db),
        ledger: new MemoryUsageLedger(db),
      };
    },
  ],
  [
    'DynamoDB (moto server)',
    async () => {
      moto ??= await startMotoServer();
      const client = dynamoClientFor(moto.endpoint);
      const suffix = Math.random().toString(36).slice(2, 8);
      const tables = { keys: `keys-${suffix}`, usage: `usage-${suffix}`, budgets: `budgets-${suffix}` };
      await createGatewayTables(client, tables);
      return {
        keys: new DynamoKeyStore(client, tables),
        budgets: new DynamoBudgetStore(client, tables),
        ledger: new DynamoUsageLedger(client, tables),
      };
    },
  ],
];

describe.each(backends)('budget under concurrency: %s', (_name, makeStores) => {
  it('admits no more than the budget holds across 200 parallel requests, and meters every request', async () => {
    // Prepare
    const stores = await makeStores();
    const tenantId = `tenant-${Math.random().toString(36).slice(2, 8)}`;
    const served = await serve(stores, upstream, tenantId);
    const body = JSON.stringify({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 100,
    });

    try {
      // Act
      const responses = await Promise.all(
        Array.from({ length: 200 }, async () => {
          const response = await fetch(`${served.origin}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
            body,
          });
          return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
        }),
      );
      await served.gateway.drain();

      // Assess
      const admitted = responses.filter((r) => r.status === 200).length;
      const refused = responses.filter(
        (r) => r.status === 429 && r.body.error?.code === 'insufficient_quota',
      );
      expect(admitted).toBe(50);
      expect(refused.length).toBe(150);
      const month = billingMonthOf(Date.now());
      const budget = await stores.budgets.budget(tenantId, month);
      expect(budget.spentMicroUsd).toBe(admitted * COST);
      expect(budget.spentMicroUsd).toBeLessThanOrEqual(BUDGET);
      expect(budget.committedMicroUsd).toBe(budget.spentMicroUsd); // every hold released
      const usage = await stores.ledger.monthlyUsage(tenantId, month);
      expect(usage.total).toMatchObject({
        requests: 200, // refused requests are recorded too, at no cost
        inputTokens: admitted * 8,
        outputTokens: admitted * 100,
        costMicroUsd: admitted * COST,
        estimatedRequests: 0,
      });
      expect(usage.byModel.get('gpt-test')?.costMicroUsd).toBe(admitted * COST);
    } finally {
      await served.close();
    }
  }, 60_000);
});

describe('budget refusal', () => {
  it('is a 429 insufficient_quota that names the budget and when it resets, and the SDK reads it', async () => {
    // Prepare: a tenant whose budget is already spent
    const db = new MemoryDatabase();
    const stores = {
      keys: new MemoryKeyStore(db),
      budgets: new MemoryBudgetStore(db),
      ledger: new MemoryUsageLedger(db),
    };
    const served = await serve(stores, upstream, 'tenant-spent');
    const month = billingMonthOf(Date.now());
    db.budgets.set(`tenant-spent#${month}`, { spentMicroUsd: BUDGET - 100, committedMicroUsd: BUDGET - 100 });
    const client = new OpenAI({ apiKey: KEY, baseURL: `${served.origin}/v1`, maxRetries: 0 });
    const before = upstream.requests.length;

    try {
      // Act
      const error = await client.chat.completions
        .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 })
        .catch((caught: unknown) => caught);

      // Assess
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
      expect(rateLimited.code).toBe('insufficient_quota');
      expect(rateLimited.type).toBe('insufficient_quota');
      const [year, monthNumber] = month.split('-').map(Number) as [number, number];
      const resetAt = new Date(Date.UTC(year, monthNumber, 1)).toISOString();
      expect(rateLimited.message).toContain(
        `Tenant 'tenant-spent' has reached its monthly budget of $0.01045 for ${month} ($0.01035 spent or held by requests in flight; this request may cost up to $0.000209 for model 'gpt-test'). The budget resets at ${resetAt}.`,
      );
      expect(upstream.requests.length).toBe(before);
    } finally {
      await served.close();
    }
  });
});

describe('budget holds on endpoints without a token estimate', () => {
  // Prices of the image model: 1 µUSD per input token, 10 per output token, at most 1,000 output tokens.
  const imageConfig = (target: FakeUpstream) =>
    parseGatewayConfig({
      routes: [
        {
          model: 'image-test',
          targets: [{ id: 'img', provider: 'openai-compatible', baseUrl: target.baseUrl }],
        },
      ],
      tiers: { default: { monthlyBudgetUsd: 0.05 } },
      prices: { 'image-test': { input: 1, output: 10, maxOutputTokens: 1_000 } },
    });

  it.each([
    ['images', '/v1/images/generations'],
    ['audio', '/v1/audio/transcriptions'],
  ] as const)(
    '%s: a request whose worst case does not fit is refused before it goes upstream',
    async (_name, path) => {
      // Prepare: a budget of $0.05 with $0.04 spent; an image or a transcription may cost up to 10,000 µUSD
      // of output alone (1,000 tokens × 10 µUSD), so it does not fit in the 10,000 µUSD left with its input.
      const db = new MemoryDatabase();
      const stores = {
        keys: new MemoryKeyStore(db),
        budgets: new MemoryBudgetStore(db),
        ledger: new MemoryUsageLedger(db),
      };
      await stores.keys.createTenant({
        tenantId: 'tenant-images',
        name: 'images',
        tier: 'default',
        status: 'active',
        createdAt: 0,
      });
      await stores.keys.createKey({
        keyId: `${keyIdOf(KEY)}`,
        tenantId: 'tenant-images',
        displayPrefix: displayPrefixOf(KEY),
        secretHash: hashKey(TEST_PEPPER, KEY),
        status: 'active',
        createdAt: 0,
      });
      const month = billingMonthOf(Date.now());
      db.budgets.set(`tenant-images#${month}`, { spentMicroUsd: 40_000, committedMicroUsd: 40_000 });
      const nodeUpstream = createNodeHttpUpstream();
      const gateway = createGateway({
        config: imageConfig(upstream),
        ...stores,
        tokens: testTokenCounter(),
        secrets: new MemorySecretSource(new Map([[PEPPER_SECRET, TEST_PEPPER]])),
        upstream: nodeUpstream,
        metrics: new MemoryMetrics(),
        logger: new MemoryLogger(),
        clock: systemClock,
      });
      const { server, origin } = await listenLocally(gateway);
      const before = upstream.requests.length;
      try {
        // Act
        const body =
          path === '/v1/images/generations'
            ? new Blob([JSON.stringify({ model: 'image-test', prompt: 'a lighthouse' })], {
                type: 'application/json',
              })
            : (() => {
                const form = new FormData();
                form.append('model', 'image-test');
                form.append('file', new Blob([new Uint8Array(64)]), 'a.mp3');
                return form;
              })();
        const response = await fetch(`${origin}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${KEY}`,
            ...(body instanceof Blob ? { 'content-type': 'application/json' } : {}),
          },
          body,
        });

        // Assess
        expect(response.status).toBe(429);
        const error = ((await response.json()) as { error: { code: string; message: string } }).error;
        expect(error.code).toBe('insufficient_quota');
        expect(error.message).toContain("for model 'image-test'");
        expect(upstream.requests.length).toBe(before);
        expect(await stores.budgets.budget('tenant-images', month)).toEqual({
          spentMicroUsd: 40_000,
          committedMicroUsd: 40_000,
        });
      } finally {
        server.closeAllConnections();
        server.close();
        nodeUpstream.close();
      }
    },
  );
});

describe('budget holds for what a request does not show', () => {
  // The budget of 10,450 µUSD fits a small request, not a 128,000-token context or a 48,169-token image.
  const attempt = async (path: string, body: unknown) => {
    const db = new MemoryDatabase();
    const stores = {
      keys: new MemoryKeyStore(db),
      budgets: new MemoryBudgetStore(db),
      ledger: new MemoryUsageLedger(db),
    };
    // The stored response a request continues is the tenant's own.
    const ownership = new MemoryOwnershipStore(db);
    await ownership.create({
      kind: OwnedKind.response,
      id: 'resp_1',
      tenantId: 'tenant-unseen',
      keyId: keyIdOf(KEY)!,
      targetId: 'only',
      createdAt: 0,
      version: 1,
      object: { id: 'resp_1' },
    });
    const served = await serve(stores, upstream, 'tenant-unseen', ownership);
    try {
      const response = await fetch(`${served.origin}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await response.text();
      return response.status;
    } finally {
      await served.close();
    }
  };

  it.each([
    [
      'a Responses request continuing a stored response holds the model’s context window',
      '/v1/responses',
      { model: 'gpt-test', input: 'and then?', previous_response_id: 'resp_1', max_output_tokens: 10 },
      { model: 'gpt-test', input: 'and then?', max_output_tokens: 10 },
    ],
    [
      'an image input holds the dearest model’s worst case for an image',
      '/v1/chat/completions',
      {
        model: 'gpt-test',
        max_tokens: 10,
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }],
      },
      { model: 'gpt-test', max_tokens: 10, messages: [{ role: 'user', content: 'a picture' }] },
    ],
  ])('%s', async (_name, path, unseen, plain) => {
    expect(await attempt(path, unseen)).toBe(429);
    expect(await attempt(path, plain)).toBe(200);
  });
});
