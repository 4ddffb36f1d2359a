// Model → target pool resolution, weighted target choice, and a circuit breaker per target.
import type { Clock } from '../ports.ts';
import type { GatewayConfig, RouteConfig, TargetConfig } from './config.ts';

export interface RouteTable {
  /** The route serving a public model name: an exact route first, else the longest matching prefix. */
  resolve(model: string): RouteConfig | undefined;
  /** Public model names that clients can list (exact routes). */
  readonly modelIds: readonly string[];
}

export const createRouteTable = (routes: GatewayConfig['routes']): RouteTable => {
  const exact = new Map<string, RouteConfig>();
  const prefixes: RouteConfig[] = [];
  for (const route of routes) {
    if (route.match === 'exact') exact.set(route.model, route);
    else prefixes.push(route);
  }
  prefixes.sort((a, b) => b.model.length - a.model.length);
  return {
    resolve: (model) => exact.get(model) ?? prefixes.find((route) => model.startsWith(route.model)),
    modelIds: [...exact.keys()],
  };
};

/**
 * Picks a target by weight among those `isAvailable` allows, from the best (lowest) priority that has
 * any. `random` returns a number in [0, 1).
 */
export const chooseTarget = (
  targets: readonly TargetConfig[],
  isAvailable: (target: TargetConfig) => boolean,
  random: () => number,
): TargetConfig | undefined => {
  let bestPriority = Number.POSITIVE_INFINITY;
  let total = 0;
  for (const target of targets) {
    if (target.weight === 0 || target.priority > bestPriority || !isAvailable(target)) continue;
    if (target.priority < bestPriority) {
      bestPriority = target.priority;
      total = 0;
    }
    total += target.weight;
  }
  if (total === 0) return undefined;
  let point = random() * total;
  let last: TargetConfig | undefined;
  for (const target of targets) {
    if (target.weight === 0 || target.priority !== bestPriority || !isAvailable(target)) continue;
    last = target;
    point -= target.weight;
    if (point < 0) return target;
  }
  return last;
};

export const BreakerState = { closed: 'closed', open: 'open', halfOpen: 'half_open' } as const;
export type BreakerStateName = (typeof BreakerState)[keyof typeof BreakerState];

interface TargetHealth {
  state: BreakerStateName;
  failures: number[];
  openedAt: number;
  probeStartedAt: number;
  /** Set by a 429 with Retry-After: no request is sent to the target before this time. */
  retryAt: number;
}

export interface BreakerSettings {
  readonly failureThreshold: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

/**
 * Per-target circuit breakers: `failureThreshold` failures within `windowMs` open the circuit; after
 * `cooldownMs` one probe request is let through (half-open); its success closes the circuit, its failure
 * opens it again. A probe that never reports back frees the slot after another cooldown.
 */
export class CircuitBreakers {
  private readonly health = new Map<string, TargetHealth>();

  constructor(
    private readonly settings: BreakerSettings,
    private readonly clock: Clock,
  ) {}

  private of(targetId: string): TargetHealth {
    let health = this.health.get(targetId);
    if (health === undefined) {
      health = { state: BreakerState.closed, failures: [], openedAt: 0, probeStartedAt: 0, retryAt: 0 };
      this.health.set(targetId, health);
    }
    return health;
  }

  state(targetId: string): BreakerStateName {
    return this.health.get(targetId)?.state ?? BreakerState.closed;
  }

  /** Whether a request may be sent to the target now. Does not change state. */
  isAvailable(targetId: string): boolean {
    const health = this.health.get(targetId);
    if (health === undefined) return true;
    const now = this.clock.now();
    if (now < health.retryAt) return false;
    switch (health.state) {
      case BreakerState.closed:
        return true;
      case BreakerState.open:
        return now - health.openedAt >= this.settings.cooldownMs;
      case BreakerState.halfOpen:
        return now - health.probeStartedAt >= this.settings.cooldownMs;
    }
  }

  /** Call when a request is sent: an open circuit past its cooldown turns half-open with this request as the probe. */
  onAttempt(targetId: string): void {
    const health = this.health.get(targetId);
    if (health === undefined || health.state === BreakerState.closed) return;
    health.state = BreakerState.halfOpen;
    health.probeStartedAt = this.clock.now();
  }

  onSuccess(targetId: string): void {
    const health = this.health.get(targetId);
    if (health === undefined) return;
    health.state = BreakerState.closed;
    health.failures.length = 0;
  }

  /** Returns true when this failure opened the circuit. */
  onFailure(targetId: string): boolean {
    const health = this.of(targetId);
    const now = this.clock.now();
    if (health.state === BreakerState.halfOpen) {
      health.state = BreakerState.open;
      health.openedAt = now;
      return true;
    }
    if (health.state === BreakerState.open) return false;
    health.failures.push(now);
    while (health.failures.length > 0 && now - (health.failures[0] ?? now) > this.settings.windowMs)
      health.failures.shift();
    if (health.failures.length >= this.settings.failureThreshold) {
      health.state = BreakerState.open;
      health.openedAt = now;
      health.failures.length = 0;
      return true;
    }
    return false;
  }

  /** Honour a provider's Retry-After for every request, not only the one that received it. */
  retryAfter(targetId: string, until: number): void {
    const health = this.of(targetId);
    health.retryAt = Math.max(health.retryAt, until);
  }

  /** The earliest time a target blocked only by Retry-After becomes usable, if any. */
  retryAt(targetId: string): number {
    return this.health.get(targetId)?.retryAt ?? 0;
  }
}
