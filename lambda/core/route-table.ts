// Every path the gateway answers, in one table: which methods each takes, whether it needs a key, and whether its
// requests are metered. The one place that answers an unknown path (404 unknown_url) or a wrong method (405 with
// Allow). Paths with ids (`/v1/files/{id}/content`) match by pattern; the rest by a map lookup.

import type { GatewayContext } from './context.ts';
import { ClientApi, type ClientApiName } from './error-bodies.ts';
import { type GatewayError, methodNotAllowed, notServed, unknownUrl } from './errors.ts';
import type { GatewayRequest, GatewayResponse } from './exchange.ts';
import type { RequestState } from './state.ts';

/** Answers one request; `params` are the path's `{…}` segments, still percent-encoded. */
export type RouteHandler = (
  g: GatewayContext,
  state: RequestState,
  request: GatewayRequest,
  params: readonly string[],
) => Promise<GatewayResponse>;

export interface RouteSpec {
  /** `/v1/files/{id}/content`: a `{…}` segment matches one path segment; `{…+}` the rest of the path. */
  readonly path: string;
  readonly methods: Readonly<Record<string, RouteHandler>>;
  /** A gateway key is required (the caller is known before the handler runs). @default true */
  readonly auth?: boolean;
  /** Requests get a usage record however they end (proxied endpoints). @default false */
  readonly metered?: boolean;
  /**
   * A path the OpenAI API has that this gateway does not serve: 404 for every method, also where a `{…}` route
   * would otherwise take it as an id.
   */
  readonly notServed?: boolean;
  /** The API the path belongs to, whose shape its errors take. @default ClientApi.openai */
  readonly api?: ClientApiName;
}

export interface RouteMatch {
  readonly handler: RouteHandler;
  readonly auth: boolean;
  readonly metered: boolean;
  readonly params: readonly string[];
  readonly api: ClientApiName;
}

interface Compiled {
  readonly spec: RouteSpec;
  readonly pattern: RegExp | undefined;
  readonly allowed: readonly string[];
}

const NO_PARAMS: readonly string[] = [];

const compile = (spec: RouteSpec): Compiled => {
  const dynamic = spec.path.includes('{');
  const pattern = dynamic
    ? new RegExp(
        `^${spec.path
          .split('/')
          .map((segment) =>
            segment.endsWith('+}')
              ? '(.+)'
              : segment.startsWith('{')
                ? '([^/]+)'
                : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
          )
          .join('/')}$`,
      )
    : undefined;
  return { spec, pattern, allowed: Object.keys(spec.methods) };
};

export interface RouteTable {
  /** The route for a request; when there is none, a handler that answers the 404 or 405 the client gets. */
  match(method: string, path: string): RouteMatch;
}

/** A match that refuses the request: no key needed to learn that a path or method does not exist. */
const refusal = (error: GatewayError, api: ClientApiName): RouteMatch => ({
  handler: () => Promise.reject(error),
  auth: false,
  metered: false,
  params: NO_PARAMS,
  api,
});

export const createRouteTable = (specs: readonly RouteSpec[]): RouteTable => {
  const exact = new Map<string, Compiled>();
  const patterns: Compiled[] = [];
  for (const spec of specs) {
    const compiled = compile(spec);
    if (compiled.pattern === undefined) {
      if (exact.has(spec.path)) throw new Error(`route ${spec.path} is defined twice`);
      exact.set(spec.path, compiled);
    } else patterns.push(compiled);
  }

  const resolve = (
    compiled: Compiled,
    method: string,
    path: string,
    params: readonly string[],
  ): RouteMatch => {
    const { spec } = compiled;
    const api = spec.api ?? ClientApi.openai;
    if (spec.notServed === true) return refusal(notServed(method, path), api);
    const handler = spec.methods[method];
    if (handler === undefined) return refusal(methodNotAllowed(method, path, compiled.allowed), api);
    return { handler, auth: spec.auth ?? true, metered: spec.metered ?? false, params, api };
  };

  return {
    match(method, path) {
      const found = exact.get(path);
      if (found !== undefined) return resolve(found, method, path, NO_PARAMS);
      for (const compiled of patterns) {
        const groups = compiled.pattern!.exec(path);
        if (groups !== null) return resolve(compiled, method, path, groups.slice(1));
      }
      return refusal(unknownUrl(method, path), ClientApi.openai);
    },
  };
};
