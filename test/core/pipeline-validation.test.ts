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

const chatBody = JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });

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
      { body: '{"model":"nope","messages":[{"role":"user","content":"hi"}]}' },
      404,
      'model_not_found',
      /^The model 'nope' does not exist or you do not have access to it\.$/,
    ],
    [
      'a non-boolean stream flag',
      '/v1/chat/completions',
      { body: '{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"stream":"yes"}' },
      400,
      'invalid_type',
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

const HI = [{ role: 'user', content: 'hi' }];
const json = (body: Record<string, unknown>) => ({ body: JSON.stringify(body) });

describe('the fields the gateway reads', () => {
  it.each([
    [
      'chat without messages',
      '/v1/chat/completions',
      { model: 'gpt-test' },
      'messages',
      'missing_required_parameter',
      "Missing required parameter: 'messages'.",
    ],
    [
      'messages as a string',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: 'hi' },
      'messages',
      'invalid_type',
      "Invalid type for 'messages': expected an array of messages, but got a string instead.",
    ],
    [
      'no messages at all',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: [] },
      'messages',
      'invalid_value',
      "Invalid value for 'messages': expected an array with at least one message, but got an empty array.",
    ],
    [
      'a message that is not an object',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: ['hi'] },
      'messages[0]',
      'invalid_type',
      "Invalid type for 'messages[0]': expected an object, but got a string instead.",
    ],
    [
      'a message without a role',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: [{ content: 'hi' }] },
      'messages[0].role',
      'missing_required_parameter',
      "Missing required parameter: 'messages[0].role'.",
    ],
    [
      'an unknown role',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: [{ role: 'root', content: 'hi' }] },
      'messages[0].role',
      'invalid_value',
      /^Invalid value for 'messages\[0\]\.role': expected one of 'system', .+, but got "root"\.$/,
    ],
    [
      'content of numbers',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: [{ role: 'user', content: 7 }] },
      'messages[0].content',
      'invalid_type',
      "Invalid type for 'messages[0].content': expected a string or an array of content parts, but got an integer instead.",
    ],
    [
      'a content part that is not an object',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: [{ role: 'user', content: ['hi'] }] },
      'messages[0].content[0]',
      'invalid_type',
      "Invalid type for 'messages[0].content[0]': expected an object, but got a string instead.",
    ],
    [
      'max_tokens of 1e300',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, max_tokens: 1e300 },
      'max_tokens',
      'integer_above_max_value',
      "Invalid 'max_tokens': integer above maximum value. Expected a value <= 2147483647, but got 1e+300 instead.",
    ],
    [
      'max_completion_tokens of 2.5',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, max_completion_tokens: 2.5 },
      'max_completion_tokens',
      'invalid_type',
      "Invalid type for 'max_completion_tokens': expected an integer, but got a number instead.",
    ],
    [
      'a temperature of 5',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, temperature: 5 },
      'temperature',
      'decimal_above_max_value',
      "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead.",
    ],
    [
      'n of 0',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, n: 0 },
      'n',
      'integer_below_min_value',
      "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
    ],
    [
      'a seed past 2^53',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, seed: 2 ** 60 },
      'seed',
      'integer_above_max_value',
      /^Invalid 'seed': integer above maximum value\./,
    ],
    [
      'a logit bias of 1000',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, logit_bias: { '50256': 1000 } },
      'logit_bias.50256',
      'decimal_above_max_value',
      /^Invalid 'logit_bias\.50256': decimal above maximum value\./,
    ],
    [
      'stream_options.include_usage as a string',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, stream: true, stream_options: { include_usage: 'yes' } },
      'stream_options.include_usage',
      'invalid_type',
      "Invalid type for 'stream_options.include_usage': expected a boolean, but got a string instead.",
    ],
    [
      'tools as an object',
      '/v1/chat/completions',
      { model: 'gpt-test', messages: HI, tools: {} },
      'tools',
      'invalid_type',
      "Invalid type for 'tools': expected an array, but got an object instead.",
    ],
    [
      'embeddings without input',
      '/v1/embeddings',
      { model: 'gpt-test' },
      'input',
      'missing_required_parameter',
      "Missing required parameter: 'input'.",
    ],
    [
      'embeddings of an empty list',
      '/v1/embeddings',
      { model: 'gpt-test', input: [] },
      'input',
      'invalid_value',
      "Invalid value for 'input': expected a non-empty array, but got an empty array.",
    ],
    [
      'embeddings of mixed items',
      '/v1/embeddings',
      { model: 'gpt-test', input: ['a', 1] },
      'input',
      'invalid_type',
      "Invalid type for 'input': expected a string, an array of strings, or an array of token arrays, but got an array instead.",
    ],
    [
      'completions of an object prompt',
      '/v1/completions',
      { model: 'gpt-test', prompt: { text: 'hi' } },
      'prompt',
      'invalid_type',
      "Invalid type for 'prompt': expected a string, an array of strings, or an array of token arrays, but got an object instead.",
    ],
    [
      'responses input as a number',
      '/v1/responses',
      { model: 'gpt-test', input: 42 },
      'input',
      'invalid_type',
      "Invalid type for 'input': expected a string or an array of input items, but got an integer instead.",
    ],
    [
      'a conversation object without an id',
      '/v1/responses',
      { model: 'gpt-test', input: 'hi', conversation: {} },
      'conversation.id',
      'invalid_type',
      "Invalid type for 'conversation.id': expected a string, but got a undefined instead.",
    ],
    [
      'previous_response_id as a number',
      '/v1/responses',
      { model: 'gpt-test', input: 'hi', previous_response_id: 7 },
      'previous_response_id',
      'invalid_type',
      "Invalid type for 'previous_response_id': expected a string, but got an integer instead.",
    ],
    [
      'moderations without input',
      '/v1/moderations',
      { model: 'gpt-test' },
      'input',
      'missing_required_parameter',
      "Missing required parameter: 'input'.",
    ],
    [
      'an image without a prompt',
      '/v1/images/generations',
      { model: 'gpt-test' },
      'prompt',
      'missing_required_parameter',
      "Missing required parameter: 'prompt'.",
    ],
    [
      'speech without a voice',
      '/v1/audio/speech',
      { model: 'gpt-test', input: 'hi' },
      'voice',
      'missing_required_parameter',
      "Missing required parameter: 'voice'.",
    ],
    [
      'a model name with a newline and escapes',
      '/v1/chat/completions',
      { model: 'gpt-test\u001b[2K\nTOTAL', messages: HI },
      'model',
      'invalid_value',
      'Invalid \'model\': a model name is 1 to 256 printable ASCII characters without spaces, got "gpt-test\\u001b[2K\\nTOTAL" (18 characters).',
    ],
    [
      'a model name of 300 characters',
      '/v1/chat/completions',
      { model: `gpt-${'a'.repeat(296)}`, messages: HI },
      'model',
      'invalid_value',
      /^Invalid 'model': a model name is 1 to 256 printable ASCII characters without spaces, got "gpt-a+…" \(300 characters\)\.$/,
    ],
  ] as const)('refuses %s, naming the parameter', async (_name, path, body, param, code, message) => {
    // Act
    const response = await call(path, json(body));
    const answer = (await response.json()) as {
      error: { message: string; param: string | null; code: string | null };
    };

    // Assess
    expect(response.status).toBe(400);
    expect(answer.error.param).toBe(param);
    expect(answer.error.code).toBe(code);
    if (typeof message === 'string') expect(answer.error.message).toBe(message);
    else expect(answer.error.message).toMatch(message);
    expect(sent).toHaveLength(0);
  });

  it('passes fields it does not read through untouched', async () => {
    // Prepare
    const body = {
      model: 'gpt-test',
      messages: HI,
      some_new_field: { nested: [1, 'two'] },
      temperature: 0.5,
    };

    // Act
    const response = await call('/v1/chat/completions', json(body));

    // Assess
    expect(response.status).toBe(200);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(new TextDecoder().decode(sent[0]!.body))).toEqual(body);
  });

  it('refuses a multipart body with two model fields, which could be read one way here and another upstream', async () => {
    // Prepare
    const form = new FormData();
    form.append('model', 'gpt-test');
    form.append('model', 'gpt-other');
    form.append('file', new Blob([new Uint8Array(8)]), 'a.wav');
    const request = new Request('https://gw.example/v1/audio/transcriptions', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
      body: form,
    });

    // Act
    const response = await gateway.handle(request);
    const answer = (await response.json()) as { error: { message: string; param: string; code: string } };

    // Assess
    expect(response.status).toBe(400);
    expect(answer.error).toMatchObject({
      message: "The multipart body has more than one 'model' field: send it once.",
      param: 'model',
      code: 'duplicate_parameter',
    });
    expect(sent).toHaveLength(0);
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
