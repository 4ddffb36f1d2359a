// Summarises a V8 .cpuprofile (from `BENCH_PROFILE=1 npm run bench`): self time by function and by source file.
// Usage: tsx bench/profile-summary.ts [file.cpuprofile] (default: the newest in bench/results/profiles).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const profileDir = path.join(root, 'bench/results/profiles');

const newestProfile = (): string => {
  const files = readdirSync(profileDir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(profileDir, name));
  if (files.length === 0)
    throw new Error(`no .cpuprofile in ${profileDir}: run BENCH_PROFILE=1 npm run bench`);
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
};

const file = process.argv[2] ?? newestProfile();
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(`${root}/`, '');
const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);
const keyOf = (node: ProfileNode) => {
  const frame = node.callFrame;
  return `${frame.functionName || '(anonymous)'} ${frame.url === '' ? '(native)' : shortUrl(frame.url)}:${frame.lineNumber + 1}`;
};

// Self time goes to the sampled frame; total time to every distinct function on the sampled stack.
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const byFile = new Map<string, number>();
let busy = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  const micros = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id);
  if (node === undefined) return;
  if (IDLE.has(node.callFrame.functionName)) {
    if (node.callFrame.functionName === '(idle)') idle += micros;
    else busy += micros;
    self.set(keyOf(node), (self.get(keyOf(node)) ?? 0) + micros);
    return;
  }
  busy += micros;
  self.set(keyOf(node), (self.get(keyOf(node)) ?? 0) + micros);
  const where = node.callFrame.url === '' ? '(native)' : shortUrl(node.callFrame.url);
  byFile.set(where, (byFile.get(where) ?? 0) + micros);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    const frame = byId.get(at);
    if (frame === undefined || frame.callFrame.functionName === '(root)') continue;
    const key = keyOf(frame);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
  }
});
self.delete(`(idle) (native):1`);

const top = (map: Map<string, number>, n: number) =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([key, micros]) =>
        `${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${key}`,
    )
    .join('\n');

process.stdout.write(
  [
    `${shortUrl(file)}: ${(busy / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle (percentages are of busy time)`,
    '',
    'Self time by function:',
    top(self, 30),
    '',
    'Total time (self + callees) by function:',
    top(inclusive, 40),
    '',
    'Self time by file:',
    top(byFile, 15),
    '',
  ].join('\n'),
);
