// The Valkey clients and adapter beyond the contract: IAM auth tokens, a young token for every connection,
// and failing fast (then recovering) when servers go away.
import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { Cluster, Redis } from 'iovalkey';
import {
  type CredentialsProvider,
  elastiCacheClient,
  iamAuthToken,
  localRedisClient,
  tokenAuthCluster,
} from '../../lambda/adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../../lambda/adapters/valkey/response-cache.ts';
import type { ResponseCache } from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import {
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
  whenReady,
} from '../fixtures/redis-cluster.ts';
import { aCacheKey } from './contracts/response-cache.contract.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `attempt` every 100 ms until it resolves; rejects with its last error after `tries`. */
async function eventually<T>(attempt: () => Promise<T>, tries = 100): Promise<T> {
  for (let i = 1; ; i += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= tries) throw error;
      await sleep(100);
    }
  }
}

const SIGNED_AT = Date.UTC(2025, 0, 2, 3, 4, 5);
const KEYS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

/** SigV4 query presigning written out from the AWS spec, to check the signer's output against. */
function expectedSignature(query: string, host: string, region: string): string {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
  const canonicalQuery = query
    .split('&')
    .sort((a, b) => (a.split('=')[0] ?? '').localeCompare(b.split('=')[0] ?? ''))
    .join('&');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}`, '', 'host', sha256('')].join('\n');
  const scope = `20250102/${region}/elasticache/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', '20250102T030405Z', scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${KEYS.secretAccessKey}`, '20250102');
  for (const part of [region, 'elasticache', 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

describe('iamAuthToken', () => {
  it.each([
    ['long-term keys', undefined, ''],
    [
      'a role session (Lambda)',
      'IQoJb3JpZ2luX2VjE+session/token=',
      'X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2Bsession%2Ftoken%3D&',
    ],
  ])(
    'is the presigned connect URL of the serverless cache, without http://: %s',
    async (_case, sessionToken, tokenParam) => {
      // Prepare
      const credentials: CredentialsProvider = async () => ({ ...KEYS, sessionToken });

      // Act
      const token = await iamAuthToken({
        cacheName: 'prod-gateway-cache-1a2b3c4d',
        userId: 'prod-gateway-fn-5e6f7a8b',
        region: 'eu-west-1',
        credentials,
        now: () => SIGNED_AT,
      });

      // Assess
      const query =
        'Action=connect&User=prod-gateway-fn-5e6f7a8b&ResourceType=ServerlessCache&' +
        tokenParam +
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&' +
        'X-Amz-Credential=AKIDEXAMPLE%2F20250102%2Feu-west-1%2Felasticache%2Faws4_request&' +
        'X-Amz-Date=20250102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host';
      const signature = expectedSignature(query, 'prod-gateway-cache-1a2b3c4d', 'eu-west-1');
      expect(token).toBe(`prod-gateway-cache-1a2b3c4d/?${query}&X-Amz-Signature=${signature}`);
    },
  );
});

describe('elastiCacheClient', () => {
  const options = {
    endpoint: 'prod-gateway-cache-1a2b3c4d-abcdef.serverless.euw1.cache.amazonaws.com:6379',
    cacheName: 'prod-gateway-cache-1a2b3c4d',
    userId: 'prod-gateway-fn-5e6f7a8b',
    region: 'eu-west-1',
  };

  it('is a lazy TLS cluster client, failing fast, that logs in as the cache user and keeps host names', async () => {
    // Prepare
    let signings = 0;
    const credentials: CredentialsProvider = async () => {
      signings += 1;
      return KEYS;
    };

    // Act
    const client = elastiCacheClient({ ...options, credentials });

    // Assess
    const resolved = await new Promise((resolve) =>
      client.options.dnsLookup?.('node.serverless.euw1.cache.amazonaws.com', (error, address) =>
        resolve({ error, address }),
      ),
    );
    expect(resolved).toStrictEqual({ error: null, address: 'node.serverless.euw1.cache.amazonaws.com' });
    expect(client.options).toMatchObject({
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: { tls: {}, username: options.userId, connectTimeout: 1_000, commandTimeout: 500 },
    });
    expect([client.status, signings]).toStrictEqual(['wait', 0]);
  });

  it('rejects an endpoint that is not host:port', () => {
    expect(() => elastiCacheClient({ ...options, endpoint: 'no-port.example.com' })).toThrow(
      '`endpoint` must be host:port, got: "no-port.example.com"',
    );
  });

  it('connects with an IAM token of the role, signed again once it is 5 minutes old', async () => {
    // Prepare: a server that accepts and never answers, so each attempt waits out its timeout and retries.
    const silent = await silentServer();
    const clock = new FakeClock(SIGNED_AT);
    let signings = 0;
    const credentials: CredentialsProvider = async () => {
      signings += 1;
      return KEYS;
    };
    const client = elastiCacheClient({
      ...options,
      endpoint: `127.0.0.1:${silent.port}`,
      credentials,
      now: () => clock.now(),
    });
    const tokenAt = (now: number) =>
      iamAuthToken({ ...options, credentials: async () => KEYS, now: () => now });
    /** The password the node in the pool (the endpoint) presents, once the `signings`-th signature is in. */
    const passwordAfter = (count: number) =>
      eventually(async () => {
        const password = client.nodes()[0]?.options.password;
        if (signings < count || password === undefined) throw new Error(`${signings} signings so far`);
        return password;
      }, 50);

    try {
      // Act
      client.connect().catch(() => {});
      const first = await passwordAfter(1);
      clock.advance(5 * 60_000);
      const second = await passwordAfter(2);

      // Assess
      expect(first).toBe(await tokenAt(SIGNED_AT));
      expect(second).toBe(await tokenAt(SIGNED_AT + 5 * 60_000));
    } finally {
      client.disconnect();
      await silent.close();
    }
  }, 15_000);
});

/** A TCP server that accepts connections and never says a word. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('tokenAuthCluster on a cluster whose user logs in with expiring tokens', () => {
  const ISSUABLE = 40;
  const clock = new FakeClock(SIGNED_AT);
  let cluster: RedisCluster | undefined;
  let client: Cluster | undefined;
  let cache: ResponseCache;
  let signed = 0;
  const errors: Error[] = [];
  const refusedLogins = () =>
    errors.filter((e) => /WRONGPASS|NOAUTH|NOPERM/.test(e.message)).map((e) => e.message);
  const admin = (index: number, ...args: string[]) =>
    (cluster as RedisCluster).cli(
      index,
      '--user',
      'admin',
      '--pass',
      'admin-secret',
      '--no-auth-warning',
      ...args,
    );
  const onEveryNode = (...args: string[]) =>
    Promise.all((cluster as RedisCluster).nodes.map((_, index) => admin(index, ...args)));
  /** What 16 minutes do to IAM tokens: every one signed so far expires. */
  const expireTokensSignedSoFar = async () => {
    clock.advance(16 * 60_000);
    const expired = Array.from({ length: signed }, (_, i) => `<token-${i + 1}`);
    await onEveryNode('ACL', 'SETUSER', 'gateway', ...expired);
  };

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    const tokens = Array.from({ length: ISSUABLE }, (_, i) => `>token-${i + 1}`);
    for (const [index] of cluster.nodes.entries()) {
      await cluster.cli(index, 'ACL', 'SETUSER', 'admin', 'on', '>admin-secret', '~*', '&*', '+@all');
      await cluster.cli(index, 'ACL', 'SETUSER', 'gateway', 'on', ...tokens, '~*', '+@all');
      // Without logging in, only what the fixture itself asks (PING, CLUSTER INFO and KEYSLOT) is allowed.
      await cluster.cli(
        index,
        'ACL',
        'SETUSER',
        'default',
        '-@all',
        '+ping',
        '+cluster|info',
        '+cluster|keyslot',
      );
    }
    client = tokenAuthCluster(cluster.nodes, {
      username: 'gateway',
      // As slow as fetching credentials can be: longer than the cluster waits before it reconnects.
      password: async () => {
        await sleep(300);
        signed += 1;
        return `token-${signed}`;
      },
      now: () => clock.now(),
    });
    client.on('error', (error: Error) => errors.push(error));
    client.on('node error', (error: Error) => errors.push(error));
    cache = valkeyResponseCache(client);
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('logs every connection in as the user with a signed password', async () => {
    // Act
    await (client as Cluster).connect();
    await cache.set(aCacheKey('acme'), 'answer', 60);

    // Assess
    expect(await cache.get(aCacheKey('acme'))).toBe('answer');
    expect(await (client as Cluster).call('ACL', 'WHOAMI')).toBe('gateway');
    expect(signed).toBeGreaterThanOrEqual(1);
    expect(refusedLogins()).toStrictEqual([]);
  });

  it('signs again when the server drops its connections (the 12-hour limit) after the tokens expired', async () => {
    // Prepare
    await cache.set(aCacheKey('acme'), 'answer', 60);
    const signedBefore = signed;
    await expireTokensSignedSoFar();
    errors.length = 0;

    // Act
    await onEveryNode('CLIENT', 'KILL', 'USER', 'gateway');
    const answer = await eventually(() => cache.get(aCacheKey('acme')));

    // Assess
    expect(answer).toBe('answer');
    expect(signed).toBeGreaterThan(signedBefore);
    expect(refusedLogins()).toStrictEqual([]);
  }, 15_000);

  it('signs again before the cluster reconnects by itself after the tokens expired', async () => {
    // Prepare
    const signedBefore = signed;
    await expireTokensSignedSoFar();
    errors.length = 0;
    const reconnected = once(client as Cluster, 'ready');

    // Act: what the cluster does when it has lost every node, with no command asking for it.
    (client as Cluster).disconnect(true);
    await reconnected;

    // Assess
    expect(signed).toBeGreaterThan(signedBefore);
    expect(signed).toBeLessThanOrEqual(ISSUABLE);
    expect(refusedLogins()).toStrictEqual([]);
    expect(await cache.get(aCacheKey('acme'))).toBe('answer');
  }, 15_000);

  it('goes on with the token it has when signing fails, and signs again on the next attempt', async () => {
    // Prepare: a second client whose first signature fails.
    let attempts = 0;
    const failures: Error[] = [];
    const other = tokenAuthCluster((cluster as RedisCluster).nodes, {
      username: 'gateway',
      password: async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('credentials are not available yet');
        signed += 1;
        return `token-${signed}`;
      },
      now: () => clock.now(),
    });
    other.on('error', (error: Error) => failures.push(error));

    try {
      // Act
      other.connect().catch(() => {});
      const answer = await eventually(() => valkeyResponseCache(other).get(aCacheKey('acme')));

      // Assess
      expect(answer).toBe('answer');
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(failures.map((e) => e.message)).toContain('credentials are not available yet');
    } finally {
      other.disconnect();
    }
  }, 15_000);
});

