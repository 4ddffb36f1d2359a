// Calls to one configured upstream target by API path (files, uploads, fine-tuning jobs): its URL shape, its
// key, and a fresh read of the key when the upstream answers 401 (a rotated provider key needs no redeploy).
import type { SecretSource, Upstream, UpstreamBody, UpstreamResponse } from '../ports.ts';
import { type GatewayConfig, Provider, type TargetConfig } from './config.ts';
import { serverError } from './errors.ts';
import { readToEnd } from './http.ts';

export interface TargetRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The OpenAI API path after `/v1`, with its query string: `/files/file-1/content`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface TargetClient {
  /** The configured target with this id. */
  target(id: string): TargetConfig | undefined;
  send(target: TargetConfig, request: TargetRequest): Promise<UpstreamResponse>;
}

/** The key header a target expects: Azure's `api-key`, everyone else's `Authorization: Bearer`. */
export const authHeadersFor = async (
  target: TargetConfig,
  secrets: SecretSource,
  fresh: boolean,
): Promise<Record<string, string>> => {
  if (target.secretName === undefined) return {};
  const secret = await secrets.get(target.secretName, { fresh });
  return target.provider === Provider.azureOpenai
    ? { 'api-key': secret }
    : { authorization: `Bearer ${secret}` };
};

/** Azure OpenAI serves the account-level APIs (files, fine-tuning) under `/openai` with an `api-version`. */
const urlOf = (target: TargetConfig, path: string): string => {
  const base = target.baseUrl.replace(/\/+$/, '');
  if (target.provider !== Provider.azureOpenai) return `${base}${path}`;
  const separator = path.includes('?') ? '&' : '?';
  return `${base}/openai${path}${separator}api-version=${encodeURIComponent(target.apiVersion ?? '')}`;
};

export const createTargetClient = (deps: {
  readonly config: GatewayConfig;
  readonly secrets: SecretSource;
  readonly upstream: Upstream;
}): TargetClient => {
  const targets = new Map<string, TargetConfig>();
  for (const route of deps.config.routes) for (const target of route.targets) targets.set(target.id, target);
  return {
    target: (id) => targets.get(id),
    async send(target, request) {
      const send = async (fresh: boolean) =>
        deps.upstream.send({
          url: urlOf(target, request.path),
          method: request.method,
          headers: {
            'user-agent': 'llm-gateway',
            ...request.headers,
            ...(await authHeadersFor(target, deps.secrets, fresh)),
          },
          body: request.body,
          connectTimeoutMs: target.timeouts.connectMs,
          firstByteTimeoutMs: target.timeouts.firstByteMs,
          signal: request.signal ?? new AbortController().signal,
        });
      const response = await send(false);
      if (response.status !== 401 || target.secretName === undefined) return response;
      await response.body.cancel().catch(() => {});
      return send(true);
    },
  };
};

/** The whole body of an upstream response, refusing more than `limit` bytes (a JSON answer is small). */
export const readBody = (body: UpstreamBody, limit = 16 * 1024 * 1024): Promise<Uint8Array> =>
  readToEnd(body.getReader(), limit, () =>
    serverError(502, 'upstream_error', 'The upstream provider returned an answer larger than expected.'),
  );

/** An upstream body as the web stream a Response carries, read only as fast as the client takes it. */
export const webStreamOf = (body: UpstreamBody): ReadableStream<Uint8Array> => {
  if (body instanceof ReadableStream) return body;
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
};
