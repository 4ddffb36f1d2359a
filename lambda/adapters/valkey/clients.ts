// Builds the iovalkey clients the entry points hand to valkeyResponseCache: ElastiCache Serverless (IAM auth,
// TLS) and a local Redis/Valkey server or cluster. All fail fast: the core treats cache errors as misses.
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'iovalkey';

/** What signing needs; `fromEnv()` (the Lambda role's keys) and every AWS SDK provider fit. */
export type CredentialsProvider = () => Promise<{
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}>;

export interface ClusterNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** ElastiCache accepts an IAM auth token for 15 minutes after it is signed. */
const TOKEN_EXPIRES_SECONDS = 900;
/** Past this age a token is signed again before it is used: a new connection's token has 10+ minutes left. */
const TOKEN_REFRESH_AFTER_MS = 5 * 60_000;

/**
 * Per node: give up connecting after 1 s and on a command after 0.5 s. The cluster queues nothing while it is
 * not ready (commands reject at once instead: a miss), and reconnects in the background, at most every 2 s.
 */
const FAIL_FAST_NODE: RedisOptions = {
  connectTimeout: 1_000,
  commandTimeout: 500,
  maxRetriesPerRequest: 1,
};
const FAIL_FAST_CLUSTER: ClusterOptions = {
  enableOfflineQueue: false,
  slotsRefreshTimeout: 1_000,
  // A dead node fails the command after a few hops, not after the default 16 (each up to a connect timeout).
  maxRedirections: 3,
  clusterRetryStrategy: (times) => Math.min(times * 100, 2_000),
};
const ignore = (): void => {};

export interface IamAuthTokenRequest {
  readonly cacheName: string;
  readonly userId: string;
  readonly region: string;
  readonly credentials: CredentialsProvider;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * An ElastiCache IAM auth token: a SigV4 presigned `GET http://<cacheName>/?Action=connect&User=<userId>
 * &ResourceType=ServerlessCache` for the `elasticache` service, valid 900 s, without its `http://`.
 */
export async function iamAuthToken(request: IamAuthTokenRequest): Promise<string> {
  const host = request.cacheName.toLowerCase();
  const signer = new SignatureV4({
    service: 'elasticache',
    region: request.region,
    credentials: request.credentials,
    sha256: Hash.bind(null, 'sha256'),
  });
  const presigned = await signer.presign(
    new HttpRequest({
      method: 'GET',
      protocol: 'http:',
      hostname: host,
      path: '/',
      headers: { host },
      query: { Action: 'connect', User: request.userId, ResourceType: 'ServerlessCache' },
    }),
    { expiresIn: TOKEN_EXPIRES_SECONDS, signingDate: new Date((request.now ?? Date.now)()) },
  );
  const query = new URLSearchParams();
  // Every parameter is a single string (ours, then SigV4's), in the order the signer added them.
  for (const [name, value] of Object.entries(presigned.query ?? {})) query.append(name, String(value));
  return `${host}/?${query.toString()}`;
}

export interface TokenAuthClusterOptions extends ClusterOptions {
  /** The user every connection authenticates as. */
  readonly username: string;
  /** Signs a new password (a token that expires); see TokenAuthCluster for when it is called. */
  readonly password: () => Promise<string>;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * A Cluster whose password is a short-lived token. iovalkey reads a node's `options.password` when the node
 * connects, which may be long after it joined the pool, and nodes never reconnect themselves (the cluster
 * replaces a lost node with a new one). So every node's `options.password` is a getter on the latest token,
 * and whatever may open a connection first makes sure that token is young, signing a new one (and waiting
 * for it) if not: a cluster-slot refresh (the first step of every cluster (re)connect, on a connection of
 * its own) and a command (its node may be new). The adapter sends plain commands: pipelines bypass this.
 */
class TokenAuthCluster extends Cluster {
  private latest: { token: string; signedAt: number } | undefined;
  private signing: Promise<string> | undefined;

  constructor(
    nodes: ClusterNodeAddress[],
    options: ClusterOptions,
    private readonly sign: () => Promise<string>,
    private readonly now: () => number,
  ) {
    super(nodes, { ...options, lazyConnect: true });
    this.on('+node', (node: Redis) => {
      Object.defineProperty(node.options, 'password', {
        get: () => this.latest?.token,
        enumerable: true,
        configurable: true,
      });
    });
  }

  override sendCommand(...args: Parameters<Cluster['sendCommand']>): unknown {
    if (this.isYoung()) return super.sendCommand(...args);
    this.afterSigning(() => super.sendCommand(...args));
    return args[0].promise;
  }

  override refreshSlotsCache(...args: Parameters<Cluster['refreshSlotsCache']>): void {
    if (this.isYoung()) {
      super.refreshSlotsCache(...args);
      return;
    }
    this.afterSigning(() => super.refreshSlotsCache(...args));
  }

