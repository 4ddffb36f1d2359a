// The response cache on a real 3-node Redis cluster: hits across slots, and a cluster that goes down mid-test.
import { localRedisClient } from '../../lambda/adapters/valkey/clients.ts';
import { valkeyResponseCache } from '../../lambda/adapters/valkey/response-cache.ts';
import { type FakeUpstream, replyJson, startFakeUpstream } from '../fixtures/fake-upstream.ts';
import { type GatewayHarness, startGateway } from '../fixtures/gateway-harness.ts';
import { type RedisCluster, startRedisCluster, whenReady } from '../fixtures/redis-cluster.ts';

let cluster: RedisCluster;
let upstream: FakeUpstream;
let gateway: GatewayHarness;
let client: ReturnType<typeof localRedisClient>;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  upstream = await startFakeUpstream(
    replyJson(200, {
      id: 'e',
      object: 'list',
      model: 'text-embedding-test',
      data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
      usage: { prompt_tokens: 4, total_tokens: 4 },
    }),
  );
  client = localRedisClient(cluster.nodes);
  // The client queues nothing before it is ready (commands reject: misses, and writes that never happen).
  await whenReady(client);
  gateway = await startGateway(
    {
      routes: [
        {
          model: 'text-embedding-test',
          targets: [{ id: 'e', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
        },
      ],
    },
    { cache: valkeyResponseCache(client) },
  );
}, 30_000);

afterAll(async () => {
  await gateway.close();
  client.disconnect();
  await upstream.close();
  await cluster.stop();
});

const embed = async (input: string) => {
  const response = await gateway.post('/v1/embeddings', { model: 'text-embedding-test', input });
  await response.text();
  await gateway.gateway.drain();
  return { status: response.status, cache: response.headers.get('x-gateway-cache') };
};

describe('response cache on a Redis cluster', () => {
  it('stores and serves entries whose keys land on every node', async () => {
    // Act: 30 different inputs, twice each
    const inputs = Array.from({ length: 30 }, (_, i) => `input ${i}`);
    const first = await Promise.all(inputs.map(embed));
    const second = await Promise.all(inputs.map(embed));

    // Assess
    expect(first.filter((r) => r.status !== 200 || r.cache !== 'miss')).toEqual([]);
    expect(gateway.metrics.sum('CacheErrors')).toBe(0);
    expect(second.filter((r) => r.status !== 200 || r.cache !== 'hit')).toEqual([]);
    // every master holds some of the entries (keys spread over the slots)
    const sizes = await Promise.all(
      [0, 1, 2].map(async (index) => Number((await cluster.cli(index, 'DBSIZE')).trim())),
    );
    expect(sizes.every((size) => size > 0)).toBe(true);
  });

  it('serves from upstream and counts the error when the cluster stops mid-test', async () => {
    // Prepare: a stored answer, then every node stops
    await embed('before the outage');
    expect((await embed('before the outage')).cache).toBe('hit');
    const errorsBefore = gateway.metrics.sum('CacheErrors');
    const callsBefore = upstream.requests.length;
    for (const index of [0, 1, 2]) await cluster.stopNode(index);

    // Act
    const during = await embed('before the outage');

    // Assess
    expect(during.status).toBe(200);
    expect(during.cache).toBe('miss');
    expect(upstream.requests.length).toBe(callsBefore + 1);
    expect(gateway.metrics.sum('CacheErrors')).toBeGreaterThan(errorsBefore);

    // and it recovers once the nodes are back
    for (const index of [0, 1, 2]) await cluster.startNode(index);
  }, 30_000);
});
