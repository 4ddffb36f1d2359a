// What every ResponseCache must do; response-cache-contracts.test.ts runs it on memory, a cluster, a server.
import { createHash } from 'node:crypto';
import type { ResponseCache } from '../../../lambda/ports.ts';

export interface ResponseCacheFixture {
  readonly cache: ResponseCache;
  /** Lets `ms` pass for the cache: moves a fake clock, or really waits (a server keeps its own time). */
  advance(ms: number): Promise<void>;
  /** How many of this fixture's entries each node holds: one number per node (a single one if unsharded). */
  entriesPerNode(): Promise<number[]>;
  readonly teardown?: () => Promise<void>;
}

/**
 * A key as the core makes them, `<tenant>:v<version>:<sha256>`: no `{hash tag}`, so all of it picks the slot.
 */
export const aCacheKey = (tenantId: string, request = 'hello'): string =>
  `${tenantId}:v1:${createHash('sha256').update(request).digest('hex')}`;

export function describeResponseCacheContract(
  name: string,
  setup: () => Promise<ResponseCacheFixture>,
): void {
  describe(`ResponseCache contract: ${name}`, () => {
    let fixture: ResponseCacheFixture;
    let cache: ResponseCache;

    beforeEach(async () => {
      fixture = await setup();
      cache = fixture.cache;
    });

    afterEach(async () => {
      await fixture.teardown?.();
    });

    it('answers undefined for a key never set', async () => {
      expect(await cache.get(aCacheKey('acme'))).toBeUndefined();
    });

    it.each([
      ['ASCII JSON', '{"id":"chatcmpl-1","choices":[{"message":{"content":"hi"}}]}'],
      ['unicode (accents, CJK, emoji, NUL)', 'héllo wörld · 你好 · 👋🏽 · \u0000 end'],
      ['an empty string', ''],
      ['1 MiB', 'x'.repeat(1024 * 1024)],
    ])('returns a value it was given: %s', async (_case, value) => {
      // Prepare
      const key = aCacheKey('acme');

      // Act
      await cache.set(key, value, 60);

      // Assess
      expect(await cache.get(key)).toBe(value);
    });

    it('keeps an entry until its TTL and forgets it after', async () => {
      // Prepare
      const key = aCacheKey('acme');
      await cache.set(key, 'cached', 1);
      const before = await cache.get(key);

      // Act
      await fixture.advance(1_100);

      // Assess
      expect(before).toBe('cached');
      expect(await cache.get(key)).toBeUndefined();
    });

    it('replaces a value and its TTL when set again', async () => {
      // Prepare
      const key = aCacheKey('acme');
      await cache.set(key, 'first', 1);

      // Act
      await cache.set(key, 'second', 60);
      await fixture.advance(1_100);

      // Assess
      expect(await cache.get(key)).toBe('second');
    });

    it('keeps the entries of different keys apart', async () => {
      // Prepare
      const mine = aCacheKey('acme');
      const theirs = aCacheKey('globex');

      // Act
      await cache.set(mine, 'acme answer', 60);
      await cache.set(theirs, 'globex answer', 60);

      // Assess
      expect([await cache.get(mine), await cache.get(theirs)]).toStrictEqual([
        'acme answer',
        'globex answer',
      ]);
    });

    it('holds 200 tenants’ entries, spread over every node', async () => {
      // Prepare
      const keys = Array.from({ length: 200 }, (_, i) => aCacheKey(`tenant-${i}`, `request ${i}`));

      // Act
      await Promise.all(keys.map((key, i) => cache.set(key, `answer ${i}`, 60)));

      // Assess
      expect(await Promise.all(keys.map((key) => cache.get(key)))).toStrictEqual(
        keys.map((_, i) => `answer ${i}`),
      );
      const perNode = await fixture.entriesPerNode();
      expect(perNode.reduce((sum, n) => sum + n, 0)).toBe(200);
      expect(perNode.every((n) => n > 0)).toBe(true);
    });
  });
}
