// The upstream layer's failover on a fake clock: which target each attempt goes to, what moves a request on, how
// Retry-After is waited for within the budget, what the client is told when every attempt failed, and what a
// client leaving mid-attempt means for billing. The upstream is an in-process one that answers by target.
import { MemoryLogger, MemoryMetrics, MemorySecretSource } from '../../lambda/adapters/memory/index.ts';
import { type GatewayConfigInput, parseGatewayConfig } from '../../lambda/core/config.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import { CircuitBreakers } from '../../lambda/core/routing.ts';
import { newRequestState } from '../../lambda/core/state.ts';
import { createTargetClient } from '../../lambda/core/upstream/client.ts';
import { createFailover, type FailoverRequest } from '../../lambda/core/upstream/failover.ts';
import {
  type Upstream,
  UpstreamError,
  UpstreamFailure,
  type UpstreamRequest,
  type UpstreamResponse,
} from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';

type Answer = UpstreamResponse | UpstreamError | ((request: UpstreamRequest) => Promise<UpstreamResponse>);

const response = (status: number, headers: Record<string, string> = {}, body = '{}'): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: new Response(body).body!,
});

/** Answers each request by the host it goes to, from a script per host; records what reached it. */
const scriptedUpstream = (script: Record<string, Answer[]>) => {
  const sent: UpstreamRequest[] = [];
  const upstream: Upstream = {
    async send(request) {
      sent.push(request);
      const host = new URL(request.url).hostname.split('.')[0]!;
      const answer = script[host]?.shift();
      if (answer === undefined) throw new Error(`no scripted answer left for ${host}`);
      if (answer instanceof UpstreamError) throw answer;
      if (typeof answer === 'function') return answer(request);
      return answer;
    },
  };
  return { upstream, sent, hosts: () => sent.map((request) => new URL(request.url).hostname.split('.')[0]) };
};

const target = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  provider: 'openai-compatible' as const,
  baseUrl: `http://${id}.test/v1`,
  ...extra,
});

const setup = (
  targets: ReturnType<typeof target>[],
  script: Record<string, Answer[]>,
  overrides: Partial<GatewayConfigInput> = {},
) => {
  const config = parseGatewayConfig({ routes: [{ model: 'gpt-test', targets }], ...overrides });
  const clock = new FakeClock();
  const upstream = scriptedUpstream(script);
  const breakers = new CircuitBreakers(config.breaker, clock);
  const logger = new MemoryLogger();
  const metrics = new MemoryMetrics();
  const failover = createFailover({
    client: createTargetClient({ config, secrets: new MemorySecretSource(), upstream: upstream.upstream }),
    breakers,
    clock,
    random: () => 0,
    logger,
    metrics,
    retry: config.retry,
    cooldownMs: config.breaker.cooldownMs,
  });
  const state = newRequestState('req-1', clock.now(), 'POST', '/v1/chat/completions');
  const abort = new AbortController();
  const request: FailoverRequest = {
    route: config.routes[0]!,
    model: 'gpt-test',
    method: 'POST',
    path: '/chat/completions',
    headers: { 'content-type': 'application/json' },
    bodyFor: (model) => new TextEncoder().encode(JSON.stringify({ model })),
    signal: abort.signal,
  };
  return { failover, state, request, abort, clock, breakers, metrics, logger, ...upstream };
};

const thrownBy = async (promise: Promise<unknown>): Promise<GatewayError> => {
  const thrown = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(GatewayError);
  return thrown as GatewayError;
};

