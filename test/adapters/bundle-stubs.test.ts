// The modules the Lambda bundles hold in place of dependencies of dependencies (lambda/adapters/bundle-stubs,
// aliased in scripts/bundle.ts and lib/constructs/bundling.ts) do what those dependencies do for the bundle:
// each is checked against the package it replaces.
import { createRequire } from 'node:module';
import { jest } from '@jest/globals';
import { Sha256 as RealSha256 } from '@smithy/core/checksum';
import fc from 'fast-check';
import createDebug from '../../lambda/adapters/bundle-stubs/debug.ts';
import * as commands from '../../lambda/adapters/bundle-stubs/iovalkey-commands.ts';
import LRUCache from '../../lambda/adapters/bundle-stubs/lru-cache.ts';
import { Sha256 } from '../../lambda/adapters/bundle-stubs/smithy-checksum.ts';
import {
  EventStreamSerde,
  eventStreamSerdeProvider,
} from '../../lambda/adapters/bundle-stubs/smithy-event-streams.ts';

// The replaced packages are CommonJS dependencies of iovalkey and the SDK: loaded as Node loads them.
const require = createRequire(import.meta.url);
const realCommands = require('@iovalkey/commands') as typeof import('@iovalkey/commands');
const commandsJson = require('@iovalkey/commands/dist/commands.json') as Record<
  string,
  { flags: string[]; keyStart: number; keyStop: number; step: number }
>;
const MnemonistLRUCache = require('mnemonist/lru-cache') as typeof import('mnemonist/lru-cache').default;

/** What an operation did: its result, or the message it threw. */
const outcome = (run: () => unknown): unknown => {
  try {
    return { value: run() };
  } catch (error) {
    return { threw: (error as Error).message };
  }
};

describe('debug stub', () => {
  it('makes debuggers that are off, as the real ones are when DEBUG is not set, and print nothing', () => {
    // Prepare
    const previous = process.env.DEBUG;
    delete process.env.DEBUG;
    const realDebug = require('debug') as (namespace: string) => { enabled: boolean | undefined };
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);

    try {
      // Act
      const debug = createDebug('ioredis:redis');
      const output = debug('status[%s]: %s -> %s', 'localhost:6379', 'connecting', 'connect');

      // Assess
      // iovalkey reads `enabled` only as a condition (the real one is undefined until DEBUG is set).
      expect(realDebug('ioredis:redis').enabled).toBeFalsy();
      expect(debug.enabled).toBe(false);
      expect(debug.namespace).toBe('ioredis:redis');
      expect(debug.extend('child').namespace).toBe('ioredis:redis:child');
      expect(output).toBeUndefined();
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
      if (previous !== undefined) process.env.DEBUG = previous;
    }
  });
});

describe('@smithy/core/event-streams stub', () => {
  it('fails an event-stream operation with what to change, should a bundled client ever have one', () => {
    expect(() => eventStreamSerdeProvider({})).toThrow(/event streams are not in this bundle/);
    expect(() => new EventStreamSerde({})).toThrow(/remove the alias in scripts\/bundle\.ts/);
  });
});

