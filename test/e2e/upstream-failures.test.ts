// The gateway against fake upstreams on loopback: failover only before the first byte, mid-stream errors,
// Retry-After, timeouts, heartbeats and client disconnects.
import http from 'node:http';
import {
  chunkEvent,
  type FakeUpstream,
  finishEvent,
  replyChat,
  replyJson,
  sleep,
  startFakeUpstream,
  streamChat,
  usageEvent,
} from '../fixtures/fake-upstream.ts';
import {
  type GatewayHarness,
  readText,
  startGateway,
  TEST_KEY,
  TEST_KEY_ID,
} from '../fixtures/gateway-harness.ts';

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-test',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

const target = (id: string, upstream: FakeUpstream, extra: Record<string, unknown> = {}) => ({
  id,
  provider: 'openai-compatible' as const,
  baseUrl: upstream.baseUrl,
  ...extra,
});

describe('failover before the first byte', () => {
  let primary: FakeUpstream;
  let backup: FakeUpstream;
  let gateway: GatewayHarness;

  beforeEach(async () => {
    primary = await startFakeUpstream();
    backup = await startFakeUpstream(replyChat('from backup'));
    gateway = await startGateway({
      routes: [
        {
          model: 'gpt-test',
          targets: [
            target('primary', primary, { priority: 0, timeouts: { firstByteMs: 300 } }),
            target('backup', backup, { priority: 1 }),
          ],
        },
      ],
      breaker: { failureThreshold: 2, windowMs: 60_000, cooldownMs: 60_000 },
    });
  });

  afterEach(async () => {
    await gateway.close();
    await primary.close();
    await backup.close();
  });

  it.each([
    ['a 503', replyJson(503, { error: { message: 'overloaded' } })],
    ['a 500', replyJson(500, { error: { message: 'boom' } })],
    ['a 429 without Retry-After', replyJson(429, { error: { message: 'slow down' } })],
    [
      'a connection reset before the headers',
      (_request: unknown, response: http.ServerResponse) => {
        response.socket?.destroy();
      },
    ],
    ['a first byte later than the timeout', streamChat({ pieces: ['late'], firstByteDelayMs: 1_000 })],
  ])('moves to the backup after %s from the primary', async (_name, behaviour) => {
    // Prepare
    primary.setBehaviour(behaviour);
    // Act
    const response = await gateway.post('/v1/chat/completions', chat());
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    // Assess
    expect(response.status).toBe(200);
    expect(body.choices[0]?.message.content).toBe('from backup');
    expect(primary.requests).toHaveLength(1);
    expect(backup.requests).toHaveLength(1);
    const [record] = await gateway.ledger.waitFor(1);
    expect(record?.targetId).toBe('backup');
    expect(gateway.metrics.sum('Failovers')).toBe(1);
  });

  it('does not fail over once the first byte reached the client: a reset mid-stream ends with an SSE error event', async () => {
    // Prepare
    primary.setBehaviour(streamChat({ pieces: ['one ', 'two ', 'three'], gapMs: 30, resetAfter: 2 }));
    // Act
    const response = await gateway.post('/v1/chat/completions', chat({ stream: true }));
    const text = await readText(response);
    // Assess
    expect(response.status).toBe(200);
    expect(text).toContain('"content":"one "');
    expect(text).toContain('"content":"two "');
    expect(text).not.toContain('three');
    expect(text).not.toContain('[DONE]');
    const lastEvent = text.trimEnd().split('\n\n').at(-1) ?? '';
    expect(lastEvent).toMatch(/^event: error\ndata: /);
    const error = JSON.parse(lastEvent.split('data: ')[1]!) as {
      error: { type: string; code: string; message: string };
    };
    expect(error.error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
    expect(error.error.message).toContain(response.headers.get('x-request-id'));
    expect(backup.requests).toHaveLength(0);
    const [record] = await gateway.ledger.waitFor(1);
    expect(record?.outcome).toBe('upstream_error');
  });

  it('treats a chat stream that ends cleanly without [DONE] as failed', async () => {
    primary.setBehaviour(streamChat({ pieces: ['cut '], bare: true }));
    const text = await readText(await gateway.post('/v1/chat/completions', chat({ stream: true })));
    expect(text).toContain('"content":"cut "');
    expect(text).toMatch(/event: error\ndata: \{"error"/);
    expect((await gateway.ledger.waitFor(1))[0]?.outcome).toBe('upstream_error');
  });

  it('opens the circuit after repeated failures and stops sending to the primary', async () => {
    // Prepare: the threshold is 2 failures
    primary.setBehaviour(replyJson(500, { error: { message: 'down' } }));
    // Act
    for (let i = 0; i < 3; i++) expect((await gateway.post('/v1/chat/completions', chat())).status).toBe(200);
    // Assess: the third request went straight to the backup
    expect(primary.requests).toHaveLength(2);
    expect(backup.requests).toHaveLength(3);
    expect(gateway.gateway.breakers.state('primary')).toBe('open');
    expect(gateway.metrics.sum('CircuitOpened')).toBe(1);
  });

  it('answers 503 with Retry-After when every circuit is open', async () => {
    primary.setBehaviour(replyJson(500, {}));
    backup.setBehaviour(replyJson(502, {}));
    await gateway.post('/v1/chat/completions', chat());
    await gateway.post('/v1/chat/completions', chat());
    const response = await gateway.post('/v1/chat/completions', chat());
    const body = (await response.json()) as { error: { code: string } };
    expect(response.status).toBe(503);
    expect(body.error.code).toBe('no_healthy_upstream');
    expect(response.headers.get('retry-after')).toBe('60');
    expect(primary.requests.length + backup.requests.length).toBe(4);
  });
});

describe('single-target errors', () => {
  let upstream: FakeUpstream;
  let gateway: GatewayHarness;

  beforeEach(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway(
      {
        routes: [
          {
            model: 'gpt-test',
            targets: [target('only', upstream, { secretName: 'upstream-key', timeouts: { idleMs: 200 } })],
          },
        ],
        retry: { maxAttempts: 3, budgetMs: 2_000 },
        streaming: { heartbeatMs: 50 },
      },
      { secrets: { 'upstream-key': 'sk-upstream-secret' } },
    );
  });

  afterEach(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('waits for Retry-After within the budget and retries the same target', async () => {
    upstream.queue(replyJson(429, { error: { message: 'rate limited' } }, { 'retry-after': '1' }));
    upstream.setBehaviour(replyChat('after the wait'));
    const response = await gateway.post('/v1/chat/completions', chat());
    expect(response.status).toBe(200);
    expect(upstream.requests).toHaveLength(2);
  });

  it('returns 429 with Retry-After when the wait does not fit the budget', async () => {
    upstream.setBehaviour(
      replyJson(429, { error: { message: 'org quota details' } }, { 'retry-after': '30' }),
    );
    const response = await gateway.post('/v1/chat/completions', chat());
    const body = (await response.json()) as { error: { type: string; code: string; message: string } };
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('30');
    expect(body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect(body.error.message).not.toContain('org quota details');
    expect(upstream.requests).toHaveLength(1);
  });

  it('never shows an upstream 5xx body to the client', async () => {
    upstream.setBehaviour(replyJson(500, { error: { message: 'internal: key sk-upstream-secret at db-7' } }));
    const response = await gateway.post('/v1/chat/completions', chat());
    const text = await response.text();
    expect(response.status).toBe(502);
    expect(text).not.toContain('sk-upstream-secret');
    expect(text).not.toContain('db-7');
    expect(JSON.parse(text)).toMatchObject({ error: { type: 'server_error', code: 'upstream_error' } });
  });

  it.each([402, 405, 408, 410])(
    'answers a generic 502 to an upstream %i and does not show its body',
    async (status) => {
      upstream.setBehaviour(
        replyJson(status, { error: { message: 'upstream internals: acct 42 over plan' } }),
      );
      const response = await gateway.post('/v1/chat/completions', chat());
      const text = await response.text();
      expect(response.status).toBe(502);
      expect(text).not.toContain('acct 42');
      expect(JSON.parse(text)).toMatchObject({ error: { type: 'server_error', code: 'upstream_error' } });
    },
  );

  it("passes an upstream 400 through, since it is about the client's request", async () => {
    upstream.setBehaviour(
      replyJson(400, {
        error: {
          message: 'max_tokens is too large',
          type: 'invalid_request_error',
          param: 'max_tokens',
          code: null,
        },
      }),
    );
    const response = await gateway.post('/v1/chat/completions', chat({ max_tokens: 10_000_000 }));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { message: 'max_tokens is too large', param: 'max_tokens' },
    });
  });

  it('re-reads the upstream key once on a 401, then reports a gateway-side failure', async () => {
    upstream.setBehaviour(
      replyJson(401, { error: { message: 'Incorrect API key provided: sk-upst****cret' } }),
    );
    const response = await gateway.post('/v1/chat/completions', chat());
    const text = await response.text();
    expect(response.status).toBe(502);
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'upstream_auth_failed' } });
    expect(text).not.toContain('sk-upst');
    expect(gateway.secrets.freshReads).toBe(1);
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-upstream-secret');
  });

  it('does not forward the gateway key upstream', async () => {
    await gateway.post('/v1/chat/completions', chat());
    const sent = JSON.stringify(upstream.requests[0]?.headers);
    expect(sent).not.toContain(TEST_KEY);
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-upstream-secret');
  });

  it('sends heartbeat comments while the upstream is silent, and the events still arrive whole', async () => {
    // The upstream stays silent after its first event until the client has seen a heartbeat: no timing to race.
    let sawPing: () => void = () => {};
    const pinged = new Promise<void>((resolve) => {
      sawPing = resolve;
    });
    upstream.setBehaviour(async (request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(chunkEvent('slow '));
      await pinged;
      response.write(chunkEvent('answer'));
      response.write(finishEvent);
      const options = request.json?.stream_options as { include_usage?: boolean } | undefined;
      if (options?.include_usage) response.write(usageEvent);
      response.end('data: [DONE]\n\n');
    });
    const response = await gateway.post('/v1/chat/completions', chat({ stream: true }));
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes('data: {') && text.slice(text.indexOf('data: {')).includes(': ping')) sawPing();
    }
    const events = text.split('\n\n').filter(Boolean);
    const firstData = events.findIndex((event) => event.startsWith('data: {'));
    const pingsBetween = events.slice(firstData + 1).indexOf(': ping');
    expect(pingsBetween).toBeGreaterThanOrEqual(0);
    expect(events.findIndex((event) => event.includes('"content":"answer"'))).toBeGreaterThan(
      firstData + 1 + pingsBetween,
    );
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('ends a stream whose upstream falls silent past the idle timeout with a timeout error event', async () => {
    upstream.setBehaviour(streamChat({ pieces: ['start ', 'never'], gapMs: 1_000 }));
    const text = await readText(await gateway.post('/v1/chat/completions', chat({ stream: true })));
    expect(text).toContain('"content":"start "');
    expect(text).toMatch(
      /event: error\ndata: \{"error":\{"message":"The upstream provider stopped sending data\./,
    );
    expect(await upstream.requests[0]?.abortedByGateway).toBe(true);
    expect((await gateway.ledger.waitFor(1))[0]?.outcome).toBe('timeout');
  });

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    // Prepare
    upstream.setBehaviour(streamChat({ pieces: Array.from({ length: 50 }, (_, i) => `t${i} `), gapMs: 40 }));
    const { port } = new URL(gateway.baseUrl);
    // Act: read the first chunk, then hang up
    const firstChunk = await new Promise<string>((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.once('data', (chunk: Buffer) => {
            request.destroy();
            resolve(chunk.toString());
          });
        },
      );
      request.on('error', () => {});
      request.on('close', () => reject(new Error('closed before data')));
      request.end(JSON.stringify(chat({ stream: true })));
    });
    // Assess
    expect(firstChunk).toContain('t0');
    expect(await upstream.requests[0]?.abortedByGateway).toBe(true);
    const [record] = await gateway.ledger.waitFor(1);
    expect(record?.outcome).toBe('client_abort');
  });

  it('asks the upstream for stream usage and hides that chunk from a client that did not ask', async () => {
    upstream.setBehaviour(streamChat({ pieces: ['a', 'b'] }));
    const text = await readText(await gateway.post('/v1/chat/completions', chat({ stream: true })));
    expect(upstream.requests[0]?.json?.stream_options).toEqual({ include_usage: true });
    expect(text).not.toContain('"usage"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const [record] = await gateway.ledger.waitFor(1);
    expect(record?.usage).toEqual({
      inputTokens: 5,
      cachedInputTokens: 0,
      outputTokens: 3,
      reasoningTokens: 0,
    });
    expect(record?.outcome).toBe('complete');
  });

  it('keeps the usage chunk for a client that asked for it', async () => {
    upstream.setBehaviour(streamChat({ pieces: ['a'] }));
    const text = await readText(
      await gateway.post(
        '/v1/chat/completions',
        chat({ stream: true, stream_options: { include_usage: true } }),
      ),
    );
    expect(text).toContain('"usage":{"prompt_tokens":5');
  });

  it('records the usage of a non-streamed response, cached and reasoning tokens included', async () => {
    await (await gateway.post('/v1/chat/completions', chat())).text();
    const [record] = await gateway.ledger.waitFor(1);
    expect(record).toMatchObject({
      tenantId: 'tenant-a',
      keyId: TEST_KEY_ID,
      model: 'gpt-test',
      targetId: 'only',
      status: 200,
      outcome: 'complete',
      usage: { inputTokens: 11, cachedInputTokens: 3, outputTokens: 7, reasoningTokens: 2 },
    });
  });

  it('sends the client body untouched when nothing needs rewriting', async () => {
    const raw = '{"model":"gpt-test",  "messages":[{"role":"user","content":"exact bytes"}]}';
    await (await gateway.post('/v1/chat/completions', raw)).text();
    expect(upstream.requests[0]?.body.toString()).toBe(raw);
  });
});

