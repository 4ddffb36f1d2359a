// `npm run bench`: gateway vs a direct call vs a minimal proxy, plus bundle size, cold start and the HTTP
// client choice. Prints a markdown report and writes it to BENCHMARKS.md. Timing never fails the run; a
// wrong response, a crashed child or a failed build does.
//
// The cold-start section runs the bundled Lambda against a moto server (DynamoDB + Secrets Manager on
// loopback) and fails with moto's install hint when moto_server is missing. A 3-node Redis cluster on loopback
// backs the gateway's response cache for the cache-hit case; without redis-server the run fails with its hint.
//
// BENCH_SCALE=0.2 shrinks every request count (quick check); BENCH_PROFILE=1 profiles the gateway during the
// two chat phases and writes the profile to bench/results/profiles; BENCH_GATEWAY_LOG_LEVEL=silent skips building
// log lines.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { openLocalStore } from '../lambda/adapters/sqlite/local-store.ts';
import { billingMonthOf } from '../lambda/core/pricing.ts';
import { EnvVar } from '../lambda/environment.ts';
import { bundleLambda, tokenizerFootprint } from '../scripts/bundle.ts';
import { type RedisCluster, startRedisCluster } from '../test/fixtures/redis-cluster.ts';
import { type BenchBundles, buildBenchBundles, CLIENTS, type ClientName } from './build.ts';
import { type CacheHitPlan, runCacheHit } from './cache-hit.ts';
import type { ClientRunResult } from './client-runner.ts';
import { startLambdaAws } from './lambda-aws.ts';
import type { ProbeResult } from './lambda-probe.ts';
import { runLambdaRuntimeBench } from './lambda-runtime.ts';
import {
  createTarget,
  expectCacheStatus,
  expectOk,
  type LoadResult,
  type LoadTarget,
  type RequestSpec,
  runLoad,
} from './load.ts';
import { runOnce, ServerChild } from './processes.ts';
import {
  type BenchReport,
  type ClientChoice,
  type ColdStartRun,
  checkTargets,
  type PhaseResult,
  renderReport,
  type StoredPhases,
  TARGET_NAMES,
  type TargetName,
  type TargetPhase,
  type WarmupBlock,
} from './report.ts';
import {
  BENCH_BEDROCK_MODEL,
  BENCH_EMBEDDING_MODEL,
  BENCH_GATEWAY_KEY,
  BENCH_MODEL,
  benchGatewayConfig,
  PROBE_MARKER,
} from './shared.ts';
import { concat, median, summarize } from './stats.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scale = Number(process.env.BENCH_SCALE ?? 1);
const count = (n: number) => Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
const gatewayLogLevel = process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'info';
const profile = process.env.BENCH_PROFILE === '1';
/** `npm run bench:node24` writes BENCHMARKS-node24.md: the same bench on the Lambda runtime's Node major. */
const outFile = process.env.BENCH_OUT ?? 'BENCHMARKS.md';

interface PhasePlan {
  readonly title: string;
  readonly concurrency: number;
  readonly warmup: number;
  /** The warm-up runs in blocks of this many requests, each one's p50 and CPU kept for the report. @default warmup */
  readonly warmupBlock?: number;
  readonly requests: number;
  readonly rounds: number;
  readonly spec: RequestSpec;
}

const chatBody = (stream: boolean) =>
  JSON.stringify({
    model: BENCH_MODEL,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Hello' },
    ],
    ...(stream ? { stream: true } : {}),
  });
const CHAT: RequestSpec = { path: '/v1/chat/completions', body: chatBody(false), stream: false };
const CHAT_STREAM: RequestSpec = { path: '/v1/chat/completions', body: chatBody(true), stream: true };
/** The same stream through a bedrock target: ConverseStream from the fake upstream, translated by the gateway. */
const BEDROCK_STREAM: RequestSpec = {
  path: '/v1/chat/completions',
  body: JSON.stringify({ ...JSON.parse(chatBody(true)), model: BENCH_BEDROCK_MODEL }),
  stream: true,
};
const EMBEDDINGS: RequestSpec = {
  path: '/v1/embeddings',
  body: JSON.stringify({ model: BENCH_EMBEDDING_MODEL, input: 'Hello' }),
  stream: false,
};

