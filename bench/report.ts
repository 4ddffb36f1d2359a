// Renders one bench run as markdown: machine, method, the measured tables and the budget from docs/ARCHITECTURE.md.
import os from 'node:os';
import { STREAM_CHUNKS, STREAM_GAP_MS } from './shared.ts';
import type { Summary } from './stats.ts';

/** `gateway` runs over the in-memory twins; `local gateway` is `npm start` as a user runs it, with its SQLite store. */
export const TARGET_NAMES = ['direct', 'minimal proxy', 'gateway', 'local gateway'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface TargetPhase {
  readonly requests: number;
  readonly wallMs: number;
  readonly latency: Summary;
  readonly ttfb: Summary;
  /** Socket reads with body bytes per response, as the client saw them. */
  readonly reads: Summary;
  readonly bodyBytes: number;
  /** CPU of the proxy process (undefined for direct), µs. */
  readonly proxyCpuMicros: number | undefined;
  readonly upstreamCpuMicros: number;
  readonly clientCpuMicros: number;
  /** The gateway's own x-gateway-overhead-ms header. */
  readonly reportedOverhead: Summary | undefined;
}

/** One block of a target's warm-up (not measured): how fast it was, to show where its steady state began. */
export interface WarmupBlock {
  readonly requests: number;
  readonly p50Ms: number;
  /** CPU of the proxy process per request (undefined for direct), µs. */
  readonly cpuMicrosPerRequest: number | undefined;
}

export interface PhaseResult<N extends TargetName = TargetName> {
  readonly title: string;
  readonly concurrency: number;
  readonly stream: boolean;
  readonly targets: Readonly<Record<N, TargetPhase>>;
  /** Each target's warm-up, block by block, in the order they ran. */
  readonly warmup?: Readonly<Record<N, readonly WarmupBlock[]>>;
}

/** The two gateways (and direct, for overheads) measured again once the local store holds many more records. */
export interface StoredPhases {
  /** Records the bench process wrote into the local store between the two measurements. */
  readonly seeded: number;
  readonly recordsBefore: number;
  readonly recordsAfter: number;
  readonly seedSeconds: number;
  readonly c1: PhaseResult<'direct' | 'gateway' | 'local gateway'>;
  readonly c32: PhaseResult<'direct' | 'gateway' | 'local gateway'>;
  /** The local gateway's log file at the end of the run. */
  readonly logLines: number;
  readonly logBytes: number;
}

export interface ColdStartRun {
  readonly nodeBootMs: number;
  readonly importMs: number;
  readonly spawnToReadyMs: number;
  readonly invokeToFirstByteMs: number;
  readonly spawnToFirstByteMs: number;
  /** Until the handler's promise settled: the body, then middy's requestEnd waiting for the usage writes. */
  readonly invokeToEndMs: number;
}

export interface ClientChoice {
  readonly name: string;
  readonly description: string;
  readonly bundleBytes: number;
  readonly importMs: number;
  readonly spawnToImportedMs: number;
  readonly firstRequestMs: number;
  readonly requests: number;
  readonly cpuMicrosPerRequest: number;
  readonly latency: Summary;
}

/** The cache-hit case: concurrency 1, every measure from the bench process, in rounds that take turns. */
export interface CacheHitResult {
  /** What served the cache, e.g. `Redis 7.0.15`, and its masters (one process each, no replicas). */
  readonly server: string;
  readonly masters: number;
  /** The stored entry (what one GET returns) and the JSON replayed to the client. */
  readonly entryBytes: number;
  readonly responseBytes: number;
  /** GET of the entry's key through an iovalkey Cluster client, send to reply. */
  readonly valkeyGet: Summary;
  /** The seeded request answered from the cache (every response said `x-gateway-cache: hit`). */
  readonly hit: Summary;
  /** The gateway's own x-gateway-overhead-ms on those hits. */
  readonly hitReportedOverhead: Summary | undefined;
  /** The unseeded chat of the other phases through the gateway (`x-gateway-cache: bypass`). */
  readonly uncached: Summary;
  readonly direct: Summary;
}

export interface BenchReport {
  readonly startedAt: Date;
  /** os.loadavg() before and after: other work on the machine skews everything, concurrency 1 most. */
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
  readonly durationS: number;
  readonly commit: string;
  readonly plan: Readonly<Record<string, string | number>>;
  readonly gatewayLogLevel: string;
  readonly phases: { readonly c1: PhaseResult; readonly c32: PhaseResult; readonly stream: PhaseResult };
  readonly stored: StoredPhases;
  /** The gateway's stream translated from Bedrock's ConverseStream (the same answer as the OpenAI stream phase). */
  readonly bedrockStream: PhaseResult<'gateway'>;
  readonly cacheHit: CacheHitResult;
  readonly bundle: {
    readonly bytes: number;
    readonly gzipBytes: number;
    readonly byPackage: ReadonlyArray<readonly [string, number]>;
    /** gpt-tokenizer's o200k_base, external to the bundle: its JS in node_modules and its load in a fresh process. */
    readonly tokenizer: {
      readonly files: number;
      readonly bytes: number;
      readonly importMs: readonly number[];
      readonly firstCountMs: readonly number[];
    };
    /** re2js, external to the bundle and imported during init when content rules are enabled. */
    readonly regex: {
      readonly bytes: number;
      /** import() of re2js and compiling the bench's rules, in a fresh process. */
      readonly loadMs: readonly number[];
    };
  };
  readonly nodeBaselineMs: readonly number[];
  /** First use of Headers/Request/Response in a bare process. */
  readonly webGlobalsMs: readonly number[];
  /** The gateway ran under --cpu-prof: its numbers are inflated. */
  readonly profiled: boolean;
  /** What each phase's warm-up sent per target, e.g. `concurrency 1: 2000, …`. */
  readonly warmups: string;
  readonly coldStart: { readonly health: readonly ColdStartRun[]; readonly chat: readonly ColdStartRun[] };
  readonly clients: readonly ClientChoice[];
  readonly gatewayStats: Readonly<Record<string, number>>;
  /** The stream timing table through the Lambda runtime interface client, or why it was not measured. */
  readonly lambdaRuntime: { readonly markdown: string } | { readonly skipped: string };
}

/** The budget of docs/ARCHITECTURE.md, "Performance budget". */
export const BUDGET = {
  overheadP50Ms: 1,
  overheadP99Ms: 5,
  ttfbOverheadMs: 1,
  throughputShareOfMinimal: 0.7,
  cpuPerRequestVsMinimal: 2,
  bundleBytes: 600_000,
  /** What a cache hit may add to the Valkey round trip it waits for (issue 5). */
  cacheHitAddedMs: 1,
} as const;

/**
 * The targets of the core restructure (issue 13), and what the bench measured before it: commit 65c0fdd,
 * 2026-12-06, this machine, per Node major. Those runs warmed each target with 300 requests before the
 * concurrency-1 phase (now 2,000: see Method); their other phases were warmed as now.
 */
export const RESTRUCTURE = {
  target: { cpuVsMinimal: 2, throughputShare: 0.5, overheadP50Ms: 0.5 },
  before: {
    commit: '65c0fdd',
    byNodeMajor: {
      // Measured with this bench's warm-ups (6,000 requests before concurrency 1): 65c0fdd's own bench, with its
      // 300, had measured 1.295 ms (Node 22) and 0.967 ms (Node 24) of overhead p50, code still being compiled.
      '22': {
        overheadP50Ms: 0.682,
        ttfbOverheadMs: 1.042,
        throughputShare: 0.23,
        cpuVsMinimal: 5.03,
        bundleBytes: 556_735,
      },
      '24': {
        overheadP50Ms: 0.709,
        ttfbOverheadMs: 1.135,
        throughputShare: 0.22,
        cpuVsMinimal: 5.31,
        bundleBytes: 556_735,
      },
    } as Record<
      string,
      {
        overheadP50Ms: number;
        ttfbOverheadMs: number;
        throughputShare: number;
        cpuVsMinimal: number;
        bundleBytes: number;
      }
    >,
  },
} as const;

const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(3) : 'n/a');
const ms1 = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');
const signedMs = (value: number): string => (value >= 0 ? `+${ms(value)}` : ms(value));
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const pct = (ratio: number): string => `${(ratio * 100).toFixed(0)}%`;
const int = (value: number): string => Math.round(value).toLocaleString('en-US');
const met = (ok: boolean): string => (ok ? 'met' : '**not met**');

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.ceil(sorted.length / 2) - 1] ?? Number.NaN);
};
const msRange = (values: readonly number[]): string =>
  `${ms1(median(values))} (${ms1(Math.min(...values))}–${ms1(Math.max(...values))})`;

