// Runs one candidate HTTP client bundle in a fresh process: its import time, its first request, then the CPU
// it spends on `count` sequential requests after `warmup` ones.
import { pathToFileURL } from 'node:url';
import type { CreateClient } from './clients/types.ts';
import { BENCH_MODEL, PROBE_MARKER } from './shared.ts';

const scriptStartNs = process.hrtime.bigint();

export interface ClientRunResult {
  readonly scriptStartNs: string;
  readonly importMs: number;
  readonly firstRequestMs: number;
  readonly requests: number;
  /** user + system CPU of this process over the measured requests, in µs. */
  readonly cpuMicros: number;
  readonly wallMs: number;
  /** Per-request latencies of the measured requests, sorted, in ms. */
  readonly latenciesMs: readonly number[];
  readonly failures: number;
}

const [bundlePath, origin, warmupArg, countArg] = process.argv.slice(2);
if (bundlePath === undefined || origin === undefined) {
  throw new Error('usage: client-runner.mjs <client bundle> <origin> [warmup] [count]');
}
const warmup = Number(warmupArg ?? 0);
const count = Number(countArg ?? 0);
const body = JSON.stringify({ model: BENCH_MODEL, messages: [{ role: 'user', content: 'Hello' }] });
const path = '/v1/chat/completions';

const importStart = process.hrtime.bigint();
const { createClient } = (await import(pathToFileURL(bundlePath).href)) as { createClient: CreateClient };
const importMs = Number(process.hrtime.bigint() - importStart) / 1e6;

const client = createClient(origin);
let failures = 0;
const check = (result: { status: number; bytes: number }) => {
  if (result.status !== 200 || result.bytes === 0) failures += 1;
};
const firstStart = process.hrtime.bigint();
check(await client.post(path, body));
const firstRequestMs = Number(process.hrtime.bigint() - firstStart) / 1e6;

for (let i = 0; i < warmup; i++) check(await client.post(path, body));
const latencies = new Float64Array(count);
const cpuBefore = process.cpuUsage();
const wallStart = process.hrtime.bigint();
for (let i = 0; i < count; i++) {
  const start = process.hrtime.bigint();
  check(await client.post(path, body));
  latencies[i] = Number(process.hrtime.bigint() - start) / 1e6;
}
const wallMs = Number(process.hrtime.bigint() - wallStart) / 1e6;
const cpu = process.cpuUsage(cpuBefore);
await client.close();

const result: ClientRunResult = {
  scriptStartNs: String(scriptStartNs),
  importMs,
  firstRequestMs,
  requests: count,
  cpuMicros: cpu.user + cpu.system,
  wallMs,
  latenciesMs: Array.from(latencies.sort()),
  failures,
};
process.stdout.write(`${PROBE_MARKER}${JSON.stringify(result)}\n`, () => process.exit(0));
