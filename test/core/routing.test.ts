import { parseGatewayConfig, type TargetConfig } from '../../lambda/core/config.ts';
import { BreakerState, CircuitBreakers, chooseTarget, createRouteTable } from '../../lambda/core/routing.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';

/** A small deterministic PRNG (mulberry32) so the statistics below are repeatable. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const targets = (...specs: Array<[string, number, number]>): TargetConfig[] =>
  parseGatewayConfig({
    routes: [
      {
        model: 'm',
        targets: specs.map(([id, weight, priority]) => ({
          id,
          weight,
          priority,
          provider: 'openai',
          baseUrl: 'https://x.example/v1',
        })),
      },
    ],
  }).routes[0]!.targets;

describe('createRouteTable', () => {
  const table = createRouteTable(
    parseGatewayConfig({
      routes: [
        { model: 'gpt-4o', targets: [{ id: 'exact', provider: 'openai', baseUrl: 'https://x.example/v1' }] },
        {
          model: 'gpt-',
          match: 'prefix',
          targets: [{ id: 'short', provider: 'openai', baseUrl: 'https://x.example/v1' }],
        },
        {
          model: 'gpt-4o-',
          match: 'prefix',
          targets: [{ id: 'long', provider: 'openai', baseUrl: 'https://x.example/v1' }],
        },
      ],
    }).routes,
  );

  it.each([
    ['gpt-4o', 'exact'],
    ['gpt-4o-mini', 'long'],
    ['gpt-3.5-turbo', 'short'],
  ])('routes %s to %s (exact first, then the longest prefix)', (model, id) => {
    expect(table.resolve(model)?.targets[0]?.id).toBe(id);
  });

  it('finds no route for an unknown model', () => {
    expect(table.resolve('claude')).toBeUndefined();
  });

  it('lists exact routes as models', () => {
    expect(table.modelIds).toEqual(['gpt-4o']);
  });
});

describe('chooseTarget', () => {
  it('respects weights statistically within the best priority', () => {
    // Prepare
    const pool = targets(['a', 1, 0], ['b', 3, 0], ['backup', 100, 1]);
    const random = seeded(42);
    const counts: Record<string, number> = { a: 0, b: 0, backup: 0 };
    // Act
    for (let i = 0; i < 20_000; i++) counts[chooseTarget(pool, () => true, random)!.id]! += 1;
    // Assess: expected 25% / 75%; 20k draws put the standard error near 0.3%
    expect(counts.backup).toBe(0);
    expect(counts.a! / 20_000).toBeGreaterThan(0.23);
    expect(counts.a! / 20_000).toBeLessThan(0.27);
  });

  it('fails over to the next priority only when the best one has no available target', () => {
    const pool = targets(['p1', 1, 0], ['p2', 1, 0], ['b1', 1, 1], ['b2', 1, 2]);
    expect(
      chooseTarget(
        pool,
        (t) => t.id !== 'p1',
        () => 0.99,
      )?.id,
    ).toBe('p2');
    expect(
      chooseTarget(
        pool,
        (t) => t.priority > 0,
        () => 0.5,
      )?.id,
    ).toBe('b1');
    expect(
      chooseTarget(
        pool,
        (t) => t.id === 'b2',
        () => 0.5,
      )?.id,
    ).toBe('b2');
    expect(
      chooseTarget(
        pool,
        () => false,
        () => 0.5,
      ),
    ).toBeUndefined();
  });

  it('never chooses a drained (weight 0) target', () => {
    const pool = targets(['live', 1, 0], ['drained', 0, 0]);
    for (const r of [0, 0.5, 0.999])
      expect(
        chooseTarget(
          pool,
          () => true,
          () => r,
        )?.id,
      ).toBe('live');
    expect(
      chooseTarget(
        pool,
        (t) => t.id === 'drained',
        () => 0.5,
      ),
    ).toBeUndefined();
  });
});

describe('CircuitBreakers', () => {
  const settings = { failureThreshold: 3, windowMs: 10_000, cooldownMs: 5_000 };

  it('opens after the threshold of failures within the window', () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakers(settings, clock);
    expect(breakers.onFailure('t')).toBe(false);
    expect(breakers.onFailure('t')).toBe(false);
    expect(breakers.onFailure('t')).toBe(true);
    expect(breakers.state('t')).toBe(BreakerState.open);
    expect(breakers.isAvailable('t')).toBe(false);
  });

  it('forgets failures older than the window', () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakers(settings, clock);
    breakers.onFailure('t');
    breakers.onFailure('t');
    clock.advance(10_001);
    expect(breakers.onFailure('t')).toBe(false);
    expect(breakers.state('t')).toBe(BreakerState.closed);
  });

  it('lets one probe through after the cooldown; its success closes the circuit', () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakers(settings, clock);
    for (let i = 0; i < 3; i++) breakers.onFailure('t');
    clock.advance(5_000);
    expect(breakers.isAvailable('t')).toBe(true);
    breakers.onAttempt('t');
    expect(breakers.state('t')).toBe(BreakerState.halfOpen);
    expect(breakers.isAvailable('t')).toBe(false); // only one probe at a time
    breakers.onSuccess('t');
    expect(breakers.state('t')).toBe(BreakerState.closed);
    expect(breakers.isAvailable('t')).toBe(true);
  });

  it('re-opens when the probe fails, for a full cooldown', () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakers(settings, clock);
    for (let i = 0; i < 3; i++) breakers.onFailure('t');
    clock.advance(5_000);
    breakers.onAttempt('t');
    expect(breakers.onFailure('t')).toBe(true);
    expect(breakers.state('t')).toBe(BreakerState.open);
    clock.advance(4_999);
    expect(breakers.isAvailable('t')).toBe(false);
    clock.advance(1);
    expect(breakers.isAvailable('t')).toBe(true);
  });

  it('frees the probe slot when a probe never reports back', () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakers(settings, clock);
    for (let i = 0; i < 3; i++) breakers.onFailure('t');
    clock.advance(5_000);
    breakers.onAttempt('t');
    clock.advance(5_000);
    expect(breakers.isAvailable('t')).toBe(true);
  });

  it('holds a target back until its Retry-After has passed', () => {
    const clock = new FakeClock();
    const breakers = new CircuitBreakers(settings, clock);
    breakers.retryAfter('t', clock.now() + 2_000);
    expect(breakers.isAvailable('t')).toBe(false);
    expect(breakers.state('t')).toBe(BreakerState.closed);
    clock.advance(2_000);
    expect(breakers.isAvailable('t')).toBe(true);
  });
});
