// Calls to a configured upstream target: the one place that builds its URL (through its provider), adds its key,
// and sends again with a freshly read key when the upstream answers 401 (a rotated provider key needs no redeploy).
// Proxied endpoints, files and fine-tuning, and the job tracker all call upstreams through here.
import type { RequestSigner, SecretSource, Upstream, UpstreamBody, UpstreamResponse } from '../../ports.ts';
import type { GatewayConfig, TargetConfig } from '../config.ts';
import { upstreamError } from '../errors.ts';
import type { BodySource } from '../exchange.ts';
import { readToEnd } from '../http.ts';
import { PROVIDERS } from './providers.ts';

/** A call to a target's account-level API (files, uploads, fine-tuning jobs, responses, conversations). */
export interface TargetRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** OpenAI's API path after `/v1`, with its query string: `/files/file-1/content`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A call to a proxied endpoint of a target, for one model. */
export interface EndpointRequest {
  readonly method: string;
  /** OpenAI's path after `/v1`: `/chat/completions`. */
  readonly path: string;
  /** The model as the target knows it (an Azure deployment name is part of the URL). */
  readonly upstreamModel: string;
  /** The model the client asked for: what a translated answer names. @default upstreamModel */
  readonly model?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | undefined;
  readonly signal: AbortSignal;
}

export interface TargetClient {
  /** The configured target with this id. */
  target(id: string): TargetConfig | undefined;
  send(target: TargetConfig, request: TargetRequest): Promise<UpstreamResponse>;
  sendEndpoint(target: TargetConfig, request: EndpointRequest): Promise<UpstreamResponse>;
}

const USER_AGENT = 'llm-gateway';
const NEVER = new AbortController().signal;

export const createTargetClient = (deps: {
  readonly config: GatewayConfig;
  readonly secrets: SecretSource;
  readonly upstream: Upstream;
  /** Signs the requests of providers that take SigV4 (bedrock). */
  readonly signer?: RequestSigner | undefined;
}): TargetClient => {
  const targets = new Map<string, TargetConfig>();
  const bases = new Map<string, string>();
  for (const route of deps.config.routes) {
    for (const target of route.targets) {
      targets.set(target.id, target);
      bases.set(target.id, target.baseUrl.replace(/\/+$/, ''));
    }
  }
  const baseOf = (target: TargetConfig): string => bases.get(target.id) ?? target.baseUrl.replace(/\/+$/, '');

  /**
   * Sends a request to a target with its key (read from its secret, when it has one) and signed when its provider
   * takes SigV4; a 401 is sent again once with the key read afresh. Promises are chained, not awaited: no frame of
   * its own is kept waiting for every request.
   */
  const dispatch = (
    target: TargetConfig,
    url: string,
    method: string,
    headers: Readonly<Record<string, string>> | undefined,
    body: Uint8Array | undefined,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> => {
    const provider = PROVIDERS[target.provider];
    const service = provider.sigV4Service;
    const sendWith = (secret: string | undefined): Promise<UpstreamResponse> => {
      const unsigned =
        secret === undefined
          ? { 'user-agent': USER_AGENT, ...headers }
          : { 'user-agent': USER_AGENT, ...headers, ...provider.authHeaders(secret) };
      const post = (signed: Readonly<Record<string, string>>) =>
        deps.upstream.send({
          url,
          method,
          headers: signed,
          body,
          connectTimeoutMs: target.timeouts.connectMs,
          firstByteTimeoutMs: target.timeouts.firstByteMs,
          signal,
        });
      if (service === undefined) return post(unsigned);
      if (deps.signer === undefined)
        return Promise.reject(
          upstreamError(
            `Target '${target.id}' needs AWS credentials to sign with, and the gateway has none.`,
          ),
        );
      return deps.signer
        .sign({ method, url, headers: unsigned, body }, { service, region: target.region })
        .then((signature) => post({ ...unsigned, ...signature }));
    };
    const { secretName } = target;
    if (secretName === undefined) return sendWith(undefined);
    const withKey = (fresh: boolean) => deps.secrets.get(secretName, { fresh }).then(sendWith);
    return withKey(false).then(async (response) => {
      if (response.status !== 401) return response;
      await response.body.cancel().catch(() => {});
      return withKey(true);
    });
  };

  return {
    target: (id) => targets.get(id),
    // Async: whatever fails on the way (a URL, a key, the adapter) is a rejection, never a throw.
    send: async (target, request) =>
      dispatch(
        target,
        PROVIDERS[target.provider].accountUrl(baseOf(target), target, request.path),
        request.method,
        request.headers,
        request.body,
        request.signal ?? NEVER,
      ),
    async sendEndpoint(target, request) {
      const provider = PROVIDERS[target.provider];
      const translated = provider.translateRequest(request, request.upstreamModel, target);
      const response = await dispatch(
        target,
        provider.endpointUrl(baseOf(target), target, translated.path, request.upstreamModel),
        request.method,
        translated.headers,
        translated.body,
        request.signal,
      );
      return provider.translateResponse(response, translated);
    },
  };
};

/** The whole body of an upstream response, refusing more than `limit` bytes (a JSON answer is small). */
export const readBody = (body: UpstreamBody, limit = 16 * 1024 * 1024): Promise<Uint8Array> =>
  readToEnd(body.getReader(), limit, () =>
    upstreamError('The upstream provider returned an answer larger than expected.'),
  );

/** An upstream body as a response body source, read only as fast as the client takes it. */
export const sourceOfUpstream = (body: UpstreamBody): BodySource => {
  const reader = body.getReader();
  return {
    read: async () => {
      const result = await reader.read();
      return result.done ? { done: true } : { done: false, value: result.value };
    },
    cancel: (reason) => reader.cancel(reason),
  };
};