describe('failing fast on a local cluster', () => {
  let cluster: RedisCluster | undefined;
  let client: Redis | Cluster | undefined;
  let cache: ResponseCache;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = localRedisClient(cluster.nodes);
    await whenReady(client);
    cache = valkeyResponseCache(client);
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  /** A key whose slot node `index` owns. */
  async function keyOnNode(index: number): Promise<string> {
    for (let i = 0; ; i += 1) {
      const key = aCacheKey(`tenant-${i}`);
      if ((await (cluster as RedisCluster).nodeOf(key)) === index) return key;
    }
  }

  describe('with one node stopped', () => {
    let onStopped: string;
    let onLive: string;

    beforeAll(async () => {
      onStopped = await keyOnNode(1);
      onLive = await keyOnNode(0);
      await cache.set(onStopped, 'lost', 60);
      await cache.set(onLive, 'kept', 60);
      await cluster?.stopNode(1);
    }, 15_000);

    afterAll(async () => {
      await cluster?.startNode(1);
    }, 15_000);

    // The test timeout is the bound: the node is gone, not slow, and the client must not wait it out.
    it('rejects a lookup of a key on it', async () => {
      await expect(cache.get(onStopped)).rejects.toThrow();
    }, 1_500);

    it('still answers for keys on the other nodes', async () => {
      expect(await cache.get(onLive)).toBe('kept');
    }, 1_500);
  });

  describe('with every node stopped', () => {
    beforeAll(async () => {
      await Promise.all((cluster as RedisCluster).nodes.map((_, index) => cluster?.stopNode(index)));
    }, 15_000);

    it.each([
      ['get', () => cache.get(aCacheKey('acme'))],
      ['set', () => cache.set(aCacheKey('acme'), 'answer', 60)],
    ])(
      'rejects a %s',
      async (_name, operation) => {
        await expect(operation()).rejects.toThrow();
      },
      1_500,
    );

    it('rejects twenty operations in a row without waiting on any of them', async () => {
      // Act
      const outcomes: string[] = [];
      for (let i = 0; i < 10; i += 1) {
        for (const operation of [
          () => cache.get(aCacheKey(`t${i}`)),
          () => cache.set(aCacheKey(`t${i}`), 'a', 60),
        ]) {
          outcomes.push(
            await operation().then(
              () => 'resolved',
              () => 'rejected',
            ),
          );
        }
      }

      // Assess
      expect(outcomes).toStrictEqual(Array(20).fill('rejected'));
    }, 1_500);

    describe('once the nodes are back', () => {
      beforeAll(async () => {
        await Promise.all((cluster as RedisCluster).nodes.map((_, index) => cluster?.startNode(index)));
      }, 15_000);

      it('the same client serves again by itself', async () => {
        // Act
        await eventually(() => cache.set(aCacheKey('acme'), 'after the outage', 60));

        // Assess
        expect(await cache.get(aCacheKey('acme'))).toBe('after the outage');
      }, 15_000);

      it('a new client serves too', async () => {
        // Prepare
        const fresh = localRedisClient(
          (cluster as RedisCluster).nodes.map((n) => `${n.host}:${n.port}`).join(','),
        );
        try {
          await whenReady(fresh);

          // Act
          await valkeyResponseCache(fresh).set(aCacheKey('globex'), 'new client', 60);

          // Assess
          expect(await valkeyResponseCache(fresh).get(aCacheKey('globex'))).toBe('new client');
        } finally {
          fresh.disconnect();
        }
      }, 15_000);
    });
  });
});

