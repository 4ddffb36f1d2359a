// The streaming Lambda handler, run through middy against a stub of the Lambda runtime's `awslambda` global.
import type { Writable } from 'node:stream';
import { createParser } from 'eventsource-parser';
import { systemClock } from '../../lambda/adapters/system/clock.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import type { GatewayEvent } from '../../lambda/entrypoints/lambda/events.ts';
import { createLambdaHandler } from '../../lambda/entrypoints/lambda/handler.ts';
import { UpstreamError, UpstreamFailure } from '../../lambda/ports.ts';
import { memoryGateway } from '../fixtures/gateway-harness.ts';
import {
  type ControlledBody,
  ControlledUpstream,
  type ControlledUpstreamOptions,
  chatChunk,
  DONE,
  usageChunk,
} from '../fixtures/lambda-controlled-upstream.ts';
import { functionUrlEvent, restEvent } from '../fixtures/lambda-events.ts';
import { EventLog, installAwsLambdaStub, RecordingResponseStream } from '../fixtures/lambda-runtime-stub.ts';
import { testKey } from '../fixtures/tenants.ts';

const GATEWAY_KEY = testKey('lambda-test');
const UPSTREAM_BASE_URL = 'https://upstream.test/v1';
const CHAT_REQUEST = { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hi' }] };
const CHAT_BODY = JSON.stringify(CHAT_REQUEST);

/** The handler as the Lambda runtime calls it once `streamifyResponse` has wrapped it. */
type StreamingInvoke = (event: GatewayEvent, responseStream: Writable, context: object) => Promise<void>;

interface LambdaHarnessOptions {
  readonly flushPaddingBytes?: number;
  readonly now?: () => number;
  readonly upstream?: ControlledUpstreamOptions;
}

const startLambda = (options: LambdaHarnessOptions = {}) => {
  const log = new EventLog();
  const upstream = new ControlledUpstream({ log, ...options.upstream });
  let requests = 0;
  const { gateway, ledger } = memoryGateway(
    parseGatewayConfig({
      routes: [
        {
          model: 'gpt-4o-mini',
          targets: [{ id: 'primary', provider: 'openai-compatible', baseUrl: UPSTREAM_BASE_URL }],
        },
      ],
      retry: { maxAttempts: 1 },
    }),
    {
      upstream,
      key: [GATEWAY_KEY, { tenantId: 'tenant-l' }],
      newRequestId: () => `req-${++requests}`,
    },
  );
  const handler = createLambdaHandler(gateway, {
    flushPaddingBytes: options.flushPaddingBytes ?? 0,
    flushPaddingAfterIdleMs: 100,
    now: options.now ?? systemClock.now,
  });
  const invoke = handler as unknown as StreamingInvoke;
  const stream = new RecordingResponseStream(log);
  return {
    log,
    upstream,
    ledger,
    stream,
    /** Starts one invocation; the promise settles when the handler has finished writing. */
    invoke: (event: GatewayEvent) => invoke(event, stream, {}),
  };
};

const authorized = { Authorization: `Bearer ${GATEWAY_KEY}`, 'Content-Type': 'application/json' };

/** Upstream behaviour for tests that only need a whole, short stream. */
const answersAtOnce = (...pieces: string[]): ControlledUpstreamOptions => ({
  onSend: (body: ControlledBody) => {
    for (const piece of pieces) body.send(piece);
    body.end();
  },
});

/** Every `data:` payload of an SSE text, in order; comments and blank lines are not events. */
const sseData = (text: string): string[] => {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(text);
  return data;
};

let awslambda: { uninstall(): void };
beforeAll(() => {
  awslambda = installAwsLambdaStub();
});
afterAll(() => {
  awslambda.uninstall();
});

describe('Lambda handler: events to the gateway', () => {
  const cases: Array<[string, GatewayEvent]> = [
    [
      'REST API (v1) event',
      restEvent({ path: '/chat/completions', stage: 'v1', headers: authorized, body: CHAT_BODY }),
    ],
    [
      'REST API (v1) event with a base64 body',
      restEvent({
        path: '/chat/completions',
        stage: 'v1',
        headers: authorized,
        body: Buffer.from(CHAT_BODY).toString('base64'),
        isBase64Encoded: true,
      }),
    ],
    [
      'Function URL (v2) event',
      functionUrlEvent({
        rawPath: '/v1/chat/completions',
        headers: { authorization: `Bearer ${GATEWAY_KEY}`, 'content-type': 'application/json' },
        body: CHAT_BODY,
      }),
    ],
  ];

  it.each(cases)('a %s reaches the upstream as the same chat request', async (_name, event) => {
    // Prepare
    const lambda = startLambda({ upstream: answersAtOnce(chatChunk('Hello'), DONE) });

    // Act
    await lambda.invoke(event);

    // Assess
    expect(lambda.upstream.bodies).toHaveLength(1);
    const sent = lambda.upstream.bodies[0]!;
    expect(sent.request.url).toBe(`${UPSTREAM_BASE_URL}/chat/completions`);
    expect(sent.request.method).toBe('POST');
    expect(sent.request.headers['content-type']).toBe('application/json');
    expect(JSON.stringify(sent.request.headers)).not.toContain(GATEWAY_KEY);
    // The gateway asks for usage on the client's behalf; everything else is the client's request.
    expect(JSON.parse(sent.bodyText)).toEqual({ ...CHAT_REQUEST, stream_options: { include_usage: true } });
  });

  it.each(cases)(
    'a %s gets a 200 prelude with the SSE headers and the stream as body',
    async (_name, event) => {
      // Prepare
      const lambda = startLambda({ upstream: answersAtOnce(chatChunk('Hello'), DONE) });

      // Act
      await lambda.invoke(event);

      // Assess
      expect(lambda.stream.prelude?.statusCode).toBe(200);
      expect(lambda.stream.prelude?.headers).toEqual(
        expect.objectContaining({
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          'x-request-id': 'req-1',
        }),
      );
      expect(lambda.stream.text).toBe(chatChunk('Hello') + DONE);
      expect(lambda.stream.writableFinished).toBe(true);
    },
  );
});

describe('Lambda handler: streaming', () => {
  it('writes each upstream chunk to the response stream before the upstream sends the next one', async () => {
    // Prepare
    const lambda = startLambda();
    const alpha = chatChunk('alpha');
    const beta = chatChunk('beta');

    // Act
    const finished = lambda.invoke(
      restEvent({ path: '/chat/completions', headers: authorized, body: CHAT_BODY }),
    );
    const body = await lambda.upstream.nextBody();
    await lambda.stream.waitForPrelude();
    body.send(alpha);
    await lambda.stream.waitForText(alpha);
    body.send(beta);
    await lambda.stream.waitForText(beta);
    body.send(usageChunk(4, 2));
    body.send(DONE);
    body.end();
    await finished;

    // Assess
    // Causality: chunk 1 reached the client before chunk 2 existed, so nothing was held back to the end.
    expect(lambda.log.list('upstream:', 'write:data', 'prelude:')).toEqual([
      'prelude:200',
      `upstream:${alpha}`,
      `write:${alpha}`,
      `upstream:${beta}`,
      `write:${beta}`,
      `upstream:${usageChunk(4, 2)}`,
      `upstream:${DONE}`,
      'upstream:end',
      // The usage chunk the gateway asked for on the client's behalf is dropped.
      `write:${DONE}`,
    ]);
    expect(lambda.stream.bodyWrites.map((write) => write.bytes.toString())).toEqual([alpha, beta, DONE]);
    const [record] = await lambda.ledger.waitFor(1);
    expect(record?.outcome).toBe('complete');
    expect(record?.usage).toEqual({
      inputTokens: 4,
      cachedInputTokens: 0,
      outputTokens: 2,
      reasoningTokens: 0,
    });
  });

  it('commits the 200 prelude as soon as the upstream answers, before the first token', async () => {
    // Prepare
    const lambda = startLambda();

    // Act
    const finished = lambda.invoke(
      restEvent({ path: '/chat/completions', headers: authorized, body: CHAT_BODY }),
    );
    const body = await lambda.upstream.nextBody();
    await lambda.stream.waitForPrelude();
    const bodyWritesBeforeFirstToken = lambda.stream.bodyWrites.length;
    body.send(chatChunk('late')).send(DONE).end();
    await finished;

    // Assess
    expect(lambda.stream.prelude?.statusCode).toBe(200);
    expect(bodyWritesBeforeFirstToken).toBe(0);
  });

  it('ends a stream that fails upstream after its first byte with an SSE error event', async () => {
    // Prepare
    const lambda = startLambda({
      upstream: {
        onSend: (body) =>
          body.send(chatChunk('partial')).fail(new UpstreamError(UpstreamFailure.reset, 'socket hang up')),
      },
    });

    // Act
    await lambda.invoke(restEvent({ path: '/chat/completions', headers: authorized, body: CHAT_BODY }));

    // Assess
    expect(lambda.stream.prelude?.statusCode).toBe(200);
    const text = lambda.stream.text;
    expect(text.startsWith(chatChunk('partial'))).toBe(true);
    expect(text.slice(chatChunk('partial').length)).toBe(
      `event: error\ndata: ${JSON.stringify({
        error: {
          message: 'The upstream provider failed while streaming the response. (request id: req-1)',
          type: 'server_error',
          param: null,
          code: 'upstream_error',
        },
      })}\n\n`,
    );
    expect(text).not.toContain('socket hang up');
    const [record] = await lambda.ledger.waitFor(1);
    expect(record?.outcome).toBe('upstream_error');
  });
});

describe('Lambda handler: errors before streaming', () => {
  it.each([
    {
      name: 'no key',
      headers: { 'Content-Type': 'application/json' } as Record<string, string>,
      body: CHAT_BODY,
      status: 401,
      error: {
        message:
          "You didn't provide an API key. Send your gateway key as 'Authorization: Bearer <key>' (or the x-api-key header).",
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    },
    {
      name: 'a wrong key',
      headers: { Authorization: 'Bearer sk-gw-wrong-key-000000', 'Content-Type': 'application/json' },
      body: CHAT_BODY,
      status: 401,
      error: {
        message: 'Incorrect API key provided: sk-gw-****0000.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    },
    {
      name: 'an unknown model',
      headers: authorized,
      body: JSON.stringify({ ...CHAT_REQUEST, model: 'nonexistent-model' }),
      status: 404,
      error: {
        message: "The model 'nonexistent-model' does not exist or you do not have access to it.",
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    },
  ])(
    'answers $name with status $status and an OpenAI error body',
    async ({ headers, body, status, error }) => {
      // Prepare: padding on, to show that a JSON body is never padded.
      const lambda = startLambda({ flushPaddingBytes: 512 });

      // Act
      await lambda.invoke(restEvent({ path: '/chat/completions', headers, body }));

      // Assess
      expect(lambda.stream.prelude?.statusCode).toBe(status);
      expect(lambda.stream.prelude?.headers).toEqual(
        expect.objectContaining({ 'content-type': 'application/json', 'x-request-id': 'req-1' }),
      );
      expect(JSON.parse(lambda.stream.text)).toEqual({ error });
      expect(lambda.upstream.bodies).toHaveLength(0);
      expect(lambda.stream.writableFinished).toBe(true);
    },
  );
});

describe('Lambda handler: flush padding', () => {
  it('pads the first SSE write and a write after an idle gap to 512 bytes, and no back-to-back write', async () => {
    // Prepare: a clock the test moves, so "idle" is decided by the test, not by the machine's speed.
    let now = 1_000;
    const lambda = startLambda({ flushPaddingBytes: 512, now: () => now });
    const pieces = ['alpha', 'beta', 'gamma', 'delta'].map((word) => chatChunk(word));
    const [alpha, beta, gamma, delta] = pieces as [string, string, string, string];

    // Act
    const finished = lambda.invoke(
      restEvent({ path: '/chat/completions', headers: authorized, body: CHAT_BODY }),
    );
    const body = await lambda.upstream.nextBody();
    for (const piece of [alpha, beta, gamma]) {
      body.send(piece);
      await lambda.stream.waitForText(piece);
    }
    now += 100;
    body.send(delta);
    await lambda.stream.waitForText(delta);
    body.send(DONE).end();
    await finished;

    // Assess
    const writes = lambda.stream.bodyWrites.map((write) => write.bytes.toString('utf8'));
    expect(writes).toHaveLength(5);
    const [first, second, third, afterIdle, last] = writes as [string, string, string, string, string];
    for (const [padded, event] of [
      [first, alpha],
      [afterIdle, delta],
    ] as const) {
      expect(Buffer.byteLength(padded)).toBeGreaterThanOrEqual(512);
      expect(padded.startsWith(event)).toBe(true);
      expect(padded.slice(event.length)).toMatch(/^: *\n\n$/);
    }
    expect([second, third, last]).toEqual([beta, gamma, DONE]);
    expect(sseData(lambda.stream.text)).toEqual(sseData(pieces.join('') + DONE));
  });
});

describe('Lambda handler: client disconnect', () => {
  it.each([
    ['without padding', 0],
    ['with padding', 512],
  ])('%s, cancels the upstream body and records a client_abort', async (_name, flushPaddingBytes) => {
    // Prepare
    const lambda = startLambda({ flushPaddingBytes });
    const finished = lambda.invoke(
      restEvent({ path: '/chat/completions', headers: authorized, body: CHAT_BODY }),
    );
    const settled = finished.then(
      () => undefined,
      (error: unknown) => error,
    );
    const body = await lambda.upstream.nextBody();
    body.send(chatChunk('alpha'));
    await lambda.stream.waitForText(chatChunk('alpha'));

    // Act: the connection to the client breaks mid-stream.
    lambda.stream.destroy(new Error('client went away'));

    // Assess
    await body.waitForCancel();
    expect(body.wasCancelled).toBe(true);
    expect(body.request.signal.aborted).toBe(true);
    const [record] = await lambda.ledger.waitFor(1);
    expect(record).toEqual(
      expect.objectContaining({
        requestId: 'req-1',
        tenantId: 'tenant-l',
        outcome: 'client_abort',
        status: 200,
        // No usage chunk came: the prompt and the one token relayed are counted, and marked estimated.
        exact: false,
        usage: { inputTokens: expect.any(Number), cachedInputTokens: 0, outputTokens: 1, reasoningTokens: 0 },
      }),
    );
    expect(record?.usage.inputTokens).toBeGreaterThan(0);
    expect(await settled).toBeInstanceOf(Error);
    expect(lambda.log.list('upstream:')).toEqual([`upstream:${chatChunk('alpha')}`, 'upstream:cancelled']);
  });
});

describe('Lambda handler: events with header values a web Request could not hold', () => {
  it('serves a request whose header value is outside Latin-1, as node:http would', async () => {
    // Prepare
    const lambda = startLambda({ upstream: answersAtOnce(chatChunk('ok'), DONE) });
    const event = functionUrlEvent({
      rawPath: '/v1/chat/completions',
      headers: { ...authorized, 'x-title': 'Zażółć app' },
      body: CHAT_BODY,
    });
    // Act
    await lambda.invoke(event);
    // Assess
    expect(lambda.stream.prelude?.statusCode).toBe(200);
  });

  it('serves an event whose Host header is not a valid authority: the gateway never reads the host', async () => {
    // Prepare
    const lambda = startLambda();
    const event = functionUrlEvent({
      rawPath: '/v1/models',
      method: 'GET',
      headers: { ...authorized, host: 'bad host' },
    });
    // Act
    await lambda.invoke(event);
    // Assess
    expect(lambda.stream.prelude?.statusCode).toBe(200);
    const body = JSON.parse(Buffer.concat(lambda.stream.writes.map((write) => write.bytes)).toString('utf8'));
    expect(body.object).toBe('list');
  });
});