describe('failover', () => {
  it('moves to the next target after a 5xx, a connect error, a 429 and a 401, and returns the first success', async () => {
    // Prepare: four targets of one priority, chosen in order (random() = 0 picks the first available)
    const t = setup(
      [target('a'), target('b'), target('c'), target('d'), target('e')],
      {
        a: [response(500)],
        b: [new UpstreamError(UpstreamFailure.connect, 'ECONNREFUSED')],
        c: [response(429)],
        d: [response(401)],
        e: [response(200, {}, '{"ok":true}')],
      },
      { retry: { maxAttempts: 5 } },
    );

    // Act
    const result = await t.failover.send(t.state, t.request);

    // Assess
    expect(t.hosts()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(result).toMatchObject({ kind: 'answered', target: { id: 'e' }, response: { status: 200 } });
    expect(t.state.attempts).toBe(5);
    expect(t.state.targetId).toBe('e');
    expect(t.logger.lines.filter((line) => line.message === 'upstream attempt failed')).toHaveLength(3);
  });

  it('does not fail over a refusal of the request itself (a 400): it is the answer', async () => {
    // Prepare
    const t = setup([target('a'), target('b')], { a: [response(400)], b: [] });

    // Act
    const result = await t.failover.send(t.state, t.request);

    // Assess
    expect(result).toMatchObject({ kind: 'answered', target: { id: 'a' }, response: { status: 400 } });
    expect(t.hosts()).toEqual(['a']);
  });

  it('stops after retry.maxAttempts and says why the last attempt failed, keeping its cause', async () => {
    // Prepare
    const timeout = new UpstreamError(UpstreamFailure.timeout, 'no first byte in 30000 ms');
    const t = setup(
      [target('a'), target('b'), target('c')],
      {
        a: [response(503)],
        b: [timeout],
        c: [response(200)],
      },
      { retry: { maxAttempts: 2 } },
    );

    // Act
    const error = await thrownBy(t.failover.send(t.state, t.request));

    // Assess
    expect(t.hosts()).toEqual(['a', 'b']);
    expect(error).toMatchObject({ status: 504, code: 'upstream_timeout' });
    expect(error.cause).toBe(timeout);
  });

  it.each([
    ['a 5xx', 502, 'upstream_error', [response(502), response(502)]],
    ['refused credentials', 502, 'upstream_auth_failed', [response(401), response(403)]],
    [
      'no connection',
      502,
      'upstream_unreachable',
      [new UpstreamError(UpstreamFailure.connect, 'x'), new UpstreamError(UpstreamFailure.reset, 'y')],
    ],
  ] as const)('answers %s from every target with %i %s', async (_name, status, code, answers) => {
    // Prepare
    const t = setup([target('a'), target('b')], { a: [answers[0]!], b: [answers[1]!] });

    // Act
    const error = await thrownBy(t.failover.send(t.state, t.request));

    // Assess
    expect(error).toMatchObject({ status, code });
    expect(t.state.attempts).toBe(2);
  });

  it('waits for a Retry-After that fits the retry budget, on the clock, and sends again to that target', async () => {
    // Prepare: one target, rate limited for 1.5 s (the budget is 2 s)
    const t = setup([target('a')], { a: [response(429, { 'retry-after': '1.5' }), response(200)] });
    const startedAt = t.clock.now();

    // Act
    const result = await t.failover.send(t.state, t.request);

    // Assess
    expect(result).toMatchObject({ kind: 'answered', response: { status: 200 } });
    expect(t.clock.now() - startedAt).toBe(1_500);
    // The wait is the upstream's time, not the gateway's overhead.
    expect(t.state.upstreamMs).toBe(1_500);
    expect(t.hosts()).toEqual(['a', 'a']);
  });

  it('does not wait past the budget: a 429 with the upstream’s Retry-After', async () => {
    // Prepare
    const t = setup([target('a')], { a: [response(429, { 'retry-after': '30' })] });

    // Act
    const error = await thrownBy(t.failover.send(t.state, t.request));

    // Assess
    expect(error).toMatchObject({
      status: 429,
      code: 'rate_limit_exceeded',
      headers: { 'retry-after': '30' },
    });
    expect(t.clock.now()).toBe(t.state.startedAt);
    // Other requests to that target wait too, until the time it gave.
    expect(t.breakers.isAvailable('a')).toBe(false);
    t.clock.advance(30_000);
    expect(t.breakers.isAvailable('a')).toBe(true);
  });

  it('sends nothing when every circuit is open, and tells the client when to try again', async () => {
    // Prepare: the only target failed often enough to open its circuit
    const t = setup([target('a')], { a: [] }, { breaker: { failureThreshold: 2, cooldownMs: 10_000 } });
    t.breakers.onFailure('a');
    t.breakers.onFailure('a');

    // Act
    const error = await thrownBy(t.failover.send(t.state, t.request));

    // Assess
    expect(error).toMatchObject({
      status: 503,
      code: 'no_healthy_upstream',
      headers: { 'retry-after': '10' },
    });
    expect(t.sent).toHaveLength(0);
    expect(t.state.attempts).toBe(0);
  });

  it('opens a circuit after failureThreshold failures and counts it once', async () => {
    // Prepare
    const t = setup(
      [target('a')],
      { a: [response(500), response(500)] },
      {
        breaker: { failureThreshold: 2 },
        retry: { maxAttempts: 1 },
      },
    );

    // Act
    await thrownBy(t.failover.send(t.state, t.request));
    await thrownBy(t.failover.send(newRequestState('req-2', t.clock.now(), 'POST', '/v1/x'), t.request));

    // Assess
    expect(t.breakers.isAvailable('a')).toBe(false);
    expect(t.metrics.sum('CircuitOpened')).toBe(1);
  });

  it('sends each target the model it knows the request by', async () => {
    // Prepare
    const t = setup([target('a', { model: 'renamed-upstream' })], { a: [response(200)] });

    // Act
    await t.failover.send(t.state, t.request);

    // Assess
    expect(JSON.parse(new TextDecoder().decode(t.sent[0]!.body))).toEqual({ model: 'renamed-upstream' });
  });

  it('reports a client that left while an upstream had the request: its prompt may be billed', async () => {
    // Prepare: the upstream holds the request until the client leaves
    const t = setup([target('a'), target('b')], {
      a: [
        (request) =>
          new Promise((_resolve, reject) =>
            request.signal.addEventListener('abort', () =>
              reject(new UpstreamError(UpstreamFailure.aborted, 'aborted')),
            ),
          ),
      ],
      b: [response(200)],
    });

    // Act
    const sending = t.failover.send(t.state, t.request);
    await new Promise((resolve) => setImmediate(resolve));
    t.abort.abort();
    const result = await sending;

    // Assess: no failover to b, and no circuit marked for a client leaving
    expect(result).toEqual({ kind: 'aborted', inFlight: true });
    expect(t.hosts()).toEqual(['a']);
    expect(t.breakers.isAvailable('a')).toBe(true);
  });

  it('reports a client that left as the upstream answered: an accepted request spent tokens', async () => {
    // Prepare
    const t = setup([target('a')], {
      a: [
        async () => {
          t.abort.abort();
          return response(200);
        },
      ],
    });

    // Act
    const result = await t.failover.send(t.state, t.request);

    // Assess
    expect(result).toEqual({ kind: 'aborted', inFlight: true });
  });

  it('reports a client that left during a Retry-After wait as not in flight: nothing was being generated', async () => {
    // Prepare: a clock whose sleep sees the client leave
    const t = setup([target('a')], { a: [response(429, { 'retry-after': '1' }), response(200)] });
    t.clock.sleep = async (_ms: number, signal?: AbortSignal) => {
      t.abort.abort();
      if (signal?.aborted) throw new Error('aborted');
    };

    // Act
    const result = await t.failover.send(t.state, t.request);

    // Assess
    expect(result).toEqual({ kind: 'aborted', inFlight: false });
    expect(t.hosts()).toEqual(['a']);
  });
});