const PHASES = {
  c1: {
    title: 'chat, concurrency 1',
    concurrency: 1,
    // Node's own http code and the gateway's reach their steady state after about 5,000 requests at concurrency 1
    // (the report's warm-up table shows it in every run): a shorter warm-up measures code still being compiled.
    warmup: count(6000),
    warmupBlock: count(1000),
    requests: count(2000),
    rounds: 4,
    spec: CHAT,
  },
  c32: {
    title: 'chat, concurrency 32',
    concurrency: 32,
    warmup: count(1000),
    requests: count(10_000),
    rounds: 4,
    spec: CHAT,
  },
  stream: {
    title: 'streamed chat, concurrency 1',
    concurrency: 1,
    warmup: count(20),
    requests: count(300),
    rounds: 3,
    spec: CHAT_STREAM,
  },
  bedrockStream: {
    title: 'streamed chat translated from Bedrock ConverseStream, concurrency 1',
    concurrency: 1,
    warmup: count(20),
    requests: count(300),
    rounds: 3,
    spec: BEDROCK_STREAM,
  },
} as const satisfies Record<string, PhasePlan>;
const CACHE_HIT: CacheHitPlan = { warmup: count(300), requests: count(2000), rounds: 4 };
const COLD_STARTS = 10;
const CLIENT_SPAWNS = 10;
/** Invocations per padding setting and event source under the Lambda runtime interface client. */
const LAMBDA_RUNTIME_ROUNDS = 5;
const CLIENT_WARMUP = count(500);
const CLIENT_REQUESTS = count(5000);

const CLIENT_DESCRIPTIONS: Record<ClientName, string> = {
  'node-http': 'node:http + keep-alive Agent',
  undici: `undici ${readPackageVersion('undici')} request() + Agent`,
  fetch: `global fetch (Node's built-in undici ${process.versions.undici ?? '?'})`,
};

function readPackageVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8'));
  return String(manifest.version);
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

const commitOf = (): string => {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lambda', 'config'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty === '' ? hash : `${hash} (lambda/ or config/ modified)`;
  } catch {
    return 'unknown';
  }
};

interface Servers {
  readonly upstream: ServerChild;
  readonly proxies: Readonly<Record<Exclude<TargetName, 'direct'>, ServerChild>>;
}

const cpuOf = async (server: ServerChild | undefined) =>
  server === undefined ? 0 : (await server.cpu()).micros;

