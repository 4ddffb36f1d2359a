// Stands in for `@iovalkey/commands` (0.1.0, iovalkey's table of Valkey commands) in the Lambda bundles (esbuild
// alias: scripts/bundle.ts BUNDLE_STUB_ALIASES, lib/constructs/bundling.ts). iovalkey asks it which commands exist
// (one client method each), their flags (readonly, loading) and where their keys are (the cluster slot of a
// command). The package carries that table as 18 KB of JSON, with each command's arity, which nothing reads; here
// it is the same table in 3 KB, and the functions below are the package's own (dist/index.js), unchanged.
// test/adapters/bundle-stubs.test.ts checks both against the package: if iovalkey updates it, that test fails
// and prints the table to paste here.

interface CommandSpec {
  readonly flags: readonly string[];
  readonly keyStart: number;
  readonly keyStop: number;
  readonly step: number;
}

/** Flag `a` is FLAGS[0], `b` FLAGS[1], … */
export const FLAGS = [
  'write',
  'denyoom',
  'fast',
  'noscript',
  'loading',
  'stale',
  'no_auth',
  'allow_busy',
  'admin',
  'no_async_loading',
  'readonly',
  'blocking',
  'movablekeys',
  'skip_monitor',
  'no_mandatory_keys',
  'skip_slowlog',
  'no_multi',
  'pubsub',
  'asking',
] as const;

/** [keyStart, keyStop, step], by the digit that ends a command's entry. */
export const KEY_SPECS = [
  [0, 0, 0],
  [1, 1, 1],
  [1, 2, 1],
  [1, -1, 1],
  [1, -2, 1],
  [1, -1, 2],
  [2, 2, 1],
  [2, -1, 1],
  [3, 3, 1],
] as const;

/** `name:<flag letters><key spec digit>`, in the package's (alphabetical) order. */
export const TABLE = `
acl:0 append:abc1 asking:c0 auth:defcgh0 bgrewriteaof:idj0 bgsave:idj0 bitcount:k1 bitfield:ab1
bitfield_ro:kc1 bitop:ab7 bitpos:k1 blmove:abl2 blmpop:alm0 blpop:al4 brpop:al4 brpoplpush:abl2
bzmpop:alm0 bzpopmax:alc4 bzpopmin:alc4 client:0 cluster:0 command:ef0 config:0 copy:ab2 dbsize:kc0
debug:idef0 decr:abc1 decrby:abc1 del:a3 discard:defch0 dump:k1 echo:efc0 eval:dfnom0 eval_ro:kdfnom0
evalsha:dfnom0 evalsha_ro:kdfnom0 exec:defp0 exists:kc3 expire:ac1 expireat:ac1 expiretime:kc1
failover:idf0 fcall:dfnom0 fcall_ro:kdfnom0 flushall:a0 flushdb:a0 function:0 geoadd:ab1 geodist:k1
geohash:k1 geopos:k1 georadius:abm1 georadius_ro:k1 georadiusbymember:abm1 georadiusbymember_ro:k1
geosearch:k1 geosearchstore:ab2 get:kc1 getbit:kc1 getdel:ac1 getex:ac1 getrange:k1 getset:abc1 hdel:ac1
hello:defcgh0 hexists:kc1 hget:kc1 hgetall:k1 hincrby:abc1 hincrbyfloat:abc1 hkeys:k1 hlen:kc1 hmget:kc1
hmset:abc1 hrandfield:k1 hscan:k1 hset:abc1 hsetnx:abc1 hstrlen:kc1 hvals:k1 incr:abc1 incrby:abc1
incrbyfloat:abc1 info:ef0 keys:k0 lastsave:efc0 latency:0 lcs:k2 lindex:k1 linsert:ab1 llen:kc1 lmove:ab2
lmpop:am0 lolwut:kc0 lpop:ac1 lpos:k1 lpush:abc1 lpushx:abc1 lrange:k1 lrem:a1 lset:ab1 ltrim:a1 memory:0
mget:kc3 migrate:am8 module:0 monitor:idef0 move:ac1 mset:ab5 msetnx:ab5 multi:defcqh0 object:0
persist:ac1 pexpire:ac1 pexpireat:ac1 pexpiretime:kc1 pfadd:abc1 pfcount:k3 pfdebug:abi6 pfmerge:ab3
pfselftest:i0 ping:c0 psetex:ab1 psubscribe:rdef0 psync:idjq0 pttl:kc1 publish:refc0 pubsub:0
punsubscribe:rdef0 quit:defcgh0 randomkey:k0 readonly:efc0 readwrite:efc0 rename:a2 renamenx:ac2
replconf:idefh0 replicaof:idfj0 reset:defcgh0 restore:ab1 restore-asking:abs1 role:defc0 rpop:ac1
rpoplpush:ab2 rpush:abc1 rpushx:abc1 sadd:abc1 save:idjq0 scan:k0 scard:kc1 script:0 sdiff:k3
sdiffstore:ab3 select:efc0 set:ab1 setbit:ab1 setex:ab1 setnx:abc1 setrange:ab1 shutdown:idefqh0 sinter:k3
sintercard:km0 sinterstore:ab3 sismember:kc1 slaveof:idfj0 slowlog:0 smembers:k1 smismember:kc1 smove:ac2
sort:abm1 sort_ro:km1 spop:ac1 spublish:refc1 srandmember:k1 srem:ac1 sscan:k1 ssubscribe:rdef3 strlen:kc1
subscribe:rdef0 substr:k1 sunion:k3 sunionstore:ab3 sunsubscribe:rdef3 swapdb:ac0 sync:idjq0 time:efc0
touch:kc3 ttl:kc1 type:kc1 unlink:ac3 unsubscribe:rdef0 unwatch:defch0 wait:l0 waitaof:l0 watch:defcqh3
xack:ac1 xadd:abc1 xautoclaim:ac1 xclaim:ac1 xdel:ac1 xgroup:0 xinfo:0 xlen:kc1 xpending:k1 xrange:k1
xread:klm0 xreadgroup:alm0 xrevrange:k1 xsetid:abc1 xtrim:a1 zadd:abc1 zcard:kc1 zcount:kc1 zdiff:km0
zdiffstore:abm1 zincrby:abc1 zinter:km0 zintercard:km0 zinterstore:abm1 zlexcount:kc1 zmpop:am0
zmscore:kc1 zpopmax:ac1 zpopmin:ac1 zrandmember:k1 zrange:k1 zrangebylex:k1 zrangebyscore:k1
zrangestore:ab2 zrank:kc1 zrem:ac1 zremrangebylex:a1 zremrangebyrank:a1 zremrangebyscore:a1 zrevrange:k1
zrevrangebylex:k1 zrevrangebyscore:k1 zrevrank:kc1 zscan:k1 zscore:kc1 zunion:km0 zunionstore:abm1`;

