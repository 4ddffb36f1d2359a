// The CDK app entry (bin/app.ts) as `cdk synth` runs it: a refused value is one line, not a stack trace.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stderr: string;
}

interface Synthesized extends Run {
  /** The stack's template, when synth wrote one. */
  readonly template: Record<string, unknown> | undefined;
}

/** Runs bin/app.ts the way the CDK CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR. */
const synthApp = (
  context: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<Synthesized> => {
  const outdir = mkdtempSync(join(tmpdir(), 'app-synth-'));
  return new Promise<Synthesized>((resolve) => {
    execFile(
      join(repoRoot, 'node_modules', '.bin', 'tsx'),
      ['bin/app.ts'],
      {
        cwd: repoRoot,
        timeout: 60_000,
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir, ...env },
      },
      (error, _stdout, stderr) => {
        const templateFile = join(outdir, 'LlmGateway.template.json');
        const template = existsSync(templateFile)
          ? (JSON.parse(readFileSync(templateFile, 'utf8')) as Record<string, unknown>)
          : undefined;
        rmSync(outdir, { recursive: true, force: true });
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : null,
          stderr,
          template,
        });
      },
    );
  });
};

describe('bin/app.ts', () => {
  it('prints a refused construct value as one line and exits 1', async () => {
    // Act
    const { code, stderr } = await synthApp({ stage: 'Prod' });

    // Assess
    expect(code).toBe(1);
    expect(stderr).toBe(
      'Synth failed: `stage` must be lowercase letters, digits and "-", starting with a letter, got: "Prod"\n',
    );
  }, 60_000);

  it('keeps the stack trace under `cdk --debug` (CDK_DEBUG=true)', async () => {
    // Act
    const { code, stderr } = await synthApp({ stage: 'Prod' }, { CDK_DEBUG: 'true' });

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('`stage` must be lowercase letters');
    expect(stderr).toMatch(/\n\s+at .*gateway-stack\.ts/);
  }, 60_000);

  describe('the config file a deployment uses', () => {
    /** Bundling is skipped: these tests read the template, the bundles are tested with the constructs. */
    const noBundling = { 'aws:cdk:bundling-stacks': [] };
    const shipped = JSON.parse(readFileSync(join(repoRoot, 'config', 'gateway.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'app-config-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const write = (name: string, document: unknown): string => {
      const file = join(dir, name);
      writeFileSync(file, typeof document === 'string' ? document : JSON.stringify(document));
      return file;
    };
    /** The WAF rate rule's limit and the stack description of a synthesized template. */
    const shapeOf = (template: Record<string, unknown> | undefined) => {
      const resources = Object.values(
        (template?.Resources ?? {}) as Record<string, { Type: string; Properties: Record<string, unknown> }>,
      );
      const acl = resources.find((resource) => resource.Type === 'AWS::WAFv2::WebACL');
      const rules = (acl?.Properties.Rules ?? []) as Array<{
        Statement: { RateBasedStatement?: { Limit: number } };
      }>;
      return {
        rateLimit: rules.find((rule) => rule.Statement.RateBasedStatement !== undefined)?.Statement
          .RateBasedStatement?.Limit,
        description: template?.Description,
      };
    };

    it('is config/gateway.json by default, and the file -c config=… names otherwise, which changes the stack as configured', async () => {
      // Prepare
      const eu = write('eu.json', { ...shipped, edge: { wafRateLimitPer5Minutes: 500 } });

      // Act
      const byDefault = await synthApp({ ...noBundling, stage: 'dev' });
      const chosen = await synthApp({ ...noBundling, stage: 'prod-eu', config: eu });

      // Assess
      expect([byDefault.code, chosen.code]).toEqual([0, 0]);
      expect(shapeOf(byDefault.template)).toEqual({
        rateLimit: 2000,
        description: 'OpenAI-compatible LLM gateway (stage: dev, config: config/gateway.json)',
      });
      expect(shapeOf(chosen.template).rateLimit).toBe(500);
      expect(shapeOf(chosen.template).description).toMatch(
        /^OpenAI-compatible LLM gateway \(stage: prod-eu, config: .*eu\.json\)$/,
      );
    }, 120_000);

    it('is config/<stage>.json when it exists and no file is named', async () => {
      // Prepare: a stage file in the project's config folder, removed afterwards.
      const stage = `test-${process.pid}`;
      const stageFile = join(repoRoot, 'config', `${stage}.json`);
      writeFileSync(stageFile, JSON.stringify({ ...shipped, edge: { wafRateLimitPer5Minutes: 700 } }));

      // Act
      let run: Synthesized;
      try {
        run = await synthApp({ ...noBundling, stage });
      } finally {
        rmSync(stageFile, { force: true });
      }

      // Assess
      expect(run.code).toBe(0);
      expect(shapeOf(run.template)).toEqual({
        rateLimit: 700,
        description: `OpenAI-compatible LLM gateway (stage: ${stage}, config: config/${stage}.json)`,
      });
    }, 120_000);

    it.each([
      [
        'a bad value',
        { ...shipped, edge: { wafRateLimitPer5Minutes: 5 } },
        /^.*bad-value\.json: Invalid gateway config:\n {2}- `edge\.wafRateLimitPer5Minutes`: .+, got: 5\n$/,
      ],
      ['a file that is not JSON', '{ "routes": [', /^.*not-json\.json: not a JSON document: .+\n$/],
    ])(
      'fails synth on %s, naming the file, the field and the value',
      async (name, document, message) => {
        // Prepare
        const file = write(name === 'a bad value' ? 'bad-value.json' : 'not-json.json', document);

        // Act
        const run = await synthApp({ ...noBundling, stage: 'dev', config: file });

        // Assess
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(message);
      },
      120_000,
    );

    it('fails synth on a file that does not exist, naming it', async () => {
      const run = await synthApp({ ...noBundling, stage: 'dev', config: join(dir, 'missing.json') });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`${join(dir, 'missing.json')}: cannot read it: ENOENT\n`);
    }, 120_000);
  });
});
