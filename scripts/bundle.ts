// `npm run build`: bundles the Lambda entry into one minified ESM file, dependencies included.
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const LAMBDA_ENTRY = path.join(root, 'lambda/entrypoints/lambda/index.ts');
export const LAMBDA_OUTFILE = path.join(root, 'dist/lambda/index.mjs');

/** Lets bundled CommonJS dependencies call `require` for Node built-ins from inside an ES module. */
export const CJS_IN_ESM_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export interface BundleResult {
  readonly outfile: string;
  /** Minified size of the bundle (the source map excluded). */
  readonly bytes: number;
  /** Bytes of the bundle by npm package (`(own code)` for this repository), largest first. */
  readonly byPackage: ReadonlyArray<readonly [string, number]>;
}

const packageOf = (input: string): string => {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return match?.[1] ?? '(own code)';
};

export const bundleLambda = async (): Promise<BundleResult> => {
  const { metafile } = await build({
    entryPoints: [LAMBDA_ENTRY],
    outfile: LAMBDA_OUTFILE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // As the CDK construct bundles it (lib/constructs/gateway-function.ts): ESM builds tree-shake better.
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: 'external',
    legalComments: 'none',
    banner: { js: CJS_IN_ESM_BANNER },
    metafile: true,
    logLevel: 'warning',
  });
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      totals.set(packageOf(input), (totals.get(packageOf(input)) ?? 0) + bytesInOutput);
    }
  }
  const byPackage = [...totals].sort((a, b) => b[1] - a[1]);
  return { outfile: LAMBDA_OUTFILE, bytes: statSync(LAMBDA_OUTFILE).size, byPackage };
};

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const { outfile, bytes, byPackage } = await bundleLambda();
  process.stdout.write(
    `${path.relative(process.cwd(), outfile)}: ${(bytes / 1024).toFixed(1)} KiB minified (${bytes} bytes)\n`,
  );
  for (const [name, size] of byPackage) process.stdout.write(`  ${name}: ${(size / 1024).toFixed(1)} KiB\n`);
}
