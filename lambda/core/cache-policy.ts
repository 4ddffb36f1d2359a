// Which requests the response cache may answer or store, for how long, and under which key.
import { createHash } from 'node:crypto';
import type { GatewayConfig, RouteConfig, TierConfig } from './config.ts';
import type { Endpoint } from './endpoints/catalogue.ts';
import type { RequestHeaders } from './exchange.ts';
import { TokenShape } from './metering.ts';

export const CacheStatus = { hit: 'hit', miss: 'miss', bypass: 'bypass' } as const;
export type CacheStatusName = (typeof CacheStatus)[keyof typeof CacheStatus];

/** What the cache may do for one request. */
export interface CachePlan {
  readonly key: string;
  /** Look the answer up (false for `Cache-Control: no-cache` or `max-age=0`: refresh instead). */
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
  /** What else shapes a stored answer (the response content rules' fingerprint); '' for nothing. */
  variant = '',
): string => {
  const normalised: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) if (!IGNORED_FIELDS.has(name)) normalised[name] = value;
  const hash = createHash('sha256')
    .update(
      canonicalJson({
        endpoint: endpointPath,
        route: `${route.match}:${route.model}`,
        request: normalised,
        ...(variant === '' ? {} : { variant }),
      }),
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

/**
 * Generation is deterministic enough to reuse when it is greedy (temperature 0 or unset) and seeded (Anthropic's
 * Messages: temperature 0). A
 * `seed: null` is no seed: OpenAI treats it as left out.
 */
const isDeterministic = (shape: string, body: Record<string, unknown>): boolean => {
  if (shape === TokenShape.embeddings) return true;
  // Anthropic samples at temperature 1 unless told otherwise, and takes no seed: greedy only when asked for.
  if (shape === TokenShape.messages) return body.temperature === 0;
  const temperature = body.temperature;
  return (
    (temperature === undefined || temperature === null || temperature === 0) &&
    body.seed !== undefined &&
    body.seed !== null
  );
};

/**
 * The endpoints whose entries can be replayed as an SSE stream (`replaySse`). A streamed request to any other
 * endpoint gets no plan: embeddings have no stream form, and a Responses stream is its own event protocol,
 * which is not rebuilt (decision 008). Without a plan the request never reaches the replay.
 */
const STREAM_REPLAYABLE: ReadonlySet<string> = new Set([TokenShape.chat, TokenShape.completions]);

export interface CachePlanInput {
  readonly tenantId: string;
  readonly endpointPath: string;
  readonly endpoint: Endpoint;
  readonly route: RouteConfig;
  readonly tier: TierConfig | undefined;
  readonly body: Record<string, unknown>;
  readonly headers: RequestHeaders;
  readonly config: GatewayConfig['cache'];
  /**
   * Answers are stored as the response content rules left them: entries stored under other rules are not
   * served. @default '' - no response rules
   */
  readonly variant?: string;
}

/** The plan for a request, or undefined when the cache stays out of it (`x-gateway-cache: bypass`). */
export const planCache = (input: CachePlanInput): CachePlan | undefined => {
  const { endpoint, body, config } = input;
  const shape = endpoint.tokens;
  if (shape === TokenShape.other) return undefined;
  if (body.stream === true && !STREAM_REPLAYABLE.has(shape)) return undefined;
  // A background request's reply is a queued job, not the answer: never stored, never served.
  if (body.background === true) return undefined;
  if (input.route.cache === false) return undefined;
  const tierMode = input.tier?.cache ?? 'deterministic';
  if (tierMode === 'off') return undefined;
  const optIn = (input.headers.get('x-gateway-cache') ?? '').trim().toLowerCase();
  if (optIn === 'off') return undefined;
  if (tierMode !== 'always' && optIn !== 'on' && !isDeterministic(shape, body)) return undefined;
  const control = parseCacheControl(input.headers.get('cache-control') ?? null);
  if (control.noStore) return undefined;
  // `max-age=0` accepts nothing older than 0 s (RFC 9111 5.2.1.1): a refresh, like no-cache. The new answer
  // is stored with the default TTL, since an entry that lives 0 s would be no entry.
  const refresh = control.noCache || control.maxAge === 0;
  const requestedTtl = control.maxAge === 0 ? undefined : control.maxAge;
  const ttlSeconds = Math.min(requestedTtl ?? config.defaultTtlSeconds, config.maxTtlSeconds);
  return {
    key: cacheKey(input.tenantId, config.version, input.endpointPath, input.route, body, input.variant),
    read: !refresh,
    write: true,
    ttlSeconds,
  };
};