describe('mnemonist/lru-cache stub', () => {
  const keys = ['a', 'b', 'c', 'd', 'e'];
  // Mostly sets and gets, over more keys than the cache holds: evictions, and recency that decides them.
  const op = fc.record({
    name: fc.oneof(
      { weight: 4, arbitrary: fc.constant('set' as const) },
      { weight: 3, arbitrary: fc.constant('get' as const) },
      { weight: 1, arbitrary: fc.constantFrom('peek' as const, 'has' as const) },
      { weight: 1, arbitrary: fc.constant('clear' as const) },
    ),
    key: fc.constantFrom(...keys),
    value: fc.integer(),
  });

  it('answers every sequence of operations as mnemonist does: the same values, hits and evictions', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(op, { minLength: 5, maxLength: 60 }),
        (capacity, ops) => {
          const stub = new LRUCache<string, number>(capacity);
          const real = new MnemonistLRUCache<string, number>(capacity);
          for (const { name, key, value } of ops) {
            if (name === 'set') {
              stub.set(key, value);
              real.set(key, value);
            } else if (name === 'clear') {
              stub.clear();
              real.clear();
            } else {
              expect(stub[name](key)).toEqual(real[name](key));
            }
            expect(stub.size).toBe(real.size);
          }
          for (const key of keys) expect(stub.peek(key)).toEqual(real.peek(key));
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([0, -1, '3'])('refuses capacity %p, as mnemonist does', (capacity) => {
    const make = (Cache: typeof LRUCache) => () => new Cache(capacity as number);
    expect(outcome(make(LRUCache))).toEqual(outcome(make(MnemonistLRUCache as unknown as typeof LRUCache)));
    expect(outcome(make(LRUCache))).toHaveProperty('threw');
  });
});

describe('@iovalkey/commands stub', () => {
  /** The stub's TABLE for the package's commands.json: what to paste into the stub when the package changes. */
  const encode = (table: typeof commandsJson): string => {
    const entries = Object.entries(table).map(([name, spec]) => {
      const flags = spec.flags.map((flag) => {
        const index = (commands.FLAGS as readonly string[]).indexOf(flag);
        if (index === -1) throw new Error(`flag ${flag} of ${name} is not in the stub's FLAGS: add it there`);
        return String.fromCharCode(97 + index);
      });
      const keys = commands.KEY_SPECS.findIndex(
        ([start, stop, step]) => start === spec.keyStart && stop === spec.keyStop && step === spec.step,
      );
      if (keys === -1)
        throw new Error(`the key spec of ${name} is not in the stub's KEY_SPECS: add it there`);
      return `${name}:${flags.join('')}${keys}`;
    });
    const lines: string[] = [];
    for (const entry of entries) {
      const last = lines.at(-1);
      if (last !== undefined && last.length + 1 + entry.length <= 106)
        lines[lines.length - 1] = `${last} ${entry}`;
      else lines.push(entry);
    }
    return lines.join('\n');
  };

  it('holds the package’s table, arities aside', () => {
    expect(commands.TABLE.trim()).toBe(encode(commandsJson));
    const withoutArity = Object.fromEntries(
      Object.entries(commandsJson).map(([name, { flags, keyStart, keyStop, step }]) => [
        name,
        { flags, keyStart, keyStop, step },
      ]),
    );
    expect(commands.COMMANDS).toEqual(withoutArity);
  });

  it('lists the same commands in the same order', () => {
    expect(commands.list).toEqual(realCommands.list);
  });

  // Names of Object.prototype members too: the package looks commands up in a plain object.
  const names = [...realCommands.list, 'constructor', 'toString', 'hasOwnProperty', '__proto__', 'nope', ''];

  it('knows the same commands and flags', () => {
    const flags = [...commands.FLAGS, 'nope', 'constructor'];
    for (const name of names) {
      expect(commands.exists(name)).toBe(realCommands.exists(name));
      for (const flag of flags) {
        expect(outcome(() => commands.hasFlag(name, flag))).toEqual(
          outcome(() => realCommands.hasFlag(name, flag)),
        );
      }
    }
  });

  it('finds the same keys in any arguments of any command', () => {
    const arg = fc.oneof(
      fc.constantFrom('STORE', 'store', 'STOREDIST', 'STREAMS', 'streams', 'GET', 'get', 'BY', 'KEYS', '#'),
      fc.constantFrom('', 'k', 'obj->field', '0', '1', '2', '3', '-1', 'x'),
      fc.integer({ min: -1, max: 4 }),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(arg, { maxLength: 10 }),
        fc.boolean(),
        (name, args, parseExternalKey) => {
          const options = { parseExternalKey };
          expect(outcome(() => commands.getKeyIndexes(name, args, options))).toEqual(
            outcome(() => realCommands.getKeyIndexes(name, args, options)),
          );
        },
      ),
      { numRuns: 5_000 },
    );
    for (const name of names) {
      for (const args of [[], ['k'], ['k', 'v'], ['a', 'b', 'c', 'd', 'e', 'f', 'g']]) {
        expect(outcome(() => commands.getKeyIndexes(name, args))).toEqual(
          outcome(() => realCommands.getKeyIndexes(name, args)),
        );
      }
    }
  });
});

describe('@smithy/core/checksum stub', () => {
  const bytes = fc.uint8Array({ maxLength: 200 });
  const data = fc.oneof(fc.string({ maxLength: 200 }), bytes);
  const secret = fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), bytes), { nil: undefined });

  /** The digests and errors of one use of a hash: updates, a digest, more updates, a digest, a reset. */
  const run = async (
    Hash: typeof Sha256,
    key: string | Uint8Array | undefined,
    chunks: (string | Uint8Array)[],
  ) => {
    const results: unknown[] = [];
    const hash = new Hash(key);
    const attempt = async (step: () => unknown) => {
      try {
        const value = await step();
        results.push(value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value);
      } catch (error) {
        results.push({ threw: (error as Error).message });
      }
    };
    for (const chunk of chunks) await attempt(() => hash.update(chunk));
    await attempt(() => hash.digest());
    await attempt(() => hash.update('more'));
    await attempt(() => hash.digest());
    await attempt(() => hash.reset());
    for (const chunk of chunks) await attempt(() => hash.update(chunk));
    await attempt(() => hash.digest());
    results.push(hash.digestLength);
    return results;
  };

  it('hashes and HMACs as @smithy/core’s Sha256 does, errors included', async () => {
    await fc.assert(
      fc.asyncProperty(secret, fc.array(data, { maxLength: 5 }), async (key, chunks) => {
        expect(await run(Sha256, key, chunks)).toEqual(await run(RealSha256 as typeof Sha256, key, chunks));
      }),
      { numRuns: 300 },
    );
  });

  it('takes an ArrayBuffer as the secret', async () => {
    const key = new TextEncoder().encode('key').buffer;
    const stub = new Sha256(key);
    const real = new RealSha256(key);
    stub.update(Buffer.from('data'));
    real.update(Buffer.from('data'));
    expect(await stub.digest()).toEqual(await real.digest());
  });
});

describe('redis-errors alias', () => {
  it('is the module the package itself exports on this Node', () => {
    expect(require('redis-errors')).toBe(require('redis-errors/lib/modern.js'));
  });
});
