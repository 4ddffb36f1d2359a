// Bundles the bench's child-process scripts and the candidate HTTP clients, so that children run on plain
// `node` (no TypeScript loader in the measured processes) the way the Lambda bundle does.
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CJS_IN_ESM_BANNER } from '../scripts/bundle.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_OUT_DIR = path.join(root, 'dist/bench');

const CHILDREN = [
  'fake-upstream',
  'minimal-proxy',
  'gateway-server',
  'local-gateway',
  'lambda-probe',
  'client-runner',
] as const;
export type ChildScript = (typeof CHILDREN)[number];

export const CLIENTS = ['node-http', 'undici', 'fetch'] as const;
export type ClientName = (typeof CLIENTS)[number];

export interface BenchBundles {
  readonly children: Readonly<Record<ChildScript, string>>;
  readonly clients: Readonly<Record<ClientName, { readonly file: string; readonly bytes: number }>>;
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: CJS_IN_ESM_BANNER },
  logLevel: 'warning',
} as const;

export const buildBenchBundles = async (): Promise<BenchBundles> => {
  // Not minified: CPU profiles of the gateway child stay readable. Minifying does not change how fast V8 runs it.
  await build({
    ...common,
    entryPoints: Object.fromEntries(CHILDREN.map((name) => [name, path.join(root, 'bench', `${name}.ts`)])),
    outdir: BENCH_OUT_DIR,
    outExtension: { '.js': '.mjs' },
  });
  // Minified like the Lambda bundle: their size and load time are part of what is compared.
  await build({
    ...common,
    entryPoints: Object.fromEntries(
      CLIENTS.map((name) => [name, path.join(root, 'bench/clients', `${name}.ts`)]),
    ),
    outdir: path.join(BENCH_OUT_DIR, 'clients'),
    outExtension: { '.js': '.mjs' },
    minify: true,
    legalComments: 'none',
  });
  const children = Object.fromEntries(
    CHILDREN.map((name) => [name, path.join(BENCH_OUT_DIR, `${name}.mjs`)]),
  ) as Record<ChildScript, string>;
  const clients = Object.fromEntries(
    CLIENTS.map((name) => {
      const file = path.join(BENCH_OUT_DIR, 'clients', `${name}.mjs`);
      return [name, { file, bytes: statSync(file).size }];
    }),
  ) as Record<ClientName, { file: string; bytes: number }>;
  return { children, clients };
};