  /**
   * Runs `action` once a new token is signed, or signing failed: then it goes ahead with the token it has (a
   * live connection needs none; a new one is refused and retried like any failed connection).
   */
  private afterSigning(action: () => unknown): void {
    this.fresh().then(action, (error: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
      action();
    });
  }

  /** A newly signed token; concurrent callers share one signature. */
  private fresh(): Promise<string> {
    this.signing ??= this.sign()
      .then((token) => {
        this.latest = { token, signedAt: this.now() };
        return token;
      })
      .finally(() => {
        this.signing = undefined;
      });
    return this.signing;
  }

  private isYoung(): boolean {
    return this.latest !== undefined && this.now() - this.latest.signedAt < TOKEN_REFRESH_AFTER_MS;
  }
}

/**
 * A lazily connecting Cluster that authenticates every connection with a token from `password()`, signed
 * again once the last one is 5 minutes old (so a new connection's token has 10+ of its 15 minutes left).
 */
export function tokenAuthCluster(
  nodes: readonly ClusterNodeAddress[],
  { username, password, now = Date.now, ...options }: TokenAuthClusterOptions,
): Cluster {
  return new TokenAuthCluster(
    [...nodes],
    { ...options, redisOptions: { ...options.redisOptions, username } },
    password,
    now,
  );
}

export interface ElastiCacheClientOptions {
  /** `host:port` of the serverless cache (`CACHE_ENDPOINT`). */
  readonly endpoint: string;
  /** The serverless cache name (`CACHE_NAME`): tokens are signed for it. */
  readonly cacheName: string;
  /** The IAM-auth ElastiCache user (`CACHE_USER`); its name equals its ID. */
  readonly userId: string;
  readonly region: string;
  /** @default fromEnv() - the Lambda role's keys */
  readonly credentials?: CredentialsProvider;
  /** @default Date.now */
  readonly now?: () => number;
  /** Connection errors; reconnecting is automatic. @default - ignored (commands still reject) */
  readonly onError?: (error: Error) => void;
}

/**
 * ElastiCache Serverless (cluster mode, TLS, IAM auth) in either network mode. Lazily connecting: commands
 * sent before the cluster is ready reject at once, so call `connect()` during cold start.
 */
export function elastiCacheClient(options: ElastiCacheClientOptions): Cluster {
  const { host, port } = parseHostPort(options.endpoint, 'endpoint');
  const credentials = options.credentials ?? fromEnv();
  const now = options.now ?? Date.now;
  const client = tokenAuthCluster([{ host, port }], {
    ...FAIL_FAST_CLUSTER,
    username: options.userId,
    password: () =>
      iamAuthToken({
        cacheName: options.cacheName,
        userId: options.userId,
        region: options.region,
        credentials,
        now,
      }),
    now,
    // The nodes are host names that must stay host names: TLS checks the certificate against them.
    dnsLookup: (address, callback) => callback(null, address),
    redisOptions: { ...FAIL_FAST_NODE, tls: {} },
  });
  client.on('error', options.onError ?? ignore);
  return client;
}

/**
 * A local server for the local entry point and the tests: a `redis://` (or `rediss://`) URL is one server
 * (`REDIS_URL`); `host:port,host:port` or a list of nodes is a cluster (`REDIS_CLUSTER_NODES`). Starts
 * connecting at once (no cold start to hide it in); commands sent before it is ready reject.
 */
export function localRedisClient(
  target: string | readonly ClusterNodeAddress[],
  onError: (error: Error) => void = ignore,
): Redis | Cluster {
  if (typeof target === 'string' && /^rediss?:\/\//.test(target)) {
    const server = new Redis(target, {
      ...FAIL_FAST_NODE,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    });
    server.on('error', onError);
    return server;
  }
  const nodes =
    typeof target === 'string'
      ? target
          .split(',')
          .filter((item) => item.trim() !== '')
          .map((item) => parseHostPort(item.trim(), 'REDIS_CLUSTER_NODES'))
      : [...target];
  if (nodes.length === 0) {
    throw new Error(`\`REDIS_CLUSTER_NODES\` must list host:port pairs, got: '${String(target)}'`);
  }
  const cluster = new Cluster(nodes, { ...FAIL_FAST_CLUSTER, redisOptions: FAIL_FAST_NODE });
  cluster.on('error', onError);
  return cluster;
}

function parseHostPort(value: string, field: string): ClusterNodeAddress {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || port < 1 || port > 65_535) {
    throw new Error(`\`${field}\` must be host:port, got: ${JSON.stringify(value)}`);
  }
  return { host: match[1], port };
}