describe('failing fast on one server', () => {
  let server: RedisServer | undefined;
  let client: Redis | Cluster | undefined;
  let cache: ResponseCache;

  beforeAll(async () => {
    server = await startRedisServer();
    client = localRedisClient(server.url);
    await whenReady(client);
    cache = valkeyResponseCache(client);
    await cache.set(aCacheKey('acme'), 'answer', 60);
    await server.stopServer();
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it.each([
    ['get', () => cache.get(aCacheKey('acme'))],
    ['set', () => cache.set(aCacheKey('acme'), 'answer', 60)],
  ])(
    'rejects a %s while the server is down',
    async (_name, operation) => {
      await expect(operation()).rejects.toThrow();
    },
    1_500,
  );

  it('serves again, by itself, once the server is back', async () => {
    // Prepare
    await server?.startServer();

    // Act
    await eventually(() => cache.set(aCacheKey('acme'), 'after the outage', 60));

    // Assess
    expect(await cache.get(aCacheKey('acme'))).toBe('after the outage');
  }, 15_000);
});

describe('localRedisClient', () => {
  it.each([
    ['no port', '127.0.0.1', '`REDIS_CLUSTER_NODES` must be host:port, got: "127.0.0.1"'],
    [
      'a port out of range',
      '127.0.0.1:7000,127.0.0.1:70000',
      '`REDIS_CLUSTER_NODES` must be host:port, got: "127.0.0.1:70000"',
    ],
    ['no node at all', ' , ', "`REDIS_CLUSTER_NODES` must list host:port pairs, got: ' , '"],
  ])('refuses a node list with %s', (_case, nodes, message) => {
    expect(() => localRedisClient(nodes)).toThrow(message);
  });
});