const runPhase = async <N extends TargetName = TargetName>(
  plan: PhasePlan,
  targets: Readonly<Record<TargetName, LoadTarget>>,
  servers: Servers,
  names: readonly N[] = TARGET_NAMES as unknown as readonly N[],
): Promise<PhaseResult<N>> => {
  // The gateways have a cache, but these requests carry no seed: prove each one took the uncached path.
  const expectPhaseOk = (result: LoadResult, name: TargetName, what: string) => {
    expectOk(result, what);
    if (name === 'gateway' || name === 'local gateway') expectCacheStatus(result, 'bypass', what);
  };
  log(`${plan.title}: warm-up ${plan.warmup} per target`);
  const block = Math.min(plan.warmupBlock ?? plan.warmup, plan.warmup);
  const warmup = {} as Record<N, WarmupBlock[]>;
  for (const name of names) {
    const proxy = name === 'direct' ? undefined : servers.proxies[name as Exclude<TargetName, 'direct'>];
    warmup[name] = [];
    for (let done = 0; done < plan.warmup; done += block) {
      const requests = Math.min(block, plan.warmup - done);
      const cpuBefore = await cpuOf(proxy);
      const result = await runLoad(targets[name], plan.spec, requests, plan.concurrency);
      const cpu = (await cpuOf(proxy)) - cpuBefore;
      expectPhaseOk(result, name, `${name} warm-up`);
      warmup[name].push({
        requests,
        p50Ms: summarize(result.latencyMs).p50,
        cpuMicrosPerRequest: proxy === undefined ? undefined : cpu / requests,
      });
    }
  }
  const acc = Object.fromEntries(
    names.map((name) => [
      name,
      {
        results: [] as LoadResult[],
        proxyCpu: 0,
        upstreamCpu: 0,
        clientCpu: 0,
      },
    ]),
  ) as Record<N, { results: LoadResult[]; proxyCpu: number; upstreamCpu: number; clientCpu: number }>;
  const perRound = Math.max(1, Math.round(plan.requests / plan.rounds));
  for (let round = 0; round < plan.rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      const proxy = name === 'direct' ? undefined : servers.proxies[name as Exclude<TargetName, 'direct'>];
      const [proxyBefore, upstreamBefore] = [await cpuOf(proxy), await cpuOf(servers.upstream)];
      const clientBefore = process.cpuUsage();
      const result = await runLoad(targets[name], plan.spec, perRound, plan.concurrency);
      const client = process.cpuUsage(clientBefore);
      const [proxyAfter, upstreamAfter] = [await cpuOf(proxy), await cpuOf(servers.upstream)];
      expectPhaseOk(result, name, `${plan.title}, ${name}`);
      const entry = acc[name];
      entry.results.push(result);
      entry.proxyCpu += proxyAfter - proxyBefore;
      entry.upstreamCpu += upstreamAfter - upstreamBefore;
      entry.clientCpu += client.user + client.system;
    }
    log(`${plan.title}: round ${round + 1}/${plan.rounds} done`);
  }
  const targetsResult = Object.fromEntries(
    names.map((name): [N, TargetPhase] => {
      const { results, proxyCpu, upstreamCpu, clientCpu } = acc[name];
      const reported = results.flatMap((result) => result.reportedOverheadMs);
      return [
        name,
        {
          requests: results.reduce((total, result) => total + result.requests, 0),
          wallMs: results.reduce((total, result) => total + result.wallMs, 0),
          latency: summarize(concat(results.map((result) => result.latencyMs))),
          ttfb: summarize(concat(results.map((result) => result.ttfbMs))),
          reads: summarize(concat(results.map((result) => result.reads))),
          bodyBytes: results.at(-1)?.bodyBytes ?? 0,
          proxyCpuMicros: name === 'direct' ? undefined : proxyCpu,
          upstreamCpuMicros: upstreamCpu,
          clientCpuMicros: clientCpu,
          reportedOverhead: reported.length > 0 ? summarize(reported) : undefined,
        },
      ];
    }),
  ) as Record<N, TargetPhase>;
  return {
    title: plan.title,
    concurrency: plan.concurrency,
    stream: plan.spec.stream,
    targets: targetsResult,
    warmup,
  };
};

const nsToMs = (ns: bigint) => Number(ns) / 1e6;

/** A fresh process that only imports the tokenizer's encoding (what the bundle loads lazily) and counts once. */
const tokenizerScript = (entry: string) =>
  [
    'const start = process.hrtime.bigint();',
    `const { countTokens } = await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    'const imported = process.hrtime.bigint();',
    "countTokens('You are a helpful assistant. Hello');",
    'const counted = process.hrtime.bigint();',
    `process.stdout.write(${JSON.stringify(PROBE_MARKER)} + JSON.stringify({ importNs: String(imported - start), firstCountNs: String(counted - imported) }) + '\\n');`,
  ].join(' ');

/**
 * A fresh process that imports re2js (what the bundle loads when rules are on) and compiles the bench's rules as
 * the adapter does: each on its own, then all in one alternation.
 */
const regexScript = (entry: string) => {
  const sources = benchGatewayConfig('http://127.0.0.1').filters.rules.map((rule) =>
    'pattern' in rule ? rule.pattern : `(?i:${rule.keywords.join('|')})`,
  );
  return [
    'const start = process.hrtime.bigint();',
    `const { RE2JS } = await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    `const sources = ${JSON.stringify(sources)};`,
    'for (const source of sources) RE2JS.compile(source);',
    "RE2JS.compile(sources.map((source) => '(' + source + ')').join('|')).matcher('x').find();",
    'const loaded = process.hrtime.bigint();',
    `process.stdout.write(${JSON.stringify(PROBE_MARKER)} + JSON.stringify({ loadNs: String(loaded - start) }) + '\\n');`,
  ].join(' ');
};