/** The package's commands.json without the arities. A plain object, as the JSON is: lookups behave the same. */
export const COMMANDS: Record<string, CommandSpec> = {};
for (const entry of TABLE.trim().split(/\s+/)) {
  const [name = '', code = ''] = entry.split(':');
  const [keyStart, keyStop, step] = KEY_SPECS[Number(code.slice(-1))] ?? KEY_SPECS[0];
  const flags = [...code.slice(0, -1)].map((letter) => FLAGS[letter.charCodeAt(0) - 97] ?? letter);
  COMMANDS[name] = { flags, keyStart, keyStop, step };
}

// From here on, @iovalkey/commands 0.1.0 dist/index.js, typed.

/**
 * Redis command list
 *
 * All commands are lowercased.
 */
export const list: string[] = Object.keys(COMMANDS);

const flags: Record<string, Record<string, boolean>> = {};
for (const commandName of list) {
  flags[commandName] = (COMMANDS[commandName]?.flags ?? []).reduce<Record<string, boolean>>((all, flag) => {
    all[flag] = true;
    return all;
  }, {});
}

/** Check if the command exists */
export function exists(commandName: string): boolean {
  return Boolean(COMMANDS[commandName]);
}

/**
 * Check if the command has the flag
 *
 * Some of possible flags: readonly, noscript, loading
 */
export function hasFlag(commandName: string, flag: string): boolean {
  if (!flags[commandName]) {
    throw new Error(`Unknown command ${commandName}`);
  }
  return Boolean(flags[commandName][flag]);
}

type Arg = string | Buffer | number;
type KeyIndex = number | [number, number];

/**
 * Get indexes of keys in the command arguments
 *
 * getKeyIndexes('set', ['key', 'value']) // [0]
 * getKeyIndexes('mget', ['key1', 'key2']) // [0, 1]
 */
