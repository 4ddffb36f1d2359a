// `npm run build`: bundles the Lambda entry into one minified ESM file, dependencies included but the tokenizer.
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const LAMBDA_ENTRY = path.join(root, 'lambda/entrypoints/lambda/index.ts');
export const LAMBDA_OUTFILE = path.join(root, 'dist/lambda/index.mjs');

/** Lets bundled CommonJS dependencies call `require` for Node built-ins from inside an ES module. */
/**
 * Left out of the bundle: gpt-tokenizer's o200k_base ranks are 2.4 MB and load lazily through a dynamic
 * `import()`, so they ship beside the bundle and resolve from its node_modules at run time. re2js (150 KB
 * minified) likewise: it is imported during init only when content rules are enabled.
 */
export const LAMBDA_EXTERNALS = ['gpt-tokenizer', 'gpt-tokenizer/*', 're2js'] as const;

/** The SDK's default credential chain, replaced by the Lambda role's environment credentials. */
export const CREDENTIALS_ALIAS = {
  '@aws-sdk/credential-provider-node': path.join(root, 'lambda/adapters/aws/lambda-credentials.ts'),
} as const;

const stub = (file: string): string => path.join(root, 'lambda/adapters/bundle-stubs', file);

/**
 * Dependencies of dependencies replaced by smaller modules that do what the bundle needs of them (each stub in
 * lambda/adapters/bundle-stubs says why it is enough; test/adapters/bundle-stubs.test.ts checks it against the
 * package). ~55 KB of the bundle. Keep in step with lib/constructs/bundling.ts's BUNDLE_ALIASES
 * (test/infra/bundling.test.ts compares them).
 */
export const BUNDLE_STUB_ALIASES = {
  // iovalkey's debug lines, printed only when DEBUG names them (~10 KB with ms, supports-color, has-flag).
  debug: stub('debug.ts'),
  // The SDK's event-stream serde, loaded only by event-stream operations, which no bundled client has (~15 KB).
  '@smithy/core/event-streams': stub('smithy-event-streams.ts'),
  // The DynamoDB endpoint cache's LRU cache: a Map does the same (~7 KB with obliterator).
  'mnemonist/lru-cache': stub('lru-cache.ts'),
  // iovalkey's command table: 18 KB of JSON, 3 KB without the arities nothing reads.
  '@iovalkey/commands': stub('iovalkey-commands.ts'),
  // The clients' SHA-256: node:crypto's, without the pure-JS fallback Node never needs (~3.4 KB).
  '@smithy/core/checksum': stub('smithy-checksum.ts'),
  // The errors of iovalkey and redis-parser: what the package picks on Node.js 7+, without its Node 6 copy.
  'redis-errors': path.join(root, 'node_modules/redis-errors/lib/modern.js'),
} as const;

/** Every alias of the Lambda bundles: what `npm run build` and the CDK construct both apply. */
export const LAMBDA_ALIASES = { ...CREDENTIALS_ALIAS, ...BUNDLE_STUB_ALIASES } as const;

export const CJS_IN_ESM_BANNER =
  "import { createRequire as __gwCreateRequire } from 'node:module'; const require = __gwCreateRequire(import.meta.url);";

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

/** The Lambda entry's esbuild options, written to `outfile`: what `npm run build`, the bench and tests bundle. */
export const lambdaBuildOptions = (outfile: string): BuildOptions => ({
  entryPoints: [LAMBDA_ENTRY],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  // As the CDK construct bundles it (lib/constructs/gateway-function.ts): ESM builds tree-shake better.
  mainFields: ['module', 'main'],
  external: [...LAMBDA_EXTERNALS],
  alias: { ...LAMBDA_ALIASES },
  minify: true,
  legalComments: 'none',
  banner: { js: CJS_IN_ESM_BANNER },
  logLevel: 'warning',
});

export const bundleLambda = async (): Promise<BundleResult> => {
  const { metafile } = await build({
    ...lambdaBuildOptions(LAMBDA_OUTFILE),
    sourcemap: 'external',
    metafile: true,
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

/** The JS gpt-tokenizer loads for the o200k_base encoding: what ships beside the bundle for the tokenizer. */
export interface ExternalFootprint {
  /** The module the bundle's `import()` resolves to. */
  readonly entry: string;
  readonly files: number;
  /** On-disk bytes of the entry and every module it imports, as they sit in node_modules. */
  readonly bytes: number;
}

export const TOKENIZER_ENCODING = 'gpt-tokenizer/encoding/o200k_base';

export const tokenizerFootprint = async (): Promise<ExternalFootprint> => {
  // esbuild resolves the import graph as Node would (the `import` condition); nothing is written.
  const { metafile } = await build({
    stdin: { contents: `import(${JSON.stringify(TOKENIZER_ENCODING)});`, resolveDir: root },
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.entries(metafile.inputs).filter(([input]) => input.includes('node_modules/'));
  const entry = inputs.find(([input]) => input.endsWith('/encoding/o200k_base.js'))?.[0];
  if (entry === undefined) throw new Error(`${TOKENIZER_ENCODING} did not resolve to an o200k_base.js`);
  return {
    entry: path.resolve(root, entry),
    files: inputs.length,
    bytes: inputs.reduce((total, [, { bytes }]) => total + bytes, 0),
  };
};

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const { outfile, bytes, byPackage } = await bundleLambda();
  process.stdout.write(
    `${path.relative(process.cwd(), outfile)}: ${(bytes / 1024).toFixed(1)} KiB minified (${bytes} bytes)\n`,
  );
  for (const [name, size] of byPackage) process.stdout.write(`  ${name}: ${(size / 1024).toFixed(1)} KiB\n`);
  const tokenizer = await tokenizerFootprint();
  process.stdout.write(
    `external ${TOKENIZER_ENCODING}: ${tokenizer.files} files, ${(tokenizer.bytes / 1024).toFixed(1)} KiB in node_modules\n`,
  );
}
