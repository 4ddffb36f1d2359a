// Bad input gets a clear OpenAI-shaped error and reaches no upstream.
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import type { Upstream, UpstreamRequest } from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { memoryGateway } from '../fixtures/gateway-harness.ts';
import { testKey } from '../fixtures/tenants.ts';

const KEY = testKey('unit-key');
const sent: UpstreamRequest[] = [];
const upstream: Upstream = {
  async send(request) {
    sent.push(request);
    return { status: 200, headers: { 'content-type': 'application/json' }, body: new Response('{}').body! };
  },
};
const { gateway, logger } = memoryGateway(
  parseGatewayConfig({
    routes: [
      {
        model: 'gpt-test',
        targets: [{ id: 't', provider: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' }],
      },
    ],
    limits: { maxBodyBytes: 1024 },
  }),
  {
    upstream,
    key: [KEY, { tenantId: 'a' }],
    clock: new FakeClock(),
    newRequestId: () => 'req-fixed',
  },
);

const call = (
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
) =>
  gateway.handle(
    new Request(`https://gw.example${path}`, {
      method: init.method ?? 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...init.headers },
      body: init.body,
    }),
  );

const chatBody = JSON.stringify({ model: 'gpt-test', messages: [] });

beforeEach(() => {
  sent.length = 0;
});

describe('bad input', () => {
  it.each([
    [
      'malformed JSON',
      '/v1/chat/completions',
      { body: '{"model": ' },
      400,
      null,
      /^We could not parse the JSON body of your request: .+\. Send a JSON object\.$/,
    ],
    [
      'a JSON array body',
      '/v1/chat/completions',
      { body: '[1]' },
      400,
      null,
      /^The request body must be a JSON object\.$/,
    ],
    [
      'no model',
      '/v1/chat/completions',
      { body: '{"messages":[]}' },
      400,
      null,
      /^You must provide a model parameter\.$/,
    ],
    [
      'a model that is not a string',
      '/v1/chat/completions',
      { body: '{"model":42}' },
      400,
      null,
      /^'model' must be a string, got: 42\.$/,
    ],
    [
      'an unknown model',
      '/v1/chat/completions',
      { body: '{"model":"nope"}' },
      404,
      'model_not_found',
      /^The model 'nope' does not exist or you do not have access to it\.$/,
    ],
    [
      'a non-boolean stream flag',
      '/v1/chat/completions',
      { body: '{"model":"gpt-test","stream":"yes"}' },
      400,
      null,
      /^'stream' must be a boolean, got: "yes"\.$/,
    ],
    [
      'a wrong content type',
      '/v1/chat/completions',
      { body: chatBody, headers: { 'content-type': 'text/plain' } },
      415,
      'unsupported_media_type',
      /^Unsupported content type "text\/plain": this endpoint expects application\/json\.$/,
    ],
    [
      'no content type',
      '/v1/embeddings',
      { body: chatBody, headers: { 'content-type': '' } },
      415,
      'unsupported_media_type',
      /expects application\/json/,
    ],
    [
      'JSON sent to the multipart endpoint',
      '/v1/audio/transcriptions',
      { body: chatBody },
      415,
      'unsupported_media_type',
      /expects multipart\/form-data/,
    ],
    [
      'a body over the limit',
      '/v1/chat/completions',
      { body: JSON.stringify({ model: 'gpt-test', pad: 'x'.repeat(2000) }) },
      413,
      'request_too_large',
      /^Request body is larger than the limit of 1024 bytes\.$/,
    ],
    [
      'an unknown path',
      '/v1/unknown',
      { body: chatBody },
      404,
      'unknown_url',
      /^Unknown request URL: POST \/v1\/unknown\./,
    ],
    [
      'a path outside /v1',
      '/chat/completions',
      { body: chatBody },
      404,
      'unknown_url',
      /^Unknown request URL/,
    ],
    [
      'the wrong method',
      '/v1/chat/completions',
      { method: 'GET' },
      405,
      'method_not_allowed',
      /^Method GET is not allowed on \/v1\/chat\/completions\. Allowed: POST\.$/,
    ],
    [
      'no key',
      '/v1/chat/completions',
      { body: chatBody, headers: { authorization: '' } },
      401,
      'invalid_api_key',
      /^You didn't provide an API key\./,
    ],
    [
      'a wrong key',
      '/v1/chat/completions',
      { body: chatBody, headers: { authorization: 'Bearer sk-gw-wrong-key-123' } },
      401,
      'invalid_api_key',
      /^Incorrect API key provided: sk-gw-\*\*\*\*-123\.$/,
    ],
  ])('refuses %s', async (_name, path, init, status, code, message) => {
    // Act
    const response = await call(path, init);
    const body = (await response.json()) as { error: { message: string; type: string; code: string | null } };
    // Assess
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-request-id')).toBe('req-fixed');
    expect(body.error.message).toMatch(message);
    expect(body.error.code).toBe(code);
    expect(body.error.type).toBe('invalid_request_error');
    expect(sent).toHaveLength(0);
  });

  it('names the allowed method in an Allow header', async () => {
    const response = await call('/v1/embeddings', { method: 'PUT', body: chatBody });
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('refuses a body whose declared length is over the limit before reading it', async () => {
    const response = await call('/v1/chat/completions', {
      body: chatBody,
      headers: { 'content-length': '999999' },
    });
    expect(response.status).toBe(413);
  });

  it('logs one structured line per refused request', async () => {
    logger.lines.length = 0;
    await call('/v1/chat/completions', { body: '{' });
    const lines = logger.lines.filter((line) => line.message === 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]?.fields).toMatchObject({
      requestId: 'req-fixed',
      status: 400,
      outcome: 'rejected',
      path: '/v1/chat/completions',
    });
  });
});

describe('gateway-owned endpoints', () => {
  it('answers /health without a key', async () => {
    const response = await gateway.handle(new Request('https://gw.example/health'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('lists the configured models, and retrieves one', async () => {
    const list = (await (await call('/v1/models', { method: 'GET' })).json()) as {
      data: Array<{ id: string }>;
    };
    expect(list.data.map((model) => model.id)).toEqual(['gpt-test']);
    const one = await call('/v1/models/gpt-test', { method: 'GET' });
    expect(await one.json()).toMatchObject({ id: 'gpt-test', object: 'model', owned_by: 'gateway' });
    expect((await call('/v1/models/other', { method: 'GET' })).status).toBe(404);
    // A malformed escape names no model: a 404, not an internal error.
    const malformed = await call('/v1/models/%E0%A4%A', { method: 'GET' });
    expect(malformed.status).toBe(404);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
  });

  it('requires a key for /v1/models', async () => {
    const response = await gateway.handle(new Request('https://gw.example/v1/models'));
    expect(response.status).toBe(401);
  });

  it('reports its own overhead on every response', async () => {
    const response = await call('/v1/chat/completions', { body: chatBody });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-gateway-overhead-ms')).toMatch(/^\d+\.\d\d$/);
    expect(sent).toHaveLength(1);
  });
});
