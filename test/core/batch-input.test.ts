// A batch input file as the gateway reads it at upload: what leaves for the upstream (models renamed, Azure's
// paths, the tier's output cap set), what a batch of it holds (the sum of the lines' holds), and the refusals of
// the file as a whole. The refusals of single lines run end to end in test/e2e/batches.test.ts.
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
import { checkBatchInput, MAX_BATCH_LINES } from '../../lambda/core/batch-input.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createContext } from '../../lambda/core/context.ts';
import { PROXIED_ENDPOINTS } from '../../lambda/core/endpoints/catalogue.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import { NO_RECORDS } from '../../lambda/core/owned-ids.ts';
import { priceFor } from '../../lambda/core/pricing.ts';
import { holdTokens } from '../../lambda/core/stages/budget.ts';
import { newRequestState } from '../../lambda/core/state.ts';
import type { Principal, Upstream } from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { testTokenCounter } from '../fixtures/gateway-harness.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PRINCIPAL: Principal = { tenantId: 'acme', keyId: 'k', tier: 'capped' };

const context = () => {
  const config = parseGatewayConfig({
    routes: [
      {
        model: 'gpt-4o',
        targets: [
          { id: 'compat', provider: 'openai-compatible', baseUrl: 'http://compat.test/v1' },
          {
            id: 'azure',
            provider: 'azure-openai',
            baseUrl: 'https://acme.openai.azure.com',
            apiVersion: '2024-10-21',
            model: 'gpt-4o-batch-deployment',
          },
        ],
      },
      {
        model: 'gpt-4o-mini',
        targets: [{ id: 'openai', provider: 'openai', baseUrl: 'http://openai.test/v1' }],
      },
      {
        model: 'local-llama',
        targets: [{ id: 'vllm', provider: 'openai-compatible', baseUrl: 'http://vllm.test/v1' }],
      },
    ],
    prices: { 'gpt-4o': { input: 2.5, output: 10, maxOutputTokens: 16_384 } },
    tiers: { capped: { maxOutputTokens: 200 } },
  });
  const db = new MemoryDatabase();
  const refuseAll: Upstream = {
    send: async () => {
      throw new Error('nothing goes upstream while a file is checked');
    },
  };
  const g = createContext({
    config,
    keys: new MemoryKeyStore(db),
    budgets: new MemoryBudgetStore(db),
    tokens: testTokenCounter(),
    ownership: new MemoryOwnershipStore(db),
    secrets: new MemorySecretSource(new Map()),
    upstream: refuseAll,
    ledger: new MemoryUsageLedger(db),
    metrics: new MemoryMetrics(),
    logger: new MemoryLogger(),
    clock: new FakeClock(Date.parse('2026-12-06T10:00:00Z')),
  });
  return { g, state: newRequestState('req-1', 0, 'POST', '/v1/files') };
};

const line = (id: string, body: Record<string, unknown>, url = '/v1/chat/completions') =>
  JSON.stringify({ custom_id: id, method: 'POST', url, body });
const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content }],
  ...extra,
});

const refusal = async (promise: Promise<unknown>) => {
  const thrown = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(GatewayError);
  return thrown as GatewayError;
};

