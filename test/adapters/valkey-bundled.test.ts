// The ResponseCache contract on the Valkey adapter as the Lambda bundle holds it: iovalkey bundled with
// scripts/bundle.ts's options, so with the stubs of lambda/adapters/bundle-stubs in place of its command table,
// `debug` and redis-errors' index, against a 3-node cluster (slots picked from the stub's key positions) and
// one server.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { Cluster, Redis } from 'iovalkey';
import { lambdaBuildOptions } from '../../scripts/bundle.ts';
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

type Adapter = typeof import('../../lambda/adapters/valkey/clients.ts') &
  typeof import('../../lambda/adapters/valkey/response-cache.ts');

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let outDir: string | undefined;
let adapter: Adapter | undefined;

beforeAll(async () => {
  outDir = mkdtempSync(path.join(os.tmpdir(), 'llm-gateway-valkey-bundle-'));
  const outfile = path.join(outDir, 'valkey.mjs');
  const { entryPoints: _entry, ...options } = lambdaBuildOptions(outfile);
  const { metafile } = await build({
    ...options,
    stdin: {
      contents:
        "export * from './lambda/adapters/valkey/clients.ts';\n" +
        "export * from './lambda/adapters/valkey/response-cache.ts';\n",
      resolveDir: repoRoot,
      sourcefile: 'valkey-bundle-entry.ts',
      loader: 'ts',
    },
    metafile: true,
  });
  // The bundle under test holds the stubs, not the packages they replace.
  const inputs = Object.keys(metafile.inputs);
  expect(inputs).toEqual(
    expect.arrayContaining([
      'lambda/adapters/bundle-stubs/iovalkey-commands.ts',
      'lambda/adapters/bundle-stubs/debug.ts',
      'node_modules/redis-errors/lib/modern.js',
    ]),
  );
  expect(inputs.filter((input) => /@iovalkey\/commands|node_modules\/debug\//.test(input))).toEqual([]);
  adapter = (await import(pathToFileURL(outfile).href)) as Adapter;
}, 30_000);

afterAll(() => {
  if (outDir !== undefined) rmSync(outDir, { recursive: true, force: true });
});

const bundled = (): Adapter => {
  if (adapter === undefined) throw new Error('the adapter was not bundled');
  return adapter;
};

/** The bundled adapter on `client`, under a prefix of its own (as response-cache-contracts.test.ts does). */
function valkeyFixture(
  client: Redis | Cluster,
  cliPerNode: readonly ((...args: string[]) => Promise<string>)[],
): ResponseCacheFixture {
  const keyPrefix = `test-${randomUUID()}:`;
  return {
    cache: bundled().valkeyResponseCache(client, { keyPrefix }),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    entriesPerNode: () =>
      Promise.all(
        cliPerNode.map(async (cli) => {
          const keys = await cli('--scan', '--pattern', `${keyPrefix}*`);
          return keys.split('\n').filter((line) => line !== '').length;
        }),
      ),
  };
}

describe('bundled, on a 3-node Redis cluster', () => {
  let cluster: RedisCluster | undefined;
  let client: Redis | Cluster | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = bundled().localRedisClient(cluster.nodes);
    await whenReady(client);
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  describeResponseCacheContract('valkey (bundled)', async () => {
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

  it('sends a multi-key command to the node of its keys’ slot', async () => {
    if (cluster === undefined || client === undefined) throw new Error('the Redis cluster did not start');
    // Prepare: keys with one hash tag share a slot; MSET and MGET are keyed from their first argument on.
    const keys = ['{tag}a', '{tag}b', '{tag}c'].map((key) => `test-${randomUUID()}:${key}`);

    // Act
    await client.mset(keys[0] ?? '', '1', keys[1] ?? '', '2', keys[2] ?? '', '3');
    const values = await client.mget(...keys);

    // Assess: the values are on the node that owns the slot, as that node's own CLI sees them.
    expect(values).toEqual(['1', '2', '3']);
    const node = await cluster.nodeOf(keys[0] ?? '');
    expect((await cluster.cli(node, 'GET', keys[1] ?? '')).trim()).toBe('2');
  });
});

describe('bundled, on one Redis server', () => {
  let server: RedisServer | undefined;
  let client: Redis | Cluster | undefined;

  beforeAll(async () => {
    server = await startRedisServer();
    client = bundled().localRedisClient(server.url);
    await whenReady(client);
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  describeResponseCacheContract('valkey (bundled)', async () => {
    if (server === undefined || client === undefined) throw new Error('the Redis server did not start');
    return valkeyFixture(client, [server.cli]);
  });
});