/** A markdown table with the first column left-aligned and the rest right-aligned, padded as Biome formats it. */
const table = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((cell, i) =>
    Math.max(3, cell.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${widths.map((width, i) => (i === 0 ? (cells[i] ?? '').padEnd(width) : (cells[i] ?? '').padStart(width))).join(' | ')} |`;
  const rule = `| ${widths.map((width, i) => (i === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
};

const rps = (phase: TargetPhase): number => phase.requests / (phase.wallMs / 1000);
const cpuPerRequest = (micros: number | undefined, phase: TargetPhase): number =>
  micros === undefined ? Number.NaN : micros / phase.requests;

/** A phase's warm-up block by block: p50 latency and the proxy's CPU per request, to show where each target settled. */
const warmupTable = (phase: PhaseResult): string => {
  const { warmup } = phase;
  const names = warmup === undefined ? [] : (Object.keys(warmup) as TargetName[]);
  const blocks = names.length === 0 ? [] : (warmup![names[0]!] ?? []);
  if (blocks.length < 2) return '';
  let first = 1;
  const spans = blocks.map((block) => {
    const span = `${int(first)}–${int(first + block.requests - 1)}`;
    first += block.requests;
    return span;
  });
  return `

Its warm-up, not measured, block by block (p50 latency ms · the proxy's CPU µs per request): the measured rounds
above came after the last block. Node's own http code warms up as the gateway's does: the minimal proxy's
figures fall over the same blocks.

${table(
  ['target', ...spans.map((span) => `requests ${span}`)],
  names.map((name) => [
    name,
    ...(warmup![name] ?? []).map(
      (block) =>
        `${ms(block.p50Ms)}${block.cpuMicrosPerRequest === undefined ? '' : ` · ${int(block.cpuMicrosPerRequest)}`}`,
    ),
  ]),
)}`;
};

const latencyTable = (phase: PhaseResult): string => {
  const direct = phase.targets.direct;
  const minimal = phase.targets['minimal proxy'];
  return table(
    [
      'target',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'req/s',
      'overhead p50 ms',
      'overhead p90 ms',
      'overhead p99 ms',
      'proxy CPU µs/req',
      'upstream CPU µs/req',
      'load-gen CPU µs/req',
    ],
    TARGET_NAMES.map((name) => {
      const target = phase.targets[name];
      const isDirect = name === 'direct';
      return [
        name,
        ms(target.latency.p50),
        ms(target.latency.p90),
        ms(target.latency.p99),
        ms(target.latency.max),
        `${int(rps(target))}${name === 'gateway' ? ` (${pct(rps(target) / rps(minimal))} of minimal)` : name === 'local gateway' ? ` (${pct(rps(target) / rps(phase.targets.gateway))} of gateway)` : ''}`,
        isDirect ? '—' : signedMs(target.latency.p50 - direct.latency.p50),
        isDirect ? '—' : signedMs(target.latency.p90 - direct.latency.p90),
        isDirect ? '—' : signedMs(target.latency.p99 - direct.latency.p99),
        isDirect ? '—' : int(cpuPerRequest(target.proxyCpuMicros, target)),
        int(target.upstreamCpuMicros / target.requests),
        int(target.clientCpuMicros / target.requests),
      ];
    }),
  );
};

const streamTable = (phase: PhaseResult): string => {
  const direct = phase.targets.direct;
  return table(
    [
      'target',
      'TTFB p50 ms',
      'TTFB p90 ms',
      'TTFB p99 ms',
      'TTFB overhead p50 ms',
      'TTFB overhead p99 ms',
      'total p50 ms',
      'total p99 ms',
      'total overhead p50 ms',
      'client reads/stream p50 (min)',
      'proxy CPU µs/stream',
    ],
    TARGET_NAMES.map((name) => {
      const target = phase.targets[name];
      const isDirect = name === 'direct';
      return [
        name,
        ms(target.ttfb.p50),
        ms(target.ttfb.p90),
        ms(target.ttfb.p99),
        isDirect ? '—' : signedMs(target.ttfb.p50 - direct.ttfb.p50),
        isDirect ? '—' : signedMs(target.ttfb.p99 - direct.ttfb.p99),
        ms(target.latency.p50),
        ms(target.latency.p99),
        isDirect ? '—' : signedMs(target.latency.p50 - direct.latency.p50),
        `${int(target.reads.p50)} (${int(target.reads.min)})`,
        isDirect ? '—' : int(cpuPerRequest(target.proxyCpuMicros, target)),
      ];
    }),
  );
};

const coldStartRow = (label: string, runs: readonly ColdStartRun[]): string[] => {
  const pick = (key: keyof ColdStartRun) => runs.map((run) => run[key]);
  const range = (key: keyof ColdStartRun) =>
    `${ms1(median(pick(key)))} (${ms1(Math.min(...pick(key)))}–${ms1(Math.max(...pick(key)))})`;
  return [
    label,
    String(runs.length),
    range('nodeBootMs'),
    range('importMs'),
    range('spawnToReadyMs'),
    range('invokeToFirstByteMs'),
    range('spawnToFirstByteMs'),
    range('invokeToEndMs'),
  ];
};

const cacheHitSection = (report: BenchReport): string => {
  const result = report.cacheHit;
  const added = result.hit.p50 - result.valkeyGet.p50;
  const row = (what: string, summary: Summary) => [
    what,
    int(summary.count),
    ms(summary.p50),
    ms(summary.p90),
    ms(summary.p99),
    summary === result.valkeyGet ? '—' : signedMs(summary.p50 - result.valkeyGet.p50),
  ];
  return `## Cache hit (Valkey on loopback)

A seeded, greedy chat (\`seed: 42, temperature: 0\`) is sent once through the gateway (\`x-gateway-cache: miss\`;
its ${int(result.entryBytes)}-byte entry is stored), then repeated at concurrency 1: every response must say
\`x-gateway-cache: hit\` or the run fails. In the same rounds, taking turns, the bench process GETs that entry's
key itself through an iovalkey Cluster client (\`localRedisClient\`, as the gateway builds it), and the unseeded
chat goes through the gateway (uncached) and straight to the fake upstream. The cache is ${result.server}, a
cluster of ${result.masters} masters (one process each, no replicas) on 127.0.0.1. A hit authenticates the key,
hashes the canonical request into its cache key (SHA-256), makes one GET to Valkey, replays the stored answer
(${int(result.responseBytes)} bytes of JSON) and meters it as a cache hit (usage record and rollups; no budget hold,
tokenizer or upstream call).

${table(
  ['measure', 'requests', 'p50 ms', 'p90 ms', 'p99 ms', 'p50 − Valkey GET p50 ms'],
  [
    row('Valkey GET alone (bench process → Valkey)', result.valkeyGet),
    row('gateway cache hit', result.hit),
    row('gateway uncached call (fake upstream)', result.uncached),
    row('direct upstream call', result.direct),
  ],
)}

Added by a hit over the Valkey round trip (p50 cache hit − p50 Valkey GET): **${ms(added)} ms** (target
≤ ${BUDGET.cacheHitAddedMs} ms: ${met(added <= BUDGET.cacheHitAddedMs)}). The gateway's own \`x-gateway-overhead-ms\` on hits (its whole time, GET
included): p50 ${ms(result.hitReportedOverhead?.p50 ?? Number.NaN)} ms, p99 ${ms(result.hitReportedOverhead?.p99 ?? Number.NaN)} ms.`;
};

export interface TargetCheck {
  readonly name: string;
  readonly budget: string;
  readonly measured: string;
  /** The same figure for the minimal proxy: what any extra Node hop costs on this machine. */
  readonly reference: string;
  readonly ok: boolean;
}

export const checkTargets = (report: BenchReport): TargetCheck[] => {
  const { c1, c32, stream } = report.phases;
  const overhead = (phase: PhaseResult, name: TargetName, p: 'p50' | 'p99', of: 'latency' | 'ttfb') =>
    phase.targets[name][of][p] - phase.targets.direct[of][p];
  const overheadP50 = overhead(c1, 'gateway', 'p50', 'latency');
  const overheadP99 = overhead(c1, 'gateway', 'p99', 'latency');
  const ttfbOverhead = overhead(stream, 'gateway', 'p50', 'ttfb');
  const throughputShare = rps(c32.targets.gateway) / rps(c32.targets['minimal proxy']);
  const cacheHitAdded = report.cacheHit.hit.p50 - report.cacheHit.valkeyGet.p50;
  const cpuRatio =
    cpuPerRequest(c32.targets.gateway.proxyCpuMicros, c32.targets.gateway) /
    cpuPerRequest(c32.targets['minimal proxy'].proxyCpuMicros, c32.targets['minimal proxy']);
  return [
    {
      name: 'Gateway overhead p50 (concurrency 1, p50 gateway − p50 direct)',
      budget: `≤ ${BUDGET.overheadP50Ms} ms`,
      measured: `${ms(overheadP50)} ms`,
      reference: `${ms(overhead(c1, 'minimal proxy', 'p50', 'latency'))} ms`,
      ok: overheadP50 <= BUDGET.overheadP50Ms,
    },
    {
      name: 'Gateway overhead p99 (concurrency 1, p99 gateway − p99 direct)',
      budget: `≤ ${BUDGET.overheadP99Ms} ms`,
      measured: `${ms(overheadP99)} ms`,
      reference: `${ms(overhead(c1, 'minimal proxy', 'p99', 'latency'))} ms`,
      ok: overheadP99 <= BUDGET.overheadP99Ms,
    },
    {
      name: 'Streaming TTFB overhead (p50 gateway − p50 direct)',
      budget: `≤ ${BUDGET.ttfbOverheadMs} ms`,
      measured: `${ms(ttfbOverhead)} ms`,
      reference: `${ms(overhead(stream, 'minimal proxy', 'p50', 'ttfb'))} ms`,
      ok: ttfbOverhead <= BUDGET.ttfbOverheadMs,
    },
    {
      name: 'Throughput at concurrency 32, share of the minimal proxy',
      budget: `≥ ${pct(BUDGET.throughputShareOfMinimal)}`,
      measured: pct(throughputShare),
      reference: `${int(rps(c32.targets['minimal proxy']))} req/s = 100%`,
      ok: throughputShare >= BUDGET.throughputShareOfMinimal,
    },
    {
      name: 'Proxy CPU per request at concurrency 32, vs the minimal proxy',
      budget: `≤ ${BUDGET.cpuPerRequestVsMinimal}×`,
      measured: `${cpuRatio.toFixed(2)}×`,
      reference: `${int(cpuPerRequest(c32.targets['minimal proxy'].proxyCpuMicros, c32.targets['minimal proxy']))} µs/req = 1×`,
      ok: cpuRatio <= BUDGET.cpuPerRequestVsMinimal,
    },
    {
      name: 'Cache hit added cost (p50 cache hit − p50 Valkey GET, concurrency 1)',
      budget: `≤ ${BUDGET.cacheHitAddedMs} ms`,
      measured: `${ms(cacheHitAdded)} ms`,
      // What one extra node:http hop costs here (minimal proxy − direct): a hit adds one, to the GET.
      reference: `${ms(overhead(c1, 'minimal proxy', 'p50', 'latency'))} ms (one proxy hop)`,
      ok: cacheHitAdded <= BUDGET.cacheHitAddedMs,
    },
    {
      name: 'Lambda bundle, minified',
      budget: `< ${int(BUDGET.bundleBytes)} bytes`,
      measured: `${int(report.bundle.bytes)} bytes (${kib(report.bundle.bytes)})`,
      reference: '—',
      ok: report.bundle.bytes < BUDGET.bundleBytes,
    },
  ];
};

/** What counts as the local gateway's figures growing with the records stored (run-to-run noise is below these). */
const DEGRADE = { shareDrop: 0.1, overheadRiseMs: 0.1 };

/** The OpenAI pass-through stream against the same stream translated from Bedrock, both through the gateway. */
const renderBedrockStream = (report: BenchReport): string => {
  const { stream } = report.phases;
  const direct = stream.targets.direct;
  const rows = [
    ['gateway, OpenAI stream passed through', stream.targets.gateway],
    ['gateway, Bedrock ConverseStream translated', report.bedrockStream.targets.gateway],
  ] as const;
  const events = STREAM_CHUNKS + 1;
  return `## Streams translated from Bedrock

The same answer (${STREAM_CHUNKS} chunks ${STREAM_GAP_MS} ms apart, then \`[DONE]\`) from the fake upstream as an OpenAI SSE stream, relayed
as it is, and as Bedrock's ConverseStream (AWS event stream framing: messageStart, text deltas, messageStop,
metadata), which a \`bedrock\` target signs with SigV4, decodes and translates into the same chunks. Overheads are
against direct's OpenAI stream in the streamed-chat phase above. CPU per chunk divides the gateway's CPU per stream
by the ${events} events the client gets.

${table(
  [
    'stream',
    'TTFB p50 ms',
    'TTFB overhead p50 ms',
    'TTFB p99 ms',
    'total p50 ms',
    'client reads/stream p50 (min)',
    'proxy CPU µs/stream',
    'proxy CPU µs/chunk',
  ],
  rows.map(([label, target]) => [
    label,
    ms(target.ttfb.p50),
    signedMs(target.ttfb.p50 - direct.ttfb.p50),
    ms(target.ttfb.p99),
    ms(target.latency.p50),
    `${int(target.reads.p50)} (${int(target.reads.min)})`,
    int(cpuPerRequest(target.proxyCpuMicros, target)),
    (cpuPerRequest(target.proxyCpuMicros, target) / events).toFixed(1),
  ]),
)}

`;
};

/** The local gateway (npm start, SQLite store) next to the in-memory row, before and after many more records. */
const renderLocalGateway = (report: BenchReport): string => {
  const { c1, c32 } = report.phases;
  const { stored } = report;
  type Pair = {
    readonly c1: PhaseResult<'direct' | 'gateway' | 'local gateway'>;
    readonly c32: PhaseResult<'direct' | 'gateway' | 'local gateway'>;
  };
  const figures = ({ c1: one, c32: many }: Pair) => {
    const overhead = (name: 'gateway' | 'local gateway') =>
      one.targets[name].latency.p50 - one.targets.direct.latency.p50;
    const cpu = (name: 'gateway' | 'local gateway') =>
      cpuPerRequest(many.targets[name].proxyCpuMicros, many.targets[name]);
    return {
      memoryOverhead: overhead('gateway'),
      localOverhead: overhead('local gateway'),
      memoryRps: rps(many.targets.gateway),
      localRps: rps(many.targets['local gateway']),
      memoryCpu: cpu('gateway'),
      localCpu: cpu('local gateway'),
    };
  };
  const before = figures({ c1, c32 });
  const after = figures(stored);
  const rows = (label: string, f: ReturnType<typeof figures>) => [
    [
      `${label}: overhead p50, concurrency 1`,
      `${ms(f.memoryOverhead)} ms`,
      `${ms(f.localOverhead)} ms (${signedMs(f.localOverhead - f.memoryOverhead)})`,
      '≤ +0.500 ms',
      met(f.localOverhead - f.memoryOverhead <= 0.5),
    ],
    [
      `${label}: throughput, concurrency 32`,
      `${int(f.memoryRps)} req/s`,
      `${int(f.localRps)} req/s (${pct(f.localRps / f.memoryRps)})`,
      '≥ 50%',
      met(f.localRps / f.memoryRps >= 0.5),
    ],
    [
      `${label}: CPU per request, concurrency 32`,
      `${int(f.memoryCpu)} µs`,
      `${int(f.localCpu)} µs`,
      '—',
      '—',
    ],
  ];
  const shareChange = after.localRps / after.memoryRps - before.localRps / before.memoryRps;
  const overheadChange =
    after.localOverhead - after.memoryOverhead - (before.localOverhead - before.memoryOverhead);
  return `## Local gateway as \`npm start\` runs it

**local gateway** is \`createLocalApp\` (lambda/entrypoints/local/app.ts), what \`npm start\` runs, in its own process
(bench/local-gateway.ts): its SQLite store in a fresh state directory (WAL; one transaction per budget hold and
one per usage record with its rollups and the hold's release), its JSON log lines appended to a file with one
synchronous write each (as stdout redirected to a file takes them), and the same routes, tier, prices and
content rules as the **gateway** row, which runs the same core over the in-memory twins. The rows of both are in
the tables above. Then the bench process wrote ${int(stored.seeded)} more usage records
into the local store (${stored.seedSeconds.toFixed(1)} s, one transaction each, while the gateway kept it open), and both
gateways were measured again, taking turns with direct as before: the store held ${int(stored.recordsBefore)} records
before, ${int(stored.recordsAfter)} at the end. Its log file ended with ${int(stored.logLines)} lines (${kib(stored.logBytes)}).

${table(
  ['measure', 'gateway (in-memory)', 'local gateway (SQLite)', 'target', 'status'],
  [
    ...rows(`${int(stored.recordsBefore)} records`, before),
    ...rows(`${int(stored.recordsAfter)} records`, after),
    [
      'Change with the records stored: throughput share',
      '—',
      `${shareChange >= 0 ? '+' : ''}${(shareChange * 100).toFixed(0)} points`,
      `no fall over ${(DEGRADE.shareDrop * 100).toFixed(0)} points`,
      met(shareChange >= -DEGRADE.shareDrop),
    ],
    [
      'Change with the records stored: overhead p50 over in-memory',
      '—',
      `${signedMs(overheadChange)} ms`,
      `no rise over ${ms(DEGRADE.overheadRiseMs)} ms`,
      met(overheadChange <= DEGRADE.overheadRiseMs),
    ],
  ],
)}

`;
};

/** This run against the restructure's targets and the figures before it, for the same Node major. */
const renderRestructure = (report: BenchReport): string => {
  const { c1, c32, stream } = report.phases;
  const before = RESTRUCTURE.before.byNodeMajor[process.versions.node.split('.')[0] ?? ''];
  const { target } = RESTRUCTURE;
  const overheadP50 = c1.targets.gateway.latency.p50 - c1.targets.direct.latency.p50;
  const ttfbOverhead = stream.targets.gateway.ttfb.p50 - stream.targets.direct.ttfb.p50;
  const share = rps(c32.targets.gateway) / rps(c32.targets['minimal proxy']);
  const cpuRatio =
    cpuPerRequest(c32.targets.gateway.proxyCpuMicros, c32.targets.gateway) /
    cpuPerRequest(c32.targets['minimal proxy'].proxyCpuMicros, c32.targets['minimal proxy']);
  const was = (value: number | undefined, show: (value: number) => string) =>
    value === undefined ? 'not measured on this Node major' : show(value);
  return `## Before and after the core restructure

The restructure (docs/decisions/013) set these targets for one run on one machine. "Before" is commit
${RESTRUCTURE.before.commit} on this machine and Node major${before === undefined ? '' : ", measured with this bench's warm-ups (its own bench, warming up with 300 requests, had measured 1.295 ms on Node 22 and 0.967 ms on Node 24 of overhead p50 at concurrency 1: code still being compiled)"}.

${table(
  ['measure', 'target', 'before', 'this run', 'status'],
  [
    [
      'Proxy CPU per request at concurrency 32, vs the minimal proxy',
      `≤ ${target.cpuVsMinimal}×`,
      was(before?.cpuVsMinimal, (value) => `${value.toFixed(2)}×`),
      `${cpuRatio.toFixed(2)}×`,
      met(cpuRatio <= target.cpuVsMinimal),
    ],
    [
      'Throughput at concurrency 32, share of the minimal proxy',
      `≥ ${pct(target.throughputShare)}`,
      was(before?.throughputShare, pct),
      pct(share),
      met(share >= target.throughputShare),
    ],
    [
      'Gateway overhead p50 at concurrency 1',
      `≤ ${ms(target.overheadP50Ms)} ms`,
      was(before?.overheadP50Ms, (value) => `${ms(value)} ms`),
      `${ms(overheadP50)} ms`,
      met(overheadP50 <= target.overheadP50Ms),
    ],
    [
      'Streaming TTFB overhead p50',
      '—',
      was(before?.ttfbOverheadMs, (value) => `${ms(value)} ms`),
      `${ms(ttfbOverhead)} ms`,
      '—',
    ],
    [
      'Lambda bundle, minified',
      '—',
      was(before?.bundleBytes, (value) => `${int(value)} bytes`),
      `${int(report.bundle.bytes)} bytes`,
      '—',
    ],
  ],
)}

`;
};

export const renderReport = (report: BenchReport): string => {
  const cpus = os.cpus();
  const { c1, c32, stream } = report.phases;
  const checks = checkTargets(report);
  const plan = Object.entries(report.plan)
    .map(([key, value]) => `${key} ${value}`)
    .join(', ');
  return `# Benchmarks

Generated by \`npm run bench\` (bench/run.ts); overwritten on every run. Numbers are from one run on the
machine below and move by a few tens of percent between runs: compare rows of the same run, not runs.

- Date: ${report.startedAt.toISOString()} (run took ${report.durationS.toFixed(0)} s)
- Commit: ${report.commit}
- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()} (${os.arch()})
- Load average (1/5/15 min) at start ${report.loadAverage.start.map((value) => value.toFixed(2)).join(' / ')}, at end ${report.loadAverage.end.map((value) => value.toFixed(2)).join(' / ')} (the bench itself loads the machine)
- Node ${process.version}${process.versions.node.startsWith('24.') ? " (the Lambda runtime's major)" : ' (Lambda runs Node 24: `npm run bench:node24` runs this bench on it and writes BENCHMARKS-node24.md)'}${report.profiled ? '\n- **The gateway ran under `--cpu-prof` (BENCH_PROFILE=1): its latency, CPU and throughput are inflated.**' : ''}
- Plan: ${plan}

## Budget (docs/ARCHITECTURE.md, "Performance budget")

${table(
  ['target', 'budget', 'gateway', 'minimal proxy (same run)', 'status'],
  checks.map((check) => [check.name, check.budget, check.measured, check.reference, met(check.ok)]),
)}

Beyond what the minimal proxy's extra hop costs, the gateway adds (difference of percentiles, gateway − minimal
proxy): ${signedMs(c1.targets.gateway.latency.p50 - c1.targets['minimal proxy'].latency.p50)} ms p50 and ${signedMs(c1.targets.gateway.latency.p99 - c1.targets['minimal proxy'].latency.p99)} ms p99 at concurrency 1,
${signedMs(stream.targets.gateway.ttfb.p50 - stream.targets['minimal proxy'].ttfb.p50)} ms to streaming TTFB p50, and ${int(cpuPerRequest(c32.targets.gateway.proxyCpuMicros, c32.targets.gateway) - cpuPerRequest(c32.targets['minimal proxy'].proxyCpuMicros, c32.targets['minimal proxy']))} µs of CPU per request at concurrency ${c32.concurrency}.

${renderRestructure(report)}${renderLocalGateway(report)}${renderBedrockStream(report)}## Method

- Everything runs on 127.0.0.1 in one run, side by side. Each server is its own \`node\` process, started from
  an esbuild bundle of its bench/*.ts file (no TypeScript loader in measured processes): the fake upstream,
  the minimal proxy, and the gateway. The load generator runs in the parent (node:http, keep-alive Agent,
  closed loop: each of \`concurrency\` workers sends its next request when the previous one has ended).
- **direct**: client → fake upstream. **minimal proxy**: client → a 30-line node:http proxy that pipes
  request and response through a keep-alive Agent (bench/minimal-proxy.ts) → fake upstream. **gateway**:
  client → \`createLocalServer(createGateway(...))\` with \`createNodeHttpUpstream()\`, the in-memory twins of
  the stores (MemoryKeyStore with one tenant and key, MemoryBudgetStore, MemoryUsageLedger over a
  MemoryDatabase keeping the last 10 000 records), the gpt-tokenizer o200k_base token counter, MemoryMetrics,
  and \`jsonLogger\` at level \`${report.gatewayLogLevel}\` writing to a sink that drops each line (the JSON
  serialisation of every log line is paid, the I/O is not) (bench/gateway-server.ts) → fake upstream.
- What the gateway does on every request: authenticates (HMAC-SHA256 of the presented key with the pepper,
  checked against the key record; key and tenant lookups are cached by key id), parses the body, routes,
  counts the prompt's tokens with the tokenizer and takes a budget hold (one conditional write), applies
  the content rules (the three seed rules of config/gateway.json, enabled: the prompt before it goes
  upstream; the answer, a JSON body read whole and a stream event by event; nothing in these texts
  matches), relays, scans for usage, logs, emits metrics, and meters after the response (one transaction: the usage record,
  the tenant and model rollups, settling the hold). In these throughput and latency runs every store is an
  in-memory twin, so no network I/O is measured for them; the Lambda cold start below runs them against
  moto's DynamoDB API.
- The gateway has its Valkey response cache wired (${report.cacheHit.server}, a cluster of ${report.cacheHit.masters} masters on loopback,
  through \`valkeyResponseCache(localRedisClient(nodes))\`), but the requests of these phases carry no \`seed\`, so the
  cache policy bypasses them: no Valkey call, and the run fails unless every one of their responses says
  \`x-gateway-cache: bypass\`. They measure the uncached path; only "Cache hit" below reads the cache.
- The fake upstream answers a non-streamed chat completion with a fixed ${c1.targets.direct.bodyBytes}-byte JSON body, and a streamed one
  with ${STREAM_CHUNKS} \`chat.completion.chunk\` events ${STREAM_GAP_MS} ms apart, a usage chunk when \`stream_options.include_usage\` is
  set, then \`data: [DONE]\`. The client never asks for usage; the gateway adds \`include_usage\` upstream and
  drops the usage chunk, so all three targets deliver the same ${STREAM_CHUNKS + 1} events.
- Every response is checked (status 200, \`usage\` in the JSON body, 21 events ending with \`[DONE]\`); a wrong
  response fails the run. Timing never fails it.
- Before each phase every target gets a warm-up that is not measured (${report.warmups}): enough
  requests for V8 to have compiled the hot path at its optimising tier, the gateway's and Node's own http
  code alike, as in a function that has served traffic for a few seconds. With 2,000 before concurrency 1
  (earlier runs), that phase still measured code being compiled: on Node 22, between the 2,000th and the
  6,000th request the gateway's p50 fell by about a third, and the CPU per request of the gateway and of the
  minimal proxy alike by about half (Node 24 settles sooner). The concurrency-1 warm-up is shown block by
  block under its table.
- Latency is send → last byte, in the load generator. "Overhead" is the **difference of percentiles**
  (gateway p99 − direct p99), not a percentile of per-request differences. Each phase is split into rounds
  and the targets take turns round by round (order rotated), so drift and noise spread over all of them.
- CPU per request: \`process.cpuUsage()\` (user + system, all threads) of the server's own process, asked over
  IPC before and after each round, divided by the requests of the phase. Upstream and load-generator CPU
  are shown so you can see where the machine's ${cpus.length} cores went: at concurrency 32 all three
  processes compete for them, so req/s is a CPU-bound figure for this box, not a property of the proxy alone.
- Hot spots: \`BENCH_PROFILE=1 npm run bench\` runs the gateway under \`--cpu-prof\`, then
  \`npx tsx bench/profile-summary.ts\` lists self and total time by function.
- Streaming TTFB: send → first body byte of the SSE response (the first \`data:\` event). "Client reads per
  stream" counts the socket reads that brought body bytes: a proxy that held chunks back and sent them
  together would show fewer reads than direct.

## Non-streamed chat completion, concurrency 1

${latencyTable(c1)}${warmupTable(c1)}

## Non-streamed chat completion, concurrency ${c32.concurrency}

${latencyTable(c32)}

The gateway's own \`x-gateway-overhead-ms\` header (time in the gateway minus time waiting for the upstream,
measured until the response headers are built): concurrency 1 p50 ${ms(c1.targets.gateway.reportedOverhead?.p50 ?? Number.NaN)} ms,
p99 ${ms(c1.targets.gateway.reportedOverhead?.p99 ?? Number.NaN)} ms; concurrency ${c32.concurrency} p50 ${ms(c32.targets.gateway.reportedOverhead?.p50 ?? Number.NaN)} ms,
p99 ${ms(c32.targets.gateway.reportedOverhead?.p99 ?? Number.NaN)} ms.

## Streamed chat completion (${STREAM_CHUNKS} chunks, ${STREAM_GAP_MS} ms apart), concurrency 1

${streamTable(stream)}

${cacheHitSection(report)}

## Lambda bundle

\`dist/lambda/index.mjs\` from \`scripts/bundle.ts\` (esbuild, ESM, node20, minified, external source map,
everything bundled but gpt-tokenizer and re2js): **${int(report.bundle.bytes)} bytes (${kib(report.bundle.bytes)})**, ${kib(report.bundle.gzipBytes)} gzipped. It holds the
AWS SDK v3 DynamoDB and Secrets Manager clients the function uses for keys, budgets, usage and secrets; their
default credential chain is replaced by the environment credentials Lambda provides (decision 009).

The tokenizer is not in the bundle: the handler \`import()\`s \`gpt-tokenizer/encoding/o200k_base\` after its
first response has been sent (middy's requestEnd) and counts UTF-8 bytes (an upper bound) until it has loaded; it
ships beside the bundle.
Its JS as it sits in node_modules (the encoding and every module it imports): ${report.bundle.tokenizer.files} files,
**${int(report.bundle.tokenizer.bytes)} bytes (${kib(report.bundle.tokenizer.bytes)})**. Loading it in a fresh \`node\` process (\`await import()\`, median (min–max)
of ${report.bundle.tokenizer.importMs.length}): ${msRange(report.bundle.tokenizer.importMs)} ms; its first \`countTokens\` after that ${msRange(report.bundle.tokenizer.firstCountMs)} ms.

re2js, the engine of content rules, is not in the bundle either: the handler \`import()\`s it during init, only
when the config enables a rule, from the copy beside the bundle (its ESM build, ${int(report.bundle.regex.bytes)} bytes (${kib(report.bundle.regex.bytes)})).
Importing it and compiling the bench's three rules in a fresh process (median (min–max) of ${report.bundle.regex.loadMs.length}):
${msRange(report.bundle.regex.loadMs)} ms, added to the cold start of a function with rules (the cold starts below have them).

${table(
  ['package', 'bytes in bundle'],
  report.bundle.byPackage.map(([name, bytes]) => [name, `${int(bytes)} (${kib(bytes)})`]),
)}

## Cold start of the bundled Lambda handler

A fresh \`node\` process per run (bench/lambda-probe.ts, bundled) stubs \`globalThis.awslambda\`
(\`streamifyResponse(fn)\` returns \`fn\`, \`HttpResponseStream.from(stream, prelude)\` returns \`stream\`), then
\`import()\`s dist/lambda/index.mjs and invokes the handler once with a Function URL (v2) event, writing into
a Writable. Times are from \`spawn()\` in the parent (process.hrtime, shared monotonic clock) or within the
child; median (min–max). The function's AWS calls go to a moto server (a DynamoDB and Secrets Manager API
server) on loopback, through \`AWS_ENDPOINT_URL\`, with the gateway's three tables, the pepper secret and the
bench tenant and key seeded. "chat" is a POST /v1/chat/completions with the bench key and \`GATEWAY_CONFIG\`
pointing at the fake upstream, so its first byte includes the first AWS SDK calls of the process (credentials,
signing, connection to moto): GetSecretValue for the pepper, GetItem of the key and of the tenant, the
budget hold (TransactWriteItems), then opening the first upstream connection; "invoke → handler returned"
adds the metering transaction that middy's requestEnd waits for. moto on loopback (no TLS, no network
distance, but a Python server) answers on its own timescale, not DynamoDB's: read these calls' share of the
figure as indicative only. The tokenizer (its load time is in the bundle section) is loaded after the first
response has been sent, so it is in "invoke → handler returned" (the client already has its answer), not in the
time to first byte. The real Lambda runtime's own bootstrap is not included.

For scale, in a bare \`node -e\` process (median of ${report.nodeBaselineMs.length}): spawn → first line of the script
${ms1(median(report.nodeBaselineMs))} ms; first use of the web \`Headers\`/\`Request\`/\`Response\` globals ${ms1(median(report.webGlobalsMs))} ms (Node loads
its internal undici lazily on first access, and the gateway core is built on these types, so the first
invocation pays for it unless something touches them during init).

${table(
  [
    'invocation',
    'runs',
    'spawn → probe start ms',
    'import() of bundle ms',
    'spawn → handler ready ms',
    'invoke → first body byte ms',
    'spawn → first body byte ms',
    'invoke → handler returned ms',
  ],
  [coldStartRow('GET /health', report.coldStart.health), coldStartRow('POST chat', report.coldStart.chat)],
)}

## Upstream HTTP client: node:http vs undici (docs/decisions/001)

Each client is a tiny module (bench/clients/*.ts) bundled and minified with esbuild like the Lambda bundle.
Import time: fresh \`node\` process, \`import()\` of the bundle, median of the spawns. First request: the
first POST in that process (connection set-up and any lazy loading included), median. CPU per request:
\`process.cpuUsage()\` of the client process over sequential non-streamed POSTs to the fake upstream after a
warm-up, body read in full.

${table(
  [
    'client',
    'bundle',
    'import ms',
    'spawn → imported ms',
    'first request ms',
    'requests',
    'CPU µs/req',
    'latency p50 ms',
    'latency p99 ms',
  ],
  report.clients.map((client) => [
    `${client.name} — ${client.description}`,
    kib(client.bundleBytes),
    ms1(client.importMs),
    ms1(client.spawnToImportedMs),
    ms1(client.firstRequestMs),
    int(client.requests),
    int(client.cpuMicrosPerRequest),
    ms(client.latency.p50),
    ms(client.latency.p99),
  ]),
)}

## Streams through the Lambda runtime interface client

The bundled function run by AWS's runtime interface client (\`aws-lambda-ric\`, what the managed Node.js
runtime runs) against a fake Runtime API on loopback, for a REST API (v1) and a Function URL event: when
each SSE event reaches the Runtime API, measured from when the fake upstream wrote it
(test/lambda-runtime). Events leave as they are written, each in its own chunk, padding or not, so
\`streaming.flushPaddingBytes\` stays 0 (off) by default. What happens past the Runtime API, inside AWS, is
not measured here.

${'markdown' in report.lambdaRuntime ? report.lambdaRuntime.markdown : `Not measured: ${report.lambdaRuntime.skipped}`}

## Gateway bookkeeping at the end of the run

${Object.entries(report.gatewayStats)
  .map(([key, value]) => `${key} ${int(value)}`)
  .join(', ')}.
`;
};