const runColdStarts = async (
  bundles: BenchBundles,
  lambdaBundle: string,
  upstreamOrigin: string,
  tokenizerEntry: string,
  regexEntry: string,
): Promise<{
  health: ColdStartRun[];
  chat: ColdStartRun[];
  nodeBaselineMs: number[];
  webGlobalsMs: number[];
  tokenizerImportMs: number[];
  tokenizerFirstCountMs: number[];
  regexLoadMs: number[];
}> => {
  // Keys, budgets and usage in DynamoDB and the pepper in Secrets Manager, both served by moto on loopback.
  // Without moto_server this throws its install hint: a cold start without its AWS calls would mislead.
  const aws = await startLambdaAws();
  try {
    const env = {
      ...aws.env,
      [EnvVar.GATEWAY_CONFIG]: JSON.stringify(benchGatewayConfig(upstreamOrigin)),
      AWS_LAMBDA_FUNCTION_NAME: 'llm-gateway-bench',
    };
    const health: ColdStartRun[] = [];
    const chat: ColdStartRun[] = [];
    const nodeBaselineMs: number[] = [];
    const webGlobalsMs: number[] = [];
    const tokenizerImportMs: number[] = [];
    const tokenizerFirstCountMs: number[] = [];
    const regexLoadMs: number[] = [];
    // A bare process: when its first line runs, and what the first use of the web Request/Response/Headers
    // globals costs (Node loads its internal undici lazily for them; the gateway core is built on them).
    const baselineScript = [
      'const start = process.hrtime.bigint();',
      "new Headers({ a: 'b' }); new Request('http://127.0.0.1/', { method: 'POST', body: 'x' }); new Response('x');",
      'const webGlobalsNs = process.hrtime.bigint() - start;',
      `process.stdout.write(${JSON.stringify(PROBE_MARKER)} + JSON.stringify({ scriptStartNs: String(start), webGlobalsNs: String(webGlobalsNs) }) + '\\n');`,
    ].join(' ');
    for (let i = 0; i < COLD_STARTS; i++) {
      const baseline = await runOnce<{ scriptStartNs: string; webGlobalsNs: string }>(['-e', baselineScript]);
      nodeBaselineMs.push(nsToMs(BigInt(baseline.result.scriptStartNs) - baseline.spawnedAtNs));
      webGlobalsMs.push(nsToMs(BigInt(baseline.result.webGlobalsNs)));
      const tokenizer = await runOnce<{ importNs: string; firstCountNs: string }>([
        '--input-type=module',
        '-e',
        tokenizerScript(tokenizerEntry),
      ]);
      tokenizerImportMs.push(nsToMs(BigInt(tokenizer.result.importNs)));
      tokenizerFirstCountMs.push(nsToMs(BigInt(tokenizer.result.firstCountNs)));
      const engine = await runOnce<{ loadNs: string }>([
        '--input-type=module',
        '-e',
        regexScript(regexEntry),
      ]);
      regexLoadMs.push(nsToMs(BigInt(engine.result.loadNs)));
      for (const kind of ['health', 'chat'] as const) {
        const { spawnedAtNs, result } = await runOnce<ProbeResult>(
          [bundles.children['lambda-probe'], lambdaBundle, kind],
          env,
        );
        if (result.statusCode !== 200) {
          throw new Error(`cold-start ${kind} invocation answered ${result.statusCode}: ${result.body}`);
        }
        if (kind === 'chat' && !result.body.includes('"usage"')) {
          throw new Error(`cold-start chat invocation returned no completion: ${result.body}`);
        }
        const at = (value: string) => BigInt(value);
        (kind === 'health' ? health : chat).push({
          nodeBootMs: nsToMs(at(result.scriptStartNs) - spawnedAtNs),
          importMs: nsToMs(at(result.importEndNs) - at(result.importStartNs)),
          spawnToReadyMs: nsToMs(at(result.importEndNs) - spawnedAtNs),
          invokeToFirstByteMs: nsToMs(at(result.firstByteNs) - at(result.importEndNs)),
          spawnToFirstByteMs: nsToMs(at(result.firstByteNs) - spawnedAtNs),
          invokeToEndMs: nsToMs(at(result.endNs) - at(result.importEndNs)),
        });
      }
    }
    // The handler resolves only after middy's requestEnd drained the usage writes: each chat left its record.
    const records = await aws.usageRecords();
    if (records !== chat.length) {
      throw new Error(
        `cold-start chats stored ${records} usage record(s) in DynamoDB, expected ${chat.length}`,
      );
    }
    return {
      health,
      chat,
      nodeBaselineMs,
      webGlobalsMs,
      tokenizerImportMs,
      tokenizerFirstCountMs,
      regexLoadMs,
    };
  } finally {
    await aws.stop();
  }
};