export function getKeyIndexes(
  commandName: string,
  args: Arg[],
  options?: { parseExternalKey: boolean },
): KeyIndex[] {
  const command = COMMANDS[commandName];
  if (!command) {
    throw new Error(`Unknown command ${commandName}`);
  }
  if (!Array.isArray(args)) {
    throw new Error('Expect args to be an array');
  }
  const keys: KeyIndex[] = [];
  const parseExternalKey = Boolean(options?.parseExternalKey);
  const takeDynamicKeys = (args: Arg[], startIndex: number): number[] => {
    const keys: number[] = [];
    const keyStop = Number(args[startIndex]);
    for (let i = 0; i < keyStop; i++) {
      keys.push(i + startIndex + 1);
    }
    return keys;
  };
  const takeKeyAfterToken = (args: Arg[], startIndex: number, token: string): number | null => {
    for (let i = startIndex; i < args.length - 1; i += 1) {
      if (String(args[i]).toLowerCase() === token.toLowerCase()) {
        return i + 1;
      }
    }
    return null;
  };
  switch (commandName) {
    case 'zunionstore':
    case 'zinterstore':
    case 'zdiffstore':
      keys.push(0, ...takeDynamicKeys(args, 1));
      break;
    case 'eval':
    case 'evalsha':
    case 'eval_ro':
    case 'evalsha_ro':
    case 'fcall':
    case 'fcall_ro':
    case 'blmpop':
    case 'bzmpop':
      keys.push(...takeDynamicKeys(args, 1));
      break;
    case 'sintercard':
    case 'lmpop':
    case 'zunion':
    case 'zinter':
    case 'zmpop':
    case 'zintercard':
    case 'zdiff': {
      keys.push(...takeDynamicKeys(args, 0));
      break;
    }
    case 'georadius': {
      keys.push(0);
      const storeKey = takeKeyAfterToken(args, 5, 'STORE');
      if (storeKey) keys.push(storeKey);
      const distKey = takeKeyAfterToken(args, 5, 'STOREDIST');
      if (distKey) keys.push(distKey);
      break;
    }
    case 'georadiusbymember': {
      keys.push(0);
      const storeKey = takeKeyAfterToken(args, 4, 'STORE');
      if (storeKey) keys.push(storeKey);
      const distKey = takeKeyAfterToken(args, 4, 'STOREDIST');
      if (distKey) keys.push(distKey);
      break;
    }
    case 'sort':
    case 'sort_ro':
      keys.push(0);
      for (let i = 1; i < args.length - 1; i++) {
        let arg = args[i];
        if (typeof arg !== 'string') {
          continue;
        }
        const directive = arg.toUpperCase();
        if (directive === 'GET') {
          i += 1;
          arg = args[i];
          if (arg !== '#') {
            if (parseExternalKey) {
              keys.push([i, getExternalKeyNameLength(arg)]);
            } else {
              keys.push(i);
            }
          }
        } else if (directive === 'BY') {
          i += 1;
          if (parseExternalKey) {
            keys.push([i, getExternalKeyNameLength(args[i])]);
          } else {
            keys.push(i);
          }
        } else if (directive === 'STORE') {
          i += 1;
          keys.push(i);
        }
      }
      break;
    case 'migrate':
      if (args[2] === '') {
        for (let i = 5; i < args.length - 1; i++) {
          const arg = args[i];
          if (typeof arg === 'string' && arg.toUpperCase() === 'KEYS') {
            for (let j = i + 1; j < args.length; j++) {
              keys.push(j);
            }
            break;
          }
        }
      } else {
        keys.push(2);
      }
      break;
    case 'xreadgroup':
    case 'xread':
      // Keys are 1st half of the args after STREAMS argument.
      for (let i = commandName === 'xread' ? 0 : 3; i < args.length - 1; i++) {
        if (String(args[i]).toUpperCase() === 'STREAMS') {
          for (let j = i + 1; j <= i + (args.length - 1 - i) / 2; j++) {
            keys.push(j);
          }
          break;
        }
      }
      break;
    default:
      // Step has to be at least one in this case, otherwise the command does
      // not contain a key.
      if (command.step > 0) {
        const keyStart = command.keyStart - 1;
        const keyStop = command.keyStop > 0 ? command.keyStop : args.length + command.keyStop + 1;
        for (let i = keyStart; i < keyStop; i += command.step) {
          keys.push(i);
        }
      }
      break;
  }
  return keys;
}

function getExternalKeyNameLength(key: Arg | undefined): number {
  const name = typeof key === 'string' ? key : String(key);
  const hashPos = name.indexOf('->');
  return hashPos === -1 ? name.length : hashPos;
}