describe('providers and request shapes', () => {
  let upstream: FakeUpstream;
  let gateway: GatewayHarness;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway(
      {
        routes: [
          {
            model: 'gpt-azure',
            targets: [
              {
                id: 'azure',
                provider: 'azure-openai',
                baseUrl: upstream.baseUrl.replace('/v1', ''),
                model: 'my-deployment',
                apiVersion: '2024-10-21',
                secretName: 'azure-key',
              },
            ],
          },
          { model: 'whisper-', match: 'prefix', targets: [target('audio', upstream)] },
          { model: 'alias', targets: [target('renamed', upstream, { model: 'real-model' })] },
        ],
      },
      { secrets: { 'azure-key': 'azure-secret' } },
    );
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('calls Azure OpenAI at its deployment URL with api-version and the api-key header', async () => {
    upstream.setBehaviour(replyChat('azure says hi'));
    const response = await gateway.post('/v1/chat/completions', {
      model: 'gpt-azure',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(response.status).toBe(200);
    const sent = upstream.requests.at(-1)!;
    expect(sent.path).toBe('/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21');
    expect(sent.headers['api-key']).toBe('azure-secret');
    expect(sent.headers.authorization).toBeUndefined();
  });

  it('rewrites the model to the upstream name', async () => {
    upstream.setBehaviour(replyChat('ok'));
    await (
      await gateway.post('/v1/chat/completions', {
        model: 'alias',
        messages: [{ role: 'user', content: 'hi' }],
      })
    ).text();
    expect(upstream.requests.at(-1)?.json?.model).toBe('real-model');
  });

  it('passes a multipart transcription through byte for byte, routed by its model field', async () => {
    // Prepare
    upstream.setBehaviour(replyJson(200, { text: 'hello world' }));
    const form = new FormData();
    form.set('model', 'whisper-1');
    form.set('file', new Blob([new Uint8Array([0, 1, 2, 250, 255])], { type: 'audio/wav' }), 'a.wav');
    const encoded = new Request('http://x/', { method: 'POST', body: form });
    const contentType = encoded.headers.get('content-type')!;
    const bytes = Buffer.from(await encoded.arrayBuffer());
    // Act
    const response = await fetch(`${gateway.baseUrl}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': contentType },
      body: bytes,
    });
    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ text: 'hello world' });
    const sent = upstream.requests.at(-1)!;
    expect(sent.path).toBe('/v1/audio/transcriptions');
    expect(sent.headers['content-type']).toBe(contentType);
    expect(sent.body.equals(bytes)).toBe(true);
  });

  it('streams a slow upstream chunk by chunk: the first chunk arrives before the upstream sends the second', async () => {
    // Prepare: the upstream holds the second chunk until the test has seen the first
    let releaseSecond: () => void = () => {};
    const secondReleased = new Promise<void>((resolve) => {
      releaseSecond = resolve;
    });
    let secondSent = false;
    upstream.setBehaviour(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"choices":[{"index":0,"delta":{"content":"first"}}]}\n\n');
      await secondReleased;
      secondSent = true;
      response.write('data: {"choices":[{"index":0,"delta":{"content":"second"}}]}\n\n');
      response.end('data: [DONE]\n\n');
    });
    // Act
    const response = await gateway.post('/v1/chat/completions', {
      model: 'alias',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    // Assess
    expect(first).toContain('first');
    expect(secondSent).toBe(false);
    releaseSecond();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('second');
    await sleep(0);
  });
});