const runClientChoice = async (bundles: BenchBundles, upstreamOrigin: string): Promise<ClientChoice[]> => {
  const runner = bundles.children['client-runner'];
  const imports: Record<
    ClientName,
    { importMs: number[]; spawnToImportedMs: number[]; firstRequestMs: number[] }
  > = {
    'node-http': { importMs: [], spawnToImportedMs: [], firstRequestMs: [] },
    undici: { importMs: [], spawnToImportedMs: [], firstRequestMs: [] },
    fetch: { importMs: [], spawnToImportedMs: [], firstRequestMs: [] },
  };
  // Spawns take turns between clients, so page cache and CPU frequency treat them alike.
  for (let i = 0; i < CLIENT_SPAWNS; i++) {
    for (const name of CLIENTS) {
      const { spawnedAtNs, result } = await runOnce<ClientRunResult>([
        runner,
        bundles.clients[name].file,
        upstreamOrigin,
        '0',
        '0',
      ]);
      if (result.failures > 0) throw new Error(`client ${name}: its first request failed`);
      imports[name].importMs.push(result.importMs);
      imports[name].spawnToImportedMs.push(
        nsToMs(BigInt(result.scriptStartNs) - spawnedAtNs) + result.importMs,
      );
      imports[name].firstRequestMs.push(result.firstRequestMs);
    }
  }
  const choices: ClientChoice[] = [];
  for (const name of CLIENTS) {
    log(`client choice: ${name}, ${CLIENT_REQUESTS} sequential requests`);
    const { result } = await runOnce<ClientRunResult>([
      runner,
      bundles.clients[name].file,
      upstreamOrigin,
      String(CLIENT_WARMUP),
      String(CLIENT_REQUESTS),
    ]);
    if (result.failures > 0) throw new Error(`client ${name}: ${result.failures} failed request(s)`);
    choices.push({
      name,
      description: CLIENT_DESCRIPTIONS[name],
      bundleBytes: bundles.clients[name].bytes,
      importMs: median(imports[name].importMs),
      spawnToImportedMs: median(imports[name].spawnToImportedMs),
      firstRequestMs: median(imports[name].firstRequestMs),
      requests: result.requests,
      cpuMicrosPerRequest: result.cpuMicros / result.requests,
      latency: summarize(result.latenciesMs),
    });
  }
  return choices;
};

/** Records the local store gets before the gateways are measured again: the cost per request must not grow with them. */
const STORED_RECORDS = 100_000;

