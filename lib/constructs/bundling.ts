// How the Lambda entry points of lambda/entrypoints are bundled: one set of esbuild options for every function.
import { fileURLToPath } from 'node:url';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

// Paths from this file, not from the working directory, so synth works wherever it is started.
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
export const depsLockFilePath = fileURLToPath(new URL('../../package-lock.json', import.meta.url));
export const entryPoint = (name: string): string =>
  fileURLToPath(new URL(`../../lambda/entrypoints/${name}/index.ts`, import.meta.url));

const fromRoot = (file: string): string => fileURLToPath(new URL(`../../${file}`, import.meta.url));
const stub = (file: string): string => fromRoot(`lambda/adapters/bundle-stubs/${file}`);

/**
 * What esbuild bundles in place of a package, as scripts/bundle.ts's LAMBDA_ALIASES (test/infra/bundling.test.ts
 * checks that they agree): Lambda's environment credentials for the SDK's default chain
 * (lambda/adapters/aws/lambda-credentials.ts), and smaller stand-ins for dependencies of dependencies that do
 * what the functions need of them (lambda/adapters/bundle-stubs, each saying why it is enough).
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': fromRoot('lambda/adapters/aws/lambda-credentials.ts'),
  debug: stub('debug.ts'),
  '@smithy/core/event-streams': stub('smithy-event-streams.ts'),
  'mnemonist/lru-cache': stub('lru-cache.ts'),
  '@iovalkey/commands': stub('iovalkey-commands.ts'),
  '@smithy/core/checksum': stub('smithy-checksum.ts'),
  'redis-errors': fromRoot('node_modules/redis-errors/lib/modern.js'),
};

/** Loaded at run time from the asset's node_modules rather than bundled. */
export const TOKENIZER_PACKAGE = 'gpt-tokenizer';
/** The content rules' regex engine: imported during init only when rules are enabled, so not bundled. */
export const REGEX_PACKAGE = 're2js';

/** The identifier the functions read their bundled config from (lambda/entrypoints/aws-environment.ts). */
export const BUNDLED_CONFIG_IDENTIFIER = '__GATEWAY_CONFIG__';

/**
 * ESM, minified, source maps without sources, the AWS SDK clients inside. `config`: the deployment's config
 * document (JSON), compiled into the bundle in place of the repository's config/gateway.json.
 */
export const bundling = (options: {
  readonly withTokenizer: boolean;
  readonly config?: string | undefined;
}): BundlingOptions => ({
  ...(options.config === undefined
    ? {}
    : { define: { [BUNDLED_CONFIG_IDENTIFIER]: JSON.stringify(options.config) } }),
  format: OutputFormat.ESM,
  target: 'node24',
  // Prefer the ESM build of a dependency: it tree-shakes, which keeps the bundle and cold start small.
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  // Stack traces need the mappings, not the sources: a smaller map parses faster at cold start.
  sourcesContent: false,
  // CJS dependencies call require() for Node built-ins, which an ES module does not have.
  banner:
    "import { createRequire as __gwCreateRequire } from 'node:module'; const require = __gwCreateRequire(import.meta.url);",
  // The bundle carries the SDK clients it was tested with, not whatever version the runtime ships.
  bundleAwsSDK: true,
  // Lambda gives the function its role's credentials in the environment: the SDK's default chain (profiles,
  // SSO, instance metadata, …) is replaced by that one link (lambda/adapters/aws/lambda-credentials.ts); and
  // the bundle stubs stand in for code the functions never run (BUNDLE_ALIASES).
  esbuildArgs: Object.fromEntries(
    Object.entries(BUNDLE_ALIASES).map(([name, file]) => [`--alias:${name}`, file]),
  ),
  forceDockerBundling: false,
  ...(options.withTokenizer
    ? {
        // The tokenizer's ranks (2.4 MB) stay out of the bundle: the function imports them after its first
        // response (lambda/adapters/tokenizer). They ship beside it in node_modules, without source maps, and
        // so does the regex engine of content rules (lambda/adapters/regex).
        externalModules: [TOKENIZER_PACKAGE, REGEX_PACKAGE],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => [
            `mkdir -p "${outputDir}/node_modules/${TOKENIZER_PACKAGE}"`,
            `cd "${inputDir}/node_modules/${TOKENIZER_PACKAGE}" && tar cf - --exclude='*.map' --exclude='*.d.ts' package.json esm | (cd "${outputDir}/node_modules/${TOKENIZER_PACKAGE}" && tar xf -)`,
            // re2js's ES module build only (its `import` export), without the CJS and UMD copies.
            `mkdir -p "${outputDir}/node_modules/${REGEX_PACKAGE}/build"`,
            `cp "${inputDir}/node_modules/${REGEX_PACKAGE}/package.json" "${outputDir}/node_modules/${REGEX_PACKAGE}/"`,
            `cp "${inputDir}/node_modules/${REGEX_PACKAGE}/build/index.js" "${outputDir}/node_modules/${REGEX_PACKAGE}/build/"`,
          ],
        },
      }
    : {}),
});
