// Which requests the response cache may answer or store, for how long, and under which key.
import { createHash } from 'node:crypto';
import type { GatewayConfig, RouteConfig, TierConfig } from './config.ts';
import type { Endpoint } from './endpoints.ts';
import { TokenShape } from './metering.ts';

export const CacheStatus = { hit: 'hit', miss: 'miss', bypass: 'bypass' } as const;
export type CacheStatusName = (typeof CacheStatus)[keyof typeof CacheStatus];

/** What the cache may do for one request. */
export interface CachePlan {
  readonly key: string;
  /** Look the answer up (false for `Cache-Control: no-cache`: refresh instead). */
  readonly read: boolean;
  /** Store the answer when it completes normally. */
  readonly write: boolean;
  readonly ttlSeconds: number;
}

/** Fields that do not change the answer: how it is delivered, and who asked. */
const IGNORED_FIELDS = new Set(['stream', 'stream_options', 'user', 'metadata']);

/** JSON with object keys sorted at every level, so that key order never changes a cache key. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

/**
 * `<tenant>:<version>:<sha256>` of the endpoint, the resolved route and the request without the fields that
 * do not change the answer. The tenant is in every key, so no tenant can read another's entry.
 */
export const cacheKey = (
  tenantId: string,
  version: number,
  endpointPath: string,
  route: RouteConfig,
  body: Record<string, unknown>,
): string => {
  const normalised: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) if (!IGNORED_FIELDS.has(name)) normalised[name] = value;
  const hash = createHash('sha256')
    .update(
      canonicalJson({ endpoint: endpointPath, route: `${route.match}:${route.model}`, request: normalised }),
    )
    .digest('hex');
  return `${tenantId}:v${version}:${hash}`;
};

/** `Cache-Control` request directives the gateway honours. */
export const parseCacheControl = (
  header: string | null,
): { noCache: boolean; noStore: boolean; maxAge: number | undefined } => {
  let noCache = false;
  let noStore = false;
  let maxAge: number | undefined;
  for (const part of (header ?? '').split(',')) {
    const [name = '', value] = part.trim().toLowerCase().split('=', 2);
    if (name === 'no-cache') noCache = true;
    else if (name === 'no-store') noStore = true;
    else if (name === 'max-age' && value !== undefined && /^\d+$/.test(value.trim()))
      maxAge = Number(value.trim());
  }
  return { noCache, noStore, maxAge };
};

/** Generation is deterministic enough to reuse when it is greedy (temperature 0 or unset) and seeded. */
const isDeterministic = (shape: string, body: Record<string, unknown>): boolean => {
  if (shape === TokenShape.embeddings) return true;
  const temperature = body.temperature;
  return (temperature === undefined || temperature === null || temperature === 0) && body.seed !== undefined;
};

export interface CachePlanInput {
  readonly tenantId: string;
  readonly endpointPath: string;
  readonly endpoint: Endpoint;
  readonly route: RouteConfig;
  readonly tier: TierConfig | undefined;
  readonly body: Record<string, unknown>;
  readonly headers: Headers;
  readonly config: GatewayConfig['cache'];
}

/** The plan for a request, or undefined when the cache stays out of it (`x-gateway-cache: bypass`). */
export const planCache = (input: CachePlanInput): CachePlan | undefined => {
  const { endpoint, body, config } = input;
  const shape = endpoint.tokens;
  if (shape === TokenShape.other) return undefined;
  // A Responses stream would have to be replayed as its own event protocol: not cached (decision 008).
  if (shape === TokenShape.responses && body.stream === true) return undefined;
  if (input.route.cache === false) return undefined;
  const tierMode = input.tier?.cache ?? 'deterministic';
  if (tierMode === 'off') return undefined;
  const optIn = (input.headers.get('x-gateway-cache') ?? '').trim().toLowerCase();
  if (optIn === 'off') return undefined;
  if (tierMode !== 'always' && optIn !== 'on' && !isDeterministic(shape, body)) return undefined;
  const control = parseCacheControl(input.headers.get('cache-control'));
  if (control.noStore || control.maxAge === 0) return undefined;
  const ttlSeconds = Math.min(control.maxAge ?? config.defaultTtlSeconds, config.maxTtlSeconds);
  return {
    key: cacheKey(input.tenantId, config.version, input.endpointPath, input.route, body),
    read: !control.noCache,
    write: true,
    ttlSeconds,
  };
};