/** Writes `count` usage records of the bench tenant into the local store, as a long-running gateway would have. */
const seedRecords = (stateDir: string, count: number) => {
  const store = openLocalStore(stateDir);
  try {
    const before = store.ledger.count();
    const started = process.hrtime.bigint();
    const now = Date.now();
    for (let i = 0; i < count; i += 1) {
      store.ledger.recordNow({
        requestId: `seeded-${i}`,
        tenantId: 'dev',
        keyId: 'seeded',
        tier: 'default',
        endpoint: '/v1/chat/completions',
        model: i % 3 === 0 ? BENCH_EMBEDDING_MODEL : BENCH_MODEL,
        targetId: 'fake-0',
        status: 200,
        outcome: 'complete',
        usage: { inputTokens: 20, cachedInputTokens: 0, outputTokens: 9, reasoningTokens: 0 },
        exact: true,
        cacheHit: false,
        costMicroUsd: 9,
        reservedMicroUsd: 0,
        month: billingMonthOf(now),
        startedAt: now - (count - i),
        latencyMs: 1,
        ttfbMs: undefined,
      });
    }
    return { before, after: store.ledger.count(), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } finally {
    store.close();
  }
};

/** Concurrency 1 and 32 again for the two gateways, after STORED_RECORDS more usage records in the local store. */
const runStoredPhases = async (
  stateDir: string,
  localGateway: ServerChild,
  targets: Readonly<Record<TargetName, LoadTarget>>,
  servers: Servers,
): Promise<StoredPhases> => {
  log(`local store: writing ${STORED_RECORDS.toLocaleString('en-US')} more usage records`);
  const seeded = seedRecords(stateDir, STORED_RECORDS);
  const names = ['direct', 'gateway', 'local gateway'] as const;
  // The processes have served every phase before this one: their code is warm, a short warm-up is enough.
  const c1 = await runPhase(
    {
      ...PHASES.c1,
      warmup: count(1000),
      title: `chat, concurrency 1, after ${STORED_RECORDS.toLocaleString('en-US')} records`,
    },
    targets,
    servers,
    names,
  );
  const c32 = await runPhase(
    { ...PHASES.c32, title: `chat, concurrency 32, after ${STORED_RECORDS.toLocaleString('en-US')} records` },
    targets,
    servers,
    names,
  );
  const stats = await localGateway.stats();
  return {
    seeded: STORED_RECORDS,
    recordsBefore: seeded.before,
    recordsAfter: stats.usageRecords ?? seeded.after,
    seedSeconds: seeded.seconds,
    c1,
    c32,
    logLines: stats.logLines ?? 0,
    logBytes: stats.logBytes ?? 0,
  };
};

const main = async (): Promise<void> => {
  const startedAt = new Date();
  const loadAverageAtStart = os.loadavg();
  const started = process.hrtime.bigint();
  const servers: ServerChild[] = [];
  let redis: RedisCluster | undefined;
  let stateDir: string | undefined;
  try {
    log('bundling dist/lambda/index.mjs and the bench processes');
    const lambda = await bundleLambda();
    const tokenizer = await tokenizerFootprint();
    const bundles = await buildBenchBundles();

    const upstream = await ServerChild.start('fake upstream', bundles.children['fake-upstream']);
    servers.push(upstream);
    const env = { BENCH_UPSTREAM_ORIGIN: upstream.origin, BENCH_GATEWAY_LOG_LEVEL: gatewayLogLevel };
    const minimal = await ServerChild.start('minimal proxy', bundles.children['minimal-proxy'], env);
    servers.push(minimal);
    log('starting a 3-node Redis cluster for the response cache');
    redis = await startRedisCluster(3);
    const redisNodes = redis.nodes.map((node) => `${node.host}:${node.port}`).join(',');
    const profileDir = path.join(root, 'bench/results/profiles');
    if (profile) mkdirSync(profileDir, { recursive: true });
    const gateway = await ServerChild.start('gateway', bundles.children['gateway-server'], {
      ...env,
      BENCH_REDIS_NODES: redisNodes,
    });
    servers.push(gateway);
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'bench-local-gateway-'));
    const localGateway = await ServerChild.start('local gateway', bundles.children['local-gateway'], {
      ...env,
      BENCH_STATE_DIR: stateDir,
    });
    servers.push(localGateway);
    log(
      `fake upstream :${upstream.port}, minimal proxy :${minimal.port}, gateway :${gateway.port}, local gateway :${localGateway.port} (state ${stateDir}), redis ${redisNodes}`,
    );

    const targets: Record<TargetName, LoadTarget> = {
      direct: createTarget('direct', upstream.origin),
      'minimal proxy': createTarget('minimal proxy', minimal.origin),
      gateway: createTarget('gateway', gateway.origin, { authorization: `Bearer ${BENCH_GATEWAY_KEY}` }),
      'local gateway': createTarget('local gateway', localGateway.origin, {
        authorization: `Bearer ${BENCH_GATEWAY_KEY}`,
      }),
    };
    for (const name of TARGET_NAMES) {
      for (const spec of [CHAT, CHAT_STREAM, EMBEDDINGS]) {
        expectOk(await runLoad(targets[name], spec, 2, 1), `smoke test ${name} ${spec.path}`);
      }
    }

    const proxies = { 'minimal proxy': minimal, gateway, 'local gateway': localGateway };
    // The profile covers the two chat phases only: no start-up, no tokenizer load, no smoke test.
    if (profile) await gateway.startProfile();
    const c1 = await runPhase(PHASES.c1, targets, { upstream, proxies });
    const c32 = await runPhase(PHASES.c32, targets, { upstream, proxies });
    if (profile) await gateway.stopProfile(path.join(profileDir, `gateway-${Date.now()}.cpuprofile`));
    const stream = await runPhase(PHASES.stream, targets, { upstream, proxies });
    // Only the gateway can answer it: direct and the minimal proxy would hand the client Bedrock's framing.
    const bedrockStream = await runPhase(PHASES.bedrockStream, targets, { upstream, proxies }, [
      'gateway',
    ] as const);
    const cacheHit = await runCacheHit(
      CACHE_HIT,
      { gateway: targets.gateway, direct: targets.direct, uncached: CHAT },
      redis,
      upstream.origin,
      log,
    );
    const stored = await runStoredPhases(stateDir, localGateway, targets, { upstream, proxies });
    const gatewayStats = await gateway.stats();
    for (const target of Object.values(targets)) target.agent.destroy();

    log(
      `cold start: moto server, then ${COLD_STARTS} × (bare node, tokenizer import, GET /health, POST chat)`,
    );
    const regexEntry = path.join(root, 'node_modules/re2js/build/index.js');
    const coldStart = await runColdStarts(
      bundles,
      lambda.outfile,
      upstream.origin,
      tokenizer.entry,
      regexEntry,
    );
    log(`client choice: ${CLIENT_SPAWNS} fresh imports of each client`);
    const clients = await runClientChoice(bundles, upstream.origin);
    for (const server of servers) server.assertAlive();
    const ricRounds = Math.max(2, Math.round(LAMBDA_RUNTIME_ROUNDS * scale));
    log(
      `lambda runtime: ${ricRounds} streamed invocations per padding and event source, under aws-lambda-ric`,
    );
    const lambdaRuntime = await runLambdaRuntimeBench(ricRounds).then(
      ({ markdown }) => ({ markdown }),
      // Without the RIC (not built on this machine, or not Linux) the rest of the bench still stands.
      (error: unknown) => ({
        skipped: error instanceof Error ? error.message.split('\n')[0]! : String(error),
      }),
    );

    const report: BenchReport = {
      startedAt,
      loadAverage: { start: loadAverageAtStart, end: os.loadavg() },
      durationS: Number(process.hrtime.bigint() - started) / 1e9,
      commit: commitOf(),
      plan: {
        'concurrency-1 requests': PHASES.c1.requests,
        'concurrency-32 requests': PHASES.c32.requests,
        streams: PHASES.stream.requests,
        'cache-hit requests': CACHE_HIT.requests,
        'cold starts': COLD_STARTS,
        'client requests': CLIENT_REQUESTS,
      },
      gatewayLogLevel,
      warmups: `${Object.values(PHASES)
        .map((phase) => `${phase.title}: ${phase.warmup}`)
        .join(', ')}, cache hit: ${CACHE_HIT.warmup}`,
      phases: { c1, c32, stream },
      bedrockStream,
      stored,
      cacheHit,
      bundle: {
        bytes: lambda.bytes,
        gzipBytes: gzipSync(readFileSync(lambda.outfile)).byteLength,
        byPackage: lambda.byPackage,
        tokenizer: {
          files: tokenizer.files,
          bytes: tokenizer.bytes,
          importMs: coldStart.tokenizerImportMs,
          firstCountMs: coldStart.tokenizerFirstCountMs,
        },
        regex: { bytes: statSync(regexEntry).size, loadMs: coldStart.regexLoadMs },
      },
      nodeBaselineMs: coldStart.nodeBaselineMs,
      webGlobalsMs: coldStart.webGlobalsMs,
      profiled: profile,
      coldStart: { health: coldStart.health, chat: coldStart.chat },
      clients,
      gatewayStats,
      lambdaRuntime,
    };
    const markdown = renderReport(report);
    process.stdout.write(markdown);
    writeFileSync(path.resolve(root, outFile), markdown);
    const missed = checkTargets(report).filter((check) => !check.ok);
    log(
      `wrote ${outFile} in ${report.durationS.toFixed(0)} s; budget: ${missed.length === 0 ? 'all met' : `${missed.length} not met (${missed.map((check) => check.name).join('; ')})`}`,
    );
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    // After the gateway: it holds connections to the cluster until it exits.
    await redis?.stop();
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    if (profile) log('gateway CPU profile written to bench/results/profiles/');
  }
};

try {
  await main();
} catch (error) {
  process.stderr.write(
    `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
}
