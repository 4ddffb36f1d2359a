// The functions the stack deploys (lib/constructs/bundling.ts) and the bundle `npm run build`, the bench and the
// Lambda runtime tests make (scripts/bundle.ts) put the same modules in place of the same packages, and what
// the stubs of lambda/adapters/bundle-stubs assume of the bundles holds for every function.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { BUNDLE_ALIASES, bundling, entryPoint } from '../../lib/constructs/bundling.ts';
import { LAMBDA_ALIASES, lambdaBuildOptions } from '../../scripts/bundle.ts';

/** The `--alias:<package>` arguments the construct gives esbuild, as a map. */
const cdkAliases = (withTokenizer: boolean): Record<string, string> =>
  Object.fromEntries(
    Object.entries(bundling({ withTokenizer }).esbuildArgs ?? {}).flatMap(([arg, value]) => {
      const name = /^--alias:(.+)$/.exec(arg)?.[1];
      return name === undefined ? [] : [[name, String(value)]];
    }),
  );

/** The functions of the stack, by their directory under lambda/entrypoints. */
const ENTRIES = ['lambda', 'authorizer', 'job-tracker'] as const;

/**
 * The AWS SDK clients the functions may bundle: none has an event-stream operation, which is what lets the
 * bundles hold a stub of @smithy/core/event-streams (lambda/adapters/bundle-stubs/smithy-event-streams.ts). A
 * client added here must have none either, or the stub must go.
 */
const CLIENTS_WITHOUT_EVENT_STREAMS = [
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/client-eventbridge',
  '@aws-sdk/client-secrets-manager',
];

describe('bundle aliases', () => {
  it.each([true, false])(
    'are the same for the stack (tokenizer %p) as for npm run build',
    (withTokenizer) => {
      expect(cdkAliases(withTokenizer)).toEqual(LAMBDA_ALIASES);
      expect(BUNDLE_ALIASES).toEqual(LAMBDA_ALIASES);
    },
  );

  it('point at files that exist', () => {
    for (const file of Object.values(LAMBDA_ALIASES)) {
      expect(path.isAbsolute(file)).toBe(true);
      expect(existsSync(file)).toBe(true);
    }
  });
});

describe.each(ENTRIES)('the %s function’s bundle', (name) => {
  let inputs: string[];

  beforeAll(async () => {
    const { metafile } = await build({
      ...lambdaBuildOptions(path.join('/nonexistent', name, 'index.mjs')),
      entryPoints: [entryPoint(name)],
      write: false,
      metafile: true,
    });
    inputs = Object.keys(metafile.inputs);
  }, 30_000);

  const packages = () =>
    new Set(inputs.flatMap((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? []));

  it('holds only SDK clients without event-stream operations, and none of the SDK’s event-stream code', () => {
    const clients = [...packages()].filter((pkg) => pkg.startsWith('@aws-sdk/client-'));
    expect(CLIENTS_WITHOUT_EVENT_STREAMS).toEqual(expect.arrayContaining(clients));
    expect(inputs.filter((input) => input.includes('/submodules/event-streams/'))).toEqual([]);
  });

  it('holds none of the packages the stubs replace', () => {
    const replaced = ['debug', 'mnemonist', 'obliterator', '@iovalkey/commands'];
    expect([...packages()].filter((pkg) => replaced.includes(pkg))).toEqual([]);
    expect(
      inputs.filter((input) => /checksum\/sha256\/Sha256Js|redis-errors\/(index|lib\/old)\.js/.test(input)),
    ).toEqual([]);
  });
});
