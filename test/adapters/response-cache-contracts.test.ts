// The ResponseCache contract on the in-memory twin and on Valkey/Redis: a 3-node cluster and one server.
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'iovalkey';
import { MemoryResponseCache } from '../../lambda/adapters/memory/index.ts';
import { localRedisClient } from '../../lambda/adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../../lambda/adapters/valkey/response-cache.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import {
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
  whenReady,
} from '../fixtures/redis-cluster.ts';
import {
  describeResponseCacheContract,
  type ResponseCacheFixture,
} from './contracts/response-cache.contract.ts';

describeResponseCacheContract('memory', async () => {
  const clock = new FakeClock();
  const cache = new MemoryResponseCache(() => clock.now());
  return {
    cache,
    advance: async (ms) => clock.advance(ms),
    entriesPerNode: async () => [cache.size],
  };
});

/** The adapter on `client`, under a prefix of its own: a test counts only its entries and sees no other's. */
function valkeyFixture(
  client: Redis | Cluster,
  cliPerNode: readonly ((...args: string[]) => Promise<string>)[],
): ResponseCacheFixture {
  const keyPrefix = `test-${randomUUID()}:`;
  return {
    cache: valkeyResponseCache(client, { keyPrefix }),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    // Asked of each server itself, not through the client under test.
    entriesPerNode: () =>
      Promise.all(
        cliPerNode.map(async (cli) => {
          const keys = await cli('--scan', '--pattern', `${keyPrefix}*`);
          return keys.split('\n').filter((line) => line !== '').length;
        }),
      ),
  };
}

describe('on a 3-node Redis cluster (REDIS_CLUSTER_NODES)', () => {
  let cluster: RedisCluster | undefined;
  let client: Redis | Cluster | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = localRedisClient(cluster.nodes);
    await whenReady(client);
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  describeResponseCacheContract('valkey', async () => {
    if (cluster === undefined || client === undefined) throw new Error('the Redis cluster did not start');
    const { cli } = cluster;
    return valkeyFixture(
      client,
      cluster.nodes.map(
        (_, index) =>
          (...args: string[]) =>
            cli(index, ...args),
      ),
    );
  });
});

describe('on one Redis server (REDIS_URL)', () => {
  let server: RedisServer | undefined;
  let client: Redis | Cluster | undefined;

  beforeAll(async () => {
    server = await startRedisServer();
    client = localRedisClient(server.url);
    await whenReady(client);
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  describeResponseCacheContract('valkey', async () => {
    if (server === undefined || client === undefined) throw new Error('the Redis server did not start');
    return valkeyFixture(client, [server.cli]);
  });
});