describe('checkBatchInput', () => {
  it('sends an Azure target its deployment and paths without /v1, with the tier cap set, and sums the lines holds', async () => {
    // Prepare: the route's first target cannot run batches; CRLF line ends, no final line break
    const { g, state } = context();
    const bodies = [chat('Summarise the report', { max_tokens: 120 }), chat('Classify this ticket')];
    const file = encoder.encode(`${line('a', bodies[0]!)}\r\n${line('b', bodies[1]!)}`);

    // Act
    const checked = await checkBatchInput(g, state, PRINCIPAL, file);

    // Assess
    expect(checked.target.id).toBe('azure');
    const sent = decoder
      .decode(checked.content)
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as { custom_id: string; url: string; body: Record<string, unknown> });
    expect(sent.map((l) => [l.custom_id, l.url, l.body.model])).toEqual([
      ['a', '/chat/completions', 'gpt-4o-batch-deployment'],
      ['b', '/chat/completions', 'gpt-4o-batch-deployment'],
    ]);
    // The tier's cap of 200 holds for a line that asked for no limit.
    expect(sent[1]!.body.max_tokens ?? sent[1]!.body.max_completion_tokens).toBe(200);
    const endpoint = PROXIED_ENDPOINTS.get('/v1/chat/completions')!;
    const price = priceFor('gpt-4o', g.config.prices);
    const holds = sent.map((l) =>
      holdTokens(g, endpoint.tokens, { ...l.body, model: 'gpt-4o' }, encoder.encode('{}'), price, NO_RECORDS),
    );
    expect(checked.input).toEqual({
      endpoint: '/v1/chat/completions',
      model: 'gpt-4o',
      upstreamModel: 'gpt-4o-batch-deployment',
      lines: 2,
      inputTokens: holds[0]!.input + holds[1]!.input,
      outputTokens: 120 + 200,
    });
  });

  it('keeps an OpenAI target its /v1 paths and, without a target model, the client model', async () => {
    // Prepare
    const { g, state } = context();
    const file = encoder.encode(
      `${line('e', { model: 'gpt-4o-mini', input: ['one', 'two'] }, '/v1/embeddings')}\n`,
    );

    // Act
    const checked = await checkBatchInput(g, state, PRINCIPAL, file);

    // Assess
    expect(checked.target.id).toBe('openai');
    expect(JSON.parse(decoder.decode(checked.content))).toEqual({
      custom_id: 'e',
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'gpt-4o-mini', input: ['one', 'two'] },
    });
    expect(checked.input).toMatchObject({ lines: 1, outputTokens: 0 });
  });

  it('refuses a model routed only where batches do not run', async () => {
    // Prepare
    const { g, state } = context();

    // Act
    const error = await refusal(
      checkBatchInput(
        g,
        state,
        PRINCIPAL,
        encoder.encode(line('x', { ...chat('hi'), model: 'local-llama' })),
      ),
    );

    // Assess
    expect(error).toMatchObject({ status: 400, param: 'file', code: 'unsupported_model' });
    expect(error.message).toContain('Line 1 (custom_id "x")');
  });

  it('refuses a line over the tier output cap, naming it', async () => {
    // Prepare
    const { g, state } = context();
    const file = encoder.encode(
      `${line('ok', chat('hi'))}\n${line('big', chat('hi', { max_tokens: 5_000 }))}\n`,
    );

    // Act
    const error = await refusal(checkBatchInput(g, state, PRINCIPAL, file));

    // Assess
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/^Line 2 \(custom_id "big"\) of the batch input file: .*max_tokens/);
  });

  it.each([
    ['an empty file', '', /no lines/],
    ['an empty line', `${line('a', chat('hi'))}\n\n${line('b', chat('hi'))}\n`, /Line 2/],
    [
      'a line that is an array',
      `${line('a', chat('hi'))}\n[1, 2]\n`,
      /Line 2 of the batch input file: it is not a JSON object/,
    ],
  ])('refuses %s', async (_what, text, why) => {
    // Prepare
    const { g, state } = context();

    // Act
    const error = await refusal(checkBatchInput(g, state, PRINCIPAL, encoder.encode(text)));

    // Assess
    expect(error.status).toBe(400);
    expect(error.param).toBe('file');
    expect(error.message).toMatch(why);
  });

  it('refuses bytes that are not UTF-8, and more lines than a batch holds, before reading any line', async () => {
    // Prepare
    const { g, state } = context();
    const tooMany = encoder.encode('x\n'.repeat(MAX_BATCH_LINES + 1));

    // Act
    const notText = await refusal(checkBatchInput(g, state, PRINCIPAL, new Uint8Array([0xff, 0xfe, 0x0a])));
    const overLimit = await refusal(checkBatchInput(g, state, PRINCIPAL, tooMany));

    // Assess
    expect(notText).toMatchObject({ status: 400, code: 'invalid_batch_file' });
    expect(notText.message).toContain('UTF-8');
    expect(overLimit).toMatchObject({ status: 400, code: 'invalid_batch_file' });
    expect(overLimit.message).toContain(`${MAX_BATCH_LINES + 1} lines`);
  });
});
